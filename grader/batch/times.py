"""When each submission of a class came in, from wherever that is known, and said where it came from.

Sources, the first that knows a student's time wins:

1. ``--submitted-at CSV``: the instructor's table, an id column (as a roster's: id, student, sid, email...) and
   ``submitted_at`` (ISO 8601; a time without an offset is in the rules' time zone).
2. A Moodle assignment's grading worksheet: its ``Last modified (submission)`` column (Moodle writes it in the
   downloading user's time zone, with no offset: read in the rules' time zone, and said so), matched by the
   participant id Moodle wrote into the submission's folder name.
3. Canvas's late mark: Canvas names a late file ``lastfirst_LATE_12345_67890_name``; it says late, not when.
4. With ``--times-from-mtime`` only: the newest modification time of the submission's files, named as a fallback
   (a copy or an unzip resets it; it is not the time the student submitted).

Public interface: :func:`find_times`, :class:`TimesFound`, :func:`times_to_dict`, :func:`times_from_dict`,
:func:`read_submitted_at`, :func:`read_moodle_times`, :func:`canvas_marked_late`, :data:`MOODLE_TIME_COLUMN`.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from grader.batch.entries import ROSTER_ID_COLUMNS, BatchError, Entry, lms_identity
from grader.late import LateError, SubmissionTimes, parse_time

TIME_COLUMNS = ("submitted_at", "submitted", "submission_time", "timestamp", "time")
MOODLE_TIME_COLUMN = "Last modified (submission)"
# Moodle's English "strftimedatetime" (%A, %d %B %Y, %I:%M %p), and its 24-hour variant
MOODLE_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M")
CANVAS_LATE = re.compile(r"^[a-z0-9]+_late_\d+_\d+_", re.IGNORECASE)


@dataclass
class TimesFound:
    """Each student's times, and the rows of a source that name no graded student (for a warning)."""

    times: dict[str, SubmissionTimes] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)


def times_to_dict(times: SubmissionTimes) -> dict:
    """``times`` as JSON-ready data (ISO 8601 times), for results.sqlite."""
    def iso(moment):
        return moment.isoformat() if moment is not None else None

    return {"submitted": iso(times.submitted), "due": iso(times.due), "late_due": iso(times.late_due),
            "source": times.source, "marked_late": times.marked_late, "fallback": times.fallback}


def times_from_dict(data: dict) -> SubmissionTimes:
    """The :class:`SubmissionTimes` :func:`times_to_dict` wrote."""
    def moment(value):
        return datetime.fromisoformat(value) if value else None

    return SubmissionTimes(moment(data.get("submitted")), moment(data.get("due")), moment(data.get("late_due")),
                           str(data.get("source", "")), bool(data.get("marked_late")), bool(data.get("fallback")))


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return [h.strip() for h in reader.fieldnames or []], rows
    except OSError as exc:
        raise BatchError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise BatchError(f"{path} is not UTF-8 text: save it as CSV UTF-8") from None


def read_submitted_at(path: str | Path, zone: ZoneInfo | None) -> dict[str, SubmissionTimes]:
    """{student id (lower case): times} from an instructor's CSV (see the module doc); BatchError naming the row."""
    path = Path(path)
    header, rows = _rows(path)
    lower = {h.lower(): h for h in header}
    id_column = next((lower[c] for c in ROSTER_ID_COLUMNS if c in lower), None)
    time_column = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if id_column is None or time_column is None:
        raise BatchError(f"{path}: the header needs an id column ({', '.join(ROSTER_ID_COLUMNS)}) and a time column "
                         f"({', '.join(TIME_COLUMNS)}); found: {', '.join(header) or 'nothing'}")
    found = {}
    source = f"{path.name} ({time_column})"
    for number, row in enumerate(rows, start=2):
        student = (row.get(id_column) or "").strip()
        value = (row.get(time_column) or "").strip()
        if not student or not value:
            continue
        try:
            found[student.lower()] = SubmissionTimes(parse_time(value, f"{path}, line {number}", zone), None, None,
                                                     source)
        except LateError as exc:
            raise BatchError(str(exc)) from None
    return found


def _moodle_time(value: str, zone: ZoneInfo | None) -> datetime | None:
    for pattern in MOODLE_FORMATS:
        try:
            moment = datetime.strptime(value.strip(), pattern)
        except ValueError:
            continue
        return moment.replace(tzinfo=zone or UTC)
    return None


def read_moodle_times(path: str | Path, zone: ZoneInfo | None) -> dict[str, SubmissionTimes]:
    """{participant id: times} from a Moodle grading worksheet's ``Last modified (submission)`` column (``-``: no
    submission); BatchError when it has no such column or a time Moodle's English format does not give."""
    path = Path(path)
    header, rows = _rows(path)
    if "Identifier" not in header or MOODLE_TIME_COLUMN not in header:
        raise BatchError(f"{path}: not a Moodle grading worksheet with submission times (it needs the columns "
                         f"Identifier and {MOODLE_TIME_COLUMN!r}; found: {', '.join(header) or 'nothing'}). Download "
                         "it from Moodle with the English interface")
    name = getattr(zone, "key", "UTC") if zone else "UTC"
    source = f"Moodle's worksheet {path.name} ({MOODLE_TIME_COLUMN}, read in {name})"
    found = {}
    for number, row in enumerate(rows, start=2):
        participant = re.fullmatch(r"\s*Participant\s+(\d+)\s*", row.get("Identifier") or "")
        value = (row.get(MOODLE_TIME_COLUMN) or "").strip()
        if participant is None or value in ("", "-"):
            continue
        moment = _moodle_time(value, zone)
        if moment is None:
            raise BatchError(f"{path}, line {number}: {MOODLE_TIME_COLUMN} {value!r} is not in Moodle's English "
                             "format (Tuesday, 1 December 2026, 10:15 PM)")
        found[participant.group(1)] = SubmissionTimes(moment, None, None, source)
    return found


def canvas_marked_late(entry: Entry) -> bool:
    """Whether Canvas named this submission's file as late (``lastfirst_LATE_12345_67890_...``)."""
    return bool(CANVAS_LATE.match(entry.path.name))


def _mtime(entry: Entry) -> SubmissionTimes | None:
    path = entry.path
    try:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        newest = max((p.stat().st_mtime for p in files), default=None)
    except OSError:
        return None
    if newest is None:
        return None
    return SubmissionTimes(datetime.fromtimestamp(newest, UTC), None, None, "the files' modification time",
                           fallback=True)


def find_times(entries: list[Entry], *, submitted_at: str | Path | None = None, worksheet: str | Path | None = None,
               from_mtime: bool = False, zone: ZoneInfo | None = None) -> TimesFound:
    """Each entry's submission times from the sources given (the module doc's order); a student no source knows
    has none. Rows of the CSV or the worksheet that name no entry are listed in ``unmatched``."""
    result = TimesFound()
    table = read_submitted_at(submitted_at, zone) if submitted_at else {}
    moodle = read_moodle_times(worksheet, zone) if worksheet else {}
    used: set[str] = set()
    for entry in entries:
        participant = lms_identity(entry.path.name) or (entry.student if entry.student.isdigit() else None)
        found = table.get(entry.student.lower())
        if found is not None:
            used.add(entry.student.lower())
        elif participant is not None and participant in moodle:
            found = moodle[participant]
            used.add(participant)
        elif canvas_marked_late(entry):
            found = SubmissionTimes(None, None, None, "Canvas's file name (LATE)", marked_late=True)
        elif from_mtime:
            found = _mtime(entry)
        if found is not None:
            result.times[entry.student] = found
    result.unmatched = sorted(set(table) - used) + sorted(f"Participant {p}" for p in set(moodle) - used)
    return result
