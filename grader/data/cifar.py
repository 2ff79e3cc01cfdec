"""CIFAR-10 in torchvision's on-disk layout (``cifar-10-batches-py``), loaded as whole uint8 tensors.

The course splits the 50,000 training images 40,000 / 10,000 into training and validation with a fixed seed;
``split`` derives both index sets from the seed (a fifth of the images, whatever their number, is validation)
and the training code records the seed and the validation indices in curves.json, so a grader can rebuild the
exact validation set. The test batch (10,000 images) is kept for the final evaluation.

The batch files are Python pickles (that is the format). They are read with an unpickler that only rebuilds
numpy arrays, lists, dicts, strings and numbers, never arbitrary objects. The data comes from ``data_dir``
(``--data-dir``), ``$GRADER_CIFAR_DIR``, or torchvision's download when online.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from grader.config import path_setting
from grader.data.mnist import DataError, Split
from grader.i18n import _

ENV_VAR = "GRADER_CIFAR_DIR"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILE = "test_batch"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)  # per channel, of the training images
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        global_name = f"{module}.{name}"
        raise pickle.UnpicklingError(_("refusing {name}: a CIFAR batch holds only arrays and lists",
                                       name=global_name))


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as handle:
            batch = _ArraysOnly(handle, encoding="latin1").load()
        data = np.asarray(batch.get("data", batch.get(b"data")), dtype=np.uint8)
        labels = np.asarray(batch.get("labels", batch.get(b"labels")), dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise DataError(_("{path} is not a CIFAR-10 batch ({error}). Delete it and fetch CIFAR-10 again, or point "
                          "--data-dir at a good copy.", path=path, error=error)) from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(_("{path}: expected data {expected} and N labels, found data {shape} and {n} labels",
                          path=path, expected="(N, 3072)", shape=data.shape, n=len(labels)))
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataError(_("{path}: labels outside {range}", path=path, range="0..9"))
    return data.reshape(-1, 3, 32, 32), labels


def find_root(data_dir=None) -> Path:
    """The folder holding ``cifar-10-batches-py``, or DataError saying where it looked and how to fix it."""
    roots = [Path(p).expanduser() for p in (data_dir, path_setting(ENV_VAR)) if p]
    for root in roots:
        for candidate in (root / FOLDER, root):
            if (candidate / TRAIN_FILES[0]).is_file():
                return candidate
    looked = ", ".join(map(str, roots)) or _("nowhere (no --data-dir, no ${env})", env=ENV_VAR)
    raise DataError(_("CIFAR-10 ({files}) not found. Looked in: {looked}. Fix: pass --data-dir pointing at the "
                      "folder holding {folder}/ (torchvision's layout), or set {env}.",
                      files=FOLDER + "/data_batch_1...5, test_batch", looked=looked, folder=FOLDER, env=ENV_VAR))


def load_cifar10(train: bool, data_dir=None, download: bool = False) -> Split:
    """All training images (``train=True``, 50,000 in the real set) or the test batch, as uint8 (N, 3, 32, 32)."""
    try:
        root = find_root(data_dir)
    except DataError:
        if not download:
            raise
        from torchvision.datasets import CIFAR10  # only needed on this path

        target = Path(data_dir or Path.home() / ".cache" / "grader")
        CIFAR10(str(target), train=True, download=True)
        root = find_root(target)
    parts = [_read_batch(root / name) for name in (TRAIN_FILES if train else [TEST_FILE])]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return Split(images, labels, str(root))


def split_indices(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) indices of ``n`` training images: a seeded permutation, the last fifth validates."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = n // 5
    return order[: n - n_val].sort().values, order[n - n_val:].sort().values


def write_batches(folder, images: np.ndarray, labels: np.ndarray, test_images: np.ndarray,
                  test_labels: np.ndarray) -> Path:
    """Write images in torchvision's CIFAR-10 layout (five training batches, a test batch, batches.meta).

    For tests and demos: ``images`` uint8 (N, 3, 32, 32). Returns the ``cifar-10-batches-py`` folder.
    """
    root = Path(folder) / FOLDER
    root.mkdir(parents=True, exist_ok=True)
    chunks = np.array_split(np.arange(len(images)), len(TRAIN_FILES))
    for name, index in zip(TRAIN_FILES, chunks, strict=True):
        _dump(root / name, images[index], labels[index], name)
    _dump(root / TEST_FILE, test_images, test_labels, TEST_FILE)
    with (root / "batches.meta").open("wb") as handle:
        pickle.dump({"label_names": list(CLASSES), "num_cases_per_batch": len(chunks[0]), "num_vis": 3072},
                    handle, protocol=2)
    return root


def _dump(path: Path, images: np.ndarray, labels: np.ndarray, label: str) -> None:
    batch = {b"batch_label": label.encode(), b"labels": [int(v) for v in labels],
             b"data": np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8),
             b"filenames": [f"{label}_{i}.png".encode() for i in range(len(images))]}
    with path.open("wb") as handle:
        pickle.dump(batch, handle, protocol=2)
