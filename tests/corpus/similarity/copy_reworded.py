from dataclasses import dataclass, field
from pathlib import Path
import json
import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self, n_out: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(in_channels=1, out_channels=32, kernel_size=3)
        self.a1 = nn.ReLU()
        self.c2 = nn.Conv2d(in_channels=32, out_channels=64, kernel_size=3)
        self.a2 = nn.ReLU()
        self.mp = nn.MaxPool2d(kernel_size=2)
        self.do1 = nn.Dropout(0.25)
        self.fl = nn.Flatten()
        self.l1 = nn.Linear(in_features=9216, out_features=128)
        self.a3 = nn.ReLU()
        self.do2 = nn.Dropout(0.5)
        self.l2 = nn.Linear(in_features=128, out_features=n_out)
        self.sm = nn.LogSoftmax(dim=1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = self.a1(self.c1(t))
        t = self.a2(self.c2(t))
        t = self.do1(self.mp(t))
        t = self.fl(t)
        t = self.do2(self.a3(self.l1(t)))
        return self.sm(self.l2(t))


def make_loaders(s):
    t = transforms.ToTensor()
    a = datasets.MNIST(s.root, train=True, download=True, transform=t)
    b = datasets.MNIST(s.root, train=False, download=True, transform=t)
    return (DataLoader(a, batch_size=s.bs, shuffle=True),
            DataLoader(b, batch_size=1000, shuffle=False))


@dataclass
class Settings:
    root: str = "mnist"
    save_dir: Path = Path("output")
    n_epochs: int = 6
    bs: int = 64
    learning_rate: float = 1e-3
    seed: int = 123
    log: dict = field(default_factory=lambda: {"val_loss": [], "val_accuracy": []})


class Runner:
    def __init__(self, net: nn.Module, s: Settings):
        self.net = net
        self.s = s
        self.loss_fn = nn.NLLLoss()
        self.opt = torch.optim.Adam(net.parameters(), lr=s.learning_rate)
        self.lowest = float("inf")
        s.save_dir.mkdir(parents=True, exist_ok=True)

    def keep_best(self, ep: int, vloss: float) -> bool:
        if vloss >= self.lowest:
            return False
        self.lowest = vloss
        ckpt = {"model": self.net.state_dict(), "optimizer": self.opt.state_dict(), "epoch": ep}
        torch.save(ckpt, self.s.save_dir / "best.pt")
        return True

    @torch.inference_mode()
    def validate(self, dl: DataLoader) -> tuple[float, float]:
        self.net.eval()
        tot, right, n = 0.0, 0, 0
        for xs, ys in dl:
            logp = self.net(xs)
            tot += nn.functional.nll_loss(logp, ys, reduction="sum").item()
            right += logp.argmax(dim=-1).eq(ys).sum().item()
            n += len(ys)
        return tot / n, 100.0 * right / n

    def epoch(self, dl: DataLoader) -> float:
        self.net.train()
        running = 0.0
        for k, (xs, ys) in enumerate(dl):
            self.opt.zero_grad(set_to_none=True)
            l = self.loss_fn(self.net(xs), ys)
            l.backward()
            self.opt.step()
            running += l.item()
        return running / (k + 1)

    def run(self, tr: DataLoader, va: DataLoader) -> dict:
        for ep in range(1, self.s.n_epochs + 1):
            t0 = time.time()
            tl = self.epoch(tr)
            vl, vacc = self.validate(va)
            self.s.log["val_loss"].append(vl)
            self.s.log["val_accuracy"].append(vacc)
            kept = self.keep_best(ep, vl)
            print(f"[{ep}/{self.s.n_epochs}] train={tl:.4f} val={vl:.4f} acc={vacc:.2f}% "
                  f"{'*' if kept else ''} {time.time() - t0:.0f}s")
        (self.s.save_dir / "curves.json").write_text(json.dumps(self.s.log))
        return self.s.log


if __name__ == "__main__":
    s = Settings()
    torch.manual_seed(s.seed)
    Runner(Net(), s).run(*make_loaders(s))
