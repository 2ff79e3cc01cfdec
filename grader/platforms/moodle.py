"""The round trip back to a Moodle assignment (KAIST's KLMS is Moodle): its grading worksheet and feedback files.

Formats followed (Moodle's mod/assign, "Offline grading worksheet" and "Upload multiple feedback files in a zip";
no Moodle instance is available to the tests, which read every file back as Moodle's importers do):

* The worksheet is the CSV that "Download grading worksheet" gives: ``Identifier`` (``Participant 123456``),
  ``Full name``, ..., ``Grade``, ``Maximum Grade``, ..., ``Last modified (grade)``, ``Feedback comments``. The
  filled copy keeps every column, row and cell as downloaded but ``Grade`` (the score scaled to the worksheet's
  ``Maximum Grade``) and ``Feedback comments`` (a short HTML summary); "Upload grading worksheet" reads it back.
* The feedback zip holds one folder per participant, named as "Download all submissions" names it
  (``Full Name_123456_assignsubmission_file_``), with ``feedback.md``. Moodle's importer splits each path part at
  its first four underscores and takes the second piece as the participant id, so an underscore in a full name is
  written as a space.

A submission is matched to a worksheet row by the participant id alone: Moodle wrote it into the submission's
folder name (:func:`grader.batch.entries.lms_identity`), or the roster's id is that number.

Public interface: :func:`moodle_assignment`, :class:`MoodleRoundTrip`, :func:`participant_id`.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import escape

from grader.batch.entries import lms_identity
from grader.batch.store import Store
from grader.errors import GraderError
from grader.i18n import N_, _, use_language
from grader.outputs.gradebook import adjustment_lines, feedback_markdown, reason_of, write_atomic
from grader.report import Report

WORKSHEET_COLUMNS = ("Identifier", "Grade", "Feedback comments")
PARTICIPANT = re.compile(r"^\s*Participant\s+(\d+)\s*$")
FOLDER_SUFFIX = "assignsubmission_file_"
ZIP_TIME = (2026, 1, 1, 0, 0, 0)
# The gradebook's status codes as the feedback comment shows them (the worksheet keeps no code).
STATUS_WORDS = {"passed": N_("passed"), "failed": N_("failed"), "error": N_("error"), "missing": N_("missing")}


class MoodleError(GraderError):
    """The worksheet or the grades folder cannot be used; the message says which file and why."""


@dataclass
class MoodleRoundTrip:
    """What :func:`moodle_assignment` wrote, and who it could not place."""

    worksheet: Path
    feedback_zip: Path
    graded: int = 0
    missing: list[str] = field(default_factory=list)  # worksheet participants with no graded submission
    unknown: list[str] = field(default_factory=list)  # graded submissions whose participant is not on the worksheet
    warnings: list[str] = field(default_factory=list)  # for the instructor, in the current language


def participant_id(identifier: str) -> str | None:
    """``123456`` from the worksheet's ``Participant 123456``; None for another shape."""
    match = PARTICIPANT.match(identifier or "")
    return match.group(1) if match else None


def _read_worksheet(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except OSError as exc:
        raise MoodleError(_("cannot read the worksheet {path}: {error}", path=path, error=exc.strerror)) from None
    except UnicodeDecodeError:
        raise MoodleError(_("{path} is not UTF-8: download the worksheet from Moodle again (it writes UTF-8)",
                            path=path)) from None
    absent = [c for c in WORKSHEET_COLUMNS if c not in header]
    if absent:
        found = ", ".join(header) if header else _("nothing")
        raise MoodleError(_("{path} is not a Moodle grading worksheet: it has no {columns} column (found: {found}). "
                            "In the assignment, 'View all submissions', then 'Download grading worksheet' (enable "
                            "'Offline grading worksheet' and 'Feedback comments' under the assignment's feedback "
                            "types)", path=path, columns=", ".join(absent), found=found))
    return header, rows


def _read_gradebook(grades: Path) -> dict[str, dict[str, str]]:
    book = grades / "gradebook.csv"
    try:
        with open(book, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise MoodleError(_("cannot read {path}: {error}; run {command} first", path=book, error=exc.strerror,
                            command=f"'grader grade ... --out {grades}'")) from None
    return {row["student"]: row for row in rows if row.get("student")}


def _participant_of(student: str) -> str | None:
    identity = lms_identity(student)
    if identity is not None:
        return identity
    return student if student.isdigit() else None


def _grade(score: float, max_score: float, maximum: str) -> str:
    """The score on the worksheet's scale (its ``Maximum Grade``), as Moodle writes grades: two decimals, with a
    decimal comma where the worksheet has one (``100,00``)."""
    comma = "," in maximum and "." not in maximum
    try:
        top = float(maximum.replace(",", ".") if comma else maximum.replace(",", ""))
    except ValueError:  # no number (a scale): the grader's own points
        top = max_score
    value = f"{(score / max_score * top) if max_score else 0.0:.2f}"
    return value.replace(".", ",") if comma else value


def _comment(row: dict[str, str], report: Report | None) -> str:
    """The feedback comment: the score, the outcome and why, as HTML (Moodle's comments are HTML)."""
    status = _(STATUS_WORDS[row["status"]]) if row["status"] in STATUS_WORDS else row["status"]
    text = _("Score {score} / {max_score} ({status}).", score=row["score"], max_score=row["max_score"], status=status)
    why = reason_of(report) if report is not None else row.get("reason", "")
    parts = [f"<p>{escape(text)}</p>"] + [f"<p>{escape(line)}</p>" for line in adjustment_lines(row)]
    if why:
        parts.append(f"<p>{escape(why)}</p>")
    full = _("The full report is in your feedback file, {file}.", file="feedback.md")
    parts.append(f"<p>{escape(full)}</p>")
    return "".join(parts)


def _written_feedback(grades: Path, store: Store) -> dict[str, str]:
    """{student: the text of GRADES/feedback/<name>.md} as ``grader grade`` wrote it (an older grades folder with no
    class record: none)."""
    from grader.grading import class_record
    from grader.outputs import feedback_names

    try:
        entries, missing, _flags, _pairs = class_record(store, grades)
    except GraderError:
        return {}
    found = {}
    for student, name in feedback_names(entries, missing).items():
        path = grades / "feedback" / f"{name}.md"
        if path.is_file():
            found[student] = path.read_text(encoding="utf-8")
    return found


def _folder_name(full_name: str, participant: str) -> str:
    name = re.sub(r"[_/\\\x00-\x1f]+", " ", full_name).strip() or "Participant"
    return f"{name}_{participant}_{FOLDER_SUFFIX}"


def moodle_assignment(grades: str | Path, worksheet: str | Path, out: str | Path | None = None) -> MoodleRoundTrip:
    """Fill Moodle's grading ``worksheet`` from ``grades`` (the OUT of ``grader grade``) and write the feedback
    files zip, into ``out`` (default: GRADES/lms/): moodle-worksheet.csv and moodle-feedback.zip. The comments are
    in the language the class was graded in (:func:`grader.grading.graded_language`, with a warning), as the
    feedback files and the reasons they quote are."""
    from grader.grading import graded_language, other_language_warning

    grades, worksheet = Path(grades), Path(worksheet)
    out = Path(out) if out else grades / "lms"
    header, rows = _read_worksheet(worksheet)
    book = _read_gradebook(grades)
    store = Store(grades / "results.sqlite") if (grades / "results.sqlite").exists() else None
    reports = store.reports() if store else {}
    written = _written_feedback(grades, store) if store else {}
    if store:
        store.close()
    by_participant: dict[str, str] = {}
    result = MoodleRoundTrip(out / "moodle-worksheet.csv", out / "moodle-feedback.zip")
    # A file submission before an online text one of the same participant (Moodle writes a folder for each)
    for student in sorted(book, key=lambda s: ("_assignsubmission_file_" not in s, s)):
        participant = _participant_of(student)
        if participant is None or participant in by_participant:
            result.unknown.append(student)
        else:
            by_participant[participant] = student
    on_sheet = {participant_id(r.get("Identifier", "")) for r in rows}
    result.unknown += sorted(s for p, s in by_participant.items() if p not in on_sheet)
    graded = graded_language(reports.values())
    if graded is not None:
        result.warnings.append(other_language_warning(graded))
    with use_language(graded):
        text, feedback = _filled(header, rows, by_participant, book, reports, written, result)
    bom = worksheet.read_bytes()[:3] == b"\xef\xbb\xbf"  # kept as downloaded (or as Excel saved it)
    write_atomic(result.worksheet, ("\ufeff" if bom else "") + text)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for folder, markdown in sorted(feedback.items()):
            handle.writestr(zipfile.ZipInfo(f"{folder}/feedback.md", ZIP_TIME), markdown.encode("utf-8"))
    result.feedback_zip.parent.mkdir(parents=True, exist_ok=True)
    tmp = result.feedback_zip.with_name(f".{result.feedback_zip.name}.tmp")
    tmp.write_bytes(archive.getvalue())
    tmp.replace(result.feedback_zip)
    return result


def _filled(header: list[str], rows: list[dict], by_participant: dict[str, str], book: dict, reports: dict,
            written: dict[str, str], result: MoodleRoundTrip) -> tuple[str, dict[str, str]]:
    """(the worksheet's text with each graded participant's Grade and Feedback comments, {folder: feedback.md});
    counts the graded rows and lists the missing ones in ``result``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    feedback: dict[str, str] = {}
    for row in rows:
        participant = participant_id(row.get("Identifier", "")) or ""
        who = by_participant.get(participant)
        if who is None or (book[who]["status"] == "missing" and not book[who].get("override")):
            result.missing.append(row.get("Full name") or row.get("Identifier", "?"))
            writer.writerow(row)
            continue
        line, report = book[who], reports.get(who)
        row = {**row, "Grade": _grade(float(line["score"]), float(line["max_score"] or 0),
                                       row.get("Maximum Grade", "")),
               "Feedback comments": _comment(line, report)}
        writer.writerow(row)
        result.graded += 1
        text = written.get(who)  # the feedback grader grade wrote: the final score, overrides and late rule
        if text is None and report is not None:
            text = feedback_markdown(report)
        if text is not None:
            feedback[_folder_name(row.get("Full name", ""), participant)] = text
    return buffer.getvalue(), feedback
