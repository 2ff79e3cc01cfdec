"""The instructor's hand on a graded class: overrides (one, or a CSV of many), their removal, a student's history.

Everything here works on the OUT folder of ``grader grade`` alone (its results.sqlite); no check runs. After a
change the outputs are rebuilt (:func:`grader.grading.rebuild_outputs`), so the gradebook, report.html, the
feedback and the LMS exports made afterwards all carry it.

Public interface: :func:`class_spec`, :func:`add_override`, :func:`read_override_csv`,
:func:`student_history`, :class:`OverrideRequest`, :class:`StudentHistory`, :func:`current_user`.
"""
from __future__ import annotations

import getpass
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.adjust import WHOLE_SCORE, FinalGrade, Override
from grader.batch.entries import BatchError, read_table
from grader.batch.store import Graded, Store
from grader.grading import CLASS_RECORD, class_grades, rebuild_outputs
from grader.i18n import _
from grader.outputs.gradebook import check_names, max_points
from grader.report import Report
from grader.spec import QUIZ_CHECKS, Spec, load_spec

REMOVE = "remove"  # the points cell of an override CSV row that removes the override


@dataclass(frozen=True)
class OverrideRequest:
    """One override asked for: ``points`` None removes the student's override of ``check``."""

    student: str
    check: str
    points: float | None
    reason: str
    by: str = ""


@dataclass
class StudentHistory:
    """Everything results.sqlite holds on one student (``grader history``)."""

    student: str
    current: Report | None
    graded_at: float | None
    earlier: list[Graded] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    times: dict | None = None
    final: FinalGrade | None = None


def current_user() -> str:
    """Who is making a change: the OS user (``--by`` names someone else)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _store(out: Path) -> Store:
    if not (out / "results.sqlite").is_file():
        raise BatchError(_("{out} has no results.sqlite: run 'grader grade SUBMISSIONS -a NAME --out {out}' first",
                           out=out))
    return Store(out / "results.sqlite")


def class_spec(out: str | Path, assignment: str | None, root: Path | None) -> Spec:
    """The spec ``out`` was graded with: ``assignment`` when given, else the one its results.sqlite names."""
    store = _store(Path(out))
    try:
        meta = store.meta()
    finally:
        store.close()
    if assignment:
        spec = load_spec(assignment, root)
        if meta.get("assignment") and meta["assignment"] != spec.name:
            raise BatchError(_("{out} holds grades of {graded}, not {assignment}", out=out, graded=meta["assignment"],
                               assignment=spec.name))
        return spec
    path = meta.get("spec_path")
    if not path or not Path(path).is_file():
        raise BatchError(_("the spec {out} was graded with ({path}) is not there: give -a NAME", out=out,
                           path=path or _("not recorded")))
    return load_spec(path)


def _students(store: Store, out: Path) -> tuple[set[str], set[str]]:
    """(the graded students, the missing ones) of the class record."""
    text = store.meta().get(CLASS_RECORD)
    if text is None:
        raise BatchError(_("{out}/results.sqlite holds no graded class yet: run 'grader grade' first", out=out))
    record = json.loads(text)
    return {e["student"] for e in record["entries"]}, {s for s, _name in record["missing"]}


def unknown_student(student: str, students: set[str]) -> BatchError:
    """The error for an id the class does not hold, with the id of another case when there is one."""
    close = sorted(s for s in students if s.lower() == student.lower())
    if close:
        return BatchError(_("no student {student} in this class (did you mean {close}?): the ids are the gradebook's "
                            "student column", student=repr(student), close=close[0]))
    return BatchError(_("no student {student} in this class: the ids are the gradebook's student column",
                        student=repr(student)))


def _validate(spec: Spec, request: OverrideRequest, graded: set[str], missing: set[str], active: set[tuple[str, str]],
              where: str = "") -> None:
    prefix = f"{where}: " if where else ""
    target = request.check or _("the score")
    if request.student not in graded | missing:
        raise BatchError(f"{prefix}{unknown_student(request.student, graded | missing)}")
    names = check_names(spec)
    if request.check != WHOLE_SCORE and request.check not in names:
        raise BatchError(prefix + _("{check} is not a check of {assignment}: one of {names}, or no check for the "
                                    "whole score", check=repr(request.check), assignment=spec.name,
                                    names=", ".join(names)))
    if not request.reason.strip():
        raise BatchError(prefix + _("an override or its removal needs a reason (--reason \"...\"): the history keeps "
                                    "it, and the student reads an override's"))
    if request.points is None:
        if (request.student, request.check) not in active:
            raise BatchError(prefix + _("{student} has no override of {target} to remove", student=request.student,
                                        target=target))
        return
    if request.student in missing and request.check != WHOLE_SCORE:
        raise BatchError(prefix + _("{student} has no graded submission, so no check to adjust: give the whole "
                                    "score (no CHECK)", student=request.student))
    if request.check == WHOLE_SCORE:
        top = max_points(spec)
    else:
        top = spec.quiz["points"][request.check] if request.check in QUIZ_CHECKS else spec.points[request.check]
    if not 0 <= request.points <= top:
        raise BatchError(prefix + _("{points} points for {target}: give 0 to {top}", points=format(request.points, "g"),
                                    target=target, top=format(top, "g")))


def add_override(spec: Spec, out: str | Path, requests: list[OverrideRequest],
                 warnings: list[str] | None = None) -> list[Override]:
    """Keep every request (an override, or a removal when its points are None) after checking them all, in one
    transaction, then rebuild the outputs; BatchError naming the first bad request, with nothing kept. The rebuild's
    warnings (:attr:`grader.grading.Rebuilt.warnings`: the rules', a class graded in another language) are added to
    ``warnings`` when given."""
    out = Path(out)
    store = _store(out)
    try:
        graded, missing = _students(store, out)
        active = {(o.student, o.check) for o in store.overrides(active_only=True)}
        for number, request in enumerate(requests, start=1):
            _validate(spec, request, graded, missing, active, _("row {number}", number=number) if len(requests) > 1
                      else "")
            key = (request.student, request.check)
            active.discard(key) if request.points is None else active.add(key)
        now = time.time()
        changes = [Override(r.student, r.check, round(r.points or 0.0, 3), r.reason.strip(), r.by or current_user(),
                            now, removed_at=now if r.points is None else None) for r in requests]
        done = store.apply_overrides(changes)
    finally:
        store.close()
    built = rebuild_outputs(spec, out)
    if warnings is not None:
        warnings.extend(built.warnings)
    return done


def read_override_csv(path: str | Path, by: str = "") -> list[OverrideRequest]:
    """The requests of an override CSV: columns student, points, reason, and optionally check and by; the points
    cell ``remove`` removes that override. BatchError naming the line of a bad row."""
    path = Path(path)
    header, rows = read_table(path, lower=True)
    absent = [c for c in ("student", "points", "reason") if c not in header]
    if absent:
        raise BatchError(_("{path}: the header needs student, points and reason (and may have check and by); "
                           "missing {columns}", path=path, columns=", ".join(absent)))
    requests = []
    for number, row in enumerate(rows, start=2):
        cell = (row.get("points") or "").strip()
        if not (row.get("student") or "").strip():
            continue
        try:
            points = None if cell.lower() == REMOVE else float(cell)
        except ValueError:
            raise BatchError(_("{path}, line {number}: points {cell} is not a number (or {remove})", path=path,
                               number=number, cell=repr(cell), remove=REMOVE)) from None
        requests.append(OverrideRequest(row["student"].strip(), (row.get("check") or "").strip(), points,
                                        (row.get("reason") or "").strip(), (row.get("by") or "").strip() or by))
    if not requests:
        raise BatchError(_("{path}: no rows", path=path))
    return requests


def student_history(spec: Spec, out: str | Path, student: str) -> StudentHistory:
    """What results.sqlite holds on ``student``: the current result, the ones regrades replaced, every override
    (removed ones too), the submission time, and the final score as the outputs show it now."""
    out = Path(out)
    store = _store(out)
    try:
        graded, missing = _students(store, out)
        if student not in graded | missing and not store.history(student):
            raise unknown_student(student, graded | missing)
        current = store.reports([student]).get(student)
        graded_at = store.graded_at().get(student)
        history = StudentHistory(student, current, graded_at, store.history(student), store.overrides(student),
                                 store.times().get(student))
    finally:
        store.close()
    history.final = class_grades(spec, out).finals.get(student)
    return history
