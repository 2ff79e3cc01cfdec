"""Writes the notebooks of this real-shaped class (tests/test_similarity.py, docs/grading.md "Source similarity"):
an independent solution written in Colab with its own loop (own_notebook.ipynb), and a notebook copy of
own_functional.py with renamed names, magics and an extra plotting cell (copy_nb.ipynb), and a student who
followed the pytorch/examples MNIST script in Colab, settings in a cell (tutorial_cyd.ipynb).

The notebooks are committed; run ``python tests/corpus/similarity/make_notebooks.py`` after an edit here.
Each notebook is written below in the percent format: ``# %%`` starts a code cell, ``# %% [markdown]`` a text one.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OWN_NOTEBOOK = '''
# %% [markdown]
# # Week 4 - CNN on MNIST (Colab)
# Trained on the free GPU, then downloaded best.pt and curves.json.
# %%
!pip install -q torchinfo
%matplotlib inline
# %%
import json
import matplotlib.pyplot as plt
import torch
from torch import nn, optim
from torchvision import datasets, transforms
from tqdm.auto import tqdm
from torchinfo import summary

device = "cuda" if torch.cuda.is_available() else "cpu"
print("using", device)
# %%
mean, std = 0.1307, 0.3081
train_tf = transforms.Compose([transforms.RandomRotation(8), transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
train_data = datasets.MNIST("/content/data", train=True, download=True, transform=train_tf)
test_data = datasets.MNIST("/content/data", train=False, download=True, transform=test_tf)
train_loader = torch.utils.data.DataLoader(train_data, batch_size=256, shuffle=True, num_workers=2, pin_memory=True)
test_loader = torch.utils.data.DataLoader(test_data, batch_size=1024, num_workers=2)
len(train_data), len(test_data)
# %%
class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25),
            nn.Flatten(),
            nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10), nn.LogSoftmax(dim=1),
        ])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

model = MyCNN().to(device)
summary(model, input_size=(1, 1, 28, 28))
# %%
loss_fn = nn.NLLLoss()
optimizer = optim.RMSprop(model.parameters(), lr=5e-4)
scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, steps_per_epoch=len(train_loader), epochs=5)

def train_step(batch):
    x, y = (t.to(device, non_blocking=True) for t in batch)
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    scheduler.step()
    return loss.item()

@torch.no_grad()
def test_model():
    model.eval()
    losses, right = [], 0
    for x, y in test_loader:
        x, y = x.to(device), y.to(device)
        p = model(x)
        losses.append(loss_fn(p, y).item() * len(y))
        right += (p.argmax(1) == y).sum().item()
    model.train()
    return sum(losses) / len(test_data), 100 * right / len(test_data)
# %%
val_loss, val_acc = [], []
for epoch in range(5):
    bar = tqdm(train_loader, desc=f"epoch {epoch + 1}")
    for batch in bar:
        bar.set_postfix(loss=train_step(batch))
    l, a = test_model()
    val_loss.append(l); val_acc.append(a)
    if l == min(val_loss):
        torch.save({"model": model.state_dict(), "epoch": epoch + 1}, "best.pt")
    print(f"val loss {l:.4f}  val acc {a:.2f}%")
# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
ax1.plot(range(1, 6), val_loss, "o-"); ax1.set_title("validation loss")
ax2.plot(range(1, 6), val_acc, "o-"); ax2.set_title("validation accuracy")
plt.show()
json.dump({"val_loss": val_loss, "val_accuracy": val_acc}, open("curves.json", "w"))
'''

COPY_NB = '''
# %% [markdown]
# # Lab 4
# %%
!pip install numpy torchvision -q
# %%
import json, os, random
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets
from torchvision.transforms import ToTensor
import matplotlib.pyplot as plt
%matplotlib inline
# %%
ROOT = "./mnist"
CKPT = "best.pt"
EPOCHS = 5

def set_seeds(s=0):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
# %% [markdown]
# ## The network
# %%
class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3),
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(p=0.25),
        )
        self.fc_block = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 12 * 12, 128),
            nn.ReLU(),
            nn.Dropout(p=0.5),
            nn.Linear(128, 10),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x):
        return self.fc_block(self.conv_block(x))
# %% [markdown]
# ## Training
# %%
def make_loaders(bs=128):
    tr = datasets.MNIST(ROOT, train=True, download=True, transform=ToTensor())
    va = datasets.MNIST(ROOT, train=False, download=True, transform=ToTensor())
    return (DataLoader(tr, batch_size=bs, shuffle=True, num_workers=2),
            DataLoader(va, batch_size=512))

def epoch_pass(net, dl, opt=None):
    is_train = opt is not None
    net.train(is_train)
    total, good, seen = 0.0, 0, 0
    with torch.set_grad_enabled(is_train):
        for x, y in dl:
            out = net(x)
            loss = F.nll_loss(out, y)
            if is_train:
                opt.zero_grad()
                loss.backward()
                opt.step()
            total += loss.item() * y.size(0)
            good += (out.argmax(1) == y).sum().item()
            seen += y.size(0)
    return total / seen, 100.0 * good / seen
# %%
def train_model(net, train_dl, val_dl, epochs=EPOCHS, lr=3e-4):
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)
    hist = {"val_loss": [], "val_accuracy": []}
    for e in range(epochs):
        trl, tra = epoch_pass(net, train_dl, opt)
        val_l, val_a = epoch_pass(net, val_dl)
        plateau.step(val_l)
        # save the weights with the lowest validation loss
        if not hist["val_loss"] or val_l < min(hist["val_loss"]):
            torch.save({"model": net.state_dict(), "epoch": e + 1, "val_loss": val_l}, CKPT)
        hist["val_loss"].append(val_l)
        hist["val_accuracy"].append(val_a)
        print(f"epoch {e + 1:2d} | train {trl:.4f} / {tra:5.2f}% | val {val_l:.4f} / {val_a:5.2f}%")
    return hist
# %%
set_seeds()
tr_dl, va_dl = make_loaders()
model = MyCNN()
hist = train_model(model, tr_dl, va_dl)
json.dump(hist, open("curves.json", "w"))
# %%
plt.plot(hist["val_loss"], label="val loss")
plt.legend()
plt.show()
'''


TUTORIAL_NB = '''
# %% [markdown]
# # Lab 4 - Cyd
# Following the PyTorch MNIST example from the course page, in Colab (no argparse: the settings are a cell).
# %%
!nvidia-smi
# %%
import json
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torchvision import datasets, transforms
# %%
args = SimpleNamespace(batch_size=64, test_batch_size=1000, epochs=4, lr=1.0, gamma=0.7, log_interval=200, seed=1)
torch.manual_seed(args.seed)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
# %%
class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10), nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.layers(x)
# %%
def train(model, device, train_loader, optimizer, epoch):
    model.train()
    seen = 0
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        seen += len(data)
        if batch_idx % args.log_interval == 0:
            print(f"epoch {epoch}: {seen}/{len(train_loader.dataset)} images, loss {loss.item():.4f}")


def evaluate(model, device, loader):
    model.eval()
    total, hits = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            total += F.nll_loss(output, target, reduction="sum").item()
            hits += output.argmax(dim=1).eq(target).sum().item()
    size = len(loader.dataset)
    return total / size, 100.0 * hits / size
# %%
transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
train_loader = torch.utils.data.DataLoader(
    datasets.MNIST("/content/data", train=True, download=True, transform=transform),
    batch_size=args.batch_size, shuffle=True, num_workers=2, pin_memory=True)
val_loader = torch.utils.data.DataLoader(
    datasets.MNIST("/content/data", train=False, transform=transform), batch_size=args.test_batch_size)
# %%
model = MyCNN().to(device)
optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
curves = {"val_loss": [], "val_accuracy": []}
for epoch in range(1, args.epochs + 1):
    train(model, device, train_loader, optimizer, epoch)
    val_loss, val_acc = evaluate(model, device, val_loader)
    print(f"  validation: loss {val_loss:.4f}, accuracy {val_acc:.2f}%")
    if not curves["val_loss"] or val_loss < min(curves["val_loss"]):
        torch.save({"model": model.state_dict(), "epoch": epoch}, "best.pt")
    curves["val_loss"].append(val_loss)
    curves["val_accuracy"].append(val_acc)
    scheduler.step()
with open("curves.json", "w") as f:
    json.dump(curves, f)
'''


def cells(text: str) -> list:
    """The cells of a notebook written in the percent format."""
    out = []
    for chunk in text.split("# %%")[1:]:
        header, _, body = chunk.partition("\n")
        if header.strip() == "[markdown]":
            out.append(new_markdown_cell("\n".join(line.removeprefix("# ") for line in body.strip().splitlines())))
        else:
            out.append(new_code_cell(body.strip()))
    return out


def main(folder: Path) -> None:
    for name, text in (("own_notebook.ipynb", OWN_NOTEBOOK), ("copy_nb.ipynb", COPY_NB),
                       ("tutorial_cyd.ipynb", TUTORIAL_NB)):
        notebook = new_notebook(cells=cells(text), metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                            "display_name": "Python 3"}})
        nbformat.write(notebook, str(folder / name))


if __name__ == "__main__":
    main(Path(__file__).resolve().parent)
