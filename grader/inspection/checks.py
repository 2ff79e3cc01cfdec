"""The model checks of a self-check: each a function ``(spec, ctx) -> CheckResult`` registered by name.

Check names in a report lead straight here: ``class``, ``shapes``, ``params``, ``batch``, ``output``,
``determinism``. They share a :class:`ModelContext`: the picked class, the built model and one recording.
A failing result carries its typed causes (:class:`grader.report.Cause`), set here where the failure is decided.
The shapes check's table, first line and extra layers are :mod:`grader.inspection.shapes`.
"""
from __future__ import annotations

from dataclasses import asdict

import torch

from grader.i18n import _, n_
from grader.inspection import messages
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
from grader.inspection.hints import stub_lines
from grader.inspection.load import Submission
from grader.inspection.rows import aligned, row_status
from grader.inspection.shapes import extra_layers, forward_error_text, shape_causes, shape_table, shapes_head, stubbed
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
        return _result(spec, name, "skip", _("Skipped: {stubs} still NotImplemented (see 'shapes').",
                                             stubs=", ".join(ctx.stubs)))
    return _result(spec, name, "skip", _("Skipped: the model could not be built (see the 'class' check)."))


def _or(names) -> str:
    """'MyCNN or Net': names joined as alternatives, in the current language."""
    return _(" or ").join(names)


def _fails_at_batch_only(ctx: ModelContext) -> bool:
    """Whether the recording's failure is the batch's business: a view/reshape with a fixed first dimension."""
    error = ctx.forward_error
    match = messages.VIEW_ERROR.search(error)
    return bool(match and not match.group(1).replace(" ", "").startswith("-1"))


@check("class")
def check_class(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The model class is found (:mod:`grader.inspection.choose`) and builds as the assignment builds it."""
    if not ctx.class_name:
        return _no_class(spec, ctx)
    place = messages.where(ctx.cls_file)
    if ctx.build_error:
        fields = {"name": ctx.class_name, "place": place, "error": ctx.build_error, "call": ctx.call}
        text = (_("Found {name} ({place}), but it cannot be built as the assignment builds it:\n{error}", **fields)
                if ctx.build_gist == CONSTRUCTOR_GIST else
                _("Found {name} ({place}), but the grader will not run it:\n{error}", **fields)
                if ctx.build_gist == REFUSED_GIST else _("Found {name} ({place}), but {call} failed:\n{error}", **fields))
        code = ctx.build_cause or {CONSTRUCTOR_GIST: "constructor_args", REFUSED_GIST: "refused_by_judge"}.get(
            ctx.build_gist, "constructor_error")
        return _result(spec, "class", "fail", text, details=_class_details(ctx), gist=_build_gist(ctx),
                       causes=[Cause(code)])
    text = _("Using {name} ({place}): {why}.", name=ctx.class_name, place=place, why=ctx.why)
    text += "".join("\n" + _("Note: {text}", text=hint) for hint in ctx.hints)
    return _result(spec, "class", "pass", text, details=_class_details(ctx))


def _no_class(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The 'class' check when no class was chosen: what the assignment expects and what the code defines."""
    lines = [_("No model class found. The assignment expects a class named {names} (an nn.Module taking "
               "(B, {shape})).", names=_or(spec.classes), shape=", ".join(map(str, spec.input_shape)))]
    if spec.model_class:
        lines = [_("No class named {name}: {why}.", name=spec.model_class, why=ctx.why)]
    if ctx.defined:
        lines.append(_("Your code defines: {classes}, but none of them builds with no arguments and returns "
                       "(B, {num_classes}).", classes=", ".join(ctx.defined), num_classes=spec.num_classes))
    if not ctx.sub.code_files:
        lines.append(_("The submission holds no .py or .ipynb file."))
    lines.extend(ctx.load_errors)
    code = "no_code_file" if not ctx.sub.code_files else "load_error" if ctx.load_errors else "no_model_class"
    return _result(spec, "class", "fail", "\n".join(lines), details=_class_details(ctx), causes=[Cause(code)])


def _build_gist(ctx: ModelContext) -> str:
    """The one line a gradebook shows for a class that did not build (the gists are English markers in data)."""
    if ctx.build_gist == REFUSED_GIST:
        return _(REFUSED_GIST)
    if not ctx.build_gist:
        return ""
    gist = _(CONSTRUCTOR_GIST) if ctx.build_gist == CONSTRUCTOR_GIST else ctx.build_gist
    return _("{call} failed: {error}", call=ctx.call, error=gist)


def _class_details(ctx: ModelContext) -> dict:
    return asdict(ClassDetails(ctx.class_name, [dict(c) for c in ctx.considered]))


@check("shapes")
def check_shapes(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The output shape of every table row, in order, with the layers the row names."""
    if ctx.model is None:
        return _no_model(spec, "shapes", ctx)
    status = row_status(spec, ctx)
    rows, problems = status.rows, status.problems
    costly, warnings = extra_layers(spec, status.alignment)
    extra_lines = [text for _rec, text in costly]
    good = sum(r["ok"] for r in rows)
    lines = [*shape_table(rows), ""]
    stopped_at_stub = stubbed(ctx)
    if stopped_at_stub:  # the forward stops at the first stub: what each stub needs says more than the TypeError
        lines.extend(stub_lines(spec, ctx.cls_file, ctx.class_name, ctx.stubs))
        lines.append(_("Your forward() stops at the first of them; fill them in and check again.")
                     if len(ctx.stubs) > 1 else _("Your forward() stops there; fill it in and check again."))
    else:
        lines.extend(problems)
    if ctx.forward_error and not stopped_at_stub:
        lines.append(forward_error_text(ctx, rows))
    lines.extend(_("Extra layer: {text}", text=t) for t in extra_lines)
    lines.extend(_("Note: {text}", text=t) for t in warnings)
    failed = bool(problems or extra_lines or ctx.forward_error)
    fraction = max(0, good - len(extra_lines)) / len(rows)
    head = shapes_head(ctx, len(rows), good, len(extra_lines), failed)
    return _result(spec, "shapes", "fail" if failed else "pass", head + "\n" + "\n".join(lines).rstrip(),
                   fraction, asdict(ShapesDetails(rows, [r.to_dict() for r in ctx.records])),
                   gist=_("forward() stopped: {error}", error=ctx.forward_gist) if ctx.forward_gist else "",
                   causes=shape_causes(spec, ctx, status, [rec for rec, _text in costly]) if failed else [])


@check("params")
def check_params(spec: Spec, ctx: ModelContext) -> CheckResult:
    """Parameters per row (where the table gives them) and in total, from parameters() so sharing counts once."""
    if ctx.model is None or stubbed(ctx):
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
        for _kind, rec, _row in match.layers:
            if rec is not None and rec.module_id is not None and rec.module_id not in seen:
                seen.add(rec.module_id)
                count += rec.params
                recs.append(rec)
        if count == match.row.params:
            good += 1
            continue
        formulas = "; ".join(f for f in (messages.param_formula(r) for r in recs) if f)
        causes.append(Cause("param_count", match.row.label))
        layers = ", ".join(messages.layer_name(r) for r in recs) or _("no layer")
        problems.append(_("Row '{row}' ({layers}): {count:,} parameters, the table needs {needed:,}.",
                          row=match.row.label, layers=layers, count=count, needed=match.row.params)
                        + (f" {formulas}." if formulas else ""))
    checked += 1
    total_ok, want = _total_wanted(spec, total)
    good += total_ok
    if not total_ok:
        problems.append(_("In total your model has {total:,} parameters; the assignment needs {want}.",
                          total=total, want=want))
        causes.append(Cause("param_total"))
    status = "pass" if not problems else "fail"
    head = _("{total:,} parameters in total (needs {want}).", total=total, want=want) if not problems else \
        _("Parameter counts differ:")
    if unreached:
        problems.append(n_("Row {rows}: not counted one by one, because forward() stopped before reaching it (see "
                           "'shapes'); the total counts every layer.",
                           "Rows {rows}: not counted one by one, because forward() stopped before reaching them "
                           "(see 'shapes'); the total counts every layer.", len(unreached),
                           rows=", ".join(repr(u) for u in unreached)))
    return _result(spec, "params", status, "\n".join([head, *problems]), good / checked, asdict(ParamsDetails(total)),
                   causes=causes)


def _total_wanted(spec: Spec, total: int) -> tuple[bool, str]:
    """(whether ``total`` parameters is what the spec asks, what it asks in words)."""
    if spec.params_total is not None:
        return total == spec.params_total, f"{spec.params_total:,}"
    if spec.params_min is not None and spec.params_max is not None:
        return (spec.params_min <= total <= spec.params_max,
                _("between {low:,} and {high:,}", low=spec.params_min, high=spec.params_max))
    return True, _("any number")


@check("batch")
def check_batch(spec: Spec, ctx: ModelContext) -> CheckResult:
    """The forward works for unusual batch sizes: catches x.view(batch_size, -1) and wrong view(-1, N)."""
    if ctx.model is None or stubbed(ctx):
        return _no_model(spec, "batch", ctx)
    if ctx.forward_error and not _fails_at_batch_only(ctx):
        return _result(spec, "batch", "skip", _("Skipped: the forward fails at batch {batch} already (see "
                                                "'shapes'); other batch sizes are tried once it runs.", batch=ctx.batch))
    found = [problem for problem in (_batch_problem(spec, ctx, batch) for batch in spec.batch_sizes) if problem]
    finding = ctx.batch_finding
    if finding is not None and not found:
        place = messages.where(finding.source)
        fields = {"batch": ctx.batch, "place": place, "reason": finding.reason}
        found.append((_("Your forward only works for a batch of {batch} images ({place}): {reason}. Keep the batch "
                        "dimension free: x.view(x.size(0), -1) or torch.flatten(x, 1), never a fixed number or a "
                        "global batch_size.", **fields) if place else
                      _("Your forward only works for a batch of {batch} images: {reason}. Keep the batch dimension "
                        "free: x.view(x.size(0), -1) or torch.flatten(x, 1), never a fixed number or a global "
                        "batch_size.", **fields), Cause("batch_fixed")))
    if found:
        return _result(spec, "batch", "fail", "\n".join(text for text, _cause in found),
                       causes=list(dict.fromkeys(cause for _text, cause in found)))
    sizes = ", ".join(map(str, spec.batch_sizes))
    return _result(spec, "batch", "pass", _("The forward returns (B, {num_classes}) for B = {sizes}.",
                                            num_classes=spec.num_classes, sizes=sizes))


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
        return (_("With a batch of {batch} images, {layer} turns {before} into {after}: the first dimension must "
                  "stay the batch ({batch}). Flatten with x.view(x.size(0), -1) or torch.flatten(x, 1), never a "
                  "fixed number or a global batch_size.", batch=batch, layer=messages.layer_name(lost),
                  before=messages.fmt_shape(lost.input_shape), after=messages.fmt_shape(lost.output_shape)),
                Cause("batch_fixed", _row_of(spec, ctx, lost.name)))
    if exc is not None:
        crash = messages.crash_finding(exc, trace_text(ctx, exc, in_flight), in_flight, records, batch,
                                       ctx.sub.skipped_names)
        layer = str(in_flight["name"]) if in_flight else ""
        return (_("With a batch of {batch} images your forward fails:\n{crash}", batch=batch, crash=crash.text),
                Cause(crash.code, _row_of(spec, ctx, layer) if layer else ""))
    return (_("With a batch of {batch} images your forward returns {shape}, expected [{batch}, {num_classes}].",
              batch=batch, shape=shape, num_classes=spec.num_classes), Cause("batch_output_shape"))


def _row_of(spec: Spec, ctx: ModelContext, name: str) -> str:
    """The label of the table row that holds the recorded layer ``name``, else ``name`` itself."""
    for match in aligned(spec, ctx).rows:
        if any(rec is not None and rec.name == name for _kind, rec, _row in match.layers):
            return match.row.label
    return name


@check("output")
def check_output(spec: Spec, ctx: ModelContext) -> CheckResult:
    """Output convention: log-probabilities (exp sums to 1 per image) or logits, as the spec asks."""
    if ctx.model is None or ctx.output is None:
        return _result(spec, "output", "skip", _("Skipped: the forward pass did not complete (see 'shapes')."))
    out = ctx.output
    if isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[0] != ctx.batch:
        return _result(spec, "output", "skip", _("Skipped: the forward returns {shape} for a batch of {batch}, not "
                                                 "(B, {num_classes}) (see 'shapes').",
                                                 shape=messages.fmt_shape(list(out.shape), ctx.batch),
                                                 batch=ctx.batch, num_classes=spec.num_classes))
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        return _failed(spec, "output", _("The forward returns {type} {shape}; expected a (B, {num_classes}) tensor.",
                                         type=type(out).__name__,
                                         shape=list(out.shape) if isinstance(out, torch.Tensor) else "",
                                         num_classes=spec.num_classes), "output_not_tensor")
    if not torch.isfinite(out).all():
        return _failed(spec, "output", _("The output holds NaN or infinite values."), "output_not_finite")
    sums = out.exp().sum(dim=1)
    is_log_probs = bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-3)) and bool((out <= 1e-5).all())
    is_probs = bool(torch.allclose(out.sum(dim=1), torch.ones_like(sums), atol=1e-3)) and bool((out >= 0).all())
    if spec.output == "log_probs":
        if is_log_probs:
            return _result(spec, "output", "pass", _("The outputs are log-probabilities (exp sums to 1 per image)."))
        if is_probs:
            return _failed(spec, "output", _("The outputs are probabilities (softmax), not log-probabilities. "
                                             "NLLLoss needs F.log_softmax(x, dim=1) at the end of forward()."),
                           "output_probabilities")
        return _failed(spec, "output", _("The outputs are not log-probabilities: exp(output) sums to {total:.3g} for "
                                         "the first image instead of 1. End forward() with F.log_softmax(x, dim=1) "
                                         "(this assignment trains with NLLLoss).", total=sums[0].item()),
                       "output_not_log_probs")
    if is_probs:
        return _failed(spec, "output", _("The outputs are probabilities (softmax); this assignment expects logits: "
                                         "CrossEntropyLoss applies log_softmax itself. Remove the softmax."),
                       "output_probabilities")
    if is_log_probs:
        return _result(spec, "output", "pass", _("The outputs are log-probabilities (exp sums to 1 per image), where "
                                                 "this assignment expects logits. That still trains the same: "
                                                 "CrossEntropyLoss applies log_softmax, which leaves "
                                                 "log-probabilities as they are."))
    return _result(spec, "output", "pass", _("The outputs are logits (CrossEntropyLoss applies log_softmax itself)."))


@check("determinism")
def check_determinism(spec: Spec, ctx: ModelContext) -> CheckResult:
    """Two eval-mode passes on the same input give the same output (dropout off in eval)."""
    if ctx.model is None or ctx.output is None:
        return _result(spec, "determinism", "skip", _("Skipped: the forward pass did not complete (see 'shapes')."))
    x = example_input(spec, ctx.batch)
    with torch.no_grad():
        first, second = ctx.model.eval()(x), ctx.model.eval()(x)
    if torch.equal(first, second):
        return _result(spec, "determinism", "pass", _("Two passes in eval mode give identical outputs."))
    return _failed(spec, "determinism", _("Two passes in eval mode give different outputs: something random stays "
                                          "on in eval mode. F.dropout(x, p) defaults to training=True: pass "
                                          "training=self.training, or use nn.Dropout."), "nondeterministic")


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
        return _failed(spec, "activations", _("{name}.__init__ takes no '{arg}' argument: the assignment builds it "
                                              "with {arg} = {options}.", name=ctx.class_name, arg=arg,
                                              options=" / ".join(map(repr, options))), "activation_arg_missing")
    problems, fine = [], []
    probe = example_input(spec, 2)
    for option in options:
        problem = _activation_problem(spec, ctx, option, probe)
        if problem is None:
            fine.append(repr(option))
        else:
            problems.append(problem)
    if problems:
        return _result(spec, "activations", "fail", "\n\n".join(text for text, _cause in problems)
                       + ("\n\n" + _("{arg} = {options} work.", arg=arg, options=", ".join(fine)) if fine else ""),
                       fraction=len(fine) / len(options), causes=[cause for _text, cause in problems])
    return _result(spec, "activations", "pass", _("{name} builds and runs with {arg} = {options}.",
                                                  name=ctx.class_name, arg=arg, options=", ".join(fine)))


def _activation_problem(spec: Spec, ctx: ModelContext, option, probe: torch.Tensor) -> tuple[str, Cause] | None:
    """What goes wrong with the class built with activation ``option`` and run on ``probe`` (2 images), and its
    cause (at the option); None when it builds, runs, returns (2, classes) and uses the activation."""
    arg, where = spec.activations["arg"], str(option)
    assert ctx.variant is not None  # set wherever the spec has activations
    call, built = ctx.variant(option)
    if isinstance(built, str):
        return _("{call} failed:\n{error}", call=call, error=built), Cause("activation_build_error", where)
    records, output, exc, in_flight = built(probe)
    if exc is not None:
        text = trace_text(ctx, exc, in_flight)
        return (_("{call}: forward() failed:\n{crash}", call=call, crash=messages.crash_text(
                    exc, text, in_flight, records, 2, ctx.sub.skipped_names)),
                Cause("activation_forward_error", where))
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, spec.num_classes):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        return (_("{call} returns {shape}, not (2, {num_classes}).", call=call, shape=shape,
                  num_classes=spec.num_classes), Cause("activation_output_shape", where))
    kind = ACTIVATION_KINDS.get(str(option).lower())
    if kind and not any(r.kind == kind for r in records):
        used = sorted({r.kind for r in records if r.kind in ACTIVATION_KINDS.values()})
        fields = {"call": call, "kind": kind, "used": ", ".join(used), "arg": arg}
        return (_("{call} runs, but no {kind} is in it (its activations: {used}): your class takes {arg} but does "
                  "not use it. Build each activation from {arg}.", **fields) if used else
                _("{call} runs, but no {kind} is in it: your class takes {arg} but does not use it. Build each "
                  "activation from {arg}.", **fields), Cause("activation_ignored", where))
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
        file, colon, line = ctx.cls_file.rpartition(":")
        place = _("{file} line {line}", file=file, line=line) if colon else ctx.cls_file
        notes.append(_("model class: {name} ({place})", name=ctx.class_name, place=place))
    if len(ctx.considered) > 1:
        total, graded = len(spec.rows), " " + _("(graded)")
        entries = [_("{name} {rows} of {total} row shapes", name=c["name"], rows=c["rows"], total=total)
                   + (graded if c["chosen"] else "") + (f" ({c['problem']})" if c["problem"] and not c["chosen"] else "")
                   for c in ctx.considered]
        notes.append(_("classes considered: {classes}", classes="; ".join(entries)))
    return results, notes, ctx
