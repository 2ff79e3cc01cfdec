"""Week 4 Task 2: save ``best.pt`` only when the validation loss reaches a new minimum, and resume from it.

A checkpoint is a plain dict of tensors and numbers, so it loads with ``torch.load(..., weights_only=True)``::

    {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3, ...extra keys}
"""
from __future__ import annotations

import os
from pathlib import Path

import torch


def should_save(val_losses: list[float]) -> bool:
    """True when the latest validation loss is the minimum so far (strictly lower than every earlier one)."""
    if not val_losses:
        return False
    *earlier, latest = val_losses
    return all(latest < loss for loss in earlier)


def save_checkpoint(path, model, optimizer, epoch: int, **extra) -> None:
    """Write ``{"model", "optimizer", "epoch", **extra}`` to ``path`` atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": int(epoch), **extra}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, model, optimizer=None) -> dict:
    """Restore ``model`` (and ``optimizer`` when given) from ``path``; return the whole checkpoint dict.

    Loads with ``weights_only=True``: nothing in the file is executed.
    """
    state = torch.load(path, weights_only=True, map_location="cpu")
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state
