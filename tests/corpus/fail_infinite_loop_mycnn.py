import torch.nn as nn


class MyCNN(nn.Module):
    steps = 0
    while True:  # runs at import: the class body executes
        steps += 1
