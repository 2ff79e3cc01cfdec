"""File fingerprints shared by the stages: the checkpoint's hash, the cache key, the working copy's check."""
from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def feed(digest, path: str | Path) -> None:
    """Add the bytes of the file at ``path`` to ``digest``, a block at a time."""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    feed(digest, path)
    return digest.hexdigest()
