import torch
import torch.nn as nn
import torch.nn.functional as F

sizes = [784, 50, 50, 10]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        x = x.view(-1, 28 * 28)
        for layer in self.layers[:-1]:
            x = self.drop(F.relu(layer(x)))
        return F.log_softmax(self.layers[-1](x), dim=1)
