"""python train.py --epochs 8 --out results/"""
import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from model import MyCNN
from utils import AverageMeter, EarlyStopping, accuracy, pick_device, set_seed


def loaders(root, batch_size):
    tfm = transforms.Compose([transforms.ToTensor()])
    train = datasets.MNIST(root, train=True, download=True, transform=tfm)
    val = datasets.MNIST(root, train=False, download=True, transform=tfm)
    return DataLoader(train, batch_size, shuffle=True, drop_last=True), DataLoader(val, 1024)


def one_epoch(net, loader, device, opt=None):
    loss_m, acc_m = AverageMeter("loss"), AverageMeter("acc")
    net.train(opt is not None)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        with torch.set_grad_enabled(opt is not None):
            out = net(x)
            loss = F.nll_loss(out, y)
        if opt is not None:
            opt.zero_grad()
            loss.backward()
            opt.step()
        loss_m.update(loss.item(), len(y))
        acc_m.update(accuracy(out, y), len(y))
    return loss_m.avg, acc_m.avg


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", default=".")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args(argv)
    set_seed(0)
    device = pick_device()
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    train_dl, val_dl = loaders(args.data, args.bs)
    net = MyCNN().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    stopper = EarlyStopping(patience=2)
    log = {"val_loss": [], "val_accuracy": []}
    for epoch in range(1, args.epochs + 1):
        tl, ta = one_epoch(net, train_dl, device, opt)
        vl, va = one_epoch(net, val_dl, device)
        log["val_loss"].append(vl)
        log["val_accuracy"].append(va)
        if stopper.step(vl):
            torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch}, out / "best.pt")
        print(f"{epoch}: train {tl:.3f} ({ta:.1f}%)  val {vl:.3f} ({va:.1f}%)")
        if stopper.should_stop:
            print("early stop")
            break
    (out / "curves.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()
