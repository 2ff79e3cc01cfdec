# Week 4 - my solution
import json
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.pool = nn.MaxPool2d(2)
        self.drop1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.drop1(x).flatten(1)
        x = self.drop2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


class Stopper:
    def __init__(self, patience=3, delta=0.0):
        self.patience = patience
        self.delta = delta
        self.best = None
        self.bad = 0

    def step(self, value):
        if self.best is None or value < self.best - self.delta:
            self.best = value
            self.bad = 0
            return True
        self.bad += 1
        return False

    @property
    def should_stop(self):
        return self.bad >= self.patience


class Meter:
    def __init__(self, label):
        self.label = label
        self.reset()

    def reset(self):
        self.sum = 0.0
        self.count = 0

    def update(self, v, n=1):
        self.sum += v * n
        self.count += n

    @property
    def avg(self):
        return self.sum / max(self.count, 1)

    def __str__(self):
        return f"{self.label} {self.avg:.4f}"


def acc_pct(out, y):
    return (out.argmax(dim=1) == y).float().mean().item() * 100


def do_epoch(model, dl, dev, optimizer=None):
    lm, am = Meter("loss"), Meter("acc")
    model.train(optimizer is not None)
    for xb, yb in dl:
        xb, yb = xb.to(dev), yb.to(dev)
        with torch.set_grad_enabled(optimizer is not None):
            pred = model(xb)
            loss = F.nll_loss(pred, yb)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        lm.update(loss.item(), len(yb))
        am.update(acc_pct(pred, yb), len(yb))
    return lm.avg, am.avg


if __name__ == "__main__":
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tfm = transforms.ToTensor()
    train_dl = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tfm), 64, shuffle=True)
    val_dl = DataLoader(datasets.MNIST("data", train=False, download=True, transform=tfm), 1000)
    model = Model().to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    stopper = Stopper(patience=2)
    curves = {"val_loss": [], "val_accuracy": []}
    for epoch in range(1, 9):
        tl, ta = do_epoch(model, train_dl, dev, optimizer)
        vl, va = do_epoch(model, val_dl, dev)
        curves["val_loss"].append(vl)
        curves["val_accuracy"].append(va)
        if stopper.step(vl):
            torch.save({"model": model.state_dict(), "epoch": epoch}, "best.pt")
        print(epoch, tl, ta, vl, va)
        if stopper.should_stop:
            break
    with open("curves.json", "w") as f:
        json.dump(curves, f)
