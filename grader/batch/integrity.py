"""Class-level integrity flags: identical checkpoints, near-identical weights, identical curves.

Flags are never scored: they list pairs for the instructor to look at (in the gradebook and report.html).
The checkpoints are read again here with the same safe loader as the quiz (``weights_only=True``, size cap);
thresholds come from the spec's ``[integrity]`` table (``weight_cosine``, default 0.999).
"""
from __future__ import annotations

import hashlib
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from grader.quiz.checkpoint import MAX_BYTES, CheckpointError, load_checkpoint_file
from grader.report import CheckpointDetails, CurvesDetails, Flag, Report, details_of
from grader.spec import Spec


def _checkpoint_file(entry_path: Path, relative: str, folder: Path) -> Path | None:
    """The submitted checkpoint on disk (a member of a zip is copied to ``folder`` first)."""
    if entry_path.is_dir():
        path = entry_path / relative
        return path if path.is_file() else None
    if entry_path.suffix.lower() != ".zip":
        return None

    try:
        with zipfile.ZipFile(entry_path) as archive:
            member = next((m for m in archive.infolist() if m.filename == relative
                           or m.filename.endswith("/" + relative)), None)
            if member is None or member.file_size > MAX_BYTES:
                return None
            target = folder / f"{len(list(folder.iterdir()))}.pt"
            target.write_bytes(archive.read(member))
            return target
    except (zipfile.BadZipFile, OSError):
        return None


def _checkpoint_hash(report: Report) -> str | None:
    detail: CheckpointDetails | None = details_of(report, "checkpoint")
    return detail.sha256 if detail else None


def _curves_key(report: Report) -> tuple | None:
    curves: CurvesDetails | None = details_of(report, "curves")
    return tuple(round(v, 6) for v in curves.val_loss + curves.val_accuracy) if curves else None


def _weights(entries, reports: dict[str, Report]) -> dict[str, tuple[tuple, Any]]:
    """student -> (signature of keys and shapes, flattened float32 weights) for every checkpoint that loads."""


    vectors: dict[str, tuple[tuple, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for entry in entries:
            report = reports.get(entry.student)
            detail: CheckpointDetails | None = details_of(report, "checkpoint") if report else None
            if detail is None:
                continue
            path = _checkpoint_file(entry.path, detail.file, Path(folder))
            if path is None:
                continue
            try:
                state = load_checkpoint_file(path).state_dict
            except CheckpointError:
                continue
            keys = sorted(k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point())
            if not keys:
                continue
            signature = tuple((k, tuple(state[k].shape)) for k in keys)
            vectors[entry.student] = (signature, torch.cat([state[k].detach().reshape(-1).float() for k in keys]))
    return vectors


def class_flags(spec: Spec, entries, reports: dict[str, Report]) -> dict[str, list[Flag]]:
    """student -> integrity flags, each naming the other student(s) and the evidence."""

    flags: dict[str, list[Flag]] = {e.student: [] for e in entries}
    students = [e.student for e in entries if e.student in reports]

    def pairs_by(value_of, label):
        groups: dict = {}
        for student in students:
            value = value_of(reports[student])
            if value is not None:
                groups.setdefault(value, []).append(student)
        for members in groups.values():
            for student in members:
                others = [m for m in members if m != student]
                if others:
                    flags[student].append(Flag(label, f"{label} as {', '.join(others)}"))

    pairs_by(lambda r: _checkpoint_hash(r), "identical checkpoint")
    pairs_by(lambda r: _curves_key(r), "identical curves")

    threshold = float(spec.integrity["weight_cosine"])
    vectors = _weights(entries, reports)
    by_signature: dict = {}
    for student, (signature, vector) in vectors.items():
        by_signature.setdefault(signature, []).append((student, vector))
    for group in by_signature.values():
        if len(group) < 2:
            continue
        names = [s for s, _ in group]
        matrix = torch.stack([v for _, v in group]).double()
        weights = [hashlib.sha256(v.numpy().tobytes()).digest() for _, v in group]  # equal weights, by hash
        files = [_checkpoint_hash(reports[s]) for s in names]
        matrix = matrix / matrix.norm(dim=1, keepdim=True).clamp_min(1e-12)
        cosine = (matrix @ matrix.T).tolist()
        for i, student in enumerate(names):
            # Same file: already "identical checkpoint". Same weights in another file (re-saved, epoch changed):
            # said as such, as it is stronger than any cosine.
            equal = [names[j] for j in range(len(names))
                     if j != i and weights[i] == weights[j] and files[i] != files[j]]
            if equal:
                flags[student].append(Flag("identical weights",
                                           f"identical weights (in a different file) as {', '.join(equal)}"))
            close = [f"{names[j]} ({cosine[i][j]:.4f})" for j in range(len(names))
                     if j != i and cosine[i][j] >= threshold and weights[i] != weights[j]]
            if close:
                flags[student].append(Flag("near-identical weights",
                                           f"near-identical weights (cosine >= {threshold:g}) to {', '.join(close)}"))
    return flags
