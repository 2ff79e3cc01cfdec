"""The course's seed-style loops, the baseline every benchmark compares against.

torchvision's MNIST dataset + ToTensor + DataLoader at batch 64, as in pytorch/examples mnist/main.py.
"""
import torch
import torch.nn.functional as F
from torchvision import datasets, transforms


def loader(data_dir, train: bool, batch_size: int = 64, limit: int | None = None, shuffle: bool = False):
    """A DataLoader over torchvision's MNIST (optionally only its first ``limit`` images)."""
    dataset = datasets.MNIST(data_dir, train=train, download=False, transform=transforms.ToTensor())
    if limit is not None:
        dataset = torch.utils.data.Subset(dataset, range(limit))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def train(model, train_loader, optimizer):
    """One epoch, seed style."""
    model.train()
    for data, target in train_loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()


def validate(model, val_loader):
    """Average loss and accuracy (percent), seed style."""
    model.eval()
    val_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in val_loader:
            output = model(data)
            val_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    n = len(val_loader.dataset)
    return val_loss / n, 100.0 * correct / n
