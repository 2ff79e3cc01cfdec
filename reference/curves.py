"""Per-epoch validation curves: ``curves.json`` and two plots that carry their own data.

``curves.json``::

    {"val_loss": [0.081, 0.052, ...], "val_accuracy": [97.5, 98.3, ...], ...optional extra keys}

one entry per epoch starting at epoch 1, loss averaged per image, accuracy in percent.
``val_loss.png`` and ``val_acc.png`` store the same JSON in a PNG text chunk under the key ``grader-curves``,
so a grader reads a plot back exactly instead of guessing pixels (:func:`read_png_curves`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

PNG_KEY = "grader-curves"
CURVES_FILE = "curves.json"
LOSS_PLOT = "val_loss.png"
ACC_PLOT = "val_acc.png"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_curves(out_dir, val_loss: list[float], val_accuracy: list[float], **extra) -> dict:
    """Write curves.json, val_loss.png and val_acc.png into ``out_dir``; return the curves document."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"val_loss": [float(v) for v in val_loss], "val_accuracy": [float(v) for v in val_accuracy], **extra}
    _write_atomic(out_dir / CURVES_FILE, (json.dumps(doc, indent=1) + "\n").encode())
    _plot(out_dir / LOSS_PLOT, doc, "val_loss", "validation loss")
    _plot(out_dir / ACC_PLOT, doc, "val_accuracy", "validation accuracy (%)")
    return doc


def _plot(path: Path, doc: dict, key: str, ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = doc[key]
    epochs = list(range(1, len(values) + 1))
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ax.plot(epochs, values, marker="o")
    best = min(range(len(values)), key=lambda i: doc["val_loss"][i]) if values else None
    if best is not None:
        ax.plot([epochs[best]], [values[best]], marker="*", markersize=14, color="tab:red", label="best.pt")
        ax.legend()
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    payload = json.dumps({"val_loss": doc["val_loss"], "val_accuracy": doc["val_accuracy"]})
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, format="png", metadata={PNG_KEY: payload, "Software": "grader"})
    plt.close(fig)
    os.replace(tmp, path)


def read_png_curves(path) -> dict | None:
    """The curves stored in a plot written by :func:`write_curves`, or None when the PNG carries none."""
    from PIL import Image

    with Image.open(path) as image:
        text = getattr(image, "text", {}) or {}
        payload = text.get(PNG_KEY)
    return json.loads(payload) if payload else None
