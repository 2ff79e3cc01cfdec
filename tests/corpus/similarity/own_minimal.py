import torch
from torch import nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
import matplotlib.pyplot as plt
import json

# ---- model ----
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 3)
        self.c2 = nn.Conv2d(32, 64, 3)
        self.mp = nn.MaxPool2d(2, 2)
        self.d1 = nn.Dropout2d(0.25)
        self.l1 = nn.Linear(9216, 128)
        self.d2 = nn.Dropout(0.5)
        self.l2 = nn.Linear(128, 10)

    def forward(self, inp):
        out = F.relu(self.c1(inp))
        out = self.d1(self.mp(F.relu(self.c2(out))))
        out = out.view(out.size(0), -1)
        out = self.d2(F.relu(self.l1(out)))
        return F.log_softmax(self.l2(out), dim=1)


if __name__ == "__main__":
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    trainset = torchvision.datasets.MNIST(root="./data", train=True, download=True, transform=tf)
    testset = torchvision.datasets.MNIST(root="./data", train=False, download=True, transform=tf)
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=100, shuffle=True)
    testloader = torch.utils.data.DataLoader(testset, batch_size=100, shuffle=False)

    cnn = CNN()
    sgd = torch.optim.SGD(cnn.parameters(), lr=0.01, momentum=0.9)
    vl, va = [], []
    lowest = 1e9

    for e in range(4):
        cnn.train()
        running = 0
        for i, (xb, yb) in enumerate(trainloader):
            sgd.zero_grad()
            l = F.nll_loss(cnn(xb), yb)
            l.backward()
            sgd.step()
            running += l.item()
            if i % 200 == 199:
                print("[%d, %5d] loss: %.3f" % (e + 1, i + 1, running / 200))
                running = 0

        cnn.eval()
        tot = 0
        ok = 0
        s = 0.0
        with torch.no_grad():
            for xb, yb in testloader:
                o = cnn(xb)
                s += F.nll_loss(o, yb, reduction="sum").item()
                ok += (o.max(1)[1] == yb).sum().item()
                tot += yb.shape[0]
        vl.append(s / tot)
        va.append(100 * ok / tot)
        print("epoch", e + 1, "val loss", s / tot, "acc", 100 * ok / tot)
        if s / tot < lowest:
            lowest = s / tot
            torch.save({"model": cnn.state_dict(), "epoch": e + 1}, "best.pt")

    json.dump({"val_loss": vl, "val_accuracy": va}, open("curves.json", "w"))
    plt.plot(vl)
    plt.title("val loss")
    plt.savefig("val_loss.png")
    plt.clf()
    plt.plot(va)
    plt.title("val acc")
    plt.savefig("val_acc.png")
