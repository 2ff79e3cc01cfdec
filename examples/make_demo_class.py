"""Build the demo class of the Week 4 quiz (mycnn) that the README's first command grades, offline.

Usage: python examples/make_demo_class.py [--out examples/demo-class] [--force]

The students' code is in ``examples/students/``; their checkpoints and curves are made here, for real and
deterministically (fixed seeds), by training the reference MyCNN for a few epochs on the 1,000 training images
shipped in ``examples/data/`` and validating on the full 10,000-image validation split, as the quiz asks:

* alice (folder, .py), bob (folder, notebook), carol (.zip with model.py + train.py): honest, seeds 1-3;
* dave: a forged checkpoint: best.pt saved after every epoch, and his last epoch (a too-large learning rate) is
  not his best;
* erin: flattens with a hard-coded batch size, and hands in a copy of alice's best.pt and curves;
* frank.ipynb: a notebook whose class crashes (a NameError).

Nothing is rebuilt when ``--out`` already holds a class made by this script (``--force`` rebuilds).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.data.mnist import Split, load_mnist  # noqa: E402
from grader.quiz.curves import write_curves  # noqa: E402
from grader.quiz.evaluate import validate  # noqa: E402
from reference import get_network  # noqa: E402
from reference.checkpoint import save_checkpoint, should_save  # noqa: E402
from reference.train import train_epoch  # noqa: E402

STAMP = ".made-by-make_demo_class"
HONEST = {"alice": 1, "bob": 2, "carol": 3}
EPOCHS = 2


def shipped_training_subset() -> Split:
    """The 1,000 MNIST training images shipped with the examples (uint8, as the reference loader gives)."""
    with np.load(HERE / "data" / "mnist-train-1000.npz", allow_pickle=False) as data:
        return Split(torch.from_numpy(data["images"].copy()), torch.from_numpy(data["labels"].astype(np.int64)),
                     "examples/data/mnist-train-1000.npz")


def train_student(folder: Path, seed: int, train: Split, val: Split, epochs: int = EPOCHS,
                  late_lr: float | None = None, save_every_epoch: bool = False) -> None:
    """Train MyCNN like a student would and write best.pt, curves.json and the two plots into ``folder``."""
    torch.manual_seed(seed)
    model = get_network("mycnn").build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, accuracies = [], []
    for epoch in range(1, epochs + 1):
        if late_lr is not None and epoch == epochs:
            for group in optimizer.param_groups:
                group["lr"] = late_lr
        train_epoch(model, optimizer, train, 64, torch.Generator().manual_seed(seed * 1000 + epoch))
        loss, _, accuracy = validate(model, val)
        losses.append(loss)
        accuracies.append(accuracy)
        if save_every_epoch or should_save(losses):
            save_checkpoint(folder / "best.pt", model, optimizer, epoch)
        print(f"  {folder.name} epoch {epoch}: validation loss {loss:.4f}, accuracy {accuracy:.2f}%", flush=True)
    write_curves(folder, losses, accuracies)


def build(out: Path) -> None:
    """Assemble the whole class into ``out`` (which is replaced)."""
    began = time.perf_counter()
    if out.exists():
        shutil.rmtree(out)
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(HERE / "students", staging)
    train, val = shipped_training_subset(), load_mnist(False)
    for name, seed in HONEST.items():
        train_student(staging / name, seed, train, val)
    train_student(staging / "dave", 4, train, val, epochs=3, late_lr=0.05, save_every_epoch=True)
    for artifact in ("best.pt", "curves.json", "val_loss.png", "val_acc.png"):
        shutil.copy2(staging / "alice" / artifact, staging / "erin" / artifact)
    with zipfile.ZipFile(staging / "carol.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((staging / "carol").rglob("*")):
            archive.write(path, Path("carol") / path.relative_to(staging / "carol"))
    shutil.rmtree(staging / "carol")
    (staging / STAMP).write_text("built by examples/make_demo_class.py\n")
    staging.rename(out)
    print(f"demo class ready in {out} ({time.perf_counter() - began:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(HERE / "demo-class"), help="where to build the class "
                        "(default: examples/demo-class)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the class is already there")
    args = parser.parse_args()
    out = Path(args.out)
    if (out / STAMP).exists() and not args.force:
        print(f"demo class already built in {out} (--force rebuilds it)")
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    build(out)


if __name__ == "__main__":
    main()
