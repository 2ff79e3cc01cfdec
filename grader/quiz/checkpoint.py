"""Read a submitted checkpoint (best.pt) safely and normalise the key conventions courses use.

``torch.load(path, weights_only=True, map_location="cpu")`` only, with a size cap and no unsafe fallback: nothing
in the file is executed. Accepted layouts: ``{model, optimizer, epoch}``, ``{model_state_dict,
optimizer_state_dict, epoch, loss}``, ``{state_dict}``, ``{net}``, extra keys, or a bare state_dict; ``module.``
(DataParallel) and ``_orig_mod.`` (torch.compile) prefixes are removed.
"""
from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grader.i18n import _

MAX_BYTES = 200 * 1024 * 1024
MODEL_KEYS = ("model", "model_state_dict", "state_dict", "net", "model_state")
OPTIMIZER_KEYS = ("optimizer", "optimizer_state_dict", "optim", "optimizer_state")
PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(Exception):
    """The file cannot be used as a checkpoint; the message tells the student what to do."""


@dataclass
class Checkpoint:
    """A checkpoint's parts, whatever keys the student used."""

    path: Path
    state_dict: dict
    optimizer: dict | None = None
    epoch: object = None
    extras: dict = field(default_factory=dict)
    layout: str = ""  # which convention was recognised, for the report


def find_checkpoints(files: list[Path]) -> list[Path]:
    """The .pt / .pth files of a submission, best.pt first."""
    found = [f for f in files if f.suffix in (".pt", ".pth")]
    return sorted(found, key=lambda f: (f.name != "best.pt", str(f)))


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) \
        and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        for prefix in PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def _inflated_size(path: Path) -> int:
    """What the checkpoint's zip members add up to once unpacked (a small file can inflate to a huge tensor)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0  # torch.load then says what is wrong with it


def byte_limit(params: int | None) -> int | None:
    """The most a checkpoint of a model with ``params`` parameters may unpack to: the weights and two optimizer
    slots per weight (Adam), in float64 at the most, twice over, plus 8 MB for the rest; None when unknown."""
    return None if params is None else 8 * params * 3 * 2 + 8 * 1024 * 1024


def _tensors(obj, depth: int = 0):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict) and depth < 8:
        for value in obj.values():
            yield from _tensors(value, depth + 1)
    elif isinstance(obj, (list, tuple)) and depth < 8:
        for value in obj:
            yield from _tensors(value, depth + 1)


def _refuse_expanded(path: Path, obj) -> None:
    """CheckpointError for a tensor that shows more numbers than its storage holds (a zero or overlapping stride):
    a small file that expands to any size once copied."""
    for tensor in _tensors(obj):
        if tensor.numel() * tensor.element_size() > tensor.untyped_storage().nbytes():
            raise CheckpointError(_(
                "{file} holds a tensor of shape {shape} over a storage of {nbytes} bytes (repeated strides), which no "
                "training saves: save model.state_dict() and optimizer.state_dict() as they are.", file=path.name,
                shape=list(tensor.shape), nbytes=tensor.untyped_storage().nbytes()))


def load_checkpoint_file(path: str | Path, max_bytes: int | None = None) -> Checkpoint:
    """Load ``path`` with the safe loader and normalise it; CheckpointError with a clear message otherwise.

    ``max_bytes`` caps what the file may unpack to (:func:`byte_limit` of the assignment's parameter count),
    checked from the zip's own directory before anything is loaded."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(_("{file} is empty (0 bytes): the save did not finish. Save it again with {code}.",
                                file=path.name, code="torch.save({'model': model.state_dict(), ...}, 'best.pt')"))
    if size > MAX_BYTES:
        raise CheckpointError(_("{file} is {size:.0f} MB, over the {limit:.0f} MB limit: save only "
                                "model.state_dict() and the optimizer state.", file=path.name, size=size / 1e6,
                                limit=MAX_BYTES / 1e6))
    if not zipfile.is_zipfile(path):
        raise CheckpointError(_("{file} is not a PyTorch checkpoint (not the zip format torch.save writes): it is "
                                "truncated, corrupted, or another kind of file. Save it again with torch.save.",
                                file=path.name))
    inflated = _inflated_size(path)
    limit = min(MAX_BYTES, max_bytes) if max_bytes is not None else MAX_BYTES
    if inflated > limit:
        raise CheckpointError(_("{file} holds {size:.0f} MB once unpacked, over the {limit:.0f} MB a checkpoint of "
                                "this assignment's model can take (its weights and the optimizer's state): save only "
                                "model.state_dict() and optimizer.state_dict().", file=path.name,
                                size=inflated / 1e6, limit=limit / 1e6))
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - the safe loader refuses in several ways
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise CheckpointError(_(
                "{file} holds Python objects that cannot be loaded safely (for example a whole model saved with "
                "torch.save(model), or numpy numbers). The grader never unpickles objects. Save plain tensors and "
                "numbers instead: {code}, with float(loss) rather than a numpy value.", file=path.name,
                code="torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), "
                     "'epoch': epoch}, 'best.pt')")) from None
        error = f"{type(exc).__name__}: {text.splitlines()[0][:200]}"
        raise CheckpointError(_("{file} could not be read ({error}): it is probably truncated or corrupted. Save it "
                                "again.", file=path.name, error=error)) from None
    _refuse_expanded(path, obj)
    if _is_state_dict(obj):
        return Checkpoint(path, _strip(obj), layout=_("a bare state_dict (no epoch, no optimizer)"))
    if not isinstance(obj, dict):
        raise CheckpointError(_("{file} holds a {type}, not a dict: save {code}.", file=path.name,
                                type=type(obj).__name__, code="{'model': model.state_dict(), 'optimizer': "
                                                              "optimizer.state_dict(), 'epoch': epoch}"))
    model_key = next((k for k in MODEL_KEYS if _is_state_dict(obj.get(k))), None)
    if model_key is None:
        raise CheckpointError(_("{file} has the keys {keys}, but none holds the model's weights. Use one of {names} "
                                "for model.state_dict().", file=path.name, keys=sorted(map(str, obj))[:12],
                                names=list(MODEL_KEYS)))
    opt_key = next((k for k in OPTIMIZER_KEYS if isinstance(obj.get(k), dict)), None)
    extras = {k: v for k, v in obj.items() if k not in (model_key, opt_key, "epoch")}
    layout = f"{{{model_key!r}" + (f", {opt_key!r}" if opt_key else "") + (", 'epoch'" if "epoch" in obj else "") + "}"
    return Checkpoint(path, _strip(obj[model_key]), obj.get(opt_key) if opt_key else None, obj.get("epoch"),
                      extras, layout)


def step_count(value) -> float | None:
    """An optimizer state's ``step`` (a number, or a one-number tensor) as a finite count; None for anything else
    (the file is the student's: an infinite or a many-number step is no count)."""
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    return number if math.isfinite(number) and number >= 0 else None
