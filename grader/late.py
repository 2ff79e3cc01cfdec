"""Late submissions: when a submission came in against its due date, and the spec's [late] rule applied to it.

The times come from where the platform states them (Gradescope's ``submission_metadata.json``: ``created_at`` and
the assignment's ``due_date`` and ``late_due_date``), never from a file's modification time. The rule is the spec's
[late] table (docs/spec-format.md): ``percent_per_day`` off for each started day past the due date (none within
the first ``grace_minutes``), at most ``max_percent``. A student's own due date (an extension) replaces the
assignment's. The last accepted time (``late_due_date``) is the platform's to enforce: it is read, not applied.

Public interface: :class:`SubmissionTimes`, :func:`gradescope_times`, :class:`LateResult`, :func:`late_result`,
:class:`LateError`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from grader.errors import GraderError

MAX_METADATA_BYTES = 4 << 20


class LateError(GraderError):
    """The submission's times cannot be read; the message names the file and the field."""


@dataclass(frozen=True)
class SubmissionTimes:
    """When a submission came in and when it was due (``late_due``: the last accepted time, if any)."""

    submitted: datetime
    due: datetime | None
    late_due: datetime | None
    source: str  # where the times come from, for the report ("Gradescope's submission_metadata.json")


@dataclass(frozen=True)
class LateResult:
    """How late a submission is and what the rule takes off: ``percent`` of the score, ``rule`` in words."""

    minutes_late: float
    percent: float
    rule: str


def _time(value, path: Path, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise LateError(f"{path}: {field} is not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise LateError(f"{path}: {field} has no time zone: {value!r}")
    return moment


def gradescope_times(path: str | Path) -> SubmissionTimes:
    """The times in Gradescope's submission_metadata.json at ``path``; LateError when it is not one."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read(MAX_METADATA_BYTES))
    except OSError as exc:
        raise LateError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise LateError(f"{path} is not JSON: {exc}") from None
    assignment = data.get("assignment") if isinstance(data, dict) else None
    if not isinstance(assignment, dict) or "created_at" not in data:
        raise LateError(f"{path}: not Gradescope's submission metadata (it needs created_at and assignment)")
    submitted = _time(data["created_at"], path, "created_at")
    assert submitted is not None
    due = _time(assignment.get("due_date"), path, "assignment.due_date")
    late_due = _time(assignment.get("late_due_date"), path, "assignment.late_due_date")
    source = "Gradescope's submission_metadata.json"
    # An extension: Gradescope gives each user's own dates under users[].assignment; the latest counts (a group
    # submission is due when its last member's work is)
    users = data.get("users") if isinstance(data.get("users"), list) else []
    own = [u["assignment"] for u in users if isinstance(u, dict) and isinstance(u.get("assignment"), dict)]
    extended = [d for d in (_time(a.get("due_date"), path, "users[].assignment.due_date") for a in own) if d]
    if extended and (due is None or max(extended) > due):
        due, source = max(extended), source + ", with the student's extension"
        late_dues = [d for d in (_time(a.get("late_due_date"), path, "users[].assignment.late_due_date")
                                 for a in own) if d]
        late_due = max(late_dues) if late_dues else late_due
    return SubmissionTimes(submitted, due, late_due, source)


def _duration(minutes: float) -> str:
    days, rest = divmod(int(math.ceil(minutes)), 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{mins} min"] if mins or not parts else []
    return " ".join(parts)


def late_result(policy: dict, times: SubmissionTimes) -> LateResult | None:
    """What ``policy`` (a spec's ``late`` table) takes off a submission at ``times``; None when it was on time,
    has no due date, or the spec has no late rule."""
    if not policy or times.due is None or times.submitted <= times.due:
        return None
    minutes = (times.submitted - times.due).total_seconds() / 60
    late = (f"submitted {times.submitted.isoformat()}, {_duration(minutes)} after the due date "
            f"{times.due.isoformat()} (from {times.source})")
    if minutes <= policy["grace_minutes"]:
        return LateResult(minutes, 0.0, f"{late}: within the {policy['grace_minutes']:g}-minute grace period, "
                                        "no penalty")
    days = math.ceil(minutes / (24 * 60))  # the grace period only excuses the first minutes, not each day's
    percent = min(policy["max_percent"], policy["percent_per_day"] * days)
    rule = (f"{late}: {policy['percent_per_day']:g}% per started day x {days} day{'s' if days != 1 else ''}"
            + (f", capped at {policy['max_percent']:g}%" if percent < policy["percent_per_day"] * days else "")
            + f" = {percent:g}% off the score")
    return LateResult(minutes, percent, rule)
