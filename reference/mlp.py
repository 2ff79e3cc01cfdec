"""LAB 1: the MNIST multilayer perceptron with dropout.

=========  =====================  ==============  =======
layer      module                 output shape    params
=========  =====================  ==============  =======
input                             (B, 1, 28, 28)
flatten    torch.flatten          (B, 784)
fc1        Linear(784, 50), ReLU  (B, 50)          39,250
dropout1   Dropout(0.2)           (B, 50)
fc2        Linear(50, 50), ReLU   (B, 50)           2,550
dropout2   Dropout(0.2)           (B, 50)
fc3        Linear(50, 10)         (B, 10)             510
output     log_softmax(dim=1)     (B, 10)
=========  =====================  ==============  =======

Total: 42,310 parameters.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.fc1 = nn.Linear(28 * 28, 50)
        self.dropout1 = nn.Dropout(0.2)
        self.fc2 = nn.Linear(50, 50)
        self.dropout2 = nn.Dropout(0.2)
        self.fc3 = nn.Linear(50, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = torch.flatten(x, 1)
        x = self.dropout1(F.relu(self.fc1(x)))
        x = self.dropout2(F.relu(self.fc2(x)))
        x = self.fc3(x)
        return F.log_softmax(x, dim=1)
        ### END SOLUTION
