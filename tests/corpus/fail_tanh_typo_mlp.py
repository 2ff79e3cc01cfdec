import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 50), nn.TanH(), nn.Linear(50, 10))

    def forward(self, x):
        return self.net(x).log_softmax(dim=1)
