import torch.nn as nn

# (out_channels, padding) per conv, "M" for a pool, "R" for a ReLU
cfg = [(64, 2), "R", "M", (128, 2), "R", "M", (256, 2), (256, 1), "R", "M",
       (512, 1), (512, 1), "R", "M", (512, 1), (512, 1), "R", "M"]


class VGG(nn.Module):
    def __init__(self):
        super().__init__()
        layers, channels = [], 1
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
            elif item == "R":
                layers.append(nn.ReLU(inplace=True))
            else:
                out, pad = item
                layers.append(nn.Conv2d(channels, out, kernel_size=3, padding=pad))
                channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512, 100), nn.Dropout(0.2), nn.Linear(100, 100), nn.Dropout(0.2),
                                        nn.Linear(100, 10))

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        return self.classifier(x)
