import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 16, 5), nn.ReLU(),
            nn.Conv2d(16, 32, 5), nn.ReLU(),
            nn.MaxPool2d(2, 2))
        self.layer2 = nn.Sequential(
            nn.Conv2d(32, 64, 5), nn.ReLU(),
            nn.Conv2d(64, 128, 5), nn.ReLU())
        self.fc = nn.Linear(128 * 2 * 2, 10)

    def forward(self, x):
        out = self.layer2(self.layer1(x))
        out = out.view(out.size(0), -1)
        return F.log_softmax(self.fc(out), dim=1)


if __name__ == "__main__":
    print(CNN())
