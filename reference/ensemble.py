"""Ensembles of reference checkpoints (the CIFAR-10 lecture averages the softmax of its top three models).

``evaluate`` loads each best.pt written by ``grader reference train`` (safely: ``weights_only=True``), rebuilds
its network from the name stored in it, and reports every model's accuracy and the ensemble's on one split.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from grader.i18n import _
from reference import get_network
from reference.train import ensemble_predict


@dataclass
class EnsembleResult:
    """Accuracy in percent of each checkpoint alone, and of the ensemble, on ``split`` (``n`` images)."""

    single: dict[str, float]
    ensemble: float
    split: str
    n: int


def load_model(path: str | Path):
    """(network name, model in eval mode) from a best.pt written by the reference training."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    name = state.get("network")
    if name is None:
        raise ValueError(_("{path} was not written by 'grader reference train' (no 'network' key)", path=path))
    model = get_network(name).build()
    model.load_state_dict(state["model"])
    return name, model.eval()


def evaluate(checkpoints: list[str | Path], data_dir=None, split: str = "test") -> EnsembleResult:
    """Evaluate each checkpoint and their softmax average on CIFAR-10's test batch (or ``split="validation"``:
    the first checkpoint's seed split)."""
    from grader.data import to_float
    from grader.data.cifar import load_cifar10, split_indices

    if not checkpoints:
        raise ValueError(_("name at least one checkpoint"))
    models = [load_model(path) for path in checkpoints]
    if split == "test":
        data = load_cifar10(False, data_dir)
        images, labels = data.images, data.labels
    else:
        everything = load_cifar10(True, data_dir)
        seed = int(torch.load(checkpoints[0], weights_only=True, map_location="cpu").get("seed", 1))
        _train_idx, val_idx = split_indices(len(everything), seed)
        images, labels = everything.images[val_idx], everything.labels[val_idx]
    x = to_float(images)
    single = {}
    for path, (name, model) in zip(checkpoints, models, strict=True):
        single[f"{name} ({path})"] = 100.0 * (ensemble_predict([model], x).argmax(1) == labels).float().mean().item()
    together = ensemble_predict([m for _name, m in models], x)
    return EnsembleResult(single, 100.0 * (together.argmax(1) == labels).float().mean().item(), split, len(labels))
