"""The result documents course platforms read back from one graded submission, each built from its Report.

* Gradescope, "Autograder Specifications" (results.json): ``score``, ``execution_time``, ``output`` with
  ``output_format``, ``tests[]`` (``name``, ``score``, ``max_score``, ``status`` passed/failed, ``output``,
  ``output_format``, ``visibility``), ``leaderboard[]`` (``name``, ``value``, ``order``).
* PrairieLearn, "Externally graded questions" (results.json): ``gradable``, ``score`` in [0, 1], ``message``,
  ``tests[]`` (``name``, ``points``, ``max_points``, ``message``, ``output``), ``images[]`` (``label``, ``url`` as a
  data URL); the whole file at most 1 MB.
* GitHub Classroom's grading reporter (a step output ``result``, base64 of JSON): ``version`` 1, ``status``
  pass/fail/error, ``max_score``, ``tests[]`` (``name``, ``status``, ``score``, ``message``...).

Public interface: :func:`gradescope_results`, :func:`prairielearn_results`, :func:`classroom_results`,
:func:`gradescope_json`, :func:`check_passed`, :func:`withheld`, :func:`validation_accuracy`, :data:`PRAIRIELEARN_MAX_BYTES`.
"""
from __future__ import annotations

import json

from grader.adjust import FinalGrade, override_text
from grader.i18n import N_, _
from grader.late import LateResult
from grader.outputs.gradebook import check_word, md_fence, md_text, status_of, status_word
from grader.report import CheckResult, Report, details_of
from grader.spec import Spec

PRAIRIELEARN_MAX_BYTES = 1_000_000  # PrairieLearn rejects a results.json over 1 MB
MESSAGE_CHARS = 20_000  # of one test's message, in a document with a size limit


def check_passed(check: CheckResult) -> bool:
    """True for a passing check, and for an optional check that was skipped (it counts against nothing)."""
    return check.status == "pass" or (check.status == "skip" and not check.required)


def _check_markdown(check: CheckResult) -> str:
    return "\n".join([_("**{status}**: {score} / {max} points", status=check_word(check.status, upper=True),
                        score=format(check.score, "g"), max=format(check.max_score, "g")), "",
                      *md_fence(check.message.strip()[:MESSAGE_CHARS])])


def _points_line(check: CheckResult) -> str:
    """``FAIL: 0 / 4 points``: a check's outcome in plain text."""
    return _("{status}: {score} / {max} points", status=check_word(check.status, upper=True),
             score=format(check.score, "g"), max=format(check.max_score, "g"))


# What the students read on a platform: the names of the tests that are no check, and the sandbox's levels.
GRADING_TEST = N_("grading")
ADJUSTED_TEST = N_("adjusted by the instructor")
LATE_TEST = N_("late submission")
LEVELS = {"full": N_("full (Linux namespaces)"), "process": N_("process (a separate process with resource limits)")}
WITHHELD = N_("Your model could not be exported for the grader's judge, so its checks ran in your own process, "
              "where a grade can be forged: no points are posted for this submission, and your instructor grades it "
              "by hand. The messages below say what your own process reported.")  # translated where it is shown


def withheld(report: Report) -> bool:
    """True when ``report`` was computed in the student's own process (the in-process fallback): a platform posts
    no points for it (``grader grade`` flags it for the instructor instead)."""
    return report.judged.startswith("in-process")


def _summary(report: Report, show_score: bool = True, markdown: bool = True, score: float | None = None) -> str:
    """What the whole run did, for the top of the page: the outcome, a fatal error, the isolation level used.
    ``show_score``: the total (left out while some check is hidden); ``markdown``: fenced, else plain text."""
    fence = md_fence if markdown else (lambda text: [text])
    plain = md_text if markdown else (lambda text: text)
    lines = []
    if withheld(report):
        lines += [_(WITHHELD), ""]
    elif show_score:
        shown = report.score if score is None else score  # after overrides and the late rule, when given
        text = _("Score: {score} / {max} ({status})", score=format(shown, "g"), max=format(report.max_score, "g"),
                 status=status_word(status_of(report)))
        lines += [f"**{text}**" if markdown else text, ""]
    if report.fatal:
        lines += [_("The check could not finish:"), "", *fence(report.fatal.strip()[:MESSAGE_CHARS]), ""]
    level = _(LEVELS[report.isolation_level]) if report.isolation_level in LEVELS else \
        report.isolation_level or _("none")
    lines.append(_("Sandbox: {level}.", level=level))
    if report.isolation:
        lines += ["", _("Limits this machine could not apply:"), ""] + [f"- {plain(m)}" for m in report.isolation]
    if report.output:
        lines += ["", _("Your code printed:"), "", *fence(report.output.rstrip()[:MESSAGE_CHARS])]
    return "\n".join(lines)


def validation_accuracy(report: Report) -> float | None:
    """The accuracy best.pt re-evaluated to (percent), from the reeval check's details; None without one."""
    details = details_of(report, "reeval")
    return float(details.accuracy) if details is not None else None


def gradescope_results(spec: Spec, report: Report, *, execution_time: float | None = None,
                       penalty: LateResult | None = None, final: FinalGrade | None = None) -> dict:
    """Gradescope's results.json for ``report``: one test per check (visibility from the spec's [gradescope]
    table), the teaching message as Markdown, the re-evaluated accuracy on the leaderboard when the assignment
    has a quiz, the instructor's overrides (``final``, from ``grader grade``) as a test of their own, and a late
    penalty (``penalty``, or ``final``'s) as another that takes the points off the total."""
    visibility = spec.gradescope.get("visibility", {})
    held = withheld(report)
    tests = [{"name": c.name, "score": 0.0 if held else c.score, "max_score": c.max_score,
              "status": "passed" if check_passed(c) and not held else "failed", "output": _check_markdown(c),
              "output_format": "md", "visibility": visibility.get(c.name, "visible")} for c in report.checks]
    if report.fatal and not report.checks:
        tests.append({"name": _(GRADING_TEST), "score": 0.0, "max_score": report.max_score, "status": "failed",
                      "output": "\n".join(md_fence(report.fatal.strip()[:MESSAGE_CHARS])), "output_format": "md",
                      "visibility": "visible"})
    score = 0.0 if held else report.score
    if final is not None and final.applied and not held:
        tests.append({"name": _(ADJUSTED_TEST), "score": round(final.adjusted - final.raw, 3),
                      "max_score": 0.0, "status": "passed",
                      "output": "\n".join(f"- {md_text(override_text(a))}" for a in final.applied),
                      "output_format": "md", "visibility": "visible"})
        score = final.adjusted
    if final is not None and penalty is None:
        penalty = final.late
    if penalty is not None and penalty.percent > 0 and not held:
        taken = round(score * penalty.percent / 100, 3)
        score = round(score - taken, 3)
        tests.append({"name": _(LATE_TEST), "score": -taken, "max_score": 0.0, "status": "failed",
                      "output": md_text(penalty.rule), "output_format": "md", "visibility": "visible"})
    hidden = any(t["visibility"] != "visible" for t in tests)
    doc: dict = {"score": score, "output": _summary(report, show_score=not hidden, score=score), "output_format": "md",
                 "test_output_format": "md", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
                 "extra_data": {"isolation_level": report.isolation_level, "status": status_of(report),
                                "judged": report.judged}}
    if execution_time is not None:
        doc["execution_time"] = int(round(execution_time))
    accuracy = validation_accuracy(report)
    # a hidden check's result is not given away by the leaderboard either
    if spec.quiz.get("enabled") and spec.gradescope.get("leaderboard", True) and accuracy is not None \
            and not held and not hidden:
        doc["leaderboard"] = [{"name": "validation accuracy", "value": round(accuracy, 2), "order": "desc"}]
    return doc


def gradescope_json(spec: Spec, report: Report, final: FinalGrade | None = None) -> str:
    """:func:`gradescope_results` as the text of a results.json file (what ``grader grade`` writes per student)."""
    return json.dumps(gradescope_results(spec, report, final=final), indent=2, ensure_ascii=False) + "\n"


def _prairielearn_doc(report: Report, message_chars: int, images: list[dict]) -> dict:
    max_score, held = report.max_score, withheld(report)
    return {"gradable": True, "score": round(report.score / max_score, 6) if max_score and not held else 0.0,
            "message": _summary(report, markdown=False)[:message_chars],
            "tests": [{"name": c.name, "points": 0.0 if held else c.score, "max_points": c.max_score,
                       "message": _points_line(c),
                       "output": c.message.strip()[:message_chars]} for c in report.checks],
            "images": images}


def prairielearn_results(report: Report, images: list[dict] | None = None) -> dict:
    """PrairieLearn's results.json for ``report``: ``score`` as the fraction of points, one test per check, the
    ``images`` given (``{"label", "url"}`` data URLs). Shortened messages, then no images, keep it under 1 MB."""
    images = list(images or [])
    for chars, kept in ((MESSAGE_CHARS, images), (2_000, images), (2_000, []), (200, [])):
        doc = _prairielearn_doc(report, chars, kept)
        if len(json.dumps(doc).encode()) <= PRAIRIELEARN_MAX_BYTES:
            return doc
    return doc


def classroom_results(report: Report) -> dict:
    """The JSON GitHub Classroom's grading reporter reads (version 1): one test per check with its points. The
    reporter sums the tests' ``score`` for Classroom's total, so ``max_score`` is the assignment's total."""
    held = withheld(report)
    status = "error" if report.fatal or held else ("pass" if report.passed else "fail")
    tests = [{"name": c.name, "status": "error" if held or c.status == "error" else (
              "pass" if check_passed(c) else "fail"), "score": 0.0 if held else c.score, "max_score": c.max_score, "message": c.message.strip()[:MESSAGE_CHARS],
              "test_code": f"grader check -a {report.assignment}", "filename": "", "line_no": 0,
              "execution_time": ""} for c in report.checks]
    if held or (report.fatal and not tests):
        tests.append({"name": _(GRADING_TEST), "status": "error", "score": 0.0, "max_score": 0.0 if held else report.max_score,
                      "message": _(WITHHELD) if held else report.fatal.strip()[:MESSAGE_CHARS], "test_code": "", "filename": "",
                      "line_no": 0, "execution_time": ""})
    return {"version": 1, "status": status, "max_score": report.max_score, "tests": tests}
