import torch
import torch.nn as nn
import torch.nn.functional as F


class VGGLike(nn.Module):
    def __init__(self):
        super(VGGLike, self).__init__()
        self.conv1 = nn.Conv2d(1, 64, 3, padding=1)
        self.conv2 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv3_1 = nn.Conv2d(128, 256, 3, padding=1)
        self.conv3_2 = nn.Conv2d(256, 256, 3, padding=1)
        self.conv4_1 = nn.Conv2d(256, 512, 3, padding=1)
        self.conv4_2 = nn.Conv2d(512, 512, 3, padding=1)
        self.conv5_1 = nn.Conv2d(512, 512, 3, padding=1)
        self.conv5_2 = nn.Conv2d(512, 512, 3, padding=1)
        self.fc1 = nn.Linear(512, 100)
        self.fc2 = nn.Linear(100, 100)
        self.fc3 = nn.Linear(100, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.max_pool2d(F.relu(self.conv3_2(self.conv3_1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv4_2(self.conv4_1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv5_2(self.conv5_1(x))), 2)
        x = torch.flatten(x, 1)
        x = F.dropout(self.fc1(x), 0.2, training=self.training)
        x = F.dropout(self.fc2(x), 0.2, training=self.training)
        return self.fc3(x)


if __name__ == '__main__':
    net = VGGLike()
    print(net(torch.zeros(1, 1, 28, 28)).shape)
