# Ben's week 4 submission. I used the official PyTorch MNIST example as a guide for the layout.
import argparse
import json
import torch
from torch import nn, optim
import torch.nn.functional as F
from torchvision import datasets, transforms


class MyCNN(nn.Module):
    def __init__(self):
        super(MyCNN, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.pool = nn.MaxPool2d(2)
        self.drop1 = nn.Dropout2d(0.25)
        self.fc1 = nn.Linear(64 * 12 * 12, 128)
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv2(F.relu(self.conv1(x)))))
        x = self.drop1(x).flatten(1)
        x = self.drop2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, net, device, train_loader, opt, epoch):
    net.train()
    for step, (x, y) in enumerate(train_loader):
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        pred = net(x)
        loss = F.nll_loss(pred, y)
        loss.backward()
        opt.step()
        if step % args.log_interval == 0:
            print("Train epoch {} [{}/{}] loss={:.5f}".format(epoch, step * len(x), len(train_loader.dataset),
                                                           loss.item()))


def test(net, device, test_loader):
    net.eval()
    total_loss, correct = 0, 0
    with torch.no_grad():
        for x, y in test_loader:
            x, y = x.to(device), y.to(device)
            pred = net(x)
            total_loss += F.nll_loss(pred, y, reduction='sum').item()
            correct += pred.argmax(dim=1).eq(y).sum().item()
    total_loss /= len(test_loader.dataset)
    acc = 100. * correct / len(test_loader.dataset)
    print('Test: loss {:.4f}, accuracy {:.2f}%'.format(total_loss, acc))
    return total_loss, acc


def main():
    parser = argparse.ArgumentParser(description='Week 4 CNN')
    parser.add_argument('--batch-size', type=int, default=128, help='batch size')
    parser.add_argument('--test-batch-size', type=int, default=1000, help='test batch size')
    parser.add_argument('--epochs', type=int, default=8, help='epochs')
    parser.add_argument('--lr', type=float, default=0.01, help='learning rate')
    parser.add_argument('--momentum', type=float, default=0.9, help='SGD momentum')
    parser.add_argument('--log-interval', type=int, default=50, help='log every N batches')
    parser.add_argument('--seed', type=int, default=42, help='seed')
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set = datasets.MNIST('./data', train=True, download=True, transform=tf)
    test_set = datasets.MNIST('./data', train=False, transform=tf)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=args.test_batch_size)

    net = MyCNN().to(device)
    opt = optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
    losses, accs = [], []
    best = None
    for epoch in range(1, args.epochs + 1):
        train(args, net, device, train_loader, opt, epoch)
        l, a = test(net, device, test_loader)
        losses.append(l)
        accs.append(a)
        if best is None or l < best:
            best = l
            torch.save({'model': net.state_dict(), 'optimizer': opt.state_dict(), 'epoch': epoch}, 'best.pt')
    json.dump({'val_loss': losses, 'val_accuracy': accs}, open('curves.json', 'w'))


if __name__ == '__main__':
    main()
