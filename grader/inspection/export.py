"""Export the student's model as data, in the sandboxed child: an ATen graph plus its weights.

``torch.export`` traces the built model with a dynamic batch dimension. The result is written out in the grader's
own plain format (:class:`ExportedModel`): a JSON list of nodes naming ATen operators by string, and the weights
as a ``torch.save`` of a flat ``{name: tensor}`` dict, which the judge reads with ``weights_only=True``. The judge
(:mod:`grader.judge.graph`) rebuilds the graph from an allow-list of operators, so nothing in those bytes is ever
executed as Python. ``torch.export.save``/``load`` are not used: ``load`` falls back to unpickling and evaluates
symbolic expressions through sympy, which untrusted bytes must never reach.

The graph's metadata (module paths, the student's source lines) only labels the feedback; every shape, count and
output the grade rests on is computed again by the judge.
"""
from __future__ import annotations

import contextlib
import io
import logging
import operator
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from grader.i18n import _

OPERATOR_NAMES = {getattr(operator, n): n for n in (
    "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pow", "getitem", "eq", "ne", "lt", "le", "gt", "ge")}
BATCH_DIM_MAX = 4096


class ExportFailed(Exception):
    """The model could not be exported; ``str()`` is the reason, for the report and the fallback flag."""


@dataclass
class BatchFinding:
    """The export had to fix the batch size: the forward only works for one batch size."""

    reason: str  # what torch.export said, shortened
    source: str = ""  # the student's line that fixed it, "file:line", when it could be found


@dataclass
class ExportedModel:
    """A model as data: nodes (JSON-able), module labels, and the weights' bytes."""

    nodes: list[dict]
    modules: dict[str, dict]  # module path -> {"type": "Conv2d", "site": "model.py:12", "leaf": bool}
    weights: bytes  # torch.save({name: tensor}) of parameters, buffers and constants
    example_batch: int
    batch_dynamic: bool = True
    batch_finding: BatchFinding | None = None
    tensor_kinds: dict[str, str] = field(default_factory=dict)  # weight name -> parameter / buffer / constant
    tensor_shapes: dict[str, list] = field(default_factory=dict)  # weight name -> [shape, dtype name]
    stand_in: str = ""  # the Linear the forward fails in, exported standing in (see export_model)

    def header(self) -> dict:
        """Everything but the weights, as plain data."""
        return {"nodes": self.nodes, "modules": self.modules, "example_batch": self.example_batch,
                "batch_dynamic": self.batch_dynamic, "tensor_kinds": self.tensor_kinds,
                "tensor_shapes": self.tensor_shapes, "stand_in": self.stand_in,
                "batch_finding": None if self.batch_finding is None else
                {"reason": self.batch_finding.reason, "source": self.batch_finding.source}}


def _encode(value):
    """One argument of a node as JSON: node references, numbers, strings, lists and torch enums."""
    if isinstance(value, torch.fx.Node):
        return {"node": value.name}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"device": "cpu"}
    if isinstance(value, torch.layout):
        return {"layout": str(value).removeprefix("torch.")}
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).removeprefix("torch.")}
    raise ExportFailed(_("the graph holds a {type} argument, which the grader cannot judge", type=type(value).__name__))


def _target_name(target) -> str:
    if isinstance(target, torch._ops.OpOverload):
        namespace = target.namespace
        if namespace != "aten":
            op = f"{namespace}::{target._opname}"
            raise ExportFailed(_("the graph calls {op}, outside the ATen operators the grader judges", op=op))
        return f"aten.{target._opname}.{target._overloadname}"
    if target in OPERATOR_NAMES:
        return f"operator.{OPERATOR_NAMES[target]}"
    raise ExportFailed(_("the graph calls {op}, which the grader cannot judge (a higher-order operator or Python "
                         "function)", op=repr(getattr(target, "__name__", target))))


def _student_line(stack_trace: str | None, student_files: set[str]) -> str:
    """The last frame of ``stack_trace`` that is the student's code, as "file:line"."""
    found = ""
    for match in re.finditer(r'File "([^"]+)", line (\d+)', stack_trace or ""):
        if match.group(1) in student_files:
            found = f"{match.group(1)}:{match.group(2)}"
    return found


def _innermost(node: torch.fx.Node) -> tuple[str, str, str] | None:
    """(call key, module path, module type) of the innermost module a node ran in, or None at the top level."""
    stack = node.meta.get("nn_module_stack") or {}
    if len(stack) <= 1:
        return None
    key, (path, type_name) = list(stack.items())[-1]
    type_name = type_name if isinstance(type_name, str) else getattr(type_name, "__qualname__", str(type_name))
    return key, str(path).removeprefix("L['self'].").removeprefix("L__self__"), type_name.rsplit(".", 1)[-1]


def module_table(model: nn.Module, sites: dict[int, str]) -> dict[str, dict]:
    """Labels for the feedback: type, creation site and leafness of every submodule, by path."""
    return {name: {"type": type(module).__name__, "site": sites.get(id(module), ""),
                   "leaf": not any(True for _child in module.children())}
            for name, module in model.named_modules() if name}


def _batch_line(text: str, student_files: set[str]) -> str:
    """The student's line a specialization error points at, "file:line", or ""."""
    for match in re.finditer(r'File "?([^",]+)"?, line (\d+)', text):
        if match.group(1) in student_files:
            return f"{match.group(1)}:{match.group(2)}"
    for name in student_files:
        for match in re.finditer(re.escape(name) + r":(\d+)", text):
            return f"{name}:{match.group(1)}"
    return ""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first[:300]}"


def _trace(model: nn.Module, example: torch.Tensor, dynamic: bool):
    from torch.export import Dim, export

    # torch logs the student's failing forward at ERROR level before raising it; the report says it once.
    logging.getLogger("torch._subclasses.fake_tensor").setLevel(logging.CRITICAL)

    shapes = ({0: Dim("batch", min=1, max=BATCH_DIM_MAX)},) if dynamic else None
    # What the student's forward prints while traced shows symbolic sizes (torch.Size([s77, 1, 28, 28])): the
    # recording already ran it on real images, and that output is the one the report keeps.
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return export(model, (example,), dynamic_shapes=shapes, strict=False)


@contextmanager
def _standing_in(model: nn.Module, path: str):
    """While tracing, the Linear at ``path`` returns a tensor of its output's shape made from its input (``sum``,
    ``expand``, ``clone``, in its own module scope), so the rest of the forward traces; its weights stay in the model.
    The judge turns that ``clone`` back into the layer's own ``aten.linear`` of the ``sum``'s input."""
    layer = model.get_submodule(path)
    width = layer.out_features

    def stand_in(x, *args, **kwargs):
        return x.sum(dim=-1, keepdim=True).expand(*x.shape[:-1], width).clone()

    layer.forward = stand_in  # type: ignore[method-assign]
    try:
        yield
    finally:
        del layer.forward


def _lifted_tensors(program) -> tuple[dict[str, str], dict[str, str], dict[str, torch.Tensor]]:
    """(weight name -> parameter / buffer / constant, placeholder -> weight name, weight name -> tensor) of an
    exported program; ExportFailed for an input of another kind."""
    signature = program.graph_signature
    kinds, names = {}, {}
    for spec in signature.input_specs:
        kind = spec.kind.name.lower()
        if kind == "user_input":
            continue
        if kind not in ("parameter", "buffer", "constant_tensor"):
            raise ExportFailed(_("the model has a {kind} input, which the grader cannot judge", kind=kind))
        names[spec.arg.name] = spec.target
        kinds[spec.target] = "constant" if kind == "constant_tensor" else kind
    tensors = {}
    for target, kind in kinds.items():
        value = program.constants[target] if kind == "constant" else program.state_dict.get(target)
        if value is None:  # a non-persistent buffer lives among the constants
            value = program.constants.get(target)
        if not isinstance(value, torch.Tensor):
            raise ExportFailed(_("{name} is not a tensor", name=target))
        tensors[target] = value.detach().clone().contiguous()
    return kinds, names, tensors


def _encoded_nodes(program, names: dict[str, str], student_files: set[str]) -> list[dict]:
    """The program's graph as the judge reads it: placeholders, ATen calls named by string, the output."""
    nodes = []
    for node in program.graph.nodes:
        if node.op == "placeholder":
            entry = {"op": "placeholder", "name": node.name}
            if node.name in names:
                entry["weight"] = names[node.name]
            nodes.append(entry)
        elif node.op == "call_function":
            place = _innermost(node)
            nodes.append({"op": "call", "name": node.name, "target": _target_name(node.target),
                          "args": _encode(list(node.args)),
                          "kwargs": {k: _encode(v) for k, v in node.kwargs.items()},
                          "module": None if place is None else {"key": place[0], "path": place[1], "type": place[2]},
                          "line": _student_line(node.meta.get("stack_trace"), student_files)})
        elif node.op == "output":
            nodes.append({"op": "output", "args": _encode(list(node.args[0]) if isinstance(node.args[0], (list, tuple))
                                                          else [node.args[0]])})
        else:
            raise ExportFailed(_("the graph has a {op} node ({target}), which the grader cannot judge", op=node.op,
                                 target=node.target))
    return nodes


def export_model(model: nn.Module, example: torch.Tensor, student_files: set[str],
                 sites: dict[int, str], stand_in: str = "") -> ExportedModel:
    """Export ``model`` (in eval mode) traced on ``example``; ExportFailed saying why when it cannot be done.

    The batch dimension is dynamic when the forward allows it. When only a fixed batch size traces (a
    ``view(64, -1)``), the graph is exported for ``example``'s batch and carries a :class:`BatchFinding`.

    ``stand_in`` names a leaf ``nn.Linear`` whose input does not fit it (the forward raises there, so no tracer can
    follow it): the model is exported with that layer standing in (see :func:`_standing_in`), so that the judge runs
    the layer itself on what reaches it and fails there as the student's model does.
    """
    if stand_in:
        if type(model.get_submodule(stand_in)) is not nn.Linear:  # a subclass may fail for its own reasons
            raise ExportFailed(_("{name} is not an nn.Linear", name=stand_in))
        with _standing_in(model, stand_in):
            exported = export_model(model, example, student_files, sites)
        exported.stand_in = stand_in
        return exported
    model.eval()
    finding = None
    try:
        program = _trace(model, example, dynamic=True)
    except Exception as exc:  # noqa: BLE001 - the student's forward may raise anything while traced
        text = str(exc)
        if "batch" not in text and "Constraints violated" not in text and "specializ" not in text.lower():
            raise ExportFailed(_short(exc)) from None
        try:
            program = _trace(model, example, dynamic=False)
        except Exception as static_exc:  # noqa: BLE001
            raise ExportFailed(_short(static_exc)) from None
        reason = next((line.strip() for line in text.splitlines() if "batch" in line and line.strip()), _short(exc))
        finding = BatchFinding(reason[:300], _batch_line(text, student_files))
    kinds, names, tensors = _lifted_tensors(program)
    nodes = _encoded_nodes(program, names, student_files)
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    shapes = {name: [list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in tensors.items()}
    return ExportedModel(nodes, module_table(model, sites), buffer.getvalue(), int(example.shape[0]),
                         finding is None, finding, kinds, shapes)
