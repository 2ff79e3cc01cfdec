"""Lab 4 - CNN on MNIST with checkpointing.

I use one function for both training and evaluation (pass an optimizer to train),
and ReduceLROnPlateau because the validation loss flattens out after ~3 epochs.
"""
import json
import os
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import ToTensor

DATA = os.path.expanduser("~/datasets")
SAVE_TO = "best.pt"
N_EPOCHS = 6


def seed_everything(seed=42):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(p=0.25),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 12 * 12, 128),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(128, 10),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


def run_epoch(model, loader, optimizer=None):
    """Returns (mean loss, accuracy %). Trains when an optimizer is given."""
    training = optimizer is not None
    model.train(training)
    loss_sum, hits, count = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for images, labels in loader:
            log_probs = model(images)
            loss = F.nll_loss(log_probs, labels)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            loss_sum += loss.item() * labels.size(0)
            hits += (log_probs.argmax(1) == labels).sum().item()
            count += labels.size(0)
    return loss_sum / count, 100.0 * hits / count


def get_loaders(batch_size=128):
    train_ds = datasets.MNIST(DATA, train=True, download=True, transform=ToTensor())
    val_ds = datasets.MNIST(DATA, train=False, download=True, transform=ToTensor())
    return (DataLoader(train_ds, batch_size=batch_size, shuffle=True, num_workers=2),
            DataLoader(val_ds, batch_size=512))


def fit(model, train_dl, val_dl, epochs=N_EPOCHS, lr=3e-4):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)
    curves = {"val_loss": [], "val_accuracy": []}
    for ep in range(epochs):
        tr_loss, tr_acc = run_epoch(model, train_dl, opt)
        va_loss, va_acc = run_epoch(model, val_dl)
        sched.step(va_loss)
        # keep the weights of the epoch with the lowest validation loss
        if not curves["val_loss"] or va_loss < min(curves["val_loss"]):
            torch.save({"model": model.state_dict(), "epoch": ep + 1, "val_loss": va_loss}, SAVE_TO)
        curves["val_loss"].append(va_loss)
        curves["val_accuracy"].append(va_acc)
        print(f"epoch {ep + 1:2d} | train {tr_loss:.4f} / {tr_acc:5.2f}% | val {va_loss:.4f} / {va_acc:5.2f}%")
    return curves


if __name__ == "__main__":
    seed_everything()
    train_dl, val_dl = get_loaders()
    net = MyCNN()
    history = fit(net, train_dl, val_dl)
    with open("curves.json", "w") as fh:
        json.dump(history, fh)
