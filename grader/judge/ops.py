"""What the judge agrees to run: the operators of CNN courses, and weights that belong to recorded layers.

Public interface:

* :data:`ALLOWED_OPS`: the ATen operators (by name, any overload) that the nn layers and F functions of the
  specs, the reference solutions and the test corpus export to. The judge runs nothing else.
* :data:`MAX_CONSTANT_ELEMENTS`: how many numbers the graph may hold outside best.pt (normalization's mean and std).
* :class:`RefusedGraph`: a graph the judge will not run, with the flag ``kind`` and a message for the student.
* :func:`refused_op`: the refusal of an operator outside the list.
* :func:`check_weights`: refuses tensors that are not the parameters and buffers of the model's own layers.
* :func:`check_budget`: refuses a graph that holds more numbers of its own, or more operators, than a course's
  network needs (a second network written into the graph itself, as literals or as a maze of operators).

Why an allow-list: the graph is written by the process that ran the student's code, so it may name any operator.
Some ATen operators trust their arguments (sparse constructors with unchecked invariants, storage access) and can
write outside a tensor's memory. A model built from nn layers never needs them.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader.i18n import _
from grader.report import REFUSAL_KINDS

# Operators that compute a layer from its weights: a weight may be read by these, inside its own layer.
LAYER_OPS = frozenset({
    "conv2d", "conv1d", "linear", "batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm",
    "layer_norm", "group_norm", "instance_norm", "prelu", "_prelu_kernel",
    # an nn.Linear traced as these (older exports), and the stand-in for a Linear whose input does not fit
    "t", "addmm", "mm", "sum", "expand", "clone",
})
# Operators that compute on activations alone (activations, pooling, dropout, reshaping, simple arithmetic).
PURE_OPS = frozenset({
    "relu", "relu_", "relu6", "leaky_relu", "leaky_relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "elu", "elu_",
    "selu", "selu_", "celu", "gelu", "silu", "silu_", "mish", "hardtanh", "hardtanh_", "hardswish", "hardsigmoid",
    "softplus", "log_sigmoid", "max_pool2d", "max_pool2d_with_indices", "max_pool1d", "avg_pool2d", "avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool1d", "dropout", "dropout_", "feature_dropout",
    "feature_dropout_", "alpha_dropout", "feature_alpha_dropout", "native_dropout", "flatten", "view", "reshape",
    "_unsafe_view", "squeeze", "squeeze_", "unsqueeze", "permute", "transpose", "contiguous", "alias", "detach",
    "log_softmax", "_log_softmax", "softmax", "_softmax", "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_",
    "neg", "pow", "sqrt", "rsqrt", "exp", "log", "abs", "clamp", "clamp_", "clamp_min", "mean", "amax", "max",
    "cat", "stack", "select", "slice", "split", "chunk", "unbind", "dim", "sym_size", "sym_numel",
    "sym_stride", "to", "_to_copy", "type_as", "lift_fresh_copy", "zeros", "ones", "zeros_like", "ones_like",
    "full", "scalar_tensor", "repeat",
})
ALLOWED_OPS = LAYER_OPS | PURE_OPS
MAX_CONSTANT_ELEMENTS = 64
# Operators whose numeric arguments enter the computation (not shapes, dims or strides): each such number is one
# the graph holds outside best.pt, as a constant's element is.
NUMERIC_OPS = frozenset({"add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "pow", "clamp",
                         "clamp_", "clamp_min", "full", "scalar_tensor", "leaky_relu", "leaky_relu_", "elu", "elu_",
                         "celu", "hardtanh", "hardtanh_", "softplus"})
NODES_PER_LAYER, NODES_BASE = 4, 32  # operators a graph may hold: a course's network uses 1 to 3 per layer
PARAMETER_NAMES = ("weight", "bias")
BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")
HIDDEN_WEIGHTS, REFUSED_OPERATOR = REFUSAL_KINDS[:2]


@dataclass
class RefusedGraph(ValueError):
    """A graph the judge will not run. ``kind`` is the instructor's flag (:data:`HIDDEN_WEIGHTS` or
    :data:`REFUSED_OPERATOR`), ``text`` the student's message, ``evidence`` the tensors or operator concerned."""

    kind: str
    text: str
    evidence: list[str]

    def __str__(self) -> str:
        return self.text


def _at(line: str) -> str:
    return " " + _("(your line {line})", line=line) if line else ""


def refused_op(op_name: str, line: str) -> RefusedGraph:
    """The refusal of ``aten.<op_name>``, which is not in :data:`ALLOWED_OPS`, called at the student's ``line``."""
    return RefusedGraph(REFUSED_OPERATOR, _(
        "your model calls the operator aten.{op}{at}, which the grader does not run: a course's network is built from "
        "nn layers (nn.Conv2d, nn.Linear, nn.MaxPool2d, ...) and F functions (F.relu, F.max_pool2d, torch.flatten, "
        "...). Use those instead.", op=op_name, at=_at(line)), ["aten." + op_name])


@dataclass
class WeightUse:
    """One tensor the graph reads besides its input: its name, kind, size, and the calls that read it."""

    name: str
    kind: str  # parameter, buffer or constant
    numel: int
    shape: list[int]
    readers: list[tuple[str, str, str]]  # (operator name, module path or "", the student's line)


def check_weights(uses: list[WeightUse], leaves: set[str]) -> None:
    """Raise :class:`RefusedGraph` (kind :data:`HIDDEN_WEIGHTS`) unless every tensor the graph reads is either a
    parameter (``weight``/``bias``) or running statistic of a leaf layer in ``leaves``, read only inside that
    layer, or one of a few small constants (at most :data:`MAX_CONSTANT_ELEMENTS` numbers in all).

    The parameters and buffers are those best.pt replaces when the quiz loads it; anything else would compute with
    numbers the checkpoint, the parameter count and the integrity flags never see."""
    bad: list[tuple[str, str]] = []  # (the tensor's name, its line)
    constants = [use for use in uses if use.kind == "constant"]
    if sum(use.numel for use in constants) > MAX_CONSTANT_ELEMENTS:
        bad += [_describe(use, _("a tensor held as a plain attribute or made in forward(), not a layer's parameter"))
                for use in constants]
    for use in uses:
        if use.kind == "constant":
            continue
        owner, _sep, leaf = use.name.rpartition(".")
        names = PARAMETER_NAMES if use.kind == "parameter" else BUFFER_NAMES
        parameter = use.kind == "parameter"
        if owner not in leaves or leaf not in names:
            bad.append(_describe(use, _("a parameter that belongs to no layer of the table's kinds") if parameter
                                 else _("a buffer that belongs to no layer of the table's kinds")))
        elif any(path != owner for _op, path, _line in use.readers):
            bad.append(_describe(use, _("{owner}'s parameter, read outside {owner}", owner=owner) if parameter
                                 else _("{owner}'s buffer, read outside {owner}", owner=owner)))
    if bad:
        raise RefusedGraph(HIDDEN_WEIGHTS, "\n".join([
            _("your model computes with tensors that are not the parameters of its layers, so neither best.pt nor the "
              "parameter count holds them:"),
            *(f"  - {line}" for _name, line in bad[:6]),
            _("Keep every weight in an nn layer (nn.Conv2d, nn.Linear, nn.BatchNorm2d) and call the layer in "
              "forward(). Small constants (at most {max} numbers, such as normalization's mean and std) are fine.",
              max=MAX_CONSTANT_ELEMENTS)]), [name for name, _line in bad][:10])


def _describe(use: WeightUse, what: str) -> tuple[str, str]:
    """(the tensor's name, the line that says what it is and which call reads it)."""
    reader = use.readers[0] if use.readers else ("", "", "")
    shape = str(tuple(use.shape))
    if not reader[0]:
        return use.name, f"{use.name} {shape}: {what}"
    return use.name, _("{tensor} {shape}: {what}, used by aten.{op}{at}", tensor=use.name, shape=shape, what=what,
                       op=reader[0], at=_at(reader[2]))


def check_budget(calls: list[tuple[str, int, str]], constant_numbers: int, layers: int) -> None:
    """Raise :class:`RefusedGraph` (kind :data:`HIDDEN_WEIGHTS`) when the graph computes with more of its own
    numbers than :data:`MAX_CONSTANT_ELEMENTS` (its constants' elements plus the numbers written into the arguments
    of :data:`NUMERIC_OPS`), or holds more operators than ``NODES_BASE + NODES_PER_LAYER * layers``.

    ``calls``: (operator name, numbers in its arguments, the student's line) per operator call, size arithmetic
    left out; ``layers``: the model's layers that hold weights (in best.pt)."""
    numbers = constant_numbers + sum(count for op, count, _line in calls if op in NUMERIC_OPS)
    if numbers > MAX_CONSTANT_ELEMENTS:
        lines = sorted({line for op, count, line in calls if op in NUMERIC_OPS and count and line})
        fields = {"numbers": numbers, "max": MAX_CONSTANT_ELEMENTS, "lines": ", ".join(lines[:4])}
        raise RefusedGraph(HIDDEN_WEIGHTS, _(
            "your model computes with {numbers} numbers written into forward() or held outside its layers (constants, "
            "and numbers such as the 0.5 of x * 0.5), more than the {max} a course's network needs (normalization's "
            "mean and std), so neither best.pt nor the parameter count holds them: {lines}. Keep every weight in an nn "
            "layer.", **fields) if lines else _(
            "your model computes with {numbers} numbers written into forward() or held outside its layers (constants, "
            "and numbers such as the 0.5 of x * 0.5), more than the {max} a course's network needs (normalization's "
            "mean and std), so neither best.pt nor the parameter count holds them. Keep every weight in an nn layer.",
            **fields), [_("{n} numbers outside best.pt", n=numbers)])
    allowed = NODES_BASE + NODES_PER_LAYER * layers
    if len(calls) > allowed:
        raise RefusedGraph(HIDDEN_WEIGHTS, _(
            "your model's forward() runs {operations} operations for {layers} layers with weights, more than the "
            "{allowed} a network of the assignment's table needs: a computation this long beside the layers is not "
            "graded. Build the network from nn layers and call each once in forward().", operations=len(calls),
            layers=layers, allowed=allowed), [_("{n} operations", n=len(calls))])
