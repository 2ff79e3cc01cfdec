"""Lecture: the ``Linear(320, 10)`` size-mismatch exercise.

Two 5x5 convolutions, each followed by MaxPool2d(2) and ReLU: 28 -> 24 -> 12 -> 8 -> 4, so the flattened
feature map is 20 x 4 x 4 = 320 values per image, which is what the Linear layer must take.

=======  ==============================  ===============  ======
layer    module                          output shape     params
=======  ==============================  ===============  ======
input                                    (B, 1, 28, 28)
conv1    Conv2d(1, 10, 5)                (B, 10, 24, 24)     260
pool1    MaxPool2d(2), ReLU              (B, 10, 12, 12)
conv2    Conv2d(10, 20, 5)               (B, 20, 8, 8)     5,020
pool2    MaxPool2d(2), ReLU              (B, 20, 4, 4)
flatten  x.view(x.size(0), -1)           (B, 320)
fc       Linear(320, 10)                 (B, 10)           3,210
output   log_softmax(dim=1)              (B, 10)
=======  ==============================  ===============  ======

Total: 8,490 parameters.
"""
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.mp = nn.MaxPool2d(2)
        self.fc = nn.Linear(320, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        in_size = x.size(0)  # the real batch size, never a global batch_size
        x = F.relu(self.mp(self.conv1(x)))
        x = F.relu(self.mp(self.conv2(x)))
        x = x.view(in_size, -1)
        x = self.fc(x)
        return F.log_softmax(x, dim=1)
        ### END SOLUTION
