"""Train and validate the reference networks, as in the course, on MNIST held in memory.

The training loop is pytorch/examples' ``train()``/``test()`` pair with one change for speed: each split is a
single uint8 tensor and batches are slices of it (no Dataset, no PIL, no DataLoader workers). Convolutional
networks run in channels_last memory format, which is the faster layout for CPU convolutions here.
The validation set is the MNIST test split (10,000 images); loss is the mean over images, accuracy in percent.
"""
from __future__ import annotations

import time
import warnings
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from reference import get_network
from reference.checkpoint import load_checkpoint, save_checkpoint, should_save
from reference.curves import write_curves
from reference.data import Split, load_mnist, to_float

VAL_BATCH_SIZE = 64  # the fastest evaluation batch for these models on a 2-core CPU (see docs/benchmarks.md)


def has_conv(model: nn.Module) -> bool:
    """True when the model contains a 2-D convolution (then channels_last pays off)."""
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def channels_last_works(model: nn.Module, sample: torch.Tensor) -> bool:
    """True when the model has convolutions and its forward accepts channels_last input.

    A forward that flattens with ``x.view(x.size(0), -1)`` refuses a channels_last tensor (view needs
    contiguous memory), so such models keep the default layout.
    """
    if not has_conv(model):
        return False
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval().to(memory_format=torch.channels_last)(sample[:2].contiguous(memory_format=torch.channels_last))
        return True
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)
        return False
    finally:
        model.train(was_training)


def prepare(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def train_epoch(model, optimizer, split: Split, batch_size: int, generator: torch.Generator, progress=None,
                log_probs: bool = True) -> float:
    """One epoch over ``split`` in a seeded random order; returns the mean training loss per image.

    ``log_probs=False`` means the model returns logits: the loss is then cross-entropy.
    """
    model.train()
    channels_last = channels_last_works(model, to_float(split.images[:2]))
    order = torch.randperm(len(split), generator=generator)
    total, seen = 0.0, 0
    for start in range(0, len(split), batch_size):
        idx = order[start:start + batch_size]
        data = prepare(to_float(split.images[idx]), channels_last)
        target = split.labels[idx]
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


class InferenceForward:
    """``model``'s eval-mode forward, run faster where that gives the model's own outputs.

    Built by :func:`inference_forward`. ``kind`` names what runs: "optimized" (a traced TorchScript copy of the
    model passed through ``torch.jit.optimize_for_inference``: convolutions and their ReLUs fused, batch-norm
    folded, weights pre-packed for oneDNN) or the model itself; ``channels_last`` says whether batches go in that
    layout (when the model's forward accepts it). The choice depends only on the model, never on
    timings, so the same model and data give the same numbers every run. If the optimized copy ever raises, that
    batch and the rest run in the model itself, so a model's own errors surface as in eager mode.
    """

    def __init__(self, model: nn.Module, optimized, channels_last: bool):
        self.model, self.optimized, self.channels_last = model, optimized, channels_last

    @property
    def kind(self) -> str:
        return ("optimized" if self.optimized is not None else "model itself") + (
            ", channels_last" if self.channels_last else "")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = prepare(x, self.channels_last)
        if self.optimized is not None:
            try:
                return self.optimized(x)
            except Exception:  # noqa: BLE001 - any failure of the traced copy: the model itself decides
                self.optimized = None
        return self.model(x)


# How far the optimized copy's outputs may be from the model's own (float32 rounding of another summation order,
# batch-norm folded into the convolution); a traced graph that went wrong is off by far more.
OPTIMIZED_RTOL, OPTIMIZED_ATOL = 1e-4, 1e-4
PROBE_IMAGES = 16  # the images the optimized copy is traced and checked on


def _optimized_copy(model: nn.Module, probe: torch.Tensor):
    """A traced, frozen, inference-optimized copy of ``model`` that reproduces the model on ``probe``, or None.

    The copy is traced in ``probe``'s memory layout. A trace that warns (a tensor's value turned into a Python
    bool or number, so later batches might need another path) is refused, and so is one whose outputs differ from
    the model's on the whole probe or on its first three images (a trace that baked in the batch size, say a
    ``view(16, -1)``).
    A model whose own forward fails raises its error.
    """
    with torch.no_grad():
        expected = [model(probe), model(probe[:3])]
    try:
        with warnings.catch_warnings(record=True) as caught, torch.no_grad():
            warnings.simplefilter("always")
            traced = torch.jit.trace(deepcopy(model), probe, check_trace=False)
            if any(issubclass(w.category, torch.jit.TracerWarning) for w in caught):
                return None  # Python control flow on tensor values: the trace holds one path only
            optimized = torch.jit.optimize_for_inference(traced)
            for x, want in zip((probe, probe[:3]), expected):
                if not torch.allclose(optimized(x), want, rtol=OPTIMIZED_RTOL, atol=OPTIMIZED_ATOL):
                    return None
    except Exception:  # noqa: BLE001 - untraceable forward (data-dependent Python, odd outputs): stay eager
        return None
    return optimized


def inference_forward(model: nn.Module, sample: torch.Tensor, optimize: bool = True) -> InferenceForward:
    """Put ``model`` in eval mode and return its forward for validation (see :class:`InferenceForward`).

    ``sample`` is a float batch in the model's input format (the first validation batch). A model with
    convolutions runs in channels_last when its forward accepts that layout, and as an inference-optimized copy
    (traced in that layout) when the copy's outputs on the first ``PROBE_IMAGES`` of ``sample`` match the model's
    own within ``OPTIMIZED_RTOL``/``OPTIMIZED_ATOL``; ``optimize=False`` never uses one. A model whose forward
    fails raises here, with its own error.
    """
    model.eval()
    if not has_conv(model):
        return InferenceForward(model, None, False)
    channels_last = channels_last_works(model, sample)  # converts the model when it works
    optimized = _optimized_copy(model, prepare(sample[:PROBE_IMAGES], channels_last)) if optimize else None
    return InferenceForward(model, optimized, channels_last)


@torch.inference_mode()
def validate(model, split: Split, batch_size: int = VAL_BATCH_SIZE, mean: float = 0.0, std: float = 1.0,
             log_probs: bool = True, optimize: bool = True) -> tuple[float, int, float]:
    """Evaluate ``model`` on ``split``: (mean loss per image, number correct, accuracy in percent).

    ``mean``/``std`` apply a Normalize after ToTensor's scaling. With ``log_probs=False`` the model's outputs are
    taken as logits (log_softmax is applied before the NLL loss, i.e. CrossEntropyLoss). The forward pass is
    :func:`inference_forward`'s (``optimize=False``: eager mode, channels_last where it works).
    """
    was_training = model.training
    with torch.inference_mode(False):
        forward = inference_forward(model, to_float(split.images[:batch_size], mean, std), optimize)
    loss_sum, correct = 0.0, 0
    for start in range(0, len(split), batch_size):
        data = to_float(split.images[start:start + batch_size], mean, std)
        target = split.labels[start:start + batch_size]
        output = forward(data)
        if not log_probs:
            output = F.log_softmax(output, dim=1)
        loss_sum += F.nll_loss(output, target, reduction="sum").item()
        correct += (output.argmax(dim=1) == target).sum().item()
    model.train(was_training)
    n = len(split)
    return loss_sum / n, correct, 100.0 * correct / n


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
        from reference.cifar_data import load_cifar10, split_indices

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
        progress: bool = True, log=print) -> TrainResult:
    """Train reference ``name`` and write best.pt, curves.json, val_loss.png and val_acc.png into ``out``.

    Deterministic for a given seed on a given machine. ``best.pt`` is written only when the epoch's validation loss
    is a new minimum. ``resume`` continues from a checkpoint this function wrote (its curves so far, optimizer
    state and random-number state included), so a resumed run reproduces the uninterrupted one.
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
    model = net.build()
    optimizer = make_optimizer(net, model, lr)
    val_loss: list[float] = []
    val_accuracy: list[float] = []
    start_epoch = 1
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer)
        if state.get("network") != name:
            raise ValueError(f"{resume} is a checkpoint of {state.get('network')!r}, not {name!r}")
        done = int(state["epoch"])
        val_loss, val_accuracy = list(state["val_loss"][:done]), list(state["val_accuracy"][:done])
        torch.set_rng_state(state["rng_state"])
        start_epoch = done + 1
        log(f"resuming {name} from {resume} after epoch {done}")

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
        log(f"epoch {epoch}: Validation set: Average loss: {loss:.4f}, Accuracy: {correct}/{len(val_split)} "
            f"({acc:.2f}%){'  -> best.pt' if saved else ''}")
    seconds = time.perf_counter() - began
    best_epoch = min(range(len(val_loss)), key=val_loss.__getitem__) + 1 if val_loss else 0
    return TrainResult(out, val_loss, val_accuracy, best_epoch, seconds)
