"""The class gradebook in the import formats of Canvas and Moodle, matched to LMS identities by the LMS's roster.

Formats followed (no LMS instance is available to the tests, which parse every file back instead):

* Canvas, "How do I import grades in the Gradebook?"
  (https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807): the
  columns Student, ID, SIS User ID, SIS Login ID, Section, then one column per assignment, and a second row
  ``Points Possible``. A column named ``Title (1234)`` updates Canvas assignment 1234; a new title creates an
  assignment. The LMS roster is Canvas's own gradebook export (same columns): its IDs are kept, and a column of
  it with the assignment's or quiz's title (and its Canvas id) is reused.
* Moodle, "Grade import" (https://docs.moodle.org/en/Grade_import), CSV: any identity column the teacher maps
  under "Identify user by" (Email address, ID number, Username), then one column per grade item, mapped to an
  item or to "new grade item". The LMS roster is a Moodle grade export or participants download.

A student of the LMS roster with no row in the gradebook is exported with empty grades (both LMSs leave an empty
cell unchanged) and listed as missing; a gradebook student the LMS roster does not hold is listed as unknown.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.store import Store
from grader.errors import GraderError
from grader.i18n import _
from grader.outputs.gradebook import QUIZ_COLUMN, adjustment_lines, spreadsheet_safe, write_atomic

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_KEYS = ("ID", "SIS User ID", "SIS Login ID")
MOODLE_IDENTITY = ("First name", "Last name", "ID number", "Username", "Email address")
MOODLE_KEYS = ("ID number", "Username", "Email address")
LMS_FILES = {"canvas": "canvas-gradebook.csv", "moodle": "moodle-grades.csv"}
CANVAS_ID_SUFFIX = re.compile(r"\s*\((\d+)\)\s*$")


class LmsExportError(GraderError, ValueError):
    """The grades folder or the LMS roster cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class GradeColumn:
    """One grade column of the export: its title in the LMS and its maximum points."""

    gradebook: str  # the gradebook's column: "score" or "quiz: <name>"
    title: str
    points: float


@dataclass
class LmsStudent:
    """One student of the LMS roster: their identity cells (in the LMS's columns) and the ids to match on."""

    identity: dict[str, str]
    keys: set[str]

    @property
    def label(self) -> str:
        return next((v for v in self.identity.values() if v), "?")


@dataclass
class LmsExport:
    """What ``export_lms`` wrote: the file, its student rows, and who could not be matched."""

    path: Path
    lms: str
    rows: int
    columns: list[GradeColumn]
    missing: list[str] = field(default_factory=list)  # LMS students with no gradebook row (exported empty)
    unknown: list[str] = field(default_factory=list)  # gradebook students not on the LMS roster (not exported)


def _read_gradebook(grades: Path) -> tuple[list[str], list[dict[str, str]]]:
    book = grades / "gradebook.csv"
    try:
        with open(book, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except OSError as exc:
        raise LmsExportError(_("cannot read {path}: {error}; run 'grader grade ... --out {grades}' first", path=book,
                               error=exc.strerror, grades=grades)) from None
    if "student" not in header or "score" not in header:
        raise LmsExportError(_("{path} is not a gradebook written by 'grader grade'", path=book))
    return header, rows


def _columns(grades: Path, header: list[str], rows: list[dict[str, str]]) -> list[GradeColumn]:
    """The assignment's score column, then a column per quiz, titled and with their maximum points."""
    store = Store(grades / "results.sqlite") if (grades / "results.sqlite").exists() else None
    meta, quizzes = (store.meta(), store.quizzes()) if store else ({}, {})
    if store:
        store.close()
    title = meta.get("title") or meta.get("assignment") or "assignment"
    max_score = next((float(r["max_score"]) for r in rows if r.get("max_score")), 0.0)
    columns = [GradeColumn("score", title, max_score)]
    for name in header:
        if name.startswith(QUIZ_COLUMN):
            quiz = name[len(QUIZ_COLUMN):]
            points = next((s.max_score for s in quizzes.get(quiz, {}).values()), 0.0)
            columns.append(GradeColumn(name, quiz, points))
    return columns


def read_lms_roster(path: str | Path, lms: str) -> tuple[list[LmsStudent], list[str]]:
    """(the students of an LMS's own export, its header) for ``lms`` (canvas or moodle); the ids matched on are
    Canvas's ID, SIS User ID and SIS Login ID, or Moodle's ID number, Username and Email address."""
    path = Path(path)
    identity, keys = (CANVAS_IDENTITY, CANVAS_KEYS) if lms == "canvas" else (MOODLE_IDENTITY, MOODLE_KEYS)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in reader.fieldnames or []]
            reader.fieldnames = header
            raw = list(reader)
    except OSError as exc:
        raise LmsExportError(_("cannot read the LMS roster {path}: {error}", path=path, error=exc.strerror)) from None
    if not any(k in header for k in keys):
        raise LmsExportError(_("{path}: not a {lms} roster: its header needs one of {columns} (found: {found})",
                               path=path, lms=lms.capitalize(), columns=", ".join(keys),
                               found=", ".join(header) or _("nothing")))
    students = []
    for row in raw:
        first = (row.get(header[0]) or "").strip()
        if lms == "canvas" and (first in ("Points Possible", "Student, Test", "Test Student")
                                or not any((row.get(k) or "").strip() for k in keys)):
            continue  # Canvas's points row, its posting-policy row, and its built-in test student
        cells = {c: (row.get(c) or "").strip() for c in identity if c in header}
        ids = {cells[k].lower() for k in keys if cells.get(k)}
        if ids:
            students.append(LmsStudent(cells, ids | {i.split("@")[0] for i in ids if "@" in i}))
    return students, header


def _match(student: str, lms_students: list[LmsStudent]) -> LmsStudent | None:
    sid = student.lower()
    candidates = [sid] + ([sid.split("@")[0]] if "@" in sid else [])
    return next((s for s in lms_students if any(c in s.keys for c in candidates)), None)


def _canvas_title(column: GradeColumn, lms_header: list[str]) -> str:
    """The column's title, with the Canvas id of an assignment of the same title in the LMS roster."""
    for name in lms_header:
        if CANVAS_ID_SUFFIX.search(name) and CANVAS_ID_SUFFIX.sub("", name) == column.title:
            return name
    return column.title


def _taken(student: str, found: LmsStudent, other: str) -> str:
    """The unknown-list line of a gradebook student whose LMS student is already ``other``'s."""
    return _("{student} (the LMS's {label} is already {other})", student=student, label=found.label, other=other)


def _number(value: float) -> str:
    return f"{value:g}"


def export_lms(grades: str | Path, lms: str, lms_roster: str | Path | None = None,
               file: str | Path | None = None) -> LmsExport:
    """Write the gradebook of ``grades`` (the OUT of ``grader grade``) in ``lms``'s import format, to ``file``
    (default: GRADES/lms/canvas-gradebook.csv or moodle-grades.csv). With ``lms_roster`` (the LMS's own export)
    every LMS student gets a row with their LMS identity; without one, the rows carry the gradebook's ids."""
    if lms not in LMS_FILES:
        raise LmsExportError(_("unknown LMS {lms}: one of {choices}", lms=repr(lms), choices=", ".join(LMS_FILES)))
    grades = Path(grades)
    header, rows = _read_gradebook(grades)
    columns = _columns(grades, header, rows)
    by_student = {r["student"]: r for r in rows}
    out = Path(file) if file else grades / "lms" / LMS_FILES[lms]
    result = LmsExport(out, lms, 0, columns)

    identity: list[str]
    lines: list[tuple[dict[str, str], dict[str, str] | None]] = []  # (identity cells, gradebook row or None)
    if lms_roster is not None:
        lms_students, lms_header = read_lms_roster(lms_roster, lms)
        identity = list(CANVAS_IDENTITY) if lms == "canvas" else [c for c in MOODLE_IDENTITY if c in lms_header]
        matched: dict[int, str] = {}
        for student in by_student:
            found = _match(student, lms_students)
            if found is None:
                result.unknown.append(student)
            elif id(found) in matched:  # two gradebook rows for one LMS student: export the first, list the other
                result.unknown.append(_taken(student, found, matched[id(found)]))
            else:
                matched[id(found)] = student
        for lms_student in lms_students:
            who = matched.get(id(lms_student))
            if who is None:
                result.missing.append(lms_student.label)
            lines.append((lms_student.identity, by_student[who] if who else None))
        titles = [_canvas_title(c, lms_header) if lms == "canvas" else c.title for c in columns]
    else:
        if lms == "canvas":
            identity = list(CANVAS_IDENTITY)
            lines = [({"Student": r["name"], "SIS Login ID": s}, r) for s, r in sorted(by_student.items())]
        else:
            column = "Email address" if by_student and all("@" in s for s in by_student) else "ID number"
            identity = [column]
            lines = [({column: s}, r) for s, r in sorted(by_student.items())]
        titles = [c.title for c in columns]

    # Moodle maps a column to an item's feedback: the adjustments (overrides, late penalty) go there when any
    # student has one. Canvas's import has no comment column (a new title would make a new assignment).
    feedback = lms == "moodle" and any(adjustment_lines(row) for _cells, row in lines if row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(identity + titles + ([f"{titles[0]} (feedback)"] if feedback else []))
    if lms == "canvas":
        writer.writerow(["    Points Possible", *["" for _i in identity[1:]], *[_number(c.points) for c in columns]])
    for cells, row in lines:
        grades_cells = [(row.get(c.gradebook) or "") if row else "" for c in columns]
        if feedback:
            grades_cells.append(spreadsheet_safe(" ".join(adjustment_lines(row))) if row else "")
        writer.writerow([spreadsheet_safe(cells.get(c, "")) for c in identity] + grades_cells)
        result.rows += 1
    write_atomic(out, buffer.getvalue())
    return result
