"""LAB 1: a VGG-like CNN given as a table of layer output shapes.

Convolutions that grow the side (blocks 1-3, the first conv of each) are 3x3 with padding 2, adding 2 to the
side; every other conv (the second of a pair, and blocks 4-5, whose table keeps the side) is 3x3 with padding 1.
Pools are MaxPool2d(2), which floors odd sides (17 -> 8, 5 -> 2).

=======  =================================================  =================  =========
block    modules                                            output shape       params
=======  =================================================  =================  =========
input                                                       (B, 1, 28, 28)
block1   Conv2d(1, 64, 3, p=2), ReLU                        (B, 64, 30, 30)          640
pool1    MaxPool2d(2)                                       (B, 64, 15, 15)
block2   Conv2d(64, 128, 3, p=2), ReLU                      (B, 128, 17, 17)      73,856
pool2    MaxPool2d(2)                                       (B, 128, 8, 8)
block3   Conv2d(128, 256, 3, p=2), Conv2d(256, 256, 3, p=1), ReLU
                                                            (B, 256, 10, 10)     885,248
pool3    MaxPool2d(2)                                       (B, 256, 5, 5)
block4   Conv2d(256, 512, 3, p=1), Conv2d(512, 512, 3, p=1), ReLU
                                                            (B, 512, 5, 5)     3,539,968
pool4    MaxPool2d(2)                                       (B, 512, 2, 2)
block5   Conv2d(512, 512, 3, p=1), Conv2d(512, 512, 3, p=1), ReLU
                                                            (B, 512, 2, 2)     4,719,616
pool5    MaxPool2d(2)                                       (B, 512, 1, 1)
flatten  torch.flatten                                      (B, 512)
fc1      Linear(512, 100)                                   (B, 100)              51,300
drop1    Dropout(0.2)                                       (B, 100)
fc2      Linear(100, 100)                                   (B, 100)              10,100
drop2    Dropout(0.2)                                       (B, 100)
fc3      Linear(100, 10)                                    (B, 10)                1,010
=======  =================================================  =================  =========

Total: 9,281,738 parameters. The table has no activation between the Linear layers and ends with logits
(train it with CrossEntropyLoss).
"""
import torch
import torch.nn as nn


class VGGLike(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.features = nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 256, 3, padding=2), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(256, 512, 3, padding=1), nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(512, 512, 3, padding=1), nn.Conv2d(512, 512, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512, 100), nn.Dropout(0.2),
            nn.Linear(100, 100), nn.Dropout(0.2),
            nn.Linear(100, 10),
        )
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        return self.classifier(self.features(x))
        ### END SOLUTION
