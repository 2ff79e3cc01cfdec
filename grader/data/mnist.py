"""MNIST on disk, in torchvision's own layout, loaded as whole uint8 tensors.

The validation split (t10k, 10,000 images) ships inside this package, so checking and grading work offline.
The training split (60,000 images) comes from, in order: the ``data_dir`` argument (``--data-dir``), the
``GRADER_DATA_DIR`` environment variable, or torchvision's download into ``~/.cache/grader`` when online.

Every file is verified by the SHA-256 of its uncompressed bytes, so a ``.gz`` and a plain file are equally
accepted and a truncated or altered file is refused with one clear message.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grader.config import path_setting
from grader.data import to_float  # noqa: F401 - re-exported: the MNIST loops import it from here
from grader.errors import GraderError
from grader.i18n import _

PACKAGED_DIR = Path(__file__).resolve().parent  # holds MNIST/raw/t10k-*.gz, shipped with the grader
ENV_VAR = "GRADER_DATA_DIR"
CACHE_DIR = Path.home() / ".cache" / "grader"

# SHA-256 of the uncompressed IDX files (the same sums torchvision's copy and ../shared/data/mnist carry).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


class DataError(GraderError):
    """Data could not be found or failed verification; the message says where we looked and how to fix it."""


@dataclass
class Split:
    """One split held in memory: ``images`` uint8 (N, 28, 28), ``labels`` int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None) -> Split:
        """The first ``n`` examples (all of them when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return Split(self.images[:n], self.labels[:n], f"{self.source} (first {n})")


def _candidate_files(root: Path, stem: str) -> list[Path]:
    # Accept the torchvision layout (<root>/MNIST/raw/...), the raw folder itself, or a flat folder.
    folders = [root / "MNIST" / "raw", root / "raw", root]
    return [folder / (stem + ext) for folder in folders for ext in ("", ".gz")]


def _read_verified(path: Path, stem: str) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(_("{path} is not a readable gzip file ({error}). Delete it and fetch MNIST again.",
                              path=path, error=exc)) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[stem]:
        raise DataError(_(
            "{path} failed its SHA-256 check (found {found}..., expected {expected}...). The file is truncated or "
            "altered: delete it and fetch MNIST again, or point --data-dir at a good copy.", path=path,
            found=digest[:16], expected=SHA256[stem][:16]))
    return data


def _parse_idx(data: bytes, stem: str) -> torch.Tensor:
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return torch.from_numpy(array.copy())


def _find(roots: list[Path], stem: str) -> Path | None:
    for root in roots:
        for path in _candidate_files(root, stem):
            if path.is_file():
                return path
    return None


def _load_from(roots: list[Path], prefix: str) -> Split:
    tensors = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        stem = f"{prefix}-{kind}"
        path = _find(roots, stem)
        if path is None:
            raise FileNotFoundError(stem)
        tensors.append(_parse_idx(_read_verified(path, stem), stem))
    images, labels = tensors
    assert path is not None  # each missing file raised above
    return Split(images, labels.long(), str(path.parent))


def _download(root: Path) -> None:
    from torchvision.datasets import MNIST  # only needed on this path

    MNIST(str(root), train=True, download=True)


def load_mnist(train: bool, data_dir: str | os.PathLike | None = None, download: bool = True) -> Split:
    """Load one MNIST split as uint8 tensors, verified by SHA-256.

    ``train=False`` is the course's validation set (t10k); it falls back to the copy shipped in this package.
    ``train=True`` looks in ``data_dir``, then ``$GRADER_DATA_DIR``, then ``~/.cache/grader``, and finally tries
    torchvision's download (when ``download``). Raises :class:`DataError` with one readable message otherwise.
    """
    if not train and data_dir is None and path_setting(ENV_VAR) is None:
        if _VALIDATION is None:  # kept in memory: a forked grader child inherits it instead of reading it again
            _set_validation(_load_mnist(False, None, download))
        assert _VALIDATION is not None
        return _VALIDATION
    return _load_mnist(train, data_dir, download)


_VALIDATION: Split | None = None


def _set_validation(split: Split) -> None:
    global _VALIDATION
    _VALIDATION = split


def _load_mnist(train: bool, data_dir, download: bool) -> Split:
    roots = [Path(p).expanduser() for p in (data_dir, path_setting(ENV_VAR)) if p]
    roots.append(CACHE_DIR)
    prefix = "train" if train else "t10k"
    if not train:
        roots.append(PACKAGED_DIR)
    try:
        return _load_from(roots, prefix)
    except FileNotFoundError:
        pass
    looked = ", ".join(str(r) for r in roots)
    if train and download:
        try:
            _download(CACHE_DIR)
            return _load_from([CACHE_DIR], prefix)
        except DataError:
            raise
        except Exception as exc:  # no network here is the common case
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            reason = _("the download failed ({error})", error=error)
    else:
        reason = _("downloading is off")
    fields = {"file": prefix + "-images-idx3-ubyte[.gz]", "looked": looked, "reason": reason, "env": ENV_VAR}
    if train:
        raise DataError(_("MNIST training files ({file}) not found. Looked in: {looked}; {reason}. Fix: pass "
                          "--data-dir pointing at a folder holding MNIST/raw/ (torchvision's layout), or set {env}.",
                          **fields))
    raise DataError(_("MNIST validation files ({file}) not found. Looked in: {looked}; {reason}. Fix: pass "
                      "--data-dir pointing at a folder holding MNIST/raw/ (torchvision's layout), or set {env}.",
                      **fields))


