"""The judge's view of an exported model: rebuilt from data, run by a small interpreter, recorded layer by layer.

:func:`load_graph` turns what the sandboxed child sent (:class:`grader.inspection.export.ExportedModel`'s header
and weight bytes) into a :class:`GraphModel`. Weights are read with ``torch.load(weights_only=True)``; every node
must call an ATen operator (looked up by name in ``torch.ops.aten``) or one of a few ``operator`` functions for
size arithmetic. Nothing else resolves, so the bytes cannot name a Python function to run.

A :class:`GraphModel` is an ``nn.Module``: its parameters and buffers carry the student's names (``conv1.weight``),
so a best.pt loads into it with ``load_state_dict`` as into the student's class, and the quiz's re-evaluation runs
it like any model. :meth:`GraphModel.record` runs the graph once and groups its operators into the
:class:`~grader.inspection.recorder.LayerRecord` items the model checks read: one per call of a leaf module, one per
layer-like function called in ``forward`` (``F.relu``, ``x.view``). Shapes are those the judge computes here.
"""
from __future__ import annotations

import io
import operator
import re

import torch
import torch.nn as nn

from grader.i18n import _
from grader.inspection.recorder import LayerRecord
from grader.judge.ops import ALLOWED_OPS, WeightUse, check_budget, check_weights, refused_op

OPERATORS = {name: getattr(operator, name) for name in (
    "add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "pow", "getitem", "eq", "ne", "lt", "le", "gt", "ge")}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NODES = 20000

# ATen operator name -> the table's word for the layer it computes.
OP_KINDS = {
    "conv2d": "Conv2d", "convolution": "Conv2d", "_convolution": "Conv2d", "linear": "Linear", "addmm": "Linear",
    "relu": "ReLU", "relu_": "ReLU", "leaky_relu": "LeakyReLU", "leaky_relu_": "LeakyReLU", "sigmoid": "Sigmoid",
    "tanh": "Tanh", "elu": "ELU", "gelu": "GELU", "silu": "SiLU", "max_pool2d": "MaxPool2d",
    "max_pool2d_with_indices": "MaxPool2d", "avg_pool2d": "AvgPool2d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
    "adaptive_max_pool2d": "AdaptiveMaxPool2d", "dropout": "Dropout", "native_dropout": "Dropout",
    "feature_dropout": "Dropout2d", "alpha_dropout": "Dropout", "flatten": "Flatten", "view": "Flatten",
    "reshape": "Flatten", "_unsafe_view": "Flatten", "log_softmax": "LogSoftmax", "_log_softmax": "LogSoftmax",
    "softmax": "Softmax", "_softmax": "Softmax", "batch_norm": "BatchNorm2d",
    "_native_batch_norm_legit_no_training": "BatchNorm2d", "native_batch_norm": "BatchNorm2d",
}
# How a function call in forward() is named in the feedback, as the student would have written it.
CALL_NAMES = {"view": "x.view", "_unsafe_view": "x.view", "reshape": "x.reshape", "flatten": "torch.flatten",
              "addmm": "F.linear", "_log_softmax": "F.log_softmax", "_softmax": "F.softmax"}


class GraphError(ValueError):
    """What the child sent is not a graph the judge accepts; the message says why."""


def _resolve(target: str, line: str = ""):
    parts = target.split(".")
    if len(parts) == 2 and parts[0] == "operator" and parts[1] in OPERATORS:
        return OPERATORS[parts[1]]
    if len(parts) != 3 or parts[0] != "aten" or not all(NAME.match(p) and not p.startswith("__") for p in parts[1:]):
        raise _not_aten(target)
    if parts[1] not in ALLOWED_OPS:
        raise refused_op(parts[1], line)
    try:
        op = getattr(getattr(torch.ops.aten, parts[1]), parts[2])
    except (AttributeError, RuntimeError):
        raise _not_aten(target) from None
    if not isinstance(op, torch._ops.OpOverload):
        raise _not_aten(target)
    return op


def _not_aten(target: str) -> GraphError:
    return GraphError(_("the graph names {target}, which is not an ATen operator", target=repr(target)))


def _enum(kind: str, name):
    value = getattr(torch, name, None) if isinstance(name, str) and NAME.match(name) else None
    wanted = {"dtype": torch.dtype, "layout": torch.layout, "memory_format": torch.memory_format}[kind]
    if not isinstance(value, wanted):
        raise GraphError(_("unknown {kind} {name}", kind=kind, name=repr(name)))
    return value


class _Ref:
    """An argument that is another node's value."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _decode(value, defined: set[str]):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, defined) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (kind, inner), = value.items()
        if kind == "node":
            if inner not in defined:
                raise GraphError(_("a node uses {node} before it is defined", node=repr(inner)))
            return _Ref(inner)
        if kind == "device":
            return torch.device("cpu")
        if kind in ("dtype", "layout", "memory_format"):
            return _enum(kind, inner)
    raise GraphError(_("an argument of an unknown form: {value}", value=str(value)[:80]))


def _resolve_refs(value, env: dict):
    if isinstance(value, _Ref):
        return env[value.name]
    if isinstance(value, list):
        return [_resolve_refs(v, env) for v in value]
    return value


class Node:
    """One validated node of the graph."""

    __slots__ = ("op", "name", "fn", "args", "kwargs", "module", "line", "weight", "op_name")

    def __init__(self, op, name, fn=None, args=(), kwargs=None, module=None, line="", weight=None, op_name=""):
        self.op, self.name, self.fn, self.args, self.kwargs = op, name, fn, args, kwargs or {}
        self.module, self.line, self.weight, self.op_name = module, line, weight, op_name


def _nodes(header: dict, weight_names: set[str]) -> list[Node]:
    raw = header.get("nodes")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_NODES:
        raise GraphError(_("the graph has no nodes, or too many"))
    nodes: list[Node] = []
    defined: set[str] = set()
    inputs = 0
    for item in raw:
        if not isinstance(item, dict):
            raise GraphError(_("a node is not a record"))
        op = item.get("op")
        if op == "output":
            nodes.append(Node("output", "output", args=_decode(item.get("args"), defined)))
            break
        name = item.get("name")
        if not isinstance(name, str) or not NAME.match(name) or name in defined:
            raise GraphError(_("bad node name {name}", name=repr(name)))
        if op == "placeholder":
            weight = item.get("weight")
            if weight is None:
                inputs += 1
            elif weight not in weight_names:
                raise GraphError(_("the graph reads a weight {weight} that was not sent", weight=repr(weight)))
            nodes.append(Node("placeholder", name, weight=weight))
        elif op == "call":
            target = item.get("target")
            if not isinstance(target, str):
                raise GraphError(_("a call without a target"))
            module = item.get("module")
            if module is not None and not (isinstance(module, dict) and all(
                    isinstance(module.get(k), str) for k in ("key", "path", "type"))):
                raise GraphError(_("a node's module label is malformed"))
            raw_line = item.get("line")
            line = raw_line[:300] if isinstance(raw_line, str) else ""
            kwargs = item.get("kwargs") or {}
            if not isinstance(kwargs, dict):
                raise GraphError(_("a node's keyword arguments are malformed"))
            nodes.append(Node("call", name, _resolve(target, line), _decode(item.get("args") or [], defined),
                              {str(k): _decode(v, defined) for k, v in kwargs.items()}, module, line,
                              op_name=target.split(".")[1]))
        else:
            raise GraphError(_("a node of unknown kind {kind}", kind=repr(op)))
        defined.add(name)
    if inputs != 1 or not nodes or nodes[-1].op != "output":
        raise GraphError(_("the graph must take one input and end in an output"))
    return nodes


def _restore_stand_in(nodes: list[Node], path, labels: dict, weight_names: set[str]) -> None:
    """Turn the node that stood in for the Linear at ``path`` (see grader.inspection.export.export_model) back into
    that Linear: ``aten.linear`` of what reaches it with its own weights. Run on the student's input, it fails as the
    student's forward does; whatever the child claimed, the judge computes what the layer computes."""
    label = labels.get(path) if isinstance(path, str) else None
    if not isinstance(label, dict) or label.get("type") != "Linear" or not label.get("leaf"):
        raise GraphError(_("the layer standing in is not a leaf Linear of the model"))
    scoped = [n for n in nodes if n.op == "call" and n.module and n.module["path"] == path]
    tensors = [n for n in scoped if n.op_name not in ("sym_size", "sym_numel") and n.fn not in OPERATORS.values()]
    holders = {n.weight: n.name for n in nodes if n.op == "placeholder" and n.weight is not None}
    if [n.op_name for n in tensors] != ["sum", "expand", "clone"] or f"{path}.weight" not in holders \
            or not tensors[0].args or not isinstance(tensors[0].args[0], _Ref):
        raise GraphError(_("the stand-in for {path} is not in the graph as expected", path=path))
    bias = holders.get(f"{path}.bias")
    node = tensors[-1]
    node.fn, node.op_name, node.kwargs = torch.ops.aten.linear.default, "linear", {}
    node.args = [tensors[0].args[0], _Ref(holders[f"{path}.weight"]), _Ref(bias) if bias else None]
    if f"{path}.bias" in weight_names and bias is None:
        raise GraphError(_("the stand-in for {path} lost its bias", path=path))


def _shape(value) -> list[int] | None:
    return list(value.shape) if isinstance(value, torch.Tensor) else None


def _bound(node: Node, env: dict) -> dict:
    """The node's arguments by schema name, defaults filled in (for layer configurations)."""
    schema = getattr(node.fn, "_schema", None)
    if schema is None:
        return {}
    args = _resolve_refs(node.args, env)
    kwargs = {k: _resolve_refs(v, env) for k, v in node.kwargs.items()}
    bound = {}
    for index, argument in enumerate(schema.arguments):
        if index < len(args):
            bound[argument.name] = args[index]
        elif argument.name in kwargs:
            bound[argument.name] = kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
    return bound


def _pair(value):
    value = list(value) if isinstance(value, (list, tuple)) else [value, value]
    return value * 2 if len(value) == 1 else value


def _config(node: Node, env: dict) -> dict:
    """The numbers that decide a layer's output shape, read from the operator's own arguments."""
    kind = OP_KINDS.get(node.op_name)
    b = _bound(node, env)
    if kind == "Conv2d" and isinstance(b.get("weight"), torch.Tensor) and b["weight"].dim() == 4:
        weight, groups = b["weight"], int(b.get("groups") or 1)
        padding = b.get("padding", 0)
        return {"in_channels": int(weight.shape[1]) * groups, "out_channels": int(weight.shape[0]),
                "kernel_size": list(weight.shape[2:]), "stride": _pair(b.get("stride", 1)),
                "padding": padding if isinstance(padding, str) else _pair(padding),
                "dilation": _pair(b.get("dilation", 1))}
    if kind == "Linear":
        weight = b.get("weight", b.get("mat2"))
        if isinstance(weight, torch.Tensor) and weight.dim() == 2:
            out, inp = weight.shape if node.op_name == "linear" else weight.shape[::-1]
            return {"in_features": int(inp), "out_features": int(out)}
    if kind in ("MaxPool2d", "AvgPool2d"):
        kernel = _pair(b.get("kernel_size", 2))
        stride = b.get("stride") or kernel
        return {"kernel_size": kernel, "stride": _pair(stride), "padding": _pair(b.get("padding", 0)),
                "dilation": _pair(b.get("dilation", 1)), "ceil_mode": bool(b.get("ceil_mode", False))}
    return {}


def _flatten_kind(before: list[int] | None, after: list[int] | None) -> str:
    """A view/reshape/flatten counts as the table's Flatten only when it turns (B, ...) into (B, N)."""
    if before is None or after is None or before == after:
        return "Reshape"
    # (B, C, H, W) -> (B, C*H*W), or everything flattened, batch included (torch.flatten(x): the flatten row's mistake)
    return "Flatten" if (len(after) == 2 and len(before) > 2) or (len(after) == 1 and len(before) > 1) else "Reshape"


class GraphModel(nn.Module):
    """The exported model, run from data (see module docstring)."""

    def __init__(self, header: dict, tensors: dict[str, torch.Tensor]):
        super().__init__()
        kinds = header.get("tensor_kinds") or {}
        if not isinstance(kinds, dict) or set(kinds) != set(tensors):
            raise GraphError(_("the weights sent do not match the graph's list of weights"))
        self.graph_nodes = _nodes(header, set(tensors))
        modules = header.get("modules") or {}
        self.module_labels = modules if isinstance(modules, dict) else {}
        if header.get("stand_in"):
            _restore_stand_in(self.graph_nodes, header["stand_in"], self.module_labels, set(tensors))
        self.batch_dynamic = bool(header.get("batch_dynamic", True))
        self.example_batch = int(header.get("example_batch") or 0)
        self.tensor_kinds = {}
        for name, tensor in tensors.items():
            kind = kinds[name]
            if kind not in ("parameter", "buffer", "constant") or not NAME.match(name.replace(".", "_")):
                raise GraphError(_("bad weight {name}", name=repr(name)))
            owner, _sep, leaf = name.rpartition(".")
            module: nn.Module = self
            for part in owner.split(".") if owner else ():
                if part not in module._modules:
                    module.add_module(part, nn.Module())
                module = module._modules[part]  # type: ignore[assignment]  # added just above
            if kind == "parameter":
                module.register_parameter(leaf, nn.Parameter(tensor, requires_grad=False))
            else:
                module.register_buffer(leaf, tensor, persistent=kind == "buffer")
            self.tensor_kinds[name] = kind
        check_weights(_weight_uses(self.graph_nodes, tensors, kinds),
                      {path for path, label in self.module_labels.items() if isinstance(label, dict) and label.get("leaf")})
        calls = [(n.op_name, _numbers([n.args, list(n.kwargs.values())]), n.line) for n in self.graph_nodes
                 if n.op == "call" and n.fn not in OPERATORS.values() and n.op_name not in ("sym_size", "sym_numel")]
        layers = {name.rpartition(".")[0] for name, kind in kinds.items() if kind == "parameter"}
        check_budget(calls, sum(t.numel() for name, t in tensors.items() if kinds[name] == "constant"), len(layers))
        self.has_convolutions = any(n.op_name in ("conv2d", "convolution", "_convolution") for n in self.graph_nodes)

    def _weights(self) -> dict[str, torch.Tensor]:
        return {**dict(self.named_parameters()), **dict(self.named_buffers())}

    def _run(self, x, on_node=None):
        weights, env = self._weights(), {}
        for node in self.graph_nodes:
            if node.op == "placeholder":
                env[node.name] = weights[node.weight] if node.weight is not None else x
            elif node.op == "call":
                args = _resolve_refs(node.args, env)
                kwargs = {k: _resolve_refs(v, env) for k, v in node.kwargs.items()}
                if node.op_name == "sym_size":
                    env[node.name] = args[0].size(args[1])  # traced as a size, not a constant
                elif node.op_name == "sym_numel":
                    env[node.name] = args[0].numel()
                else:
                    env[node.name] = node.fn(*args, **kwargs)
                if on_node is not None:
                    on_node(node, env)
            else:
                outputs = _resolve_refs(node.args, env)
                return outputs[0] if len(outputs) == 1 else tuple(outputs)
        raise GraphError(_("the graph has no output"))

    def forward(self, x):
        return self._run(x)

    def parameter_count(self) -> int:
        """The number of trainable parameters, counted from the weights."""
        return sum(p.numel() for p in self.parameters())

    def record(self, x: torch.Tensor):
        """(records, output, exception, layer in flight) for one eval-mode run of ``x``, as the recorder gives."""
        builder = _RecordBuilder(self)
        try:
            with torch.no_grad():
                output = self._run(x, builder.on_node)
            builder.flush()
            return builder.records, output, None, None
        except Exception as exc:  # noqa: BLE001 - a graph that fails at this batch size fails like the model
            in_flight = builder.in_flight()
            if in_flight is None or in_flight.get("functional"):
                builder.flush()
            # else the layer that failed is not recorded, as the live recorder records a layer once it returned
            return builder.records, None, exc, in_flight


class _RecordBuilder:
    """Groups the operators of one run into layer records, as they are computed."""

    def __init__(self, model: GraphModel):
        self.model = model
        self.records: list[LayerRecord] = []
        self.group: list[tuple[Node, list[int] | None]] = []
        self.group_key = None
        self.pending: Node | None = None
        self.env: dict = {}

    def _leaf(self, node: Node) -> dict | None:
        module = node.module
        if module is None:
            return None
        label = self.model.module_labels.get(module["path"])
        return module if isinstance(label, dict) and label.get("leaf") else None

    def on_node(self, node: Node, env: dict) -> None:
        self.env = env
        if not isinstance(env.get(node.name), torch.Tensor):
            return  # size arithmetic, not a layer
        leaf = self._leaf(node)
        if leaf is not None:
            if self.group_key != leaf["key"]:
                self.flush()
                self.group_key = leaf["key"]
            self.group.append((node, self._input_shape(node, env)))
            return
        self.flush()
        self._functional(node, env)

    def _input_shape(self, node: Node, env: dict):
        first = node.args[0] if node.args else None
        value = env.get(first.name) if isinstance(first, _Ref) else None
        return _shape(value)

    def _functional(self, node: Node, env: dict) -> None:
        kind = OP_KINDS.get(node.op_name)
        if kind is None or kind == "Conv2d" and node.op_name != "conv2d":
            return
        before, after = self._input_shape(node, env), _shape(env[node.name])
        if kind == "Flatten":
            kind = _flatten_kind(before, after)
        name = CALL_NAMES.get(node.op_name, f"F.{node.op_name.rstrip('_')}")
        self._add(kind, name, node.line, before, after, 0, _config(node, env), None)

    def _add(self, kind, name, source, before, after, params, config, module_id):
        self.records.append(LayerRecord(len(self.records), kind, name, source, before, after, params, config,
                                        module_id))

    def flush(self) -> None:
        if not self.group:
            return
        nodes = [n for n, _shape in self.group]
        module = nodes[0].module
        label = self.model.module_labels.get(module["path"], {})
        type_name = str(label.get("type") or module["type"])
        op_kind = next((OP_KINDS[n.op_name] for n in nodes if n.op_name in OP_KINDS), None)
        kind = type_name if op_kind is None or type_name.startswith(op_kind.rstrip("0123456789d")) else op_kind
        after = _shape(self.env.get(nodes[-1].name))
        before = self.group[0][1]
        if op_kind == "Flatten" and kind == "Flatten":
            kind = "Flatten" if _flatten_kind(before, after) == "Flatten" else type_name
        used = {r.name for n in nodes for r in _refs(n.args)}
        params = sum(self.model.get_parameter(w).numel() for w in self._weights_of(used)
                     if self.model.tensor_kinds[w] == "parameter")
        main = next((n for n in nodes if n.op_name in OP_KINDS), nodes[0])
        self._add(kind, module["path"], str(label.get("site") or ""), before, after, params,
                  _config(main, self.env), module["path"])
        self.group, self.group_key = [], None

    def _weights_of(self, used: set[str]) -> list[str]:
        return [n.weight for n in self.model.graph_nodes if n.op == "placeholder" and n.weight and n.name in used]

    def in_flight(self) -> dict | None:
        """The layer that was running when the graph failed: its module when it is a leaf's; for a function
        (``x.view``) only its line, marked ``functional``; None when nothing failed."""
        done = set(self.env)
        failed = next((n for n in self.model.graph_nodes if n.op == "call" and n.name not in done), None)
        if failed is None:
            return None
        leaf = self._leaf(failed)
        if leaf is None:
            return {"name": "", "kind": "", "source": "", "input_shape": None, "config": {}, "line": failed.line,
                    "functional": True}
        label = self.model.module_labels.get(leaf["path"], {})
        input_shape = self.group[0][1] if self.group and self.group_key == leaf["key"] else \
            self._input_shape(failed, self.env)
        return {"name": leaf["path"], "kind": str(label.get("type") or leaf["type"]),
                "source": str(label.get("site") or ""), "input_shape": input_shape,
                "config": _config(failed, self.env), "line": failed.line}


def _weight_uses(nodes: list[Node], tensors: dict[str, torch.Tensor], kinds: dict) -> list[WeightUse]:
    """Every tensor the graph reads besides its input, with the calls that read it (directly)."""
    holder = {n.name: n.weight for n in nodes if n.op == "placeholder" and n.weight is not None}
    uses = {name: WeightUse(name, str(kinds[name]), tensors[name].numel(), list(tensors[name].shape), [])
            for name in tensors}
    for node in nodes:
        if node.op != "call":
            continue
        for ref in _refs([node.args, list(node.kwargs.values())]):
            if ref.name in holder:
                path = node.module["path"] if node.module else ""
                uses[holder[ref.name]].readers.append((node.op_name, path, node.line))
    return list(uses.values())


def _numbers(value) -> int:
    """How many numbers (not booleans, not other nodes' values) are written into an argument."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, (int, float)):
        return 1
    if isinstance(value, list):
        return sum(_numbers(item) for item in value)
    return 0


def _refs(value):
    if isinstance(value, _Ref):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def load_graph(header: dict, weights: bytes) -> GraphModel:
    """The :class:`GraphModel` the child sent; GraphError when the data is not an acceptable graph.

    The weights are read with ``torch.load(weights_only=True, map_location="cpu")`` and must be a flat
    ``{name: tensor}`` dict.
    """
    try:
        tensors = torch.load(io.BytesIO(weights), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - the safe loader refuses in several ways
        raise GraphError(_("the weights could not be read safely ({error})", error=type(exc).__name__)) from None
    if not isinstance(tensors, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                for k, v in tensors.items()):
        raise GraphError(_("the weights are not a {form} dict", form="{name: tensor}"))
    return GraphModel(header, tensors)


def meta_graph(header: dict) -> GraphModel:
    """The graph with weights of the right shapes but no data (``device="meta"``): for shapes alone."""
    shapes = header.get("tensor_shapes")
    if not isinstance(shapes, dict):
        raise GraphError(_("the graph lists no weight shapes"))
    tensors = {}
    for name, entry in shapes.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], list)
                and all(isinstance(d, int) and 0 <= d < 2**31 for d in entry[0])):
            raise GraphError(_("bad shape for {name}", name=repr(name)))
        tensors[str(name)] = torch.empty(entry[0], dtype=_enum("dtype", entry[1]), device="meta")
    return GraphModel(header, tensors)
