"""Choose the class to grade among every nn.Module class a submission defines: by what it is, not its name alone.

Interface:
    choose_class(spec, sub, batch) -> Choice      the class to grade, why, and every candidate considered
    Candidate                                     one class: rows of the table its forward reproduces, its problem
    name_rank(spec, name) -> tuple | None         how well a class name matches the spec's list (lower is better)
    constructor_problem(spec, cls) -> str         why the class cannot be built as the assignment builds it, or ""

The rule (docs/checks.md, "Which class is graded"):
1. a class the spec pins (``model_class``), else a class the student marks with ``# grader: model``;
2. else the class whose forward reproduces the most rows of the table, when it reproduces a clear share of the
   rows that tell networks apart (rows shaped (B, num_classes) do not: every classifier ends with one);
3. else the class whose name the spec lists (exactly, then as a part: SimpleVGG for VGG), so a stub of the
   assignment's class is graded as that class and told what to fill in;
4. else any class whose forward returns (B, num_classes).

Each candidate is built and run on the meta device (shapes only, no arithmetic: a few milliseconds, even for a
VGG), and on the CPU when the meta device cannot run it. Runs student code: call it in the sandboxed child only.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from grader.i18n import _, n_
from grader.inspection.budget import PhaseTimeout, phase_budget, remaining
from grader.inspection.load import Submission
from grader.inspection.recorder import record_forward
from grader.report import exception_line
from grader.spec import Spec

MIN_TELLING_SHARE = 0.25  # of the rows that tell networks apart, the share a class must reproduce to win on shape
MIN_TELLING_ROWS = 2
CANDIDATE_SECONDS = 5.0  # one class that is slow to build or run is left out, not the whole check...
CANDIDATE_SHARE = 0.25  # ...and never takes more than this share of what the load phase has left


@dataclass
class Candidate:
    """One nn.Module class of the submission, as the choice saw it."""

    name: str
    module: str
    cls: type = field(repr=False)
    site: str = ""  # "model.py:12"
    order: int = 0  # definition order across the submission
    rows: int = 0  # table rows whose output shape its forward produces, in order
    telling: int = 0  # of those, the rows not shaped (B, num_classes)
    params: int | None = None
    problem: str = ""  # why it did not build or run to the end, in one line
    rank: tuple | None = None  # name_rank
    marked: bool = False

    def summary(self, total_rows: int) -> str:
        """'SimpleVGG: 16 of 16 row shapes' (the report's notes add each candidate's problem)."""
        return _("{name}: {rows} of {total} row shapes", name=self.name, rows=self.rows, total=total_rows)


@dataclass
class Choice:
    """The chosen candidate (None when there is nothing to grade), why, and every class considered."""

    chosen: Candidate | None
    why: str
    considered: list[Candidate]


def student_classes(sub: Submission) -> list[tuple[str, type, str]]:
    """(name, class, module) of every nn.Module subclass the student's code defines, in definition order."""
    found = []
    for module_name, module in sub.modules.items():
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module_name:
                found.append((name, obj, module_name))
    return found


def name_rank(spec: Spec, name: str) -> tuple | None:
    """(position in the spec's list, 0 for the exact name or 1 for a part of it), or None when no name fits."""
    ranks = []
    for index, wanted in enumerate(spec.classes):
        if name == wanted:
            ranks.append((index, 0))
        elif len(wanted) >= 3 and wanted.lower() in name.lower():
            ranks.append((index, 1))
    return min(ranks) if ranks else None


def init_kwargs(spec: Spec, cls: type, **override) -> dict:
    """The keyword arguments the class is built with: the spec's ``init_args`` (and ``override``) that its
    ``__init__`` accepts by name (all of them when it takes ``**kwargs``)."""
    wanted = {**spec.init_args, **override}
    if not wanted:
        return {}
    try:
        params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]  # the class's own __init__
    except (TypeError, ValueError):
        return wanted
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return wanted
    return {k: v for k, v in wanted.items() if k in params}


def call_text(cls: type, kwargs: dict) -> str:
    """How the grader calls the class, as the student would write it: ``VGG(model_code='VGG16', act='relu')``."""
    return f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def constructor_problem(spec: Spec, cls: type) -> str:
    """Why ``cls`` cannot be built as the assignment builds it (its ``__init__`` needs arguments the spec does not
    give), naming the student's ``__init__`` line; "" when the call fits the signature."""
    init = cls.__init__  # type: ignore[misc]
    if init is nn.Module.__init__:
        return ""
    try:
        signature = inspect.signature(init)
    except (TypeError, ValueError):
        return ""
    kwargs = init_kwargs(spec, cls)
    try:
        signature.bind(None, **kwargs)
        return ""
    except TypeError:
        pass
    needed = [n for n, p in list(signature.parameters.items())[1:] if p.default is inspect.Parameter.empty
              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n not in kwargs]
    try:
        lines, first = inspect.getsourcelines(init)
        place = " " + _("({file} line {line}: {code})", file=inspect.getsourcefile(init), line=first,
                        code=lines[0].strip())
    except (OSError, TypeError):
        place = ""
    fields = {"name": cls.__name__, "place": place, "needs": ", ".join(needed), "call": call_text(cls, kwargs),
              "first": needed[0] if needed else "", "given": ", ".join(spec.init_args),
              "named_call": call_text(cls, spec.init_args)}
    if spec.init_args:
        return _("{name}.__init__{place} needs {needs}, but the assignment builds your class as {named_call}, "
                 "passing each argument by name. Name your parameters as the assignment does, "
                 "def __init__(self, {given}), and build the layers from them.", **fields)
    return n_("{name}.__init__{place} needs {needs}, but the assignment builds your class with no arguments, as "
              "{call}. Give it a default (for example def __init__(self, {first}=10)), or build everything inside "
              "__init__.",
              "{name}.__init__{place} needs {needs}, but the assignment builds your class with no arguments, as "
              "{call}. Give each a default (for example def __init__(self, {first}=10)), or build everything inside "
              "__init__.", len(needed), **fields)


def _shape_rows(spec: Spec, shapes: list[list[int] | None], batch: int) -> tuple[int, int]:
    """(rows, telling rows) of the table whose output shapes appear in ``shapes`` in order (their longest common
    subsequence), with the batch written B."""
    expected = [[batch if d == "B" else d for d in row.shape] for row in spec.rows]
    telling = [shape != [batch, spec.num_classes] for shape in expected]
    n, m = len(expected), len(shapes)
    # best[i][j]: (rows, telling rows) matched between the first i rows and the first j shapes
    best = [[(0, 0)] * (m + 1) for _row in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            options = [best[i - 1][j], best[i][j - 1]]
            if shapes[j - 1] == expected[i - 1]:
                rows, tell = best[i - 1][j - 1]
                options.append((rows + 1, tell + telling[i - 1]))
            best[i][j] = max(options, key=lambda pair: (pair[1], pair[0]))
    return best[n][m]


def _run(spec: Spec, cls: type, batch: int, device: str) -> tuple[list[list[int] | None], int | None, str]:
    """(output shape of every recorded layer, parameter count, problem) of ``cls`` built and run on ``device``.

    What the class prints here is dropped: the report keeps what it prints when the graded class runs for real."""
    with torch.device(device), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            model = cls(**init_kwargs(spec, cls))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the student's __init__ may raise anything
            return [], None, _("{call} failed: {error}", call=call_text(cls, init_kwargs(spec, cls)),
                               error=exception_line(exc))
        params = sum(p.numel() for p in model.parameters()) if isinstance(model, nn.Module) else None
        x = torch.zeros((batch, *spec.input_shape))
        records, out, raised, _flight = record_forward(model, x, set(), {})
    shapes = [rec.output_shape for rec in records]
    stubs = [name for name, value in vars(model).items() if value is NotImplemented]
    if raised is not None and stubs:
        return shapes, params, _("still NotImplemented: {names}", names=", ".join(stubs))
    if raised is not None:
        return shapes, params, _("forward() stopped: {error}", error=exception_line(raised))
    if not (isinstance(out, torch.Tensor) and tuple(out.shape) == (batch, spec.num_classes)):
        found = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return shapes, params, _("returns {found}, not (B, {num_classes})", found=found, num_classes=spec.num_classes)
    return shapes, params, ""


def _evaluate(spec: Spec, cand: Candidate, batch: int) -> None:
    problem = constructor_problem(spec, cand.cls)
    if problem:
        cand.problem = _("needs arguments the assignment does not pass: {call}",
                         call=call_text(cand.cls, init_kwargs(spec, cand.cls)))
        return
    state = torch.get_rng_state()
    left = remaining()
    seconds = min(CANDIDATE_SECONDS, left * CANDIDATE_SHARE) if left is not None else CANDIDATE_SECONDS
    try:
        with phase_budget("candidate", seconds):
            shapes, params, problem = _run(spec, cand.cls, batch, "meta")
            if problem:  # the meta device cannot run data-dependent code (.item(), numpy): the CPU decides
                shapes, params, problem = _run(spec, cand.cls, batch, "cpu")
    except PhaseTimeout as exc:
        if exc.phase != "candidate":
            raise
        cand.problem = _("took over {seconds:.2g} s to build and run, so it was not compared", seconds=seconds)
        return
    finally:
        torch.set_rng_state(state)
    cand.rows, cand.telling = _shape_rows(spec, shapes, batch)
    cand.params, cand.problem = params, problem


def _param_distance(spec: Spec, cand: Candidate) -> float:
    if cand.params is None:
        return math.inf
    if spec.params_total is not None:
        return abs(cand.params - spec.params_total)
    if spec.params_min is not None and spec.params_max is not None:
        return max(spec.params_min - cand.params, cand.params - spec.params_max, 0)
    return 0.0


def _telling_rows(spec: Spec) -> int:
    return sum(1 for row in spec.rows if list(row.shape) != ["B", spec.num_classes])


def choose_class(spec: Spec, sub: Submission, batch: int) -> Choice:
    """The class of ``sub`` to grade against ``spec`` (see the module docstring for the rule), with why."""
    found = student_classes(sub)
    candidates = [Candidate(name, module, cls, sub.class_sites.get((module, name), ""), order,
                            rank=name_rank(spec, name), marked=(module, name) in sub.marked)
                  for order, (name, cls, module) in enumerate(found)]
    for cand in candidates:  # also when a pin decides: the report lists what each class is
        _evaluate(spec, cand, batch)
    pinned = spec.model_class
    if pinned:
        hits = [c for c in candidates if c.name == pinned]
        why = _("the assignment grades the class named {name}", name=pinned)
        return Choice(hits[-1] if hits else None, why, candidates)
    marked = [c for c in candidates if c.marked]
    if marked:
        return Choice(marked[-1], _("you marked it with # grader: model"), candidates)
    if not candidates:
        return Choice(None, "", candidates)
    return _by_what_it_is(spec, candidates)


def _by_what_it_is(spec: Spec, candidates: list[Candidate]) -> Choice:
    """Rules 2 to 4 of the module docstring: the closest forward, else the name, else any classifier."""
    total = len(spec.rows)

    def preference(c: Candidate):
        return (c.telling, c.rows, -(c.rank or (len(spec.classes), 2))[0], -(c.rank or (0, 2))[1],
                -_param_distance(spec, c), c.order)

    best = max(candidates, key=preference)
    named = min((c for c in candidates if c.rank is not None), key=lambda c: (c.rank, -c.telling, -c.order),
                default=None)
    threshold = max(MIN_TELLING_ROWS, math.ceil(MIN_TELLING_SHARE * _telling_rows(spec)))
    others = [c for c in candidates if c is not best]
    fields = {"rows": best.rows, "total": total, "n": len(candidates), "name": best.name,
              "rivals": "; ".join(c.summary(total) for c in others), "names": " / ".join(spec.classes),
              "summary": best.summary(total)}
    if best.telling >= threshold and (named is None or best.telling > named.telling or best is named):
        why = (_("its forward produces {rows} of the table's {total} row shapes, the closest of your {n} classes "
                 "({rivals})", **fields) if others else
               _("its forward produces {rows} of the table's {total} row shapes, and its name {name} is one the "
                 "assignment expects", **fields) if best.rank is not None else
               _("its forward produces {rows} of the table's {total} row shapes", **fields))
        return Choice(best, why, candidates)
    if named is not None:
        return Choice(named, _named_why(spec, named, candidates), candidates)
    if best.rows > 0:
        return Choice(best, _("no class is named {names}, and its forward produces the most of the table's row "
                              "shapes ({summary}; {rivals})", **fields) if others else
                      _("no class is named {names}, and its forward produces the most of the table's row shapes "
                        "({summary})", **fields), candidates)
    runs = [c for c in candidates if not c.problem]
    if runs:
        fields.update(name=runs[-1].name, shape=", ".join(map(str, spec.input_shape)), num_classes=spec.num_classes,
                      also=", ".join(c.name for c in runs[:-1]))
        return Choice(runs[-1], _("no class is named {names}, and {name} is an nn.Module that takes (B, {shape}) "
                                  "and returns (B, {num_classes}) (also fitting: {also}; the last defined was taken)",
                                  **fields) if len(runs) > 1 else
                      _("no class is named {names}, and {name} is an nn.Module that takes (B, {shape}) and returns "
                        "(B, {num_classes})", **fields), candidates)
    return Choice(None, "", candidates)


def _named_why(spec: Spec, named: Candidate, candidates: list[Candidate]) -> str:
    """Why the class the spec names is graded: its name, and (when others exist) that none matches the table."""
    total = len(spec.rows)
    rest = "; ".join(c.summary(total) for c in candidates if c is not named)
    fields = {"listed": ", ".join(spec.classes), "summary": named.summary(total), "rest": rest}
    if named.rank and named.rank[1] == 0:
        return (_("its name is one the assignment expects ({listed}), and no class of yours matches the table "
                  "closely ({summary}; {rest})", **fields) if rest else
                _("its name is one the assignment expects ({listed})", **fields))
    return (_("its name contains one the assignment expects ({listed}), and no class of yours matches the table "
              "closely ({summary}; {rest})", **fields) if rest else
            _("its name contains one the assignment expects ({listed})", **fields))
