"""The batch grader's outputs in OUT: gradebook.csv, feedback/*.md, gradescope/*/results.json, report.html.

:mod:`grader.outputs.gradebook` renders the files for scripts and students, :mod:`grader.outputs.html_report` the
instructor's page (it uses the gradebook's helpers, never the reverse); :func:`write_outputs` writes them all.
"""
from __future__ import annotations

from pathlib import Path

from grader.adjust import FinalGrade, ScoreChange
from grader.outputs.gradebook import (
    feedback_markdown,
    gradebook_csv,
    hand_graded_markdown,
    output_names,
    write_atomic,
)
from grader.outputs.html_report import render_html
from grader.outputs.platform_results import gradescope_json
from grader.report import Flag, Report
from grader.spec import Spec


def feedback_names(entries, missing) -> dict[str, str]:
    """Each student's output file name (feedback/<name>.md, gradescope/<name>/): graded entries first, then the
    missing students (one graded by hand gets a feedback file)."""
    return output_names([entry.student for entry in entries] + [student for student, _ in missing])


def write_outputs(spec: Spec, out: Path, entries, reports: dict[str, Report], missing,
                  flags: dict[str, list[Flag]], quizzes: dict[str, dict] | None = None, *,
                  finals: dict[str, FinalGrade] | None = None, changes: dict[str, ScoreChange] | None = None,
                  pairs: list[dict] | None = None) -> None:
    """Write every output file of the batch into ``out`` (``quizzes``: the quiz scores that join the gradebook;
    ``finals``: each student's score after overrides and the late rule; ``changes``: the last regrade that changed
    a score; ``pairs``: the similar-source pairs' records)."""
    finals, changes = finals or {}, changes or {}
    write_atomic(out / "gradebook.csv", gradebook_csv(spec, entries, reports, missing, flags, quizzes, finals))
    names = feedback_names(entries, missing)
    for entry in entries:
        report = reports.get(entry.student)
        if report is None:
            continue
        name, final = names[entry.student], finals.get(entry.student)
        write_atomic(out / "feedback" / f"{name}.md", feedback_markdown(report, final, changes.get(entry.student)))
        write_atomic(out / "gradescope" / name / "results.json", gradescope_json(spec, report, final))
    every = feedback_names(entries, missing)
    for student, _ in missing:  # a student graded by hand (an override) is told so
        if (final := finals.get(student)) is not None and final.applied:
            write_atomic(out / "feedback" / f"{every[student]}.md", hand_graded_markdown(spec, student, final))
    write_atomic(out / "report.html", render_html(spec, entries, reports, missing, flags, names, finals=finals,
                                                  changes=changes, pairs=pairs or []))
