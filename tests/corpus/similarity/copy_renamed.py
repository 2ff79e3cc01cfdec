import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torchvision import datasets, transforms


def save_curves(hist, fname="curves.json"):
    # grader expects these two keys
    with open(fname, "w") as fp:
        json.dump({"val_loss": hist["loss"], "val_accuracy": hist["acc"]}, fp, indent=2)


def evaluate(net, dev, val_loader):
    net.eval()
    val_loss = 0
    n_correct = 0
    with torch.no_grad():
        for imgs, labels in val_loader:
            imgs, labels = imgs.to(dev), labels.to(dev)
            out = net(imgs)
            val_loss += F.nll_loss(out, labels, reduction='sum').item()  # sum up batch loss
            guess = out.argmax(dim=1, keepdim=True)  # index of the max log-probability
            n_correct += guess.eq(labels.view_as(guess)).sum().item()

    val_loss /= len(val_loader.dataset)
    acc = 100. * n_correct / len(val_loader.dataset)
    print('\nValidation: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\n'.format(
        val_loss, n_correct, len(val_loader.dataset), acc))
    return val_loss, acc


class MyCNN(nn.Module):
    def __init__(self):
        super(MyCNN, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.drop_a = nn.Dropout(0.25)
        self.drop_b = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, h):
        h = self.conv1(h)
        h = F.relu(h)
        h = self.conv2(h)
        h = F.relu(h)
        h = F.max_pool2d(h, 2)
        h = self.drop_a(h)
        h = torch.flatten(h, 1)
        h = self.fc1(h)
        h = F.relu(h)
        h = self.drop_b(h)
        h = self.fc2(h)
        return F.log_softmax(h, dim=1)


def run():
    p = argparse.ArgumentParser(description='Week 4 MNIST')
    p.add_argument('--batch-size', type=int, default=64, metavar='N',
                   help='batch size for training (default: 64)')
    p.add_argument('--test-batch-size', type=int, default=1000, metavar='N',
                   help='batch size for testing (default: 1000)')
    p.add_argument('--epochs', type=int, default=10, metavar='N',
                   help='number of epochs (default: 10)')
    p.add_argument('--lr', type=float, default=1.0, metavar='LR',
                   help='learning rate (default: 1.0)')
    p.add_argument('--gamma', type=float, default=0.7, metavar='M',
                   help='lr step gamma (default: 0.7)')
    p.add_argument('--no-cuda', action='store_true', default=False,
                   help='no CUDA')
    p.add_argument('--dry-run', action='store_true', default=False,
                   help='one pass only')
    p.add_argument('--seed', type=int, default=1, metavar='S',
                   help='seed (default: 1)')
    p.add_argument('--log-interval', type=int, default=10, metavar='N',
                   help='batches between log lines')
    p.add_argument('--save-model', action='store_true', default=False,
                   help='save best.pt')
    opts = p.parse_args()
    cuda = not opts.no_cuda and torch.cuda.is_available()

    torch.manual_seed(opts.seed)

    dev = torch.device("cuda" if cuda else "cpu")

    tr_kw = {'batch_size': opts.batch_size}
    te_kw = {'batch_size': opts.test_batch_size}
    if cuda:
        extra = {'num_workers': 1,
                 'pin_memory': True,
                 'shuffle': True}
        tr_kw.update(extra)
        te_kw.update(extra)

    tf = transforms.Compose([
        transforms.ToTensor(),
        ])
    ds_train = datasets.MNIST('../data', train=True, download=True,
                              transform=tf)
    ds_val = datasets.MNIST('../data', train=False,
                            transform=tf)
    tr_loader = torch.utils.data.DataLoader(ds_train, **tr_kw)
    va_loader = torch.utils.data.DataLoader(ds_val, **te_kw)

    net = MyCNN().to(dev)
    opt = optim.Adadelta(net.parameters(), lr=opts.lr)

    hist = {"loss": [], "acc": []}
    lowest = float("inf")
    sch = StepLR(opt, step_size=1, gamma=opts.gamma)
    for ep in range(1, opts.epochs + 1):
        fit_epoch(opts, net, dev, tr_loader, opt, ep)
        l, a = evaluate(net, dev, va_loader)
        hist["loss"].append(l)
        hist["acc"].append(a)
        save_curves(hist)
        if opts.save_model and l < lowest:
            lowest = l
            torch.save({"model": net.state_dict(), "epoch": ep}, "best.pt")
        sch.step()


def fit_epoch(opts, net, dev, tr_loader, opt, ep):
    net.train()
    for i, (imgs, labels) in enumerate(tr_loader):
        imgs, labels = imgs.to(dev), labels.to(dev)
        opt.zero_grad()
        out = net(imgs)
        loss = F.nll_loss(out, labels)
        loss.backward()
        opt.step()
        if i % opts.log_interval == 0:
            print('Epoch: {} [{}/{} ({:.0f}%)]\tLoss: {:.6f}'.format(
                ep, i * len(imgs), len(tr_loader.dataset),
                100. * i / len(tr_loader), loss.item()))
            if opts.dry_run:
                break


if __name__ == '__main__':
    run()
