"""The model checks of a self-check: each a function ``(spec, ctx) -> CheckResult`` registered by name.

Check names in a report lead straight here: ``class``, ``shapes``, ``params``, ``batch``, ``output``,
``determinism``. They share a :class:`ModelContext`: the picked class, the built model and one recording.
A failing result carries its typed causes (:class:`grader.report.Cause`), set here where the failure is decided.
"""
from __future__ import annotations

from dataclasses import asdict

import torch

from grader.inspection import messages
from grader.inspection.align import Alignment
from grader.inspection.context import (  # noqa: F401 - re-exported: the checks' shared context
    CONSTRUCTOR_GIST,
    DEFAULT_RECORD_BATCH,
    REFUSED_GIST,
    LiveModel,
    ModelContext,
    _build,
    example_input,
    instantiate,
    prepare,
    record_model,
    trace_text,
)
from grader.inspection.hints import stub_lines, stub_rows
from grader.inspection.load import Submission
from grader.inspection.recorder import BENIGN_KINDS, LayerRecord
from grader.inspection.rows import RowStatus, aligned, row_status
from grader.report import Cause, CheckResult, ClassDetails, ParamsDetails, ShapesDetails
from grader.spec import Spec

CHECKS: dict = {}


def check(name: str):
    """Register a model check under ``name`` (its points come from the spec's [points] table)."""
    def register(fn):
        CHECKS[name] = fn
        return fn
    return register


def _result(spec: Spec, name: str, status: str, message: str, fraction: float | None = None, details=None,
            gist: str = "", causes: list[Cause] | None = None):
    points = spec.points.get(name, 1.0)
    score = points * (fraction if fraction is not None else (1.0 if status == "pass" else 0.0))
    return CheckResult(name, status, round(score, 3), points, message, True, details, gist, list(causes or []))


def _failed(spec: Spec, name: str, message: str, code: str, where: str = "", fraction: float | None = None):
    """A failing result of check ``name`` whose one cause is ``code`` at ``where``."""
    return _result(spec, name, "fail", message, fraction, causes=[Cause(code, where)])


def _no_model(spec: Spec, name: str, ctx: ModelContext) -> CheckResult:
    if ctx.model is not None and ctx.stubs:
        return _result(spec, name, "skip", f"Skipped: {', '.join(ctx.stubs)} still NotImplemented (see 'shapes').")
    return _result(spec, name, "skip", "Skipped: the model could not be built (see the 'class' check).")


def _fails_at_batch_only(ctx: ModelContext) -> bool:
    """Whether the recording's failure is the batch's business: a view/reshape with a fixed first dimension."""
    error = ctx.forward_error
    match = messages.VIEW_ERROR.search(error)
    return bool(match and not match.group(1).replace(" ", "").startswith("-1"))


def _stubbed(ctx: ModelContext) -> bool:
    """A built model with NotImplemented layers whose forward stopped: only the shapes check has news for it."""
    return bool(ctx.stubs and ctx.forward_error)


@check("class")
def check_class(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The model class is found (:mod:`grader.inspection.choose`) and builds as the assignment builds it."""
    if not ctx.class_name:
        defined = ctx.defined
        lines = [f"No model class found. The assignment expects a class named {' or '.join(spec.classes)} "
                 f"(an nn.Module taking (B, {', '.join(map(str, spec.input_shape))}))."]
        if spec.model_class:
            lines = [f"No class named {spec.model_class}: {ctx.why}."]
        if defined:
            lines.append(f"Your code defines: {', '.join(defined)}, but none of them builds with no arguments and "
                         f"returns (B, {spec.num_classes}).")
        if not ctx.sub.code_files:
            lines.append("The submission holds no .py or .ipynb file.")
        lines.extend(ctx.load_errors)
        code = "no_code_file" if not ctx.sub.code_files else "load_error" if ctx.load_errors else "no_model_class"
        return _result(spec, "class", "fail", "\n".join(lines), details=_class_details(ctx), causes=[Cause(code)])
    place = messages.where(ctx.cls_file)
    if ctx.build_error:
        how = ("it cannot be built as the assignment builds it" if ctx.build_gist == CONSTRUCTOR_GIST
               else "the grader will not run it" if ctx.build_gist == REFUSED_GIST else f"{ctx.call} failed")
        code = ctx.build_cause or {CONSTRUCTOR_GIST: "constructor_args", REFUSED_GIST: "refused_by_judge"}.get(
            ctx.build_gist, "constructor_error")
        return _result(spec, "class", "fail", f"Found {ctx.class_name} ({place}), but {how}:\n{ctx.build_error}",
                       details=_class_details(ctx),
                       gist=(ctx.build_gist if ctx.build_gist == REFUSED_GIST else
                             f"{ctx.call} failed: {ctx.build_gist}" if ctx.build_gist else ""), causes=[Cause(code)])
    text = f"Using {ctx.class_name} ({place}): {ctx.why}."
    text += "".join(f"\nNote: {hint}" for hint in ctx.hints)
    return _result(spec, "class", "pass", text, details=_class_details(ctx))


def _class_details(ctx: ModelContext) -> dict:
    return asdict(ClassDetails(ctx.class_name, [dict(c) for c in ctx.considered]))


OUTPUT_NORMALIZERS = ("LogSoftmax", "Softmax")


def _extra_layers(spec: Spec, alignment: Alignment) -> tuple[list[tuple[LayerRecord, str]], list[str]]:
    """The recorded layers no row names: (those that cost a row, each with its line; the notes on the harmless)."""
    extras: list[tuple[LayerRecord, str]] = []
    warnings: list[str] = []
    for rec, after in alignment.extras:
        inside = after >= 0 and any(layer is not None and layer.index > rec.index
                                    for _, layer, _ in alignment.rows[after].layers)
        where = (f"inside row '{spec.rows[after].label}'" if inside else f"after row '{spec.rows[after].label}'"
                 if after >= 0 else "before the first row")
        text = f"{messages.layer_name(rec)}: {rec.kind} {where} is not in the table"
        if rec.kind in ("ReLU", "LeakyReLU") and after == len(spec.rows) - 1:
            text += " (a ReLU on the final outputs clips every negative score to 0)"
        if rec.kind in OUTPUT_NORMALIZERS and after == len(spec.rows) - 1 and rec.input_shape == rec.output_shape:
            # Whether the outputs may be (log-)probabilities is the 'output' check's decision, not the table's.
            warnings.append(f"{text}: an output normalization after the last row, which the 'output' check judges.")
        elif rec.kind in BENIGN_KINDS:
            warnings.append(text + ".")
        else:
            extras.append((rec, text + "."))
    return extras, warnings


def _upstream_row(rows: list[dict]) -> str | None:
    """The first row whose shape is wrong although it was reached: the one a failed forward follows from."""
    return next((r["label"] for r in rows if not r["ok"] and r["found"] != "nothing"), None)


def _shape_causes(spec: Spec, ctx: ModelContext, status: RowStatus, extras: list[LayerRecord]) -> list[Cause]:
    """The shapes check's causes: each NotImplemented stub (at its row), else each row's issues, the failed
    forward when no wrong row explains it (at the first row not reached), and each extra layer (at its name)."""
    if _stubbed(ctx):
        rows = stub_rows(spec, ctx.stubs)
        return [Cause("not_implemented", rows.get(name, name)) for name in ctx.stubs]
    causes = list(status.causes)
    if ctx.forward_error and _upstream_row(status.rows) is None:
        layer = str((ctx.failed_layer or {}).get("name", ""))
        started = bool(ctx.records or layer)  # a forward that stopped before its first layer has no row to name
        where = (status.unreached[0] if status.unreached else layer) if started else ""
        causes.append(Cause(ctx.forward_cause or "forward_error", where))
    return causes + [Cause("extra_layer", rec.name) for rec in extras]


@check("shapes")
def check_shapes(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The output shape of every table row, in order, with the layers the row names."""
    if ctx.model is None:
        return _no_model(spec, "shapes", ctx)
    status = row_status(spec, ctx)
    rows, problems = status.rows, status.problems
    costly, warnings = _extra_layers(spec, status.alignment)
    extra_lines = [text for _, text in costly]
    good = sum(r["ok"] for r in rows)
    lines = [f"{'row':10} {'expected':18} {'found':18} layer"]
    for r in rows:
        lines.append(f"{r['label']:10} {r['expected']:18} {r['found']:18} {r['layer']}{'' if r['ok'] else '   <-- '}")
    lines.append("")
    stubbed = _stubbed(ctx)
    if stubbed:  # the forward stops at the first stub: what each stub needs says more than the TypeError
        lines.extend(stub_lines(spec, ctx.cls_file, ctx.class_name, ctx.stubs))
        lines.append("Your forward() stops at the first of them; fill them in and check again." if len(ctx.stubs) > 1
                     else "Your forward() stops there; fill it in and check again.")
    else:
        lines.extend(problems)
    if ctx.forward_error and not stubbed:
        first_bad = _upstream_row(rows)
        upstream = f" It follows from the problem in row '{first_bad}' above: fix that first." if first_bad else ""
        stopped = "after the last layer shown" if ctx.records else "before its first layer"
        lines.append(f"\nYour forward() stopped with an error {stopped}." + upstream + "\n"
                     + "".join(f"{hint}\n" for hint in ctx.hints) + ctx.forward_error)
    lines.extend(f"Extra layer: {t}" for t in extra_lines)
    lines.extend(f"Note: {t}" for t in warnings)
    failed = bool(problems or extra_lines or ctx.forward_error)
    counted = max(0, good - len(extra_lines))
    fraction = counted / len(rows)
    where = f"recorded at batch {ctx.batch}" + (", written B" if failed else "")
    if not failed:
        head = f"All {len(rows)} rows match the table ({where})."
    elif extra_lines:
        extras = (f"each of the {len(extra_lines)} extra layers not in the table takes one off"
                  if len(extra_lines) > 1 else "the extra layer not in the table takes one off")
        head = (f"{good} of {len(rows)} rows match the table ({where}); {extras}: {counted} of {len(rows)} rows "
                f"count, {counted}/{len(rows)} of the points.")
    else:
        head = f"{good} of {len(rows)} rows match the table ({where}): {good}/{len(rows)} of the points."
    return _result(spec, "shapes", "fail" if failed else "pass", head + "\n" + "\n".join(lines).rstrip(),
                   fraction, asdict(ShapesDetails(rows, [r.to_dict() for r in ctx.records])),
                   gist=f"forward() stopped: {ctx.forward_gist}" if ctx.forward_gist else "",
                   causes=_shape_causes(spec, ctx, status, [rec for rec, _ in costly]) if failed else [])


@check("params")
def check_params(spec: Spec, ctx: ModelContext) -> CheckResult:
    """Parameters per row (where the table gives them) and in total, from parameters() so sharing counts once."""
    if ctx.model is None or _stubbed(ctx):
        return _no_model(spec, "params", ctx)
    total = sum(p.numel() for p in ctx.model.parameters())
    alignment = aligned(spec, ctx)
    problems, checked, good, causes = [], 0, 0, []
    reached = max((i for i, m in enumerate(alignment.rows) if m.output is not None), default=-1)
    unreached = []
    for index, match in enumerate(alignment.rows):
        if match.row.params is None:
            continue
        if ctx.forward_error and index > reached:
            unreached.append(match.row.label)  # its layers may well exist: the forward never got there
            continue
        checked += 1
        seen, count, recs = set(), 0, []
        for _, rec, _ in match.layers:
            if rec is not None and rec.module_id is not None and rec.module_id not in seen:
                seen.add(rec.module_id)
                count += rec.params
                recs.append(rec)
        if count == match.row.params:
            good += 1
            continue
        formulas = "; ".join(f for f in (messages.param_formula(r) for r in recs) if f)
        causes.append(Cause("param_count", match.row.label))
        problems.append(f"Row '{match.row.label}' ({', '.join(messages.layer_name(r) for r in recs) or 'no layer'}): "
                        f"{count:,} parameters, the table needs {match.row.params:,}." + (f" {formulas}." if formulas else ""))
    checked += 1
    if spec.params_total is not None:
        total_ok = total == spec.params_total
        want = f"{spec.params_total:,}"
    elif spec.params_min is not None and spec.params_max is not None:
        total_ok = spec.params_min <= total <= spec.params_max
        want = f"between {spec.params_min:,} and {spec.params_max:,}"
    else:
        total_ok, want = True, "any number"
    good += total_ok
    if not total_ok:
        problems.append(f"In total your model has {total:,} parameters; the assignment needs {want}.")
        causes.append(Cause("param_total"))
    status = "pass" if not problems else "fail"
    head = f"{total:,} parameters in total (needs {want})." if not problems else "Parameter counts differ:"
    if unreached:
        problems.append(f"Row{'s' if len(unreached) > 1 else ''} {', '.join(repr(u) for u in unreached)}: not "
                        "counted one by one, because forward() stopped before reaching "
                        f"{'them' if len(unreached) > 1 else 'it'} (see 'shapes'); the total counts every layer.")
    return _result(spec, "params", status, "\n".join([head, *problems]), good / checked, asdict(ParamsDetails(total)),
                   causes=causes)


@check("batch")
def check_batch(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The forward works for unusual batch sizes: catches x.view(batch_size, -1) and wrong view(-1, N)."""
    if ctx.model is None or _stubbed(ctx):
        return _no_model(spec, "batch", ctx)
    if ctx.forward_error and not _fails_at_batch_only(ctx):
        return _result(spec, "batch", "skip", f"Skipped: the forward fails at batch {ctx.batch} already (see "
                       "'shapes'); other batch sizes are tried once it runs.")
    found = [problem for problem in (_batch_problem(spec, ctx, batch) for batch in spec.batch_sizes) if problem]
    finding = ctx.batch_finding
    if finding is not None and not found:
        place = messages.where(finding.source)
        found.append((f"Your forward only works for a batch of {ctx.batch} images"
                      + (f" ({place})" if place else "") + f": {finding.reason}. Keep the batch dimension "
                      "free: x.view(x.size(0), -1) or torch.flatten(x, 1), never a fixed number or a global "
                      "batch_size.", Cause("batch_fixed")))
    if found:
        return _result(spec, "batch", "fail", "\n".join(text for text, _ in found),
                       causes=list(dict.fromkeys(cause for _, cause in found)))
    sizes = ", ".join(map(str, spec.batch_sizes))
    return _result(spec, "batch", "pass", f"The forward returns (B, {spec.num_classes}) for B = {sizes}.")


def _batch_problem(spec: Spec, ctx: ModelContext, batch: int) -> tuple[str, Cause] | None:
    """What goes wrong with a batch of ``batch`` images, and its cause (at the row of the layer concerned); None
    when the forward returns (batch, classes)."""
    assert ctx.record is not None  # set wherever a model is
    records, out, exc, in_flight = ctx.record(torch.zeros((batch, *spec.input_shape)))
    shape = list(out.shape) if isinstance(out, torch.Tensor) else None
    if exc is None and shape == [batch, spec.num_classes]:
        return None
    lost = next((r for r in records if r.input_shape and r.output_shape and r.input_shape[0] == batch
                 and r.output_shape[0] != batch), None)
    if lost is not None:
        return (f"With a batch of {batch} images, {messages.layer_name(lost)} turns "
                f"{messages.fmt_shape(lost.input_shape)} into {messages.fmt_shape(lost.output_shape)}: the first "
                f"dimension must stay the batch ({batch}). Flatten with x.view(x.size(0), -1) or torch.flatten(x, "
                "1), never a fixed number or a global batch_size.", Cause("batch_fixed", _row_of(spec, ctx, lost.name)))
    if exc is not None:
        crash = messages.crash_finding(exc, trace_text(ctx, exc, in_flight), in_flight, records, batch,
                                       ctx.sub.skipped_names)
        layer = str(in_flight["name"]) if in_flight else ""
        return (f"With a batch of {batch} images your forward fails:\n{crash.text}",
                Cause(crash.code, _row_of(spec, ctx, layer) if layer else ""))
    return (f"With a batch of {batch} images your forward returns {shape}, expected [{batch}, {spec.num_classes}].",
            Cause("batch_output_shape"))


def _row_of(spec: Spec, ctx: ModelContext, name: str) -> str:
    """The label of the table row that holds the recorded layer ``name``, else ``name`` itself."""
    for match in aligned(spec, ctx).rows:
        if any(rec is not None and rec.name == name for _, rec, _ in match.layers):
            return match.row.label
    return name


@check("output")
def check_output(spec: Spec, ctx: ModelContext) -> CheckResult:
    """Output convention: log-probabilities (exp sums to 1 per image) or logits, as the spec asks."""
    if ctx.model is None or ctx.output is None:
        return _result(spec, "output", "skip", "Skipped: the forward pass did not complete (see 'shapes').")
    out = ctx.output
    if isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[0] != ctx.batch:
        return _result(spec, "output", "skip", f"Skipped: the forward returns {messages.fmt_shape(list(out.shape), ctx.batch)}"
                       f" for a batch of {ctx.batch}, not (B, {spec.num_classes}) (see 'shapes').")
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        return _failed(spec, "output", f"The forward returns {type(out).__name__} "
                       f"{list(out.shape) if isinstance(out, torch.Tensor) else ''}; expected a (B, {spec.num_classes}) "
                       "tensor.", "output_not_tensor")
    if not torch.isfinite(out).all():
        return _failed(spec, "output", "The output holds NaN or infinite values.", "output_not_finite")
    sums = out.exp().sum(dim=1)
    is_log_probs = bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3)) and bool((out <= 1e-5).all())
    is_probs = bool(torch.allclose(out.sum(dim=1), torch.ones_like(sums), atol=1e-3)) and bool((out >= 0).all())
    if spec.output == "log_probs":
        if is_log_probs:
            return _result(spec, "output", "pass", "The outputs are log-probabilities (exp sums to 1 per image).")
        if is_probs:
            return _failed(spec, "output", "The outputs are probabilities (softmax), not log-probabilities. NLLLoss "
                           "needs F.log_softmax(x, dim=1) at the end of forward().", "output_probabilities")
        return _failed(spec, "output", f"The outputs are not log-probabilities: exp(output) sums to "
                       f"{sums[0].item():.3g} for the first image instead of 1. End forward() with "
                       "F.log_softmax(x, dim=1) (this assignment trains with NLLLoss).", "output_not_log_probs")
    if is_probs:
        return _failed(spec, "output", "The outputs are probabilities (softmax); this assignment expects "
                       "logits: CrossEntropyLoss applies log_softmax itself. Remove the softmax.",
                       "output_probabilities")
    if is_log_probs:
        return _result(spec, "output", "pass", "The outputs are log-probabilities (exp sums to 1 per image), where "
                       "this assignment expects logits. That still trains the same: CrossEntropyLoss applies "
                       "log_softmax, which leaves log-probabilities as they are.")
    return _result(spec, "output", "pass", "The outputs are logits (CrossEntropyLoss applies log_softmax itself).")


@check("determinism")
def check_determinism(spec: Spec, ctx: ModelContext) -> CheckResult:
    """Two eval-mode passes on the same input give the same output (dropout off in eval)."""
    if ctx.model is None or ctx.output is None:
        return _result(spec, "determinism", "skip", "Skipped: the forward pass did not complete (see 'shapes').")
    x = example_input(spec, ctx.batch)
    with torch.no_grad():
        first, second = ctx.model.eval()(x), ctx.model.eval()(x)
    if torch.equal(first, second):
        return _result(spec, "determinism", "pass", "Two passes in eval mode give identical outputs.")
    return _failed(spec, "determinism", "Two passes in eval mode give different outputs: something random stays "
                   "on in eval mode. F.dropout(x, p) defaults to training=True: pass training=self.training, or use "
                   "nn.Dropout.", "nondeterministic")


# An activation option's name -> the layer kind it must put in the model.
ACTIVATION_KINDS = {"relu": "ReLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyReLU",
                    "leakyrelu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "silu": "SiLU"}


@check("activations")
def check_activations(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The class builds and runs with every activation option of the spec (catches nn.TanH-style typos)."""
    if ctx.model is None:
        return _no_model(spec, "activations", ctx)
    arg, options = spec.activations["arg"], spec.activations["options"]
    if not ctx.takes_activation_arg:
        return _failed(spec, "activations", f"{ctx.class_name}.__init__ takes no '{arg}' argument: the "
                       f"assignment builds it with {arg} = {' / '.join(map(repr, options))}.", "activation_arg_missing")
    problems, fine = [], []
    probe = example_input(spec, 2)
    for option in options:
        problem = _activation_problem(spec, ctx, option, probe)
        if problem is None:
            fine.append(repr(option))
        else:
            problems.append(problem)
    if problems:
        return _result(spec, "activations", "fail", "\n\n".join(text for text, _ in problems)
                       + (f"\n\n{arg} = {', '.join(fine)} work." if fine else ""),
                       fraction=len(fine) / len(options), causes=[cause for _, cause in problems])
    return _result(spec, "activations", "pass", f"{ctx.class_name} builds and runs with {arg} = "
                   f"{', '.join(fine)}.")


def _activation_problem(spec: Spec, ctx: ModelContext, option, probe: torch.Tensor) -> tuple[str, Cause] | None:
    """What goes wrong with the class built with activation ``option`` and run on ``probe`` (2 images), and its
    cause (at the option); None when it builds, runs, returns (2, classes) and uses the activation."""
    arg, where = spec.activations["arg"], str(option)
    assert ctx.variant is not None  # set wherever the spec has activations
    call, built = ctx.variant(option)
    if isinstance(built, str):
        return f"{call} failed:\n{built}", Cause("activation_build_error", where)
    records, output, exc, in_flight = built(probe)
    if exc is not None:
        text = trace_text(ctx, exc, in_flight)
        return (f"{call}: forward() failed:\n" + messages.crash_text(exc, text, in_flight, records, 2,
                                                                    ctx.sub.skipped_names),
                Cause("activation_forward_error", where))
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, spec.num_classes):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        return f"{call} returns {shape}, not (2, {spec.num_classes}).", Cause("activation_output_shape", where)
    kind = ACTIVATION_KINDS.get(str(option).lower())
    if kind and not any(r.kind == kind for r in records):
        used = sorted({r.kind for r in records if r.kind in ACTIVATION_KINDS.values()})
        return (f"{call} runs, but no {kind} is in it" + (f" (its activations: {', '.join(used)})" if used else "")
                + f": your class takes {arg} but does not use it. Build each activation from {arg}.",
                Cause("activation_ignored", where))
    return None


def run_model_checks(spec: Spec, sub: Submission, ctx: ModelContext | None = None
                     ) -> tuple[list[CheckResult], list[str], ModelContext]:
    """Every registered model check, in order, notes on what was inspected, and the shared context.

    ``ctx`` is built by :func:`prepare` (the live model, in this process) unless given (the judge's graph).
    """
    ctx = ctx if ctx is not None else prepare(spec, sub)
    results = [CHECKS[name](spec, ctx) for name in spec.model_checks()]
    notes = []
    if ctx.class_name:
        notes.append(f"model class: {ctx.class_name} ({ctx.cls_file.replace(':', ' line ')})")
    if len(ctx.considered) > 1:
        total = len(spec.rows)
        notes.append("classes considered: " + "; ".join(
            f"{c['name']} {c['rows']} of {total} row shapes" + (" (graded)" if c["chosen"] else "")
            + (f" ({c['problem']})" if c["problem"] and not c["chosen"] else "") for c in ctx.considered))
    return results, notes, ctx
