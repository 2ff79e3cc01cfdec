"""The batch grader's outputs in OUT: gradebook.csv and feedback/<student>.md (results.json: platform_results).

Every file is written to a temporary name and renamed into place, and everything is rebuilt from the results
alone (no timings, no dates), so the same results give byte-identical files.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from pathlib import Path

from grader.adjust import FinalGrade, ScoreChange, final_grade, override_text
from grader.i18n import LANGUAGES, N_, _, translations
from grader.report import Flag, Report, changed_copy_text, own_flags
from grader.spec import QUIZ_CHECKS, Spec

# The codes stay in the data (the gradebook's status column, the JSON); these are how a person reads them.
STATUS_WORDS = {"passed": N_("passed"), "failed": N_("failed"), "error": N_("error"), "missing": N_("missing")}
CHECK_WORDS = {"pass": N_("pass"), "fail": N_("fail"), "error": N_("error"), "skip": N_("skip")}
CHECK_HEADINGS = {"pass": N_("PASS"), "fail": N_("FAIL"), "error": N_("ERROR"), "skip": N_("SKIP")}


def status_word(status: str) -> str:
    """A submission's status (:func:`status_of`'s code) as a person reads it, in the current language."""
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def check_word(status: str, upper: bool = False) -> str:
    """A check's status (pass, fail, error, skip) as a person reads it; ``upper``: as a heading (``FAIL``)."""
    table = CHECK_HEADINGS if upper else CHECK_WORDS
    return _(table[status]) if status in table else (status.upper() if upper else status)


def check_names(spec: Spec) -> list[str]:
    """The checks of ``spec`` in report order: model checks, then the quiz's when it is enabled."""
    names = spec.model_checks()
    return names + (list(QUIZ_CHECKS) if spec.quiz.get("enabled") else [])


def status_of(report: Report | None) -> str:
    """passed (every required check), failed (some check failed), error (the check could not finish), missing."""
    if report is None:
        return "missing"
    if report.fatal:
        return "error"
    return "passed" if report.passed else "failed"


def safe_name(student: str) -> str:
    """A file name for a student id (ids are entry names or roster ids; nothing may escape the folder)."""
    name = re.sub(r"[^A-Za-z0-9@._~-]+", "_", student).strip(".")
    return name or "_"


def output_names(students: list[str]) -> dict[str, str]:
    """A file name per student id, unique among ``students`` and stable for the same list: ``bob`` and ``bob.``
    both make ``bob``, so the second (in the given order) gets ``bob~2``; names compare without case, as file
    systems that ignore it would."""
    names: dict[str, str] = {}
    used: set[str] = set()
    for student in students:
        base = name = safe_name(student)
        number = 2
        while name.lower() in used:
            name, number = f"{base}~{number}", number + 1
        used.add(name.lower())
        names[student] = name
    return names


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def spreadsheet_safe(cell) -> str:
    """``cell`` as text a spreadsheet will not run: one that starts like a formula (=, +, -, @, tab, carriage
    return) gets a leading apostrophe, as OWASP's CSV-injection advice says. Numbers stay numbers."""
    text = str(cell)
    if text.startswith(FORMULA_STARTS) and not NUMBER.match(text):
        return "'" + text
    return text


QUIZ_COLUMN = "quiz: "  # a quiz's column in the gradebook is "quiz: <its name>"
QUIZ_ONLY = N_("quiz only: no submission of this student was graded")


def _quiz_only_texts() -> set[str]:
    """The reason of a quiz-only row in every language (a gradebook written in another one is read back too)."""
    return {QUIZ_ONLY} | {translations(lang).gettext(QUIZ_ONLY) for lang in LANGUAGES}


def max_points(spec: Spec) -> float:
    """The assignment's total points: its checks' and, when enabled, the quiz checks'."""
    names = check_names(spec)
    return sum(spec.points[n] for n in names if n in spec.points) + sum(
        spec.quiz["points"][n] for n in names if n in QUIZ_CHECKS)


RULE_COLUMNS = ("raw_score", "override", "late_penalty", "late_rule")


def rule_cells(final: FinalGrade) -> list[str]:
    """The gradebook's cells of :data:`RULE_COLUMNS` for ``final``."""
    return [f"{final.raw:g}", "; ".join(override_text(a) for a in final.applied),
            f"{-final.penalty:g}" if final.penalty else "0", final.late.rule if final.late else ""]


def adjustment_lines(row: dict[str, str]) -> list[str]:
    """What a gradebook row says beyond the checks (for an LMS's feedback comment): the raw score, the instructor's
    overrides and the late penalty with its rule; none when nothing adjusted the score."""
    penalty, override = row.get("late_penalty", "0") or "0", row.get("override", "")
    if penalty == "0" and not override:
        return []
    lines = [_("The checks gave {score}.", score=row.get("raw_score", ""))]
    lines += [_("Adjusted by the instructor: {override}.", override=override)] if override else []
    lines += [_("Late ({penalty} points): {rule}.", penalty=penalty, rule=row.get("late_rule", ""))] \
        if penalty != "0" else []
    return lines


def gradebook_csv(spec: Spec, entries, reports: dict[str, Report], missing, flags: dict[str, list[Flag]],
                  quizzes: dict[str, dict] | None = None, finals: dict[str, FinalGrade] | None = None) -> str:
    """One row per student: id, name, score (the final one), max score, the raw score, the overrides, the late
    penalty (points) and its rule, one column per check (its points after overrides), one per quiz (its total,
    from ``grader quiz grade``), status, reason, flags. ``finals``: each student's :class:`FinalGrade` (default:
    the report's own points, no override, no late rule)."""
    names = check_names(spec)
    max_total = max_points(spec)
    finals = finals or {}
    header = ["student", "name", "score", "max_score", *RULE_COLUMNS, *names, "status", "reason", "flags"]
    rows = []
    for entry in entries:
        report = reports.get(entry.student)
        final = finals.get(entry.student) or final_grade(report, [], None, max_total)
        scores = final.checks if report else {}
        rows.append([entry.student, entry.name, f"{final.final:g}", f"{max_total:g}", *rule_cells(final),
                     *[f"{scores[n]:g}" if n in scores else "" for n in names], status_of(report), reason_of(report),
                     "; ".join([*flags.get(entry.student, []), *own_flags(report)])])
    for student, name in missing:
        final = finals.get(student) or final_grade(None, [], None, max_total)
        rows.append([student, name, f"{final.final:g}", f"{max_total:g}", *rule_cells(final), *["" for _n in names],
                     "missing", _("no submission"), ""])
    return render_gradebook(header, rows, quizzes or {}, f"{max_total:g}")


def render_gradebook(header: list[str], rows: list[list[str]], quizzes: dict[str, dict], max_total: str) -> str:
    """The gradebook's text from rows without quiz columns: a column per quiz before ``status``, and a row for a
    student who took a quiz but has no row. The one renderer, whether ``grade`` or ``quiz grade`` writes it."""
    at = header.index("status")
    header = header[:at] + [QUIZ_COLUMN + quiz for quiz in quizzes] + header[at:]
    known = {row[0] for row in rows}
    quiz_only = sorted({student for scores in quizzes.values() for student in scores} - known)
    rows = rows + [[student, "", "0", max_total, *["" for _i in range(at - 4)], "missing", _(QUIZ_ONLY), ""]
                   for student in quiz_only]  # every column between max_score and status empty
    merged: list[list[str]] = []
    for row in rows:
        cells = [f"{quizzes[q][row[0]].score:g}" if row[0] in quizzes[q] else "" for q in quizzes]
        merged.append([spreadsheet_safe(cell) for cell in row[:at] + cells + row[at:]])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    merged.sort(key=lambda r: r[0])
    writer.writerows(merged)
    return buffer.getvalue()


def add_quizzes(path: Path, quizzes: dict[str, dict]) -> None:
    """Rewrite the gradebook at ``path`` with ``quizzes`` as its quiz columns (replacing the ones it had): the
    same bytes as ``grade`` writes when the quiz scores were stored before it ran."""
    with open(path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(header) if not name.startswith(QUIZ_COLUMN)]
    reason, status = header.index("reason"), header.index("status")
    quiz_only = _quiz_only_texts()  # a graded row's reason may be any text of the student's (a fatal's first line)
    rows = [[row[i] for i in keep] for row in rows if row[status] != "missing" or row[reason] not in quiz_only]
    header = [header[i] for i in keep]
    max_total = rows[0][3] if rows else ""
    write_atomic(path, render_gradebook(header, rows, quizzes, max_total))


def reason_of(report: Report | None) -> str:
    """One line on why a submission did not pass: the fatal error, else the first failing check's gist."""
    if report is None:
        return _("no submission")
    if report.fatal:
        return report.fatal.strip().splitlines()[0]
    for check in report.checks:
        if check.status in ("fail", "error"):
            lines = [line.strip() for line in check.message.strip().splitlines() if line.strip()]
            return f"{check.name}: {check.gist or (lines[0] if lines else '')}"
    return ""


# The marks that start code, links, images, headings and table cells (emphasis marks stay: they can only italicise,
# and escaping every _ would make memory_bomb.md read memory\_bomb in a plain-text viewer).
_MD_SPECIAL = re.compile(r"([\\`\[\]#!|])")


def md_text(text: str) -> str:
    """Student-controlled text as plain Markdown: the marks of code, links, images, headings and tables
    backslash-escaped, ``<``, ``>`` and ``&`` written as entities, and lines joined, so a name, a file name or a
    message can start no heading, link, image or raw HTML."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(_MD_SPECIAL.sub(r"\\\1", line) for line in text.splitlines())


def md_fence(text: str) -> list[str]:
    """``text`` as a fenced code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def change_text(change: ScoreChange) -> str:
    """The line on a regrade that changed the score, its cause (an English msgid in the data) translated."""
    return dataclasses.replace(change, cause=_(change.cause)).text()


def _adjustment_lines(final: FinalGrade | None, change: ScoreChange | None) -> list[str]:
    """The feedback's account of what changed the checks' points: overrides, the late rule, a regrade."""
    lines = []
    if final is not None and final.changed:
        lines += [_("The checks gave {raw} / {max}.", raw=format(final.raw, "g"), max=format(final.max_score, "g"))]
        lines += ["- " + _("Adjusted by the instructor ({by}): {target} {before} -> {after}: {reason}",
                           by=md_text(a.override.by), target=md_text(a.override.target), before=format(a.before, "g"),
                           after=format(a.after, "g"), reason=md_text(a.override.reason)) for a in final.applied]
        if final.penalty:
            lines.append("- " + _("Late: {rule}: -{points} points", rule=md_text(final.late.rule if final.late else ""),
                                  points=format(final.penalty, "g")))
    elif final is not None and final.late is not None:
        lines.append(_("Submission time: {rule}.", rule=md_text(final.late.rule)))
    if change is not None:
        lines.append(("- " if lines else "") + _("Your submission was {change}.", change=md_text(change_text(change))))
    return ["## " + _("Adjustments"), "", *lines, ""] if lines else []


def hand_graded_markdown(spec: Spec, student: str, final: FinalGrade) -> str:
    """The feedback of a student with no graded submission whom the instructor graded by hand (an override)."""
    lines = [f"# {md_text(spec.name)}: {md_text(student)}", "",
             _("**Score: {score} / {max}** (no submission was graded)", score=format(final.final, "g"),
               max=format(max_points(spec), "g")), "", "## " + _("Adjustments"), ""]
    lines += ["- " + _("Graded by the instructor ({by}): {reason}", by=md_text(a.override.by),
                       reason=md_text(a.override.reason)) for a in final.applied]
    return "\n".join(lines + [""])


def _check_points(check, final: FinalGrade | None) -> str:
    """A check's points in the feedback table: as graded, or ``3.111 -> 4 (adjusted)`` under an override."""
    after = final.checks.get(check.name, check.score) if final is not None else check.score
    if after == check.score:
        return f"{check.score:g}"
    return _("{score} -> {after} (adjusted)", score=format(check.score, "g"), after=format(after, "g"))


def feedback_markdown(report: Report, final: FinalGrade | None = None, change: ScoreChange | None = None) -> str:
    """The student's readable report as Markdown (no integrity flags: those are for the instructor). ``final``:
    the score after the instructor's overrides and the late rule, explained under Adjustments with ``change`` (the
    last regrade that changed the score).

    Everything that comes from a submission (its name, file names, messages quoting its code, what it printed) is
    escaped or fenced: the file renders as the grader wrote it, whatever the student put in it."""
    score = final.final if final is not None else report.score
    lines = [f"# {md_text(report.assignment)}: {md_text(report.student)}", "",
             _("**Score: {score} / {max}** ({status})", score=format(score, "g"), max=format(report.max_score, "g"),
               status=status_word(status_of(report))), ""]
    lines += _adjustment_lines(final, change)
    if report.fatal:
        lines += ["## " + _("The check could not finish"), "", *md_fence(report.fatal.strip()), ""]
    lines += [_("| check | status | score |"), "| --- | --- | --- |"]
    lines += [f"| {md_text(c.name)} | {check_word(c.status)} | {_check_points(c, final)} / {c.max_score:g} |"
              for c in report.checks]
    lines.append("")
    for check in report.checks:
        lines += [f"## {check_word(check.status, upper=True)}: {md_text(check.name)}", "",
                  *md_fence(check.message.strip()), ""]
    return "\n".join(lines + _report_sections(report))


def _report_sections(report: Report) -> list[str]:
    """The feedback's sections after the checks: notes, the sandbox's refusals, the working copy, the output."""
    lines = []
    if report.notes:
        lines += ["## " + _("What the grader did"), ""] + [f"- {md_text(note)}" for note in report.notes] + [""]
    if report.sandbox_events:
        lines += ["## " + _("Not allowed while grading"), ""] \
            + ["- " + _("your code {event}", event=md_text(e)) for e in report.sandbox_events] + [""]
    if report.changed_files:
        text = changed_copy_text(report)
        lines += ["## " + _("Your working copy"), "", md_text(text[0].upper() + text[1:]), ""]
    if report.output:
        lines += ["## " + _("Your code printed"), "", *md_fence(report.output.rstrip()), ""]
    if report.isolation:
        lines += ["## " + _("Sandbox limits this machine could not apply"), ""] \
            + [f"- {md_text(m)}" for m in report.isolation] + [""]
    return lines
