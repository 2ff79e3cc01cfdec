"""Class-level integrity flags: identical checkpoints, near-identical weights, identical curves.

Flags are never scored: they list pairs for the instructor to look at (in the gradebook and report.html).
Near-identical weights are found from each report's fixed-size sketch (:mod:`grader.quiz.sketch`, computed when the
submission was graded); only candidate pairs are read again, with the same safe loader as the quiz
(``weights_only=True``, size cap), and confirmed on their exact weights. So the step's memory does not grow with
the class beyond the sketches. Thresholds come from the spec's ``[integrity]`` table (``weight_cosine``, default
0.999).
"""
from __future__ import annotations

import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from grader.i18n import N_, _
from grader.quiz.checkpoint import MAX_BYTES, CheckpointError, byte_limit, load_checkpoint_file
from grader.quiz.sketch import CANDIDATE_MARGIN, decode, float_tensors
from grader.report import CheckpointDetails, CurvesDetails, Flag, Report, details_of
from grader.spec import Spec


def _checkpoint_file(entry_path: Path, relative: str, folder: Path) -> Path | None:
    """The submitted checkpoint on disk (a member of a zip is copied to ``folder`` first); None unless
    ``relative`` names a file inside the submission (a report computed in the student's process could name any)."""
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        return None
    if entry_path.is_dir():
        path = entry_path / relative
        inside = path.resolve().is_relative_to(entry_path.resolve())
        return path if inside and path.is_file() and not path.is_symlink() else None
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


LOADED_VECTORS = 4  # exact weight vectors held at once while confirming candidate pairs


def _exact_vector(entry, detail: CheckpointDetails, folder: Path, max_bytes: int | None = None):
    """The flattened float32 weights of one submitted checkpoint (for a candidate pair only), or None; one that
    unpacks to more than ``max_bytes`` (the quiz's own limit for the assignment) is not loaded."""
    path = _checkpoint_file(entry.path, detail.file, folder)
    if path is None:
        return None
    try:
        state = load_checkpoint_file(path, max_bytes).state_dict
    except CheckpointError:
        return None
    finally:
        if path.parent == folder:
            path.unlink(missing_ok=True)
    keys = float_tensors(state)
    return torch.cat([state[k].detach().reshape(-1).float() for k in keys]) if keys else None


def near_identical(spec: Spec, entries, reports: dict[str, Report]) -> tuple[dict, dict]:
    """({student: [(other, exact cosine)]} for pairs at least ``weight_cosine`` alike, {student: [others with the
    same weights in another file]}), from the sketches in the reports; only candidate pairs are loaded."""
    threshold = float(spec.integrity["weight_cosine"])
    sketched = []
    for entry in entries:
        report = reports.get(entry.student)
        detail: CheckpointDetails | None = details_of(report, "checkpoint") if report else None
        if detail is not None and detail.sketch:
            sketched.append((entry, detail))
    close: dict[str, list] = {}
    equal: dict[str, list] = {}
    by_signature: dict[str, list] = {}
    for entry, detail in sketched:
        by_signature.setdefault(detail.signature, []).append((entry, detail))
    candidates = []
    for group in by_signature.values():
        if len(group) < 2:
            continue
        try:
            sketches = torch.stack([decode(detail.sketch) for _entry, detail in group])
        except ValueError:  # a report from another grader version: flag nothing rather than guess
            continue
        sketches = sketches / sketches.norm(dim=1, keepdim=True).clamp_min(1e-300)
        similar = (sketches @ sketches.T).tolist()  # students x students, from the sketches alone
        for i, (a, da) in enumerate(group):
            for j in range(i + 1, len(group)):
                b, db = group[j]
                if da.weights_sha256 == db.weights_sha256:
                    if da.sha256 != db.sha256:  # same file: already "identical checkpoint"
                        equal.setdefault(a.student, []).append(b.student)
                        equal.setdefault(b.student, []).append(a.student)
                elif similar[i][j] >= threshold - CANDIDATE_MARGIN:
                    candidates.append((a, da, b, db))
    with tempfile.TemporaryDirectory() as folder:
        loaded: OrderedDict[str, Any] = OrderedDict()  # the last few vectors: pairs come sorted by their first
        for a, da, b, db in candidates:
            for entry, detail in ((a, da), (b, db)):
                if entry.student not in loaded:
                    loaded[entry.student] = _exact_vector(entry, detail, Path(folder),
                                                          byte_limit(spec.params_total or spec.params_max))
                    if len(loaded) > LOADED_VECTORS:
                        loaded.popitem(last=False)
                loaded.move_to_end(entry.student)
            va, vb = loaded[a.student], loaded[b.student]
            if va is not None and vb is not None and va.shape == vb.shape:
                va64, vb64 = va.double(), vb.double()
                value = float(va64 @ vb64 / (va64.norm() * vb64.norm()).clamp_min(1e-12))
                if value >= threshold:
                    close.setdefault(a.student, []).append((b.student, value))
                    close.setdefault(b.student, []).append((a.student, value))
    return close, equal


def class_flags(spec: Spec, entries, reports: dict[str, Report]) -> dict[str, list[Flag]]:
    """student -> integrity flags, each naming the other student(s) and the evidence."""

    flags: dict[str, list[Flag]] = {e.student: [] for e in entries}
    students = [e.student for e in entries if e.student in reports]

    def pairs_by(value_of, label, text):
        groups: dict = {}
        for student in students:
            value = value_of(reports[student])
            if value is not None:
                groups.setdefault(value, []).append(student)
        for members in groups.values():
            for student in members:
                others = [m for m in members if m != student]
                if others:
                    flags[student].append(Flag(label, _(text, students=", ".join(others))))

    pairs_by(lambda r: _checkpoint_hash(r), "identical checkpoint", N_("identical checkpoint as {students}"))
    pairs_by(lambda r: _curves_key(r), "identical curves", N_("identical curves as {students}"))

    threshold = float(spec.integrity["weight_cosine"])
    close, equal = near_identical(spec, entries, reports)
    order = {e.student: i for i, e in enumerate(entries)}
    for student in students:
        if equal.get(student):
            names = sorted(equal[student], key=order.__getitem__)
            flags[student].append(Flag("identical weights", _("identical weights (in a different file) as {students}",
                                                              students=", ".join(names))))
        if close.get(student):
            pairs = sorted(close[student], key=lambda pair: order[pair[0]])
            others = ", ".join(f"{name} ({value:.4f})" for name, value in pairs)
            flags[student].append(Flag("near-identical weights", _(
                "near-identical weights (cosine >= {threshold:g}) to {students}", threshold=threshold,
                students=others)))
    return flags
