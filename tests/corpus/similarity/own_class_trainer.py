"""Week 4 assignment: MyCNN + a small Trainer class so the loop is reusable next week (CIFAR)."""
from dataclasses import dataclass, field
from pathlib import Path
import json
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms


class MyCNN(nn.Module):
    """conv(32) -> conv(64) -> pool -> dropout -> fc(128) -> dropout -> fc(10) -> log-softmax"""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels=1, out_channels=32, kernel_size=3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2)
        self.drop1 = nn.Dropout(0.25)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(in_features=9216, out_features=128)
        self.relu3 = nn.ReLU()
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(in_features=128, out_features=num_classes)
        self.out = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.drop1(self.pool(x))
        x = self.flatten(x)
        x = self.drop2(self.relu3(self.fc1(x)))
        return self.out(self.fc2(x))


@dataclass
class Config:
    data_dir: str = "data"
    out_dir: Path = Path("runs/week4")
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    history: dict = field(default_factory=lambda: {"val_loss": [], "val_accuracy": []})


class Trainer:
    def __init__(self, model: nn.Module, cfg: Config):
        self.model = model
        self.cfg = cfg
        self.criterion = nn.NLLLoss()
        self.optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        self.best_loss = float("inf")
        cfg.out_dir.mkdir(parents=True, exist_ok=True)

    def train_one_epoch(self, loader: DataLoader) -> float:
        self.model.train()
        total = 0.0
        for step, (inputs, targets) in enumerate(loader):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.criterion(self.model(inputs), targets)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        return total / (step + 1)

    @torch.inference_mode()
    def evaluate(self, loader: DataLoader) -> tuple[float, float]:
        self.model.eval()
        loss, correct, seen = 0.0, 0, 0
        for inputs, targets in loader:
            scores = self.model(inputs)
            loss += nn.functional.nll_loss(scores, targets, reduction="sum").item()
            correct += scores.argmax(dim=-1).eq(targets).sum().item()
            seen += len(targets)
        return loss / seen, 100.0 * correct / seen

    def save_if_best(self, epoch: int, val_loss: float) -> bool:
        if val_loss >= self.best_loss:
            return False
        self.best_loss = val_loss
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": epoch}
        torch.save(state, self.cfg.out_dir / "best.pt")
        return True

    def fit(self, train_loader: DataLoader, val_loader: DataLoader) -> dict:
        for epoch in range(1, self.cfg.epochs + 1):
            started = time.time()
            train_loss = self.train_one_epoch(train_loader)
            val_loss, val_acc = self.evaluate(val_loader)
            self.cfg.history["val_loss"].append(val_loss)
            self.cfg.history["val_accuracy"].append(val_acc)
            saved = self.save_if_best(epoch, val_loss)
            print(f"[{epoch}/{self.cfg.epochs}] train={train_loss:.4f} val={val_loss:.4f} acc={val_acc:.2f}% "
                  f"{'(saved)' if saved else ''} {time.time() - started:.0f}s")
        (self.cfg.out_dir / "curves.json").write_text(json.dumps(self.cfg.history))
        return self.cfg.history


def build_loaders(cfg: Config):
    tfm = transforms.ToTensor()
    full = datasets.MNIST(cfg.data_dir, train=True, download=True, transform=tfm)
    test = datasets.MNIST(cfg.data_dir, train=False, download=True, transform=tfm)
    return (DataLoader(full, batch_size=cfg.batch_size, shuffle=True),
            DataLoader(test, batch_size=1000, shuffle=False))


if __name__ == "__main__":
    config = Config()
    torch.manual_seed(config.seed)
    trainer = Trainer(MyCNN(), config)
    trainer.fit(*build_loaders(config))
