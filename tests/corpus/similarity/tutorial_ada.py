"""Week 4 lab (Ada). I followed the layout of the official PyTorch MNIST example, but wrote it myself."""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torchvision import datasets, transforms


class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, model, device, loader, optimizer, epoch):
    model.train()
    running = 0.0
    for i, (images, labels) in enumerate(loader):
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        out = model(images)
        loss = F.nll_loss(out, labels)
        loss.backward()
        optimizer.step()
        running += loss.item()
        if i % args.log_every == 0:
            print(f"epoch {epoch} batch {i}/{len(loader)} loss {loss.item():.4f}")
    return running / len(loader)


def test(model, device, loader):
    model.eval()
    loss_sum = 0.0
    n_correct = 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            out = model(images)
            loss_sum += F.nll_loss(out, labels, reduction="sum").item()
            n_correct += (out.argmax(1) == labels).sum().item()
    n = len(loader.dataset)
    print(f"val loss {loss_sum / n:.4f} acc {100 * n_correct / n:.2f}%")
    return loss_sum / n, 100.0 * n_correct / n


def main():
    parser = argparse.ArgumentParser(description="MyCNN on MNIST")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch size")
    parser.add_argument("--epochs", type=int, default=5, help="number of epochs")
    parser.add_argument("--lr", type=float, default=0.001, help="learning rate")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--log-every", type=int, default=100, help="batches between prints")
    parser.add_argument("--out", type=str, default=".", help="where to write the outputs")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    transform = transforms.Compose([transforms.ToTensor()])
    train_data = datasets.MNIST("data", train=True, download=True, transform=transform)
    val_data = datasets.MNIST("data", train=False, download=True, transform=transform)
    train_loader = torch.utils.data.DataLoader(train_data, batch_size=args.batch_size, shuffle=True)
    val_loader = torch.utils.data.DataLoader(val_data, batch_size=1000)

    model = MyCNN().to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    val_loss, val_acc = [], []
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch)
        loss, acc = test(model, device, val_loader)
        val_loss.append(loss)
        val_acc.append(acc)
        if loss == min(val_loss):
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, "best.pt")
    with open("curves.json", "w") as f:
        json.dump({"val_loss": val_loss, "val_accuracy": val_acc}, f)


if __name__ == "__main__":
    main()
