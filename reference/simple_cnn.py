"""LAB 1: a simple CNN ("do not use stride or padding, use proper kernel sizes").

=========  ========================  ===============  =======
layer      module                    output shape     params
=========  ========================  ===============  =======
input                                (B, 1, 28, 28)
conv1      Conv2d(1, 20, 3), ReLU    (B, 20, 26, 26)      200
pool1      MaxPool2d(2)              (B, 20, 13, 13)
conv2      Conv2d(20, 50, 3), ReLU   (B, 50, 11, 11)    9,050
pool2      MaxPool2d(2)              (B, 50, 5, 5)
conv3      Conv2d(50, 20, 3), ReLU   (B, 20, 3, 3)      9,020
flatten    torch.flatten             (B, 180)
fc1        Linear(180, 100), ReLU    (B, 100)          18,100
fc2        Linear(100, 10)           (B, 10)            1,010
output     log_softmax(dim=1)        (B, 10)
=========  ========================  ===============  =======

Total: 37,380 parameters.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 20, kernel_size=3)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(20, 50, kernel_size=3)
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(50, 20, kernel_size=3)
        self.fc1 = nn.Linear(20 * 3 * 3, 100)
        self.fc2 = nn.Linear(100, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)
        ### END SOLUTION
