"""Train and validate the reference networks, as in the course, on MNIST held in memory.

The training loop is pytorch/examples' ``train()``/``test()`` pair with one change for speed: each split is a
single uint8 tensor and batches are slices of it (no Dataset, no PIL, no DataLoader workers). Convolutional
networks run in channels_last memory format, which is the faster layout for CPU convolutions here.
The validation set is the MNIST test split (10,000 images); loss is the mean over images, accuracy in percent.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from grader.data.mnist import Split, load_mnist, to_float
from grader.i18n import _
from grader.quiz.curves import write_curves
from grader.quiz.evaluate import VAL_BATCH_SIZE, channels_last_works, inference_forward, prepare, use_device, validate
from reference import get_network
from reference.checkpoint import load_checkpoint, save_checkpoint, should_save


def train_epoch(model, optimizer, split: Split, batch_size: int, generator: torch.Generator, progress=None,
                log_probs: bool = True) -> float:
    """One epoch over ``split`` in a seeded random order; returns the mean training loss per image.

    ``log_probs=False`` means the model returns logits: the loss is then cross-entropy.
    """
    model.train()
    device = next(model.parameters()).device
    channels_last = channels_last_works(model, to_float(split.images[:2]).to(device))
    order = torch.randperm(len(split), generator=generator)
    total, seen = 0.0, 0
    for start in range(0, len(split), batch_size):
        idx = order[start:start + batch_size]
        data = prepare(to_float(split.images[idx]).to(device), channels_last)
        target = split.labels[idx].to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target) if log_probs else F.cross_entropy(output, target)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        seen += len(idx)
        if progress is not None:
            progress.update(len(idx))
            progress.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    return total / max(seen, 1)


@dataclass
class TrainResult:
    """What a reference run produced."""

    out: Path
    val_loss: list[float]
    val_accuracy: list[float]
    best_epoch: int
    seconds: float


def load_splits(dataset: str, data_dir, seed: int) -> tuple[Split, Split, dict]:
    """(training split, validation split, what curves.json records about the split) for ``dataset``.

    MNIST validates on t10k. CIFAR-10 validates on the seed's fifth of the training images (40,000 / 10,000 on
    the real set); curves.json then records ``split_seed`` and ``val_indices`` so a grader can rebuild it.
    """
    if dataset == "cifar10":
        from grader.data.cifar import load_cifar10, split_indices

        everything = load_cifar10(True, data_dir)
        train_idx, val_idx = split_indices(len(everything), seed)
        train = Split(everything.images[train_idx], everything.labels[train_idx], f"{everything.source} (train)")
        val = Split(everything.images[val_idx], everything.labels[val_idx], f"{everything.source} (validation)")
        return train, val, {"split_seed": seed, "val_indices": val_idx.tolist()}
    return load_mnist(True, data_dir), load_mnist(False, data_dir), {}


def make_optimizer(net, model, lr: float):
    """The network's optimizer: Adam, or RMSprop with L2 regularisation as weight decay (the CIFAR-10 lecture)."""
    if net.optimizer == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=lr, weight_decay=net.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=net.weight_decay)


@torch.inference_mode()
def ensemble_predict(models, images: torch.Tensor, batch_size: int = VAL_BATCH_SIZE) -> torch.Tensor:
    """The ensemble's class probabilities: the mean of each model's softmax over ``images`` (float, N x C).

    Each model runs through :func:`inference_forward`, as in :func:`validate`.
    """
    with torch.inference_mode(False):
        forwards = [inference_forward(model, images[:batch_size]) for model in models]
    outputs = []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size]
        probs = [F.softmax(forward(x), dim=1) for forward in forwards]
        outputs.append(torch.stack(probs).mean(dim=0))
    return torch.cat(outputs)


def run(name: str, out, epochs: int | None = None, seed: int = 1, data_dir=None, resume=None,
        train_limit: int | None = None, lr: float | None = None, batch_size: int | None = None,
        progress: bool = True, log=print, device: str = "cpu") -> TrainResult:
    """Train reference ``name`` and write best.pt, curves.json, val_loss.png and val_acc.png into ``out``.

    Deterministic for a given seed on a given machine. ``best.pt`` is written only when the epoch's validation loss
    is a new minimum. ``resume`` continues from a checkpoint this function wrote (its curves so far, optimizer
    state and random-number state included), so a resumed run reproduces the uninterrupted one. ``device`` (cpu or
    cuda) is where training and validation run.
    """
    from tqdm import tqdm

    net = get_network(name)
    epochs = net.epochs if epochs is None else epochs
    lr = net.lr if lr is None else lr
    batch_size = net.batch_size if batch_size is None else batch_size
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    train_split, val_split, split_info = load_splits(net.dataset, data_dir, seed)
    train_split = train_split.subset(train_limit)

    torch.manual_seed(seed)
    model = net.build().to(use_device(device))
    optimizer = make_optimizer(net, model, lr)
    val_loss: list[float] = []
    val_accuracy: list[float] = []
    start_epoch = 1
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer)
        if state.get("network") != name:
            raise ValueError(_("{path} is a checkpoint of {network}, not {name}", path=resume,
                               network=repr(state.get("network")), name=repr(name)))
        done = int(state["epoch"])
        val_loss, val_accuracy = list(state["val_loss"][:done]), list(state["val_accuracy"][:done])
        torch.set_rng_state(state["rng_state"])
        start_epoch = done + 1
        log(_("resuming {name} from {path} after epoch {epoch}", name=name, path=resume, epoch=done))

    began = time.perf_counter()
    for epoch in range(start_epoch, epochs + 1):
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        bar = tqdm(total=len(train_split), desc=f"{name} epoch {epoch}/{epochs}", unit="img", unit_scale=True,
                   disable=not progress, leave=False)
        with bar:
            train_epoch(model, optimizer, train_split, batch_size, generator, bar, net.log_probs)
        loss, correct, acc = validate(model, val_split, log_probs=net.log_probs)
        val_loss.append(loss)
        val_accuracy.append(acc)
        saved = should_save(val_loss)
        if saved:
            save_checkpoint(out / "best.pt", model, optimizer, epoch, network=name, seed=seed, lr=lr,
                            batch_size=batch_size, train_limit=train_limit if train_limit else len(train_split),
                            val_loss=list(val_loss), val_accuracy=list(val_accuracy), best_val_loss=loss,
                            rng_state=torch.get_rng_state())
        write_curves(out, val_loss, val_accuracy, network=name, seed=seed, transform="ToTensor", **split_info)
        line = _("epoch {epoch}: Validation set: Average loss: {loss:.4f}, Accuracy: {correct}/{total} ({acc:.2f}%)",
                 epoch=epoch, loss=loss, correct=correct, total=len(val_split), acc=acc)
        log(line + ("  -> best.pt" if saved else ""))
    seconds = time.perf_counter() - began
    best_epoch = min(range(len(val_loss)), key=val_loss.__getitem__) + 1 if val_loss else 0
    return TrainResult(out, val_loss, val_accuracy, best_epoch, seconds)
