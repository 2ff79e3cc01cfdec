"""What runs inside each platform's grading job: check the one submission there, write the platform's results.

* :func:`run_gradescope`: ``ROOT/submission`` (ROOT is ``/autograder``) -> ``ROOT/results/results.json``, with
  the late rule of the spec applied from ``ROOT/submission_metadata.json``.
* :func:`run_prairielearn`: ``ROOT/student`` (ROOT is ``/grade``) -> ``ROOT/results/results.json`` with the
  curves picture in ``images``.
* :func:`run_classroom`: a checked-out repository -> the ``result`` step output of GitHub Classroom's reporter.

Each always writes its document, whatever the student's code does (a crash, a hang, a flood of output) and even
when the grader fails: the platform then shows a score of 0 with the reason, never a silent nothing. The check
runs in the box at the best isolation level the machine allows (a container that forbids namespaces gets the
process level) and the document says which level it used.

Public interface: :func:`grade_submission`, :func:`run_gradescope`, :func:`run_prairielearn`,
:func:`run_classroom`, :func:`classroom_output`.
"""
from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from pathlib import Path

from grader.config import Config
from grader.i18n import _
from grader.late import LateError, gradescope_times, late_policy, late_result
from grader.outputs.gradebook import md_text, write_atomic
from grader.outputs.platform_results import classroom_results, gradescope_results, prairielearn_results
from grader.report import Report, details_of, exception_line, fatal_report
from grader.spec import Spec

STUDENT = "submission"
REPOSITORY_SKIPPED = (".git", ".github")  # a Classroom repository's own files, not the student's work


def grade_submission(spec: Spec, folder: Path, config: Config) -> tuple[Report, float]:
    """(the report on ``folder``, the seconds it took), checked in the box; a grader failure is a fatal report."""
    from grader.batch.job import check_in_box
    from grader.batch.verdict import fact_words
    from grader.sandbox.limits import Limits, best_isolation, check_isolation
    from grader.sandbox.process import root_kept

    began = time.monotonic()
    try:
        level = check_isolation(config.isolation) if config.isolation else best_isolation()
        kept = root_kept() if level == "process" else ""
        if kept:  # the code could then write the results file, or leave a process behind that does
            return fatal_report(spec, STUDENT, _(
                "not graded: your code would run with the grader's own rights here ({kept}), so it was not run. "
                "Please tell your instructor: the autograder's set-up must be fixed ({doc}).", kept=fact_words(kept),
                doc="docs/platforms.md"), "sandbox_unavailable"), 0.0
        limits = Limits(wall_s=spec.timeout, threads=config.cores, isolation=level)
        report = check_in_box(spec, folder, student=STUDENT, limits=limits)
    except Exception as exc:  # noqa: BLE001 - the platform must still get a document saying why
        report = fatal_report(spec, STUDENT, _("the grader failed: {error}", error=exception_line(exc)))
    return report, time.monotonic() - began


def _failure(exc: BaseException) -> str:
    return _("The autograder itself failed while grading ({error}): please tell your instructor.",
             error=exception_line(exc))


def run_gradescope(spec: Spec, config: Config, root: Path = Path("/autograder")) -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json`` (see the module doc); returns it."""
    out = root / "results" / "results.json"
    try:
        penalty, late_note = None, ""
        try:  # read before the student's code runs
            policy = late_policy(spec.name, spec.path, spec.late)
            if policy is not None:
                times = gradescope_times(root / "submission_metadata.json")
                student = next((who for who in times.who if policy.extension_for(who)), "")
                penalty = late_result(policy, times, student)
        except LateError as exc:
            late_note = _("The late rule could not be applied, so no penalty was taken: {error}", error=exc)
        report, seconds = grade_submission(spec, root / "submission", config)
        doc = gradescope_results(spec, report, execution_time=seconds, penalty=penalty)
        if penalty is not None:
            doc["output"] += "\n\n" + _("Late: {rule}.", rule=md_text(penalty.rule))
            doc["extra_data"]["late_percent"] = penalty.percent
        if late_note:
            doc["output"] += f"\n\n{md_text(late_note)}"
    except Exception as exc:  # noqa: BLE001 - one results.json, always
        doc = {"score": 0.0, "output": _failure(exc), "tests": []}
    write_atomic(out, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return doc


def _curves_image(report: Report) -> list[dict]:
    """The submitted curves with best.pt's re-evaluation, as PrairieLearn's ``images`` (empty without curves)."""
    from grader.quiz.curves import curves_picture

    curves = details_of(report, "curves")
    if curves is None:
        return []
    reeval = details_of(report, "reeval")
    picture = curves_picture(curves.val_loss, curves.val_accuracy,
                             (reeval.epoch, reeval.loss, reeval.accuracy) if reeval is not None else None)
    if picture is None:
        return []
    return [{"label": _("validation curves (red: {file} as the grader re-evaluated it)", file="best.pt"),
             "url": "data:image/png;base64," + base64.b64encode(picture).decode()}]


def run_prairielearn(spec: Spec, config: Config, root: Path = Path("/grade")) -> dict:
    """Grade ``root/student`` and write ``root/results/results.json`` (see the module doc); returns it."""
    out = root / "results" / "results.json"
    try:
        student = root / "student"
        if not student.is_dir() or not any(student.iterdir()):
            doc = {"gradable": False, "score": 0.0, "message": _("Nothing was uploaded: upload your files and "
                                                                 "submit again."), "tests": []}
        else:
            report, _seconds = grade_submission(spec, student, config)
            doc = prairielearn_results(report, _curves_image(report))
    except Exception as exc:  # noqa: BLE001 - one results.json, always
        doc = {"gradable": False, "score": 0.0, "message": _failure(exc)}
    write_atomic(out, json.dumps(doc, ensure_ascii=False) + "\n")
    return doc


def _student_files(repository: Path, into: Path) -> Path:
    """A copy of ``repository`` without its .git and .github (the course's files), in ``into``."""
    copy = into / STUDENT
    shutil.copytree(repository, copy, symlinks=True,
                    ignore=lambda folder, names: [n for n in names if Path(folder) == repository
                                                  and n in REPOSITORY_SKIPPED])
    return copy


def classroom_output(doc: dict) -> str:
    """The ``result`` line GitHub Classroom's reporter reads: base64 of the JSON, on one line."""
    return "result=" + base64.b64encode(json.dumps(doc, ensure_ascii=False).encode()).decode() + "\n"


def run_classroom(spec: Spec, config: Config, repository: Path, output: Path | None) -> tuple[dict, Report | None]:
    """Grade the checked-out ``repository`` and append the reporter's ``result`` to ``output`` (the step's
    $GITHUB_OUTPUT file; None: nowhere). Returns (the document, the report)."""
    report = None
    try:
        with tempfile.TemporaryDirectory(prefix="grader-classroom-") as folder:
            report, _seconds = grade_submission(spec, _student_files(Path(repository).resolve(), Path(folder)), config)
        doc = classroom_results(report)
    except Exception as exc:  # noqa: BLE001 - the reporter must still get a result
        doc = {"version": 1, "status": "error", "max_score": 0, "tests": [
            {"name": "grading", "status": "error", "score": 0, "message": _failure(exc)}]}
    if output is not None:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(classroom_output(doc))
    return doc, report

