"""Writes the real-shaped notebooks of this corpus (the course's lab notebook as students fill it in, a Colab
notebook that uses %%writefile, one full of Colab magics, a CIFAR notebook beside the PyTorch tutorial's Net).

The notebooks are committed; run ``python tests/corpus/real/make_notebooks.py tests/corpus/real`` after an edit
here. What each must be graded as is in cases.toml beside them.
"""
import sys
from pathlib import Path
import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell

HEAD = [
 ("md", "# LAB 1: MNIST with PyTorch\nRun every cell in order. Fill in the parts marked `# Your implementation here`."),
 ("code", "%matplotlib inline\n!pip install torchsummary -q"),
 ("code", "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torch.optim as optim\nfrom torchvision import datasets, transforms\nfrom torch.autograd import Variable\nimport matplotlib.pyplot as plt\nimport numpy as np"),
 ("code", "batch_size = 64\ntest_batch_size = 1000\nepochs = 10\nlr = 0.01\nmomentum = 0.5\nno_cuda = False\nseed = 1\nlog_interval = 10\nuse_cuda = not no_cuda and torch.cuda.is_available()\ntorch.manual_seed(seed)\ndevice = torch.device(\"cuda\" if use_cuda else \"cpu\")\nkwargs = {'num_workers': 1, 'pin_memory': True} if use_cuda else {}"),
 ("code", "train_loader = torch.utils.data.DataLoader(\n    datasets.MNIST('../data', train=True, download=True,\n                   transform=transforms.Compose([\n                       transforms.ToTensor(),\n                       transforms.Normalize((0.1307,), (0.3081,))\n                   ])),\n    batch_size=batch_size, shuffle=True, **kwargs)\ntest_loader = torch.utils.data.DataLoader(\n    datasets.MNIST('../data', train=False, transform=transforms.Compose([\n                       transforms.ToTensor(),\n                       transforms.Normalize((0.1307,), (0.3081,))\n                   ])),\n    batch_size=test_batch_size, shuffle=True, **kwargs)"),
 ("md", "## 1. Multilayer perceptron with dropout"),
 ("code", "class Net(nn.Module):\n    def __init__(self):\n        super(Net, self).__init__()\n        self.fc1 = nn.Linear(28*28, 50)\n        self.fc1_drop = nn.Dropout(0.2)\n        self.fc2 = nn.Linear(50, 50)\n        self.fc2_drop = nn.Dropout(0.2)\n        self.fc3 = nn.Linear(50, 10)\n\n    def forward(self, x):\n        x = x.view(-1, 28*28)\n        x = F.relu(self.fc1(x))\n        x = self.fc1_drop(x)\n        x = F.relu(self.fc2(x))\n        x = self.fc2_drop(x)\n        return F.log_softmax(self.fc3(x))"),
 ("code", "def train(epoch, model, optimizer):\n    model.train()\n    for batch_idx, (data, target) in enumerate(train_loader):\n        if use_cuda:\n            data, target = data.cuda(), target.cuda()\n        data, target = Variable(data), Variable(target)\n        optimizer.zero_grad()\n        output = model(data)\n        loss = F.nll_loss(output, target)\n        loss.backward()\n        optimizer.step()\n        if batch_idx % log_interval == 0:\n            print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(\n                epoch, batch_idx * len(data), len(train_loader.dataset),\n                100. * batch_idx / len(train_loader), loss.item()))\n\ndef test(model):\n    model.eval()\n    test_loss = 0\n    correct = 0\n    for data, target in test_loader:\n        if use_cuda:\n            data, target = data.cuda(), target.cuda()\n        data, target = Variable(data, volatile=True), Variable(target)\n        output = model(data)\n        test_loss += F.nll_loss(output, target, size_average=False).item()\n        pred = output.data.max(1, keepdim=True)[1]\n        correct += pred.eq(target.data.view_as(pred)).long().cpu().sum()\n    test_loss /= len(test_loader.dataset)\n    print('\\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\\n'.format(\n        test_loss, correct, len(test_loader.dataset),\n        100. * correct / len(test_loader.dataset)))"),
 ("code", "%%time\nmodel = Net()\nif use_cuda:\n    model.cuda()\noptimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)\nfor epoch in range(1, epochs + 1):\n    train(epoch, model, optimizer)\n    test(model)"),
 ("md", "## 2. A simple CNN\nDo not use stride or padding; use proper kernel sizes."),
]

SIMPLECNN_STUB = "class SimpleCNN(nn.Module):\n    def __init__(self):\n        super(SimpleCNN, self).__init__()\n        # Your implementation here\n        self.conv1 = NotImplemented\n        self.conv2 = NotImplemented\n        self.conv3 = NotImplemented\n        self.fc1 = NotImplemented\n        self.fc2 = NotImplemented\n\n    def forward(self, x):\n        x = F.relu(F.max_pool2d(self.conv1(x), 2))\n        x = F.relu(F.max_pool2d(self.conv2(x), 2))\n        x = F.relu(self.conv3(x))\n        x = x.view(-1, 3*3*20)\n        x = F.relu(self.fc1(x))\n        x = self.fc2(x)\n        return F.log_softmax(x, dim=1)"

def simplecnn(k3=3):
    return SIMPLECNN_STUB.replace("        # Your implementation here\n        self.conv1 = NotImplemented\n        self.conv2 = NotImplemented\n        self.conv3 = NotImplemented\n        self.fc1 = NotImplemented\n        self.fc2 = NotImplemented",
        f"        # Your implementation here\n        self.conv1 = nn.Conv2d(1, 20, kernel_size=3)\n        self.conv2 = nn.Conv2d(20, 50, kernel_size=3)\n        self.conv3 = nn.Conv2d(50, 20, kernel_size={k3})\n        self.fc1 = nn.Linear(3*3*20, 100)\n        self.fc2 = nn.Linear(100, 10)")

RUN_CNN = ("code", "%%time\nmodel = SimpleCNN()\nif use_cuda:\n    model.cuda()\noptimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)\nfor epoch in range(1, epochs + 1):\n    train(epoch, model, optimizer)\n    test(model)")

VGG_STUB = '''class SimpleVGG(nn.Module):
    def __init__(self):
        super(SimpleVGG, self).__init__()
        self.act = nn.ReLU()
        self.maxpool2d = nn.MaxPool2d(2, 2)
        # Your implementation here
        self.conv1 = NotImplemented
        self.conv2 = NotImplemented
        self.conv3 = NotImplemented
        self.conv4 = NotImplemented
        self.conv5 = NotImplemented
        self.conv6 = NotImplemented
        self.conv7 = NotImplemented
        self.conv8 = NotImplemented
        self.Linear1 = NotImplemented
        self.drop = NotImplemented
        self.Linear2 = NotImplemented
        self.last_linear = NotImplemented

    def forward(self, x):
        x = self.maxpool2d(self.act(self.conv1(x)))
        x = self.maxpool2d(self.act(self.conv2(x)))
        x = self.maxpool2d(self.act(self.conv4(self.conv3(x))))
        x = self.maxpool2d(self.act(self.conv6(self.conv5(x))))
        x = self.maxpool2d(self.act(self.conv8(self.conv7(x))))
        x = x.view(-1, 512)
        # Your implementation here
        return F.log_softmax(x, dim=1)'''

def vgg(last_pool=True, fill=True):
    body = VGG_STUB
    if not fill:
        return body
    layers = {
        "conv1": "nn.Conv2d(1, 64, 3, padding=2)", "conv2": "nn.Conv2d(64, 128, 3, padding=2)",
        "conv3": "nn.Conv2d(128, 256, 3, padding=2)", "conv4": "nn.Conv2d(256, 256, 3, padding=1)",
        "conv5": "nn.Conv2d(256, 512, 3, padding=1)", "conv6": "nn.Conv2d(512, 512, 3, padding=1)",
        "conv7": "nn.Conv2d(512, 512, 3, padding=1)", "conv8": "nn.Conv2d(512, 512, 3, padding=1)",
        "Linear1": "nn.Linear(512, 100)", "drop": "nn.Dropout(0.2)", "Linear2": "nn.Linear(100, 100)",
        "last_linear": "nn.Linear(100, 10)"}
    for name, code in layers.items():
        body = body.replace(f"self.{name} = NotImplemented", f"self.{name} = {code}")
    body = body.replace("        x = x.view(-1, 512)\n        # Your implementation here\n",
                        "        x = x.view(-1, 512)\n        # Your implementation here\n        x = self.drop(self.Linear1(x))\n        x = self.drop(self.Linear2(x))\n        x = self.last_linear(x)\n")
    if not last_pool:
        body = body.replace("x = self.maxpool2d(self.act(self.conv8(self.conv7(x))))", "x = self.act(self.conv8(self.conv7(x)))")
    return body

TAIL = [
 ("md", "## 4. Residual networks (next week)"),
 ("code", "class residual_block(nn.Module):\n    def __init(self):\n        super(residual_block, self).__init__()\n        # Your implementation here\n\n    def forward(self, x):\n        # Your implementation here\n        return x\n\nclass SimpleResNet(nn.Module):\n    pass"),
 ("code", "plt.plot([1, 2, 3])\nplt.show()"),
]

def notebook(cells):
    nb = new_notebook()
    nb.metadata["colab"] = {"provenance": []}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    for kind, src in cells:
        nb.cells.append(new_markdown_cell(src) if kind == "md" else new_code_cell(src))
    return nb

def course(cnn, vggsrc, extra=()):
    return notebook(HEAD + [("code", cnn), RUN_CNN, ("md", "## 3. A VGG-like CNN"), ("code", vggsrc),
                            ("code", "%%time\nmodel = SimpleVGG()\noptimizer = optim.Adam(model.parameters())\nfor epoch in range(1, 3):\n    train(epoch, model, optimizer)\n    test(model)")] + list(extra) + TAIL)


WRITEFILE = [
 ("md", "# Week 2 lab (Colab)\nThe model goes in its own file so the training script can import it."),
 ("code", "!pip install -q torchinfo\nfrom google.colab import drive\ndrive.mount('/content/drive')"),
 ("code", "%%writefile model.py\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\nclass SimpleCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv1 = nn.Conv2d(1, 20, 3)\n        self.conv2 = nn.Conv2d(20, 50, 3)\n        self.conv3 = nn.Conv2d(50, 20, 3)\n        self.fc1 = nn.Linear(180, 100)\n        self.fc2 = nn.Linear(100, 10)\n\n    def forward(self, x):\n        x = F.max_pool2d(F.relu(self.conv1(x)), 2)\n        x = F.max_pool2d(F.relu(self.conv2(x)), 2)\n        x = F.relu(self.conv3(x))\n        x = torch.flatten(x, 1)\n        x = F.relu(self.fc1(x))\n        return F.log_softmax(self.fc2(x), dim=1)\n"),
 ("code", "%%writefile train_utils.py\ndef accuracy(output, target):\n    return (output.argmax(1) == target).float().mean().item()\n"),
 ("code", "%%writefile -a train_utils.py\n\ndef count(model):\n    return sum(p.numel() for p in model.parameters())\n"),
 ("code", "import torch\nfrom model import SimpleCNN\nfrom train_utils import accuracy, count\nmodel = SimpleCNN()\nprint(count(model))"),
 ("code", "%%time\nfor epoch in range(3):\n    pass"),
]

MAGICS = [
 ("code", "%%capture\n!pip install torchinfo\n!pip install seaborn"),
 ("code", "from google.colab import drive\ndrive.mount('/content/drive')\nimport seaborn as sns\nimport pandas as pd\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom torchinfo import summary"),
 ("code", "%%bash\nnvidia-smi\nls -la"),
 ("code", "files = !ls /content/drive/MyDrive\ngpu = !nvidia-smi -L\n%load_ext autoreload\n%autoreload 2\nnn.Conv2d?"),
 ("code", "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--no-cuda', action='store_true')\nargs = parser.parse_args([])\nuse_cuda = not args.no_cuda and torch.cuda.is_available()\ndevice = torch.device('cuda' if use_cuda else 'cpu')\nkwargs = {'num_workers': 1, 'pin_memory': True} if use_cuda else {}"),
 ("code", "class Net(nn.Module):\n    def __init__(self):\n        super(Net, self).__init__()\n        self.fc1 = nn.Linear(784, 50)\n        self.drop1 = nn.Dropout(0.2)\n        self.fc2 = nn.Linear(50, 50)\n        self.drop2 = nn.Dropout(0.2)\n        self.fc3 = nn.Linear(50, 10)\n\n    def forward(self, x):\n        x = torch.flatten(x, 1)\n        x = self.drop1(F.relu(self.fc1(x)))\n        x = self.drop2(F.relu(self.fc2(x)))\n        return F.log_softmax(self.fc3(x), dim=1)"),
 ("code", "model = Net().to(device)\nsummary(model, (1, 1, 28, 28))\nsns.set()"),
]

CIFAR_TUTORIAL_NET = "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.conv1 = nn.Conv2d(3, 6, 5)\n        self.pool = nn.MaxPool2d(2, 2)\n        self.conv2 = nn.Conv2d(6, 16, 5)\n        self.fc1 = nn.Linear(16 * 5 * 5, 120)\n        self.fc2 = nn.Linear(120, 84)\n        self.fc3 = nn.Linear(84, 10)\n\n    def forward(self, x):\n        x = self.pool(F.relu(self.conv1(x)))\n        x = self.pool(F.relu(self.conv2(x)))\n        x = torch.flatten(x, 1)\n        x = F.relu(self.fc1(x))\n        x = F.relu(self.fc2(x))\n        x = self.fc3(x)\n        return x"

def cifar_cnn(fc1_out=256):
    return ("cfg = [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M']\n\n"
            "class CNN(nn.Module):\n"
            "    def __init__(self, model_code='VGG11', in_channels=3, out_dim=10, act='relu', use_bn=False):\n"
            "        super().__init__()\n"
            "        acts = {'relu': nn.ReLU, 'sigmoid': nn.Sigmoid, 'tanh': nn.Tanh}\n"
            "        layers = []\n"
            "        for v in cfg:\n"
            "            if v == 'M':\n"
            "                layers.append(nn.MaxPool2d(2, 2))\n"
            "            else:\n"
            "                layers += [nn.Conv2d(in_channels, v, 3, padding=1), acts[act]()]\n"
            "                in_channels = v\n"
            "        self.features = nn.Sequential(*layers)\n"
            f"        self.fc1 = nn.Linear(512, {fc1_out})\n"
            "        self.act = acts[act]()\n"
            f"        self.fc2 = nn.Linear({fc1_out}, out_dim)\n\n"
            "    def forward(self, x):\n"
            "        x = self.features(x)\n"
            "        x = x.view(x.size(0), -1)\n"
            "        x = self.act(self.fc1(x))\n"
            "        return self.fc2(x)")

def cifar(fc1_out=256):
    return notebook([
        ("md", "# CIFAR-10: the tutorial's network, then my VGG11"),
        ("code", "import torch\nimport torchvision\nimport torchvision.transforms as transforms\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torch.optim as optim"),
        ("code", "transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])\nbatch_size = 4\ntrainset = torchvision.datasets.CIFAR10(root='./data', train=True, download=True, transform=transform)\ntrainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True, num_workers=2)\nclasses = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')"),
        ("code", CIFAR_TUTORIAL_NET),
        ("code", "net = Net()\ncriterion = nn.CrossEntropyLoss()\noptimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)\nfor epoch in range(2):\n    for i, data in enumerate(trainloader, 0):\n        inputs, labels = data\n        optimizer.zero_grad()\n        loss = criterion(net(inputs), labels)\n        loss.backward()\n        optimizer.step()"),
        ("code", cifar_cnn(fc1_out)),
        ("code", "vgg = CNN()\nprint(vgg)"),
    ])

if __name__ == "__main__":
    out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
    variants = {
        "course_lab_as_given.ipynb": course(SIMPLECNN_STUB, vgg(fill=False)),
        "course_lab_complete.ipynb": course(simplecnn(), vgg()),
        "course_lab_cnn_done_vgg_stubbed.ipynb": course(simplecnn(), vgg(fill=False)),
        "course_lab_vgg_no_last_pool.ipynb": course(simplecnn(), vgg(last_pool=False)),
        "course_lab_conv3_kernel_wrong.ipynb": course(simplecnn(k3=5), vgg()),
        "colab_writefile_model.ipynb": notebook(WRITEFILE),
        "colab_magics_mlp.ipynb": notebook(MAGICS),
        "cifar_tutorial_net_and_vgg.ipynb": cifar(),
        "cifar_tutorial_net_and_vgg_fc1_512.ipynb": cifar(fc1_out=512),
    }
    for name, nb in variants.items():
        nbformat.write(nb, str(out / name))
        print(out / name)
