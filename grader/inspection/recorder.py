"""Inspect a student's model: find the class, build it, and record every layer of one forward pass.

The recorder is separate from the printer (as in torchinfo): it produces :class:`LayerRecord` items, and
``grader.inspection.checks`` turns them into feedback. Modules are recorded with forward hooks on leaf modules;
functional calls (``F.relu``, ``F.max_pool2d``, ``torch.flatten``, ``x.view``...) are recorded by a
TorchFunctionMode when they run outside any leaf module, so both styles of writing a network count alike.
"""
from __future__ import annotations

import math
import sys
import types
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

# Functional names -> the layer kind a table speaks of.
FUNCTIONAL_KINDS = {
    "relu": "ReLU", "relu_": "ReLU", "leaky_relu": "LeakyReLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
    "elu": "ELU", "gelu": "GELU", "silu": "SiLU", "max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d",
    "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "adaptive_max_pool2d": "AdaptiveMaxPool2d",
    "dropout": "Dropout", "dropout2d": "Dropout2d", "feature_dropout": "Dropout2d", "alpha_dropout": "Dropout",
    "flatten": "Flatten", "view": "Flatten", "reshape": "Flatten", "log_softmax": "LogSoftmax",
    "softmax": "Softmax", "conv2d": "Conv2d", "linear": "Linear", "batch_norm": "BatchNorm2d",
}
# Kinds that neither change the shape nor hold parameters: an extra one is a warning, not a failure.
BENIGN_KINDS = {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "GELU", "SiLU", "Dropout", "Dropout2d",
                "Identity", "Reshape", "Softmax"}


@dataclass
class LayerRecord:
    """One recorded layer call."""

    index: int
    kind: str  # the table's word for it: Conv2d, ReLU, MaxPool2d, Flatten, Linear...
    name: str  # the student's attribute path ("conv1", "features.3") or the function ("F.relu")
    source: str  # "model.py:12": where the module was created, or where the function was called
    input_shape: list[int] | None
    output_shape: list[int] | None
    params: int = 0
    config: dict = field(default_factory=dict)  # kernel_size, stride, padding, in/out features...
    module_id: int | None = None  # identity of the module, for counting shared parameters once

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("module_id")
        return data


def module_config(module: nn.Module) -> dict:
    """The constructor arguments that decide a layer's output shape, as plain numbers."""
    def pair(v):
        return list(v) if isinstance(v, (tuple, list)) else [v, v]
    if isinstance(module, nn.Conv2d):
        return {"in_channels": module.in_channels, "out_channels": module.out_channels,
                "kernel_size": pair(module.kernel_size), "stride": pair(module.stride),
                "padding": pair(module.padding) if not isinstance(module.padding, str) else module.padding,
                "dilation": pair(module.dilation)}
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        stride = module.stride if module.stride is not None else module.kernel_size
        return {"kernel_size": pair(module.kernel_size), "stride": pair(stride), "padding": pair(module.padding),
                "dilation": pair(getattr(module, "dilation", 1)), "ceil_mode": bool(module.ceil_mode)}
    if isinstance(module, nn.Linear):
        return {"in_features": module.in_features, "out_features": module.out_features}
    return {}


def _functional_config(name: str, args, kwargs) -> dict:
    if name != "max_pool2d" and name != "avg_pool2d":
        return {}
    def pick(pos, key, default):
        if key in kwargs:
            return kwargs[key]
        return args[pos] if len(args) > pos else default
    def pair(v):
        return list(v) if isinstance(v, (tuple, list)) else [v, v]
    kernel = pick(1, "kernel_size", 2)
    stride = pick(2, "stride", None) or kernel
    return {"kernel_size": pair(kernel), "stride": pair(stride), "padding": pair(pick(3, "padding", 0)),
            "dilation": pair(pick(4, "dilation", 1) if name == "max_pool2d" else 1),
            "ceil_mode": bool(pick(5, "ceil_mode", False))}


class CreationSites:
    """While active, remembers where (student file and line) each nn.Module was created."""

    def __init__(self, student_files: set[str]):
        self.student_files = student_files
        self.sites: dict[int, str] = {}
        self._keep: list[nn.Module] = []

    def __enter__(self):
        original = nn.Module.__init__
        sites, files, keep = self.sites, self.student_files, self._keep

        def init(module, *args, **kwargs):
            original(module, *args, **kwargs)
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename in files:
                    sites.setdefault(id(module), f"{frame.f_code.co_filename}:{frame.f_lineno}")
                    keep.append(module)  # keeps ids unique while we hold them
                    break
                frame = frame.f_back

        self._original = original
        nn.Module.__init__ = init
        return self

    def __exit__(self, *exc):
        nn.Module.__init__ = self._original
        return False


def _student_site(student_files: set[str]) -> str:
    frame: types.FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename in student_files:
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _shape(value) -> list[int] | None:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return list(value[0].shape)
    return None


class _FunctionalRecorder(TorchFunctionMode):
    def __init__(self, recorder: Recorder):
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        rec = self.recorder
        name = getattr(func, "__name__", "")
        if rec.depth == 0 and name in FUNCTIONAL_KINDS and isinstance(result, torch.Tensor) and args:
            before = _shape(args[0])
            kind = FUNCTIONAL_KINDS[name]
            if name in ("view", "reshape", "flatten"):
                after = list(result.shape)
                if before == after:
                    kind = "Reshape"
                elif not (before is not None and ((len(after) == 2 and len(before) > 2)
                                                  or (len(after) == 1 and len(before) > 1))):
                    kind = "Reshape"  # a (B, C, H, W) -> (B, C*H*W) flatten, or one that took the batch with it
            owner = getattr(func, "__qualname__", "")
            prefix = "x." if owner.startswith("TensorBase") else ("torch." if owner.startswith("_Variable") else "F.")
            rec.add(kind, f"{prefix}{name}", _student_site(rec.student_files), before, list(result.shape),
                    config=_functional_config(name, args, kwargs))
        return result


class Recorder:
    """Records the layers of a forward pass of ``model`` (see module docstring)."""

    def __init__(self, model: nn.Module, student_files: set[str], sites: dict[int, str]):
        self.model = model
        self.student_files = student_files
        self.sites = sites
        self.records: list[LayerRecord] = []
        self.depth = 0
        self.in_flight: list[tuple[str, nn.Module, list[int] | None]] = []
        self.names = {id(m): n for n, m in model.named_modules()}

    def add(self, kind, name, source, input_shape, output_shape, params=0, config=None, module_id=None):
        self.records.append(LayerRecord(len(self.records), kind, name, source, input_shape, output_shape, params,
                                        config or {}, module_id))

    def run(self, x: torch.Tensor):
        """Run the forward pass in eval mode under no_grad, recording; exceptions propagate (records so far stay)."""
        # the model itself is never a layer, even with no children yet (a `def init` typo left it empty)
        leaves = [m for m in self.model.modules() if m is not self.model and not list(m.children())]
        handles = []
        for module in leaves:
            handles.append(module.register_forward_pre_hook(self._pre))
            handles.append(module.register_forward_hook(self._post))
        self.model.eval()
        try:
            with torch.no_grad(), _FunctionalRecorder(self):
                return self.model(x)
        finally:
            for handle in handles:
                handle.remove()

    def _pre(self, module, inputs):
        self.depth += 1
        self.in_flight.append((self.names.get(id(module), type(module).__name__), module, _shape(inputs)))

    def _post(self, module, inputs, output):
        self.depth -= 1
        name, _, input_shape = self.in_flight.pop()
        params = sum(p.numel() for p in module.parameters(recurse=False))
        self.add(type(module).__name__, name, self.sites.get(id(module), ""), input_shape, _shape(output), params,
                 module_config(module), id(module))


def record_forward(model: nn.Module, x: torch.Tensor, student_files: set[str], sites: dict[int, str]):
    """(records, output, exception, module in flight when it failed) for one eval-mode forward of ``x``."""
    recorder = Recorder(model, student_files, sites)
    try:
        output = recorder.run(x)
        return recorder.records, output, None, None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the student's forward may raise anything
        flight = None
        if recorder.in_flight:
            name, module, input_shape = recorder.in_flight[-1]
            flight = {"name": name, "kind": type(module).__name__, "source": sites.get(id(module), ""),
                      "input_shape": input_shape, "config": module_config(module)}
        return recorder.records, None, exc, flight


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False) -> int:
    """O = floor((I - D*(K-1) - 1 + 2P) / S) + 1, which for D = 1 is floor((I - K + 2P) / S) + 1."""
    top = size + 2 * padding - dilation * (kernel - 1) - 1
    return (math.ceil(top / stride) if ceil else top // stride) + 1
