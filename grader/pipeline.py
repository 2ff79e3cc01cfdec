"""The pipeline for one submission: observe in the sandbox, judge in a clean process.

:func:`observe_submission` runs the student's code (call it in the sandboxed child only): it loads the code, picks
and builds the class, and exports the model as data (:mod:`grader.inspection.export`). What it returns is an
:class:`Observation`: labels and texts for the feedback, and the exported graph. A process that never runs student
Python then computes every graded fact from that data (:func:`grader.judge.judge.judge`).

Where the model cannot be exported, the child grades it the older way, in its own process
(:func:`check_submission`, also the notebook's path), and the report carries the flag
``graded in-process: export failed (reason)``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import torch

from grader.i18n import _, n_
from grader.inspection.budget import PhaseTimeout, phase_budget, timeout_text
from grader.inspection.checks import run_model_checks
from grader.inspection.choose import call_text, init_kwargs
from grader.inspection.context import (  # noqa: F401 - Observation and ObservationError: the records of this stage
    ModelContext,
    Observation,
    ObservationError,
    _build,
    example_input,
    instantiate,
    observation_of,
    prepare,
    record_model,
)
from grader.inspection.export import ExportFailed, export_model
from grader.inspection.load import Submission, load_submission
from grader.inspection.pywarnings import StudentWarnings
from grader.quiz.checks import run_quiz_checks
from grader.report import Report, fatal_report
from grader.spec import Spec

MAX_SKIP_NOTES = 8


_EXPORT_SYMBOL = re.compile(r"\bs\d+\b")


def plain_symbols(text: str) -> str:
    """An export error with torch.export's symbolic sizes (``20*s77``) written as the batch: ``20*B``."""
    return _EXPORT_SYMBOL.sub("B", text)


def load_notes(sub: Submission) -> list[str]:
    """The report's notes on what was loaded: code files, statements not run, errors while loading."""
    notes = [_("code: {files}", files=", ".join(sub.relative(f) for f in sub.code_files) or _("none"))]
    # what a student may not expect to be skipped (an import, a name that comes from a skipped line) comes first
    skipped = sorted(sub.skipped, key=lambda skip: not skip.surprising)
    for skip in skipped[:MAX_SKIP_NOTES]:
        fields = {"file": skip.file, "line": skip.line, "reason": skip.reason, "code": skip.text}
        notes.append(_("not run: {file} line {line} ({reason}): {code}", **fields) if skip.text else
                     _("not run: {file} line {line} ({reason})", **fields))
    if len(sub.skipped) > MAX_SKIP_NOTES:
        more = len(sub.skipped) - MAX_SKIP_NOTES
        notes.append(n_("not run: {n} more top-level statement", "not run: {n} more top-level statements", more))
    for error in sub.errors:
        notes.append(_("error while loading {file} line {line}: {kind}: {message}", file=error.file, line=error.line,
                       kind=error.kind, message=error.message))
    return notes


def _in_process(spec: Spec, sub: Submission, ctx: ModelContext | None, report: Report) -> Report:
    ctx = _model_checks_in_process(spec, sub, ctx, report)
    _quiz_in_process(spec, sub, ctx, report)
    return report


def _model_checks_in_process(spec: Spec, sub: Submission, ctx: ModelContext | None, report: Report) -> ModelContext:
    results, notes, ctx = run_model_checks(spec, sub, ctx)
    report.checks.extend(results)
    report.notes.extend(notes)
    return ctx


def _quiz_in_process(spec: Spec, sub: Submission, ctx: ModelContext, report: Report) -> None:
    if spec.quiz.get("enabled"):
        cls = ctx.cls if ctx.model is not None else None
        report.checks.extend(run_quiz_checks(spec, sub, (lambda: instantiate(spec, cls)) if cls is not None else None,
                                             ctx.class_name, ctx.student_batch_size))


def check_submission(spec: Spec, path: str | Path, student: str | None = None) -> Report:
    """Run every check of ``spec`` on the submission at ``path`` in this process, and return the report.

    Runs student code and trusts this process: the notebook's self-check and the fallback of the sandbox.
    """
    torch.manual_seed(0)
    began = time.perf_counter()
    path = Path(path)
    report = Report(assignment=spec.name, student=student or path.stem)
    caught = StudentWarnings(set())
    with caught:
        sub = load_submission(path)
        caught.student_files = sub.student_files
        loaded = time.perf_counter()
        report.notes.extend(load_notes(sub))
        _in_process(spec, sub, None, report)
    report.notes.extend(_("warning: {note}", note=note) for note in caught.notes)
    report.timings = {"load_s": round(loaded - began, 3), "checks_s": round(time.perf_counter() - loaded, 3)}
    return report




def _variants(spec: Spec, ctx: ModelContext) -> dict:
    """Each activation option of the spec, built and exported (the judge runs them on meta tensors: no weights travel)."""

    out = {}
    arg, cls = spec.activations["arg"], ctx.cls
    assert cls is not None  # variants are exported only of a built class
    for option in spec.activations["options"]:
        entry: dict[str, object] = {"call": call_text(cls, init_kwargs(spec, cls, **{arg: option}))}
        built = _build(cls, ModelContext(ctx.sub, spec), **{arg: option})
        if isinstance(built, str):
            entry["error"] = built
        else:
            try:
                exported = export_model(built, example_input(spec, 2), ctx.sub.student_files, {})
                entry["graph"] = exported.header()
            except ExportFailed as exc:
                entry["export_failed"] = str(exc)
        out[repr(option)] = entry
    return out


def observe_submission(spec: Spec, path: str | Path, student: str | None = None
                       ) -> tuple[Observation | Report, bytes]:
    """In the sandboxed child: load, build and export the student's model.

    Returns (:class:`Observation`, the exported weights) for the judge, or, when a built model cannot be exported,
    the in-process :class:`Report` flagged ``graded in-process: export failed (reason)`` and no weights.
    """
    import torch.export._trace  # noqa: F401 - the grader's own start-up (about 2 s, once): not the student's budget

    torch.manual_seed(0)
    began = time.perf_counter()
    path = Path(path)
    student = student or path.stem
    budgets = spec.budgets()
    caught = StudentWarnings(set())
    try:
        with caught, phase_budget("load", budgets["load"]):
            sub = load_submission(path)
            caught.student_files = sub.student_files
            loaded = time.perf_counter()
            ctx = prepare(spec, sub, record=False)
        with caught, phase_budget("checks", budgets["checks"]):
            result, weights = _observe(spec, sub, ctx, student)
    except PhaseTimeout as exc:
        return fatal_report(spec, student, timeout_text(exc, budgets), "timeout"), b""
    result.notes.extend(_("warning: {note}", note=note) for note in caught.notes)
    if isinstance(result, Report):  # the in-process fallback: its quiz runs under the job's own limit
        _quiz_in_process(spec, sub, ctx, result)
        result.timings = {"load_s": round(loaded - began, 3), "checks_s": round(time.perf_counter() - loaded, 3)}
    else:
        result.timings = {"load_s": round(loaded - began, 3), "observe_s": round(time.perf_counter() - loaded, 3)}
    return result, weights


def _export(spec: Spec, sub: Submission, ctx: ModelContext):
    """The built model exported; when its forward raises inside a leaf Linear (the input does not fit it, the
    classic ``Linear(320, 10)`` mistake), exported with that layer standing in, so the judge still grades it."""
    assert ctx.model is not None
    example = example_input(spec, ctx.batch)
    try:
        return export_model(ctx.model, example, sub.student_files, ctx.sites)
    except ExportFailed:
        layer = ctx.failed_layer
        if not ctx.forward_error or layer is None or layer.get("kind") != "Linear":
            raise
    return export_model(ctx.model, example, sub.student_files, ctx.sites, stand_in=str(layer["name"]))


def _observe(spec: Spec, sub: Submission, ctx: ModelContext, student: str) -> tuple[Observation | Report, bytes]:
    """Record and export the built model: (the observation, the weights), or the in-process report of the model
    checks when it cannot be exported."""
    record_model(spec, ctx)
    obs = observation_of(ctx, student, load_notes(sub))
    weights = b""
    if ctx.model is not None:
        try:
            exported = _export(spec, sub, ctx)
        except ExportFailed as exc:
            report = Report(assignment=spec.name, student=student, notes=list(obs.notes))
            _model_checks_in_process(spec, sub, ctx, report)
            reason = _("still NotImplemented: {names}", names=", ".join(ctx.stubs)) if ctx.stubs else \
                plain_symbols(str(exc))
            # "in-process" is a code (report.judged is data); what follows it is for people
            report.judged = "in-process: " + _("export failed ({reason})", reason=reason)
            return report, b""
        obs.graph, weights = exported.header(), exported.weights
        if spec.activations and ctx.takes_activation_arg:
            obs.variants = _variants(spec, ctx)
    return obs, weights
