# A class body that behaves differently on the meta device the class choice uses: it wins the choice by its name,
# and is then graded on real tensors like any class, so the fake gains nothing.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    """Looks like the table on the meta device, returns garbage on real tensors."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.fc2 = nn.Linear(50, 50)
        self.fc3 = nn.Linear(50, 10)

    def forward(self, x):
        if x.is_meta:
            x = torch.flatten(x, 1)
            return F.log_softmax(self.fc3(F.relu(self.fc2(F.relu(self.fc1(x))))), dim=1)
        return torch.zeros(3, 3)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.drop1 = nn.Dropout(0.2)
        self.fc2 = nn.Linear(50, 50)
        self.drop2 = nn.Dropout(0.2)
        self.fc3 = nn.Linear(50, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.drop1(F.relu(self.fc1(x)))
        x = self.drop2(F.relu(self.fc2(x)))
        return F.log_softmax(self.fc3(x), dim=1)
