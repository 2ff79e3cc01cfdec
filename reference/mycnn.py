"""Week 4: ``MyCNN``, the network of the checkpoint quiz.

==========  ========================  ===============  =========
layer       module                    output shape     params
==========  ========================  ===============  =========
input                                 (B, 1, 28, 28)
conv1       Conv2d(1, 32, 3), ReLU    (B, 32, 26, 26)        320
conv2       Conv2d(32, 64, 3), ReLU   (B, 64, 24, 24)     18,496
pool        MaxPool2d(2)              (B, 64, 12, 12)
dropout1    Dropout(0.25)             (B, 64, 12, 12)
flatten     torch.flatten             (B, 9216)
fc1         Linear(9216, 128), ReLU   (B, 128)         1,179,776
dropout2    Dropout(0.5)              (B, 128)
fc2         Linear(128, 10)           (B, 10)              1,290
output      log_softmax(dim=1)        (B, 10)
==========  ========================  ===============  =========

Total: 1,199,882 parameters.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(self.pool(x))
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)
        ### END SOLUTION
