"""What the model checks share, and the two records that cross the box's boundary.

Public interface:

* :class:`ModelContext`: the chosen class, the built model and its recording (built once per submission), and
  :func:`prepare` / :func:`record_model` / :func:`instantiate` / :func:`example_input` that build it.
* :class:`Observation`: what the observe stage sends (plain data), with :meth:`Observation.to_dict` and the strict
  :meth:`Observation.from_dict` (:class:`ObservationError` for an unknown, missing or mistyped field).
* :func:`observation_of` and :func:`context_of`: the two conversions, one place each, no field copied by hand
  elsewhere.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from grader.data.mnist import load_mnist, to_float
from grader.i18n import N_, _
from grader.inspection import messages
from grader.inspection.align import Alignment
from grader.inspection.choose import call_text, choose_class, constructor_problem, init_kwargs, student_classes
from grader.inspection.export import BatchFinding
from grader.inspection.hints import class_hints
from grader.inspection.load import Submission, student_traceback
from grader.inspection.recorder import CreationSites, LayerRecord, record_forward
from grader.report import exception_line
from grader.spec import Spec

DEFAULT_RECORD_BATCH = 4
# Markers kept in ModelContext.build_gist and the observation as they are (English); shown with _() (checks.py).
CONSTRUCTOR_GIST = N_("__init__ needs arguments the assignment does not pass")
REFUSED_GIST = N_("refused by the judge: it computes with what no layer holds, or calls an operator the grader does "
                  "not run")


@dataclass
class ModelContext:
    """What the model checks share: built once per submission."""

    sub: Submission
    spec: Spec | None = None
    cls: type | None = None
    cls_file: str = ""
    why: str = ""
    model: nn.Module | None = None
    build_error: str = ""
    build_gist: str = ""  # the exception the constructor raised, in one line
    build_cause: str = ""  # the typed cause of a build error no gist names (grader.report.CAUSES), if any
    forward_gist: str = ""  # the exception the forward raised, in one line
    forward_cause: str = ""  # its typed cause (a code of grader.report.CAUSES: in_features, view_shape...)
    failed_layer: dict | None = None  # the leaf layer the forward raised in ({name, kind, ...}), if any
    # trace_text(exc, in_flight) -> the student's traceback of a failed forward; default: from the live frames
    trace_text: Callable | None = None
    sites: dict = field(default_factory=dict)
    batch: int = DEFAULT_RECORD_BATCH
    student_batch_size: int | None = None  # the training batch size the student's code defines, if any
    alignment: Alignment | None = None  # the table's rows matched with the records, once for shapes and params
    records: list[LayerRecord] = field(default_factory=list)
    output: torch.Tensor | None = None
    forward_error: str = ""
    notes: list[str] = field(default_factory=list)
    class_name: str = ""
    call: str = ""  # how the class was built: "VGG(model_code='VGG16')"
    defined: list[str] = field(default_factory=list)  # every nn.Module class the student's code defines
    # record(x) -> (records, output, exception, layer in flight): the live model's recorder, or the judge's graph
    record: Callable | None = None
    # variant(option) -> (call text, a recorder or the text of why it could not be built), for 'activations'
    variant: Callable | None = None
    takes_activation_arg: bool = True
    batch_finding: BatchFinding | None = None  # an export that fixed the batch size
    load_errors: list[str] = field(default_factory=list)  # errors while loading the code, with their tracebacks
    considered: list[dict] = field(default_factory=list)  # every class the choice looked at: {name, rows, problem, chosen}
    stubs: list[str] = field(default_factory=list)  # attributes of the built model still set to NotImplemented
    hints: list[str] = field(default_factory=list)  # likely typos in the class (def init, super(Other, self))


class LiveModel:
    """The student's built model in this process, recorded with hooks (:func:`record_forward`)."""

    def __init__(self, model: nn.Module, student_files: set[str], sites: dict):
        self.model, self.student_files, self.sites = model, student_files, sites

    def record(self, x: torch.Tensor):
        return record_forward(self.model, x, self.student_files, self.sites)


def example_input(spec: Spec, batch: int) -> torch.Tensor:
    """Real validation images when the input is MNIST-shaped, else seeded uniform noise."""
    if tuple(spec.input_shape) == (1, 28, 28):
        return to_float(load_mnist(False).images[:batch])
    generator = torch.Generator().manual_seed(0)
    return torch.rand((batch, *spec.input_shape), generator=generator)


def instantiate(spec: Spec, cls: type, **override) -> nn.Module:
    """A fresh instance of the student's class built as the spec says (exceptions propagate)."""
    return cls(**init_kwargs(spec, cls, **override))


def _build(cls: type, ctx: ModelContext, **override) -> nn.Module | str:
    assert ctx.spec is not None
    if not override:
        problem = constructor_problem(ctx.spec, cls)
        if problem:
            ctx.build_gist = CONSTRUCTOR_GIST
            return problem
    with CreationSites(ctx.sub.student_files) as sites:
        try:
            model = instantiate(ctx.spec, cls, **override)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the student's __init__ may raise anything, sys.exit too
            text, _line, _file = student_traceback(exc, ctx.sub.student_files)
            ctx.build_gist = exception_line(exc)
            hints = "".join(f"{hint}\n" for hint in ctx.hints)
            return hints + messages.crash_text(exc, text, None, [], ctx.batch, ctx.sub.skipped_names)
    ctx.sites = sites.sites
    return model


def pick_class(spec: Spec, ctx: ModelContext) -> None:
    """Choose the student's model class by what it is (:func:`grader.inspection.choose.choose_class`)."""
    choice = choose_class(spec, ctx.sub, ctx.batch)
    ctx.considered = [{"name": c.name, "rows": c.rows, "problem": c.problem, "chosen": c is choice.chosen}
                      for c in choice.considered]
    if choice.chosen is not None:
        ctx.cls, ctx.why = choice.chosen.cls, choice.why
    elif choice.why:
        ctx.why = choice.why


def prepare(spec: Spec, sub: Submission, record: bool = True) -> ModelContext:
    """Pick, build and (unless ``record`` is False: see :func:`record_model`) record the student's model once, for
    all model checks."""
    ctx = ModelContext(sub, spec)
    batch_size = None
    for module in sub.modules.values():
        for name in ("batch_size", "BATCH_SIZE"):
            value = vars(module).get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1024:
                batch_size = value
    # Record at the student's own batch_size when they define one: the shapes check then judges the layers,
    # and the batch check alone judges a hard-coded batch size.
    ctx.batch = batch_size or DEFAULT_RECORD_BATCH
    ctx.student_batch_size = batch_size
    ctx.defined = [name for name, _cls, _module in student_classes(sub)]
    ctx.load_errors = [("\n" + _("{file} line {line}: {kind}: {message}", file=e.file, line=e.line, kind=e.kind,
                                  message=e.message) + "\n" + e.traceback).rstrip() for e in sub.errors]
    pick_class(spec, ctx)
    if ctx.cls is None:
        return ctx
    ctx.class_name = ctx.cls.__name__
    ctx.call = call_text(ctx.cls, init_kwargs(spec, ctx.cls))
    ctx.cls_file = sub.class_sites.get((ctx.cls.__module__, ctx.cls.__name__), "")
    ctx.hints = class_hints(ctx.cls_file, ctx.class_name)
    if spec.activations:
        ctx.takes_activation_arg = _takes(ctx.cls, spec.activations["arg"])
        ctx.variant = lambda option: _live_variant(spec, ctx, option)
    state = torch.get_rng_state()
    torch.manual_seed(0)  # the chosen class is built as if it were the only one
    built = _build(ctx.cls, ctx)
    torch.set_rng_state(state)
    if isinstance(built, str):
        ctx.build_error = built
        return ctx
    ctx.model = built
    ctx.stubs = [name for name, value in vars(built).items() if value is NotImplemented]
    if record:
        record_model(spec, ctx)
    return ctx


def trace_text(ctx: ModelContext, exc: BaseException, in_flight: dict | None) -> str:
    if ctx.trace_text is not None:
        return ctx.trace_text(exc, in_flight)
    return student_traceback(exc, ctx.sub.student_files)[0]


def record_model(spec: Spec, ctx: ModelContext) -> None:
    """Run the built model's forward once on the example input, recording each layer (no-op without a model)."""
    if ctx.model is None or ctx.record is not None:
        return
    sub = ctx.sub
    ctx.record = LiveModel(ctx.model, sub.student_files, ctx.sites).record
    records, output, exc, in_flight = ctx.record(example_input(spec, ctx.batch))
    ctx.records, ctx.output = records, output
    if exc is not None:
        ctx.failed_layer = in_flight
        text, _line, _file = student_traceback(exc, sub.student_files)
        crash = messages.crash_finding(exc, text, in_flight, records, ctx.batch, sub.skipped_names)
        ctx.forward_error, ctx.forward_cause = crash.text, crash.code
        ctx.forward_gist = exception_line(exc)


def _takes(cls: type, arg: str) -> bool:
    """Whether ``cls.__init__`` accepts ``arg`` by name (or any keyword)."""
    try:
        params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]  # the class's own __init__
    except (TypeError, ValueError):
        return True
    return not params or arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _live_variant(spec: Spec, ctx: ModelContext, option):
    """(call text, recorder or error text) of the student's class built with activation ``option``."""
    arg, cls = spec.activations["arg"], ctx.cls
    assert cls is not None  # a variant is asked for only of a built class
    call = call_text(cls, init_kwargs(spec, cls, **{arg: option}))
    built = _build(cls, ModelContext(ctx.sub, spec), **{arg: option})
    if isinstance(built, str):
        return call, built
    return call, LiveModel(built, ctx.sub.student_files, {}).record


@dataclass
class Observation:
    """What the sandboxed child saw, as plain data: labels and texts for the feedback, and the exported model.

    Nothing here is trusted for a grade: a failure it reports can only lower the student's own score, and
    everything a pass rests on is computed by the judge from ``graph`` and the submitted files.
    """

    student: str
    notes: list[str] = field(default_factory=list)
    class_name: str = ""
    class_file: str = ""
    why: str = ""
    call: str = ""
    defined: list[str] = field(default_factory=list)
    build_error: str = ""
    build_gist: str = ""  # the constructor's exception in one line
    errors: list[str] = field(default_factory=list)  # load errors with their tracebacks, for the 'class' check
    graph: dict | None = None  # ExportedModel.header(); its weights travel beside the observation
    takes_activation_arg: bool = True
    variants: dict = field(default_factory=dict)  # repr(option) -> {"call", "error" or "graph", "shapes"}
    timings: dict = field(default_factory=dict)
    considered: list[dict] = field(default_factory=list)  # every class the choice looked at (ModelContext.considered)
    stubs: list[str] = field(default_factory=list)  # attributes still NotImplemented

    def to_dict(self) -> dict:
        """The observation as JSON-able data (what the observe stage sends)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict) -> Observation:
        """The observation in ``data``; ObservationError naming the first field that is unknown, missing or of
        the wrong type (the data was written by the process that ran the student's code)."""
        if not isinstance(data, dict):
            raise ObservationError(_("not a record"))
        unknown = sorted(set(data) - set(OBSERVATION_TYPES))
        if unknown:
            raise ObservationError(_("unknown field {field}", field=repr(unknown[0])))
        if "student" not in data:
            raise ObservationError(_("field {field} is missing", field=repr("student")))
        for name, value in data.items():
            wanted = OBSERVATION_TYPES[name]
            if not (isinstance(value, wanted) or (value is None and name == "graph")) or isinstance(value, bool) \
                    and wanted is not bool:
                raise ObservationError(_("field {field} has the wrong type", field=repr(name)))
            if name in STRING_LISTS and isinstance(value, list) and not all(isinstance(v, str) for v in value):
                raise ObservationError(_("field {field} must list strings", field=repr(name)))
        return cls(**data)


class ObservationError(ValueError):
    """An observation that is not of :class:`Observation`'s shape."""


OBSERVATION_TYPES = {"student": str, "notes": list, "class_name": str, "class_file": str, "why": str, "call": str,
                     "defined": list, "build_error": str, "build_gist": str, "errors": list, "graph": dict,
                     "takes_activation_arg": bool, "variants": dict, "timings": dict, "considered": list,
                     "stubs": list}
STRING_LISTS = ("notes", "defined", "errors", "stubs")


def observation_of(ctx: ModelContext, student: str, notes: list[str]) -> Observation:
    """What the observe stage sends of ``ctx`` (the graph and variants are added once exported)."""
    return Observation(student, notes=list(notes), class_name=ctx.class_name, class_file=ctx.cls_file, why=ctx.why,
                       call=ctx.call, defined=list(ctx.defined), build_error=ctx.build_error,
                       build_gist=ctx.build_gist, errors=list(ctx.load_errors),
                       takes_activation_arg=ctx.takes_activation_arg, considered=list(ctx.considered),
                       stubs=list(ctx.stubs))


def context_of(obs: Observation, sub: Submission, spec: Spec, batch_size: int | None) -> ModelContext:
    """The judge's context of an observation: the submission's files as read by the judge, the class as named,
    the hints read from the source here (never taken from the observation). No model yet."""
    ctx = ModelContext(sub, spec, class_name=obs.class_name, cls_file=obs.class_file, why=obs.why, call=obs.call,
                       defined=list(obs.defined), build_error=obs.build_error, build_gist=obs.build_gist,
                       takes_activation_arg=obs.takes_activation_arg, student_batch_size=batch_size,
                       batch=batch_size or DEFAULT_RECORD_BATCH)
    ctx.load_errors = list(obs.errors)
    ctx.considered, ctx.stubs = list(obs.considered), list(obs.stubs)
    ctx.hints = class_hints(obs.class_file, obs.class_name)
    return ctx
