import torch.nn as nn


class CNN(nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(),
            nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(),
        )
        self.fc = nn.Linear(128 * 14 * 14, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)
