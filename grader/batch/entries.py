"""The class's submissions: one entry per student, found in a folder and matched to the roster.

Public interface:

* :class:`Entry` (one student's submission), :class:`Discovery` (what a folder holds), :class:`BatchError`.
* :func:`read_roster`: (id, name, email) rows of a roster CSV; :func:`read_table`: any instructor CSV's rows.
* :func:`find_entries`: the entries of a submissions folder, matched through the roster when given, each name
  unique and stable; what is missing from it, and what was ignored.
* :func:`lms_identity`: the student id an LMS (Moodle, Canvas) writes into an entry's name.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError
from grader.i18n import _
from grader.report import Flag

ENTRY_SUFFIXES = (".zip", ".ipynb", ".py")
ROSTER_ID_COLUMNS = ("id", "student", "student_id", "sid", "username", "login", "email")


class BatchError(GraderError):
    """A usage problem of the batch (missing folder, bad roster): the message says what to fix."""


@dataclass
class Entry:
    """One student's submission: ``path`` is a folder, a .zip, or a single .ipynb / .py file."""

    student: str
    path: Path
    name: str = ""  # from the roster
    flags: list[Flag] = field(default_factory=list)
    email: str = ""  # from the roster, when it has one (a times CSV may name the student by it)
    files: str = ""  # grader.batch.cache.files_key of its files, once grader.grading.grade has hashed them


@dataclass
class Discovery:
    entries: list[Entry]
    missing: list[tuple[str, str]]  # (student, name) on the roster with no submission
    ignored: list[str]  # files in SUBMISSIONS that are not a submission


def read_roster(path: str | Path) -> list[tuple[str, str, str]]:
    """(student id, name, email) rows of a roster CSV whose header has an id column (id, student, sid, email...).

    The email is from an ``email`` column beside another id column (else ""): a submission may be named by either.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip().lower(): c for c in reader.fieldnames or []}
            id_column = next((columns[c] for c in ROSTER_ID_COLUMNS if c in columns), None)
            if id_column is None:
                raise BatchError(_("{path}: no id column; the header needs one of {columns} (found: {found})",
                                   path=path, columns=", ".join(ROSTER_ID_COLUMNS),
                                   found=", ".join(reader.fieldnames or []) or _("nothing")))
            name_column = columns.get("name")
            email_column = columns.get("email") if columns.get("email") != id_column else None
            rows = [(row[id_column].strip(), (row.get(name_column) or "").strip() if name_column else "",
                     (row.get(email_column) or "").strip() if email_column else "")
                    for row in reader if (row.get(id_column) or "").strip()]
    except OSError as exc:
        raise BatchError(_("cannot read the roster {path}: {error}", path=path, error=exc.strerror)) from None
    return rows


def read_table(path: str | Path, lower: bool = False) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of an instructor's CSV (a BOM dropped), each row keyed by its header's stripped names (in
    lower case with ``lower``); BatchError naming the file when it cannot be read or is not UTF-8."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip().lower() if lower else h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            return header, list(reader)
    except OSError as exc:
        raise BatchError(_("cannot read {path}: {error}", path=path, error=exc.strerror)) from None
    except UnicodeDecodeError:
        raise BatchError(_("{path} is not UTF-8 text: save it as CSV UTF-8", path=path)) from None


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in re.split(r"[^A-Za-z0-9@.]+", text) if t}


# The part of an entry name the LMS writes, which a student cannot choose: Moodle's participant id
# ("Full Name_123456_assignsubmission_file_" and, flattened, "..._file_model.py"), Canvas's user id
# ("lastfirst_12345_67890_model.py", "lastfirst_LATE_12345_67890_model.py"). The rest is the student's file name.
LMS_NAMES = (re.compile(r"^.+?_(\d+)_assign(?:submission|feedback)_(?:file|onlinetext)_?"),
             re.compile(r"^[a-z0-9]+(?:_late)?_(\d+)_\d+_", re.IGNORECASE))


def lms_identity(entry_name: str) -> str | None:
    """The LMS-written id in ``entry_name`` (see :data:`LMS_NAMES`), or None for a name of another shape."""
    for pattern in LMS_NAMES:
        match = pattern.match(entry_name)
        if match:
            return match.group(1)
    return None


def _roster_matches(entry_name: str, roster: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Every roster row ``entry_name`` names: by the LMS-written id alone when there is one (a file name the
    student chose never decides), else by the id, its email's local part or the email as a word of the name."""
    identity = lms_identity(entry_name)
    if identity is not None:
        return [row for row in roster if row[0].lower() == identity.lower()]
    tokens = _tokens(entry_name)
    found = []
    for student, name, email in roster:
        sid = student.lower()
        if entry_name.lower() == sid or sid in tokens or sid.split("@")[0] in tokens \
                or (email and (entry_name.lower() == email.lower() or email.lower() in tokens)):
            found.append((student, name, email))
    return found


def find_entries(submissions: str | Path, roster: str | Path | None = None) -> Discovery:
    """One entry per student in ``submissions``: its folders, .zip, .ipynb and .py files (named after them)."""
    root = Path(submissions)
    if not root.is_dir():
        raise BatchError(_("{path} is not a folder: SUBMISSIONS holds one folder, .zip or notebook per student",
                           path=root))
    entries, ignored = [], []
    for path in sorted(root.iterdir()):
        if path.name.startswith((".", "__")):
            continue
        if path.is_dir() or path.suffix.lower() in ENTRY_SUFFIXES:
            stem = path.name if path.is_dir() else path.stem
            entries.append(Entry(stem, path))
        else:
            ignored.append(path.name)
    missing = []
    if roster is not None:
        rows = read_roster(roster)
        matched: dict[str, Entry] = {}
        for entry in entries:
            found = _roster_matches(entry.student, rows)
            if not found:
                entry.flags.append(Flag("not on the roster"))
                continue
            if len(found) > 1:  # never a silent pick: the instructor decides
                entry.flags.append(Flag("not on the roster", _(
                    "its name matches several roster rows ({rows}): graded under its own name",
                    rows=", ".join(row[0] for row in found))))
                continue
            student, name, email = found[0]
            if student in matched:
                entry.flags.append(Flag("duplicate submission", _("second submission of {student}: graded under its "
                                                                  "own name", student=student)))
                continue
            entry.student, entry.name, entry.email = student, name, email
            matched[student] = entry
        missing = [(s, n) for s, n, _email in rows if s not in matched]
    taken = {entry.student for entry in entries}
    seen: set[str] = set()
    for entry in entries:  # two entries of one name (alice/ and alice.zip): keep both, apart
        if entry.student in seen:
            entry.flags.append(Flag("duplicate submission", _("another submission is also named {student}",
                                                              student=entry.student)))
            number = 2
            while f"{entry.student}~{number}" in taken:  # a real carl~2 beside carl/ and carl.zip keeps its name
                number += 1
            entry.student = f"{entry.student}~{number}"
            taken.add(entry.student)
        seen.add(entry.student)
    return Discovery(entries, missing, ignored)
