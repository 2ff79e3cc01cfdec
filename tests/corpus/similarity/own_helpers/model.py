import torch.nn as nn


class MyCNN(nn.Module):
    """The week 4 network. Layer sizes follow the table in the handout."""

    def __init__(self, p1=0.25, p2=0.5):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Dropout2d(p1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(9216, 128), nn.ReLU(inplace=True), nn.Dropout(p2), nn.Linear(128, 10))
        self.log_softmax = nn.LogSoftmax(dim=1)

    def forward(self, x):
        return self.log_softmax(self.head(self.body(x)))
