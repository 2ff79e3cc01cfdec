"""Small helpers I keep reusing between labs."""
import os
import random

import numpy as np
import torch


class AverageMeter:
    """Running average of a quantity (loss, accuracy) weighted by batch size."""

    def __init__(self, name):
        self.name = name
        self.reset()

    def reset(self):
        self.sum = 0.0
        self.count = 0

    def update(self, value, n=1):
        self.sum += value * n
        self.count += n

    @property
    def avg(self):
        return self.sum / max(self.count, 1)

    def __str__(self):
        return f"{self.name} {self.avg:.4f}"


class EarlyStopping:
    """Stop when the monitored loss has not improved by min_delta for `patience` epochs."""

    def __init__(self, patience=3, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.best = None
        self.bad_epochs = 0

    def step(self, loss):
        if self.best is None or loss < self.best - self.min_delta:
            self.best = loss
            self.bad_epochs = 0
            return True  # improved
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self):
        return self.bad_epochs >= self.patience


def accuracy(log_probs, labels):
    """Share of correct predictions in percent."""
    return (log_probs.argmax(dim=1) == labels).float().mean().item() * 100


def set_seed(seed):
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
