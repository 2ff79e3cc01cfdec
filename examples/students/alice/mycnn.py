"""Week 4 quiz, Alice: MyCNN, trained with checkpointing (best.pt saved only on a new minimum validation loss)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(self.pool(x))
        x = torch.flatten(x, 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


batch_size = 64

if __name__ == "__main__":
    # The training loop (not run by the grader): see examples/make_demo_class.py for what produced best.pt.
    model = MyCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
