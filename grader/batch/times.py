"""When each submission of a class came in, from wherever that is known, and said where it came from.

Sources, the first that knows a student's time wins:

1. ``--submitted-at CSV``: the instructor's table, an id column (as a roster's: id, student, sid, email...) and
   ``submitted_at`` (ISO 8601; a time without an offset is in the rules' time zone).
2. A Moodle assignment's grading worksheet: its ``Last modified (submission)`` column (Moodle writes it in the
   downloading user's time zone, with no offset: read in the rules' time zone, and said so), matched by the
   participant id Moodle wrote into the submission's folder name.
3. Canvas's late mark: Canvas names a late file ``lastfirst_LATE_12345_67890_name``; it says late, not when.
4. With ``--times-from-mtime`` only: the modification time of the entry itself (its folder or file), named as a
   fallback: it is when the file was last written here, and a student can set it (a zip keeps its files' times).

A time is kept in results.sqlite with the submission's files (their SHA-256, :func:`grader.batch.cache.files_key`)
and its source's rank (:data:`RANKS`): a later run's weaker source (a late mark, a file time) never replaces a
stronger one, and a time kept for other files (the student resubmitted) no longer counts.

Public interface: :func:`find_times`, :class:`TimesFound`, :func:`times_to_dict`, :func:`times_from_dict`,
:func:`read_submitted_at`, :func:`read_moodle_times`, :func:`canvas_marked_late`, :func:`merge_times`,
:data:`MOODLE_TIME_COLUMN`, :data:`RANKS`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from grader.batch.entries import ROSTER_ID_COLUMNS, BatchError, Entry, lms_identity, read_table
from grader.i18n import _
from grader.late import LateError, SubmissionTimes, parse_time

TIME_COLUMNS = ("submitted_at", "submitted", "submission_time", "timestamp", "time")
MOODLE_TIME_COLUMN = "Last modified (submission)"
# Moodle's English "strftimedatetime" (%A, %d %B %Y, %I:%M %p), and its 24-hour variant
MOODLE_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M")
CANVAS_LATE = re.compile(r"^[a-z0-9]+_late_\d+_\d+_", re.IGNORECASE)
RANKS = {"csv": 4, "moodle": 3, "canvas": 2, "mtime": 1}  # a stored time gives way only to one as strong


@dataclass
class TimesFound:
    """Each student's times, and the rows of a source that name no graded student (for a warning)."""

    times: dict[str, SubmissionTimes] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)  # each student's source's rank (RANKS)


def times_to_dict(times: SubmissionTimes, rank: int = 0, files: str = "") -> dict:
    """``times`` as JSON-ready data (ISO 8601 times), for results.sqlite, with its source's ``rank`` and the
    ``files`` key of the submission it is the time of."""
    def iso(moment):
        return moment.isoformat() if moment is not None else None

    return {"submitted": iso(times.submitted), "due": iso(times.due), "late_due": iso(times.late_due),
            "source": times.source, "marked_late": times.marked_late, "fallback": times.fallback,
            "rank": rank, "files": files}


def times_from_dict(data: dict) -> SubmissionTimes:
    """The :class:`SubmissionTimes` :func:`times_to_dict` wrote."""
    def moment(value):
        return datetime.fromisoformat(value) if value else None

    return SubmissionTimes(moment(data.get("submitted")), moment(data.get("due")), moment(data.get("late_due")),
                           str(data.get("source", "")), bool(data.get("marked_late")), bool(data.get("fallback")))


def read_submitted_at(path: str | Path, zone: ZoneInfo | None) -> dict[str, SubmissionTimes]:
    """{student id (lower case): times} from an instructor's CSV (see the module doc); BatchError naming the row."""
    path = Path(path)
    header, rows = read_table(path)
    lower = {h.lower(): h for h in header}
    id_column = next((lower[c] for c in ROSTER_ID_COLUMNS if c in lower), None)
    time_column = next((lower[c] for c in TIME_COLUMNS if c in lower), None)
    if id_column is None or time_column is None:
        raise BatchError(_("{path}: the header needs an id column ({ids}) and a time column ({times}); found: {found}",
                           path=path, ids=", ".join(ROSTER_ID_COLUMNS), times=", ".join(TIME_COLUMNS),
                           found=", ".join(header) or _("nothing")))
    found: dict[str, list[datetime]] = {}
    for number, row in enumerate(rows, start=2):
        student = (row.get(id_column) or "").strip()
        value = (row.get(time_column) or "").strip()
        if not student or not value:
            continue
        try:
            found.setdefault(student.lower(), []).append(
                parse_time(value, _("{path}, line {number}", path=path, number=number), zone))
        except LateError as exc:
            raise BatchError(str(exc)) from None
    source = f"{path.name} ({time_column})"
    return {student: SubmissionTimes(max(moments), None, None, source if len(moments) == 1 else
                                     _("{source}, the latest of its {n} rows for this student", source=source,
                                       n=len(moments)))
            for student, moments in found.items()}


def _moodle_time(value: str, zone: ZoneInfo | None) -> datetime | None:
    for pattern in MOODLE_FORMATS:
        try:
            moment = datetime.strptime(value.strip(), pattern)
        except ValueError:
            continue
        return moment.replace(tzinfo=zone)
    return None


def read_moodle_times(path: str | Path, zone: ZoneInfo | None) -> dict[str, SubmissionTimes]:
    """{participant id: times} from a Moodle grading worksheet's ``Last modified (submission)`` column (``-``: no
    submission); BatchError when it has no such column or a time Moodle's English format does not give."""
    path = Path(path)
    header, rows = read_table(path)
    if "Identifier" not in header or MOODLE_TIME_COLUMN not in header:
        raise BatchError(_("{path}: not a Moodle grading worksheet with submission times (it needs the columns "
                           "Identifier and {column}; found: {found}). Download it from Moodle with the English "
                           "interface", path=path, column=repr(MOODLE_TIME_COLUMN),
                           found=", ".join(header) or _("nothing")))
    if zone is None:
        raise BatchError(_("{path}: Moodle writes these times without a time zone: set timezone = \"Asia/Seoul\" "
                           "(the zone of the Moodle user who downloaded it) in course.toml or the spec's [late] table",
                           path=path))
    name = getattr(zone, "key", str(zone))
    source = _("Moodle's worksheet {name} ({column}, read in {zone})", name=path.name, column=MOODLE_TIME_COLUMN,
               zone=name)
    found = {}
    for number, row in enumerate(rows, start=2):
        participant = re.fullmatch(r"\s*Participant\s+(\d+)\s*", row.get("Identifier") or "")
        value = (row.get(MOODLE_TIME_COLUMN) or "").strip()
        if participant is None or value in ("", "-"):
            continue
        moment = _moodle_time(value, zone)
        if moment is None:
            raise BatchError(_("{path}, line {number}: {column} {value} is not in Moodle's English format (Tuesday, "
                               "1 December 2026, 10:15 PM)", path=path, number=number, column=MOODLE_TIME_COLUMN,
                               value=repr(value)))
        found[participant.group(1)] = SubmissionTimes(moment, None, None, source)
    return found


def canvas_marked_late(entry: Entry) -> bool:
    """Whether Canvas named this submission's file as late (``lastfirst_LATE_12345_67890_...``)."""
    return bool(CANVAS_LATE.match(entry.path.name))


def _mtime(entry: Entry) -> SubmissionTimes | None:
    try:
        moment = entry.path.lstat().st_mtime
    except OSError:
        return None
    return SubmissionTimes(datetime.fromtimestamp(moment, UTC), None, None,
                           _("the submission's modification time (a student can set it)"), fallback=True)


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
        names = [n for n in (entry.student.lower(), entry.email.lower()) if n]
        key = next((n for n in names if n in table), None)
        found, rank = None, 0
        if key is not None:
            found, rank = table[key], RANKS["csv"]
            used.add(key)
        elif participant is not None and participant in moodle:
            found, rank = moodle[participant], RANKS["moodle"]
            used.add(participant)
        elif canvas_marked_late(entry):
            found = SubmissionTimes(None, None, None, _("Canvas's file name (LATE)"), marked_late=True)
            rank = RANKS["canvas"]
        elif from_mtime:
            found, rank = _mtime(entry), RANKS["mtime"]
        if found is not None:
            result.times[entry.student], result.ranks[entry.student] = found, rank
    result.unmatched = sorted(set(table) - used) + sorted(f"Participant {p}" for p in set(moodle) - used)
    return result


def merge_times(stored: dict[str, dict], found: TimesFound, files: dict[str, str]) -> dict[str, dict]:
    """The records to keep: each time found now, unless the student's stored time is of a stronger source for the
    same files (``files``: each student's files key now)."""
    kept = {}
    for student, times in found.times.items():
        old = stored.get(student)
        rank = found.ranks.get(student, 0)
        if old is not None and old.get("files") == files.get(student) and int(old.get("rank", 0)) > rank:
            continue
        kept[student] = times_to_dict(times, rank, files.get(student, ""))
    return kept
