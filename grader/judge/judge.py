"""Judge one submission from its :class:`~grader.pipeline.Observation`, in a process that runs no student Python.

The model checks run on :class:`~grader.judge.graph.GraphModel` (shapes propagated here, parameters counted from
the weights, the odd batch sizes and the output convention run here); the quiz reads best.pt and the curves from
the submitted files and re-evaluates best.pt through the same graph. Student source files are only read, to quote
their lines in the feedback.
"""
from __future__ import annotations

import ast
import linecache
import time
from pathlib import Path

import torch

from grader.i18n import _
from grader.inspection import messages
from grader.inspection.checks import REFUSED_GIST, ModelContext, example_input, run_model_checks
from grader.inspection.context import Observation, context_of
from grader.inspection.export import BatchFinding
from grader.inspection.load import CodeUnit, Submission, code_units, list_submission_files, register_source
from grader.judge.graph import GraphError, load_graph, meta_graph
from grader.judge.ops import RefusedGraph
from grader.judge.provenance import foreign_layers
from grader.quiz.checks import run_quiz_checks
from grader.report import FORGED_OBSERVATION, Report, exception_line
from grader.spec import Spec

BATCH_NAMES = ("batch_size", "BATCH_SIZE")


def read_submission(path: str | Path) -> tuple[Submission, list[CodeUnit]]:
    """The submission's files and code units, the student's source registered for quoting: nothing is executed."""
    sub, units = list_submission_files(path), []
    for file in sub.code_files:
        try:
            units += code_units(file, sub.relative(file))
        except Exception:  # noqa: BLE001 - an unreadable notebook: the child's notes already say so
            continue
    for unit in units:
        register_source(unit.filename, unit.source)
        sub.student_files.add(unit.filename)
    return sub, units


def static_batch_size(units: list[CodeUnit]) -> int | None:
    """The training batch size the student's code sets at its top level (``batch_size = 64``), read, not run."""
    found = None
    for unit in units:
        try:
            tree = ast.parse(unit.source)
        except SyntaxError:
            continue
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
                value = stmt.value.value
                if any(isinstance(t, ast.Name) and t.id in BATCH_NAMES for t in stmt.targets) \
                        and isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024:
                    found = value
    return found


def _variant(spec: Spec, obs: Observation, option):
    entry = obs.variants.get(repr(option)) or {}
    call = str(entry.get("call") or f"{obs.class_name}({spec.activations['arg']}={option!r})")
    if "error" in entry:
        return call, str(entry["error"])
    if "export_failed" in entry or "graph" not in entry:
        reason = entry["export_failed"] if "export_failed" in entry else _("nothing was sent")
        return call, _("it could not be exported for judging ({reason})", reason=reason)
    try:
        graph = meta_graph(entry["graph"])
    except (GraphError, RefusedGraph) as exc:
        return call, _("the grader could not read its graph ({error})", error=exc)
    return call, lambda x: graph.record(x.to("meta"))


def _traceback_of(exc: BaseException, in_flight: dict | None) -> str:
    """The student's line where the graph failed, as the traceback of their own code reads (no frames of theirs
    ran here: the line is where the exported operator came from)."""
    where = (in_flight or {}).get("line") or ""
    file, _sep, number = str(where).rpartition(":")
    if not file or not number.isdigit():
        return ""
    code = linecache.getline(file, int(number)).rstrip()
    return (_("Traceback (your code):") + f'\n  File "{file}", line {number}, in forward\n'
            + (f"    {code.strip()}\n" if code else "") + f"{type(exc).__name__}: {exc}")


def _checked_graph(obs: Observation, weights: bytes, units: list[CodeUnit], ctx: ModelContext, report: Report):
    """The observation's graph when the judge accepts it: readable, only allowed operators and weights, and built
    by the class it names (:mod:`grader.judge.ops`, :mod:`grader.judge.provenance`); else None, with the reason in
    ``ctx.build_error`` and what was refused in ``report.refused``."""
    if obs.graph is None:
        return None
    try:
        graph = load_graph(obs.graph, weights)
    except GraphError as exc:
        ctx.build_error = _("the grader could not read the exported model: {error}", error=exc)
        ctx.build_cause = "export_unreadable"
        return None
    except RefusedGraph as exc:
        ctx.build_error, ctx.build_gist = exc.text, REFUSED_GIST
        report.refused.setdefault(exc.kind, []).extend(exc.evidence)
        return None
    weighted = {name.rpartition(".")[0] for name, kind in graph.tensor_kinds.items() if kind == "parameter"}
    foreign = foreign_layers(obs.class_name, units, graph.module_labels, weighted)
    if foreign:
        ctx.build_gist = REFUSED_GIST
        ctx.build_error = _("the exported model is not {cls}: its layers {layers} were not built by {cls} or the code "
                            "it uses. Only the class you hand in is graded.", cls=obs.class_name,
                            layers=", ".join(foreign[:4]))
        report.refused[FORGED_OBSERVATION] = foreign[:10]
        return None
    return graph


def judge(spec: Spec, path: str | Path, obs: Observation, weights: bytes) -> Report:
    """The report of the submission at ``path`` from the child's observation ``obs`` and exported ``weights``."""
    torch.manual_seed(0)
    began = time.perf_counter()
    sub, units = read_submission(path)
    report = Report(assignment=spec.name, student=obs.student, notes=list(obs.notes), judged="graph")
    batch_size = static_batch_size(units)
    ctx = context_of(obs, sub, spec, batch_size)
    graph = _checked_graph(obs, weights, units, ctx, report)
    if graph is not None and obs.graph is not None:
        header = obs.graph
        if not graph.batch_dynamic:
            ctx.batch = graph.example_batch
            finding = header.get("batch_finding") or {}
            ctx.batch_finding = BatchFinding(str(finding.get("reason", "")), str(finding.get("source", "")))
        ctx.model = graph
        ctx.record = graph.record
        ctx.trace_text = _traceback_of
        ctx.records, ctx.output, raised, in_flight = graph.record(example_input(spec, ctx.batch))
        if raised is not None:
            crash = messages.crash_finding(raised, _traceback_of(raised, in_flight), in_flight, ctx.records,
                                           ctx.batch, {})
            ctx.forward_error, ctx.forward_cause, ctx.failed_layer = crash.text, crash.code, in_flight
            ctx.forward_gist = exception_line(raised)
    if spec.activations:
        ctx.variant = lambda option: _variant(spec, obs, option)
    results, notes, ctx = run_model_checks(spec, sub, ctx)
    report.checks.extend(results)
    report.notes.extend(notes)
    if spec.quiz.get("enabled"):
        header_of_quiz = obs.graph
        make = (lambda: load_graph(header_of_quiz, weights)) if graph is not None and header_of_quiz else None
        report.checks.extend(run_quiz_checks(spec, sub, make, obs.class_name, batch_size))
    report.timings = {**obs.timings, "judge_s": round(time.perf_counter() - began, 3)}
    return report
