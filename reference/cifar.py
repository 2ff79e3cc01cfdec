"""CIFAR-10 track (Standalone Deep-Learning, week 7): a two-conv ``CNN1`` and a configurable ``VGG``.

``CNN1`` (input (B, 3, 32, 32)):

=========  ===========================  ================  ==========
layer      module                       output shape      params
=========  ===========================  ================  ==========
conv1      Conv2d(3, 64, 3, p=1), ReLU  (B, 64, 32, 32)        1,792
conv2      Conv2d(64, 256, 5, p=2), ReLU (B, 256, 32, 32)     409,856
pool       MaxPool2d(2)                 (B, 256, 16, 16)
flatten    torch.flatten                (B, 65536)
fc         Linear(65536, 10)            (B, 10)              655,370
=========  ===========================  ================  ==========

Total: 1,067,018 parameters. It returns logits (trained with cross-entropy).

``VGG(model_code, in_channels, out_dim, act, use_bn)``: the course's ``cfg`` lists (numbers are 3x3 convs with
padding 1, each followed by an optional BatchNorm2d and the activation; ``"M"`` is MaxPool2d(2)), so a 32x32
image leaves the five blocks as (B, 512, 1, 1); then flatten (B, 512), Linear(512, 256), the activation, and
Linear(256, out_dim). ``act`` is ``relu``, ``sigmoid`` or ``tanh``; any other name raises ValueError.
"""
import torch
import torch.nn as nn

CFG = {
    "VGG11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "VGG19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class CNN1(nn.Module):
    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(64, 256, kernel_size=5, padding=2)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(256 * 16 * 16, 10)
        self.act = nn.ReLU()
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.act(self.conv1(x))
        x = self.pool(self.act(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc(x)
        ### END SOLUTION


def make_activation(act: str) -> nn.Module:
    """A fresh activation module for ``act`` (relu, sigmoid, tanh); ValueError names the valid ones."""
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}; choose one of: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[act]()


class VGG(nn.Module):
    def __init__(self, model_code="VGG16", in_channels=3, out_dim=10, act="relu", use_bn=True):
        super().__init__()
        if model_code not in CFG:
            raise ValueError(f"unknown model_code {model_code!r}; choose one of: {', '.join(CFG)}")
        ### BEGIN SOLUTION
        layers = []
        channels = in_channels
        for item in CFG[model_code]:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
            if use_bn:
                layers.append(nn.BatchNorm2d(item))
            layers.append(make_activation(act))
            channels = item
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512, 256), make_activation(act), nn.Linear(256, out_dim))
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        x = self.layers(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)
        ### END SOLUTION
