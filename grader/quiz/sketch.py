"""A fixed-size sketch of a checkpoint's weights, so that the class-level "near-identical weights" flag needs
memory for the sketches alone, whatever the class size and the network.

The weights are the floating-point tensors of the state_dict in key order, flattened (the vector the flag compares).
The sketch is a count sketch: weight i is added, with a seeded random sign, into one of ``SKETCH_SIZE`` buckets
chosen by a seeded random hash of i. For two vectors a and b, the dot product of their sketches is an unbiased
estimate of a . b; for a near-identical pair the sketches differ by the sketch of the small difference, so their
cosine stays within a hair of the true one, while unrelated weights land near 0 (standard deviation about
1/sqrt(SKETCH_SIZE)). The flag step takes a pair whose sketch cosine reaches the threshold minus
``CANDIDATE_MARGIN`` as a candidate and confirms it on the exact weights, loading only that pair. The SHA-256 of
the weights' bytes beside the sketch finds identical weights saved in different files without loading anything.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import torch

from grader.i18n import _

SKETCH_SIZE = 512
SEED = 2026_11_30  # changing it changes every sketch: keep it fixed so stored reports stay comparable
CHUNK = 1 << 20  # the hash of weight i comes from the seeded generator of chunk i // CHUNK
CANDIDATE_MARGIN = 0.05  # sketch cosine this far below the threshold is still checked on the exact weights


@dataclass(frozen=True)
class WeightSketch:
    """What the flag step needs of one checkpoint: the layout, the exact hash and the sketch."""

    signature: str  # SHA-256 of the float tensors' names and shapes: only equal layouts are compared
    weights_sha256: str  # of the float32 bytes of the flattened weights
    sketch: str  # SKETCH_SIZE float32 numbers, little-endian, base64 (2.7 KB in a report): see decode()


def float_tensors(state_dict: dict) -> list[str]:
    """The keys of the floating-point tensors, in the order the weights are flattened."""
    return sorted(k for k, v in state_dict.items() if torch.is_tensor(v) and v.is_floating_point())


def _chunk_hash(index: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(SEED * 1_000_003 + index)
    buckets = torch.randint(0, SKETCH_SIZE, (CHUNK,), generator=generator)
    signs = torch.randint(0, 2, (CHUNK,), generator=generator).to(torch.float64).mul_(2).sub_(1)
    return buckets, signs


def sketch_state(state_dict: dict) -> WeightSketch | None:
    """The sketch of a state_dict's floating-point weights, or None when it has none. Memory: one chunk at a time."""
    keys = float_tensors(state_dict)
    if not keys:
        return None
    layout = hashlib.sha256(repr([(k, tuple(state_dict[k].shape)) for k in keys]).encode())
    exact = hashlib.sha256()
    sketch = torch.zeros(SKETCH_SIZE, dtype=torch.float64)
    chunk_index, hashes = -1, None
    offset = 0
    for key in keys:
        values = state_dict[key].detach().reshape(-1).float().contiguous()
        exact.update(values.numpy().tobytes())
        start = 0
        while start < values.numel():
            index, within = divmod(offset + start, CHUNK)
            if index != chunk_index:
                chunk_index, hashes = index, _chunk_hash(index)
            take = min(values.numel() - start, CHUNK - within)
            buckets, signs = hashes  # type: ignore[misc]
            sketch.index_add_(0, buckets[within:within + take],
                              values[start:start + take].to(torch.float64) * signs[within:within + take])
            start += take
        offset += values.numel()
    encoded = base64.b64encode(sketch.to(torch.float32).numpy().astype("<f4").tobytes()).decode("ascii")
    return WeightSketch(layout.hexdigest(), exact.hexdigest(), encoded)


def decode(text: str) -> torch.Tensor:
    """A sketch as SKETCH_SIZE float64 numbers (ValueError when the text is not one)."""
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if len(data) != 4 * SKETCH_SIZE:
        raise ValueError(_("a sketch holds {size} float32 numbers, not {found:g}", size=SKETCH_SIZE,
                           found=len(data) / 4))
    return torch.frombuffer(bytearray(data), dtype=torch.float32).to(torch.float64)


def cosine(a: str, b: str) -> float:
    """The cosine of two sketches (0 when one is all zeros)."""
    x, y = decode(a), decode(b)
    norm = float(x.norm() * y.norm())
    return float(x @ y) / norm if norm > 0 else 0.0
