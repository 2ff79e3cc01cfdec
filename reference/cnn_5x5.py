"""Lecture: a CNN of 5x5 convolution stacks in two ``nn.Sequential`` blocks.

28 -> 24 -> 20 -> pool 10 -> 6 -> 2: the flattened feature map is 128 x 2 x 2 = 512 values per image.

=======  ===========================================================  ================  =======
block    modules                                                      output shape      params
=======  ===========================================================  ================  =======
input                                                                 (B, 1, 28, 28)
layer1   Conv2d(1, 16, 5), ReLU, Conv2d(16, 32, 5), ReLU, MaxPool2d(2)  (B, 32, 10, 10)  13,248
layer2   Conv2d(32, 64, 5), ReLU, Conv2d(64, 128, 5), ReLU            (B, 128, 2, 2)   256,192
flatten  x.view(x.size(0), -1)                                        (B, 512)
fc       Linear(512, 10)                                              (B, 10)            5,130
=======  ===========================================================  ================  =======

Total: 274,570 parameters. The network returns logits (train it with CrossEntropyLoss).
"""
import torch.nn as nn


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5), nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=5), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=5), nn.ReLU(),
            nn.Conv2d(64, 128, kernel_size=5), nn.ReLU(),
        )
        self.fc = nn.Linear(128 * 2 * 2, 10)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.layer2(self.layer1(x))
        x = x.view(x.size(0), -1)  # the real batch size, never a global batch_size
        return self.fc(x)
        ### END SOLUTION
