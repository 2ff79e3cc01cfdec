import torch.nn as nn


class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3
        self.conv2 = nn.Conv2d(32, 64, 3)
