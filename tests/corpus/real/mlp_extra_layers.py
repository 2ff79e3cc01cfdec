import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.bn1 = nn.BatchNorm1d(50)
        self.drop1 = nn.Dropout(0.2)
        self.fc2 = nn.Linear(50, 50)
        self.drop2 = nn.Dropout(0.2)
        self.fc3 = nn.Linear(50, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.drop1(F.relu(self.bn1(self.fc1(x))))
        x = self.drop2(F.relu(self.fc2(x)))
        return F.log_softmax(self.fc3(x), dim=1)
