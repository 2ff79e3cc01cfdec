"""The forward pass and the loss of a validation pass: shared by the quiz's re-evaluation and the reference training.

:func:`inference_forward` runs a model in eval mode, through an inference-optimized copy (traced, frozen,
channels_last) wherever that copy reproduces the model's own outputs; :func:`validate` is the course's
``test()``: mean loss per image and accuracy on a split held in memory.
"""
from __future__ import annotations

import warnings
from copy import deepcopy

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.data.mnist import Split, to_float
from grader.errors import GraderError
from grader.i18n import _

VAL_BATCH_SIZE = 64  # the fastest evaluation batch for these models on a 2-core CPU (see docs/benchmarks.md)
DEVICES = ("auto", "cpu", "cuda")
_DEVICE = torch.device("cpu")  # where validate() runs: set by use_device() in the process that evaluates


class DeviceError(GraderError, ValueError):
    """A device that does not exist, or cuda where torch sees no GPU."""


def resolve_device(requested: str, cuda_available: bool | None = None) -> str:
    """``cpu`` or ``cuda`` for a requested ``auto``, ``cpu`` or ``cuda``: auto takes the GPU when torch sees one;
    cuda without one is an error saying so (never a silent CPU run)."""
    if requested not in DEVICES:
        raise DeviceError(_("unknown device {device}: one of {choices}", device=repr(requested),
                            choices=", ".join(DEVICES)))
    available = torch.cuda.is_available() if cuda_available is None else cuda_available
    if requested == "cuda" and not available:
        raise DeviceError(_("--device cuda, but torch sees no GPU here (torch.cuda.is_available() is False): use "
                            "--device auto or cpu"))
    if requested == "auto":
        return "cuda" if available else "cpu"
    return requested


def use_device(name: str) -> torch.device:
    """Make ``validate`` run on ``name`` (auto, cpu or cuda) in this process; return the device.

    On a GPU, TF32 is turned off so that matrix products keep float32 precision: the quiz's tolerances then cover
    the GPU's other summation order (see docs/cluster.md)."""
    global _DEVICE
    _DEVICE = torch.device(resolve_device(name))
    if _DEVICE.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True  # seeded reference runs repeat on the same GPU
        torch.backends.cudnn.benchmark = False
    return _DEVICE


def current_device() -> torch.device:
    """Where ``validate`` runs in this process (cpu unless :func:`use_device` said otherwise)."""
    return _DEVICE


def has_conv(model: nn.Module) -> bool:
    """True when the model contains a 2-D convolution (then channels_last pays off): an ``nn.Conv2d``, or a
    convolution in the graph of a judged model (``has_convolutions``)."""
    return bool(getattr(model, "has_convolutions", False)) or any(isinstance(m, nn.Conv2d) for m in model.modules())


def channels_last_works(model: nn.Module, sample: torch.Tensor) -> bool:
    """True when the model has convolutions and its forward accepts channels_last input.

    A forward that flattens with ``x.view(x.size(0), -1)`` refuses a channels_last tensor (view needs
    contiguous memory), so such models keep the default layout.
    """
    if not has_conv(model):
        return False
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval().to(memory_format=torch.channels_last)(sample[:2].contiguous(memory_format=torch.channels_last))
        return True
    except RuntimeError:
        model.to(memory_format=torch.contiguous_format)
        return False
    finally:
        model.train(was_training)


def prepare(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


class InferenceForward:
    """``model``'s eval-mode forward, run faster where that gives the model's own outputs.

    Built by :func:`inference_forward`. ``kind`` names what runs: "optimized" (a traced TorchScript copy of the
    model passed through ``torch.jit.optimize_for_inference``: convolutions and their ReLUs fused, batch-norm
    folded, weights pre-packed for oneDNN) or the model itself; ``channels_last`` says whether batches go in that
    layout (when the model's forward accepts it). The choice depends only on the model, never on
    timings, so the same model and data give the same numbers every run. If the optimized copy ever raises, that
    batch and the rest run in the model itself, so a model's own errors surface as in eager mode.
    """

    def __init__(self, model: nn.Module, optimized, channels_last: bool):
        self.model, self.optimized, self.channels_last = model, optimized, channels_last

    @property
    def kind(self) -> str:
        return ("optimized" if self.optimized is not None else "model itself") + (
            ", channels_last" if self.channels_last else "")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = prepare(x, self.channels_last)
        if self.optimized is not None:
            try:
                return self.optimized(x)
            except Exception:  # noqa: BLE001 - any failure of the traced copy: the model itself decides
                self.optimized = None
        return self.model(x)


# How far the optimized copy's outputs may be from the model's own (float32 rounding of another summation order,
# batch-norm folded into the convolution); a traced graph that went wrong is off by far more.
OPTIMIZED_RTOL, OPTIMIZED_ATOL = 1e-4, 1e-4
PROBE_IMAGES = 16  # the images the optimized copy is traced and checked on


def _optimized_copy(model: nn.Module, probe: torch.Tensor):
    """A traced, frozen, inference-optimized copy of ``model`` that reproduces the model on ``probe``, or None.

    The copy is traced in ``probe``'s memory layout. A trace that warns (a tensor's value turned into a Python
    bool or number, so later batches might need another path) is refused, and so is one whose outputs differ from
    the model's on the whole probe or on its first three images (a trace that baked in the batch size, say a
    ``view(16, -1)``).
    A model whose own forward fails raises its error.
    """
    with torch.no_grad():
        expected = [model(probe), model(probe[:3])]
    try:
        with warnings.catch_warnings(record=True) as caught, torch.no_grad():
            warnings.simplefilter("always")
            traced = torch.jit.trace(deepcopy(model), probe, check_trace=False)
            if any(issubclass(w.category, torch.jit.TracerWarning) for w in caught):
                return None  # Python control flow on tensor values: the trace holds one path only
            optimized = torch.jit.optimize_for_inference(traced)
            for x, want in zip((probe, probe[:3]), expected, strict=True):
                if not torch.allclose(optimized(x), want, rtol=OPTIMIZED_RTOL, atol=OPTIMIZED_ATOL):
                    return None
    except Exception:  # noqa: BLE001 - untraceable forward (data-dependent Python, odd outputs): stay eager
        return None
    return optimized


def inference_forward(model: nn.Module, sample: torch.Tensor, optimize: bool = True) -> InferenceForward:
    """Put ``model`` in eval mode and return its forward for validation (see :class:`InferenceForward`).

    ``sample`` is a float batch in the model's input format (the first validation batch). A model with
    convolutions runs in channels_last when its forward accepts that layout, and as an inference-optimized copy
    (traced in that layout) when the copy's outputs on the first ``PROBE_IMAGES`` of ``sample`` match the model's
    own within ``OPTIMIZED_RTOL``/``OPTIMIZED_ATOL``; ``optimize=False`` never uses one. A model whose forward
    fails raises here, with its own error.
    """
    model.eval()
    if not has_conv(model):
        return InferenceForward(model, None, False)
    channels_last = channels_last_works(model, sample)  # converts the model when it works
    optimized = _optimized_copy(model, prepare(sample[:PROBE_IMAGES], channels_last)) if optimize else None
    return InferenceForward(model, optimized, channels_last)


@torch.inference_mode()
def validate(model, split: Split, batch_size: int = VAL_BATCH_SIZE, mean: float = 0.0, std: float = 1.0,
             log_probs: bool = True, optimize: bool = True) -> tuple[float, int, float]:
    """Evaluate ``model`` on ``split``: (mean loss per image, number correct, accuracy in percent).

    ``mean``/``std`` apply a Normalize after ToTensor's scaling. With ``log_probs=False`` the model's outputs are
    taken as logits (log_softmax is applied before the NLL loss, i.e. CrossEntropyLoss). The forward pass is
    :func:`inference_forward`'s (``optimize=False``: eager mode, channels_last where it works). It runs on
    :func:`current_device` (on a GPU without the CPU-only inference-optimized copy), and the model is left there.
    """
    was_training = model.training
    device = current_device()
    on_gpu = device.type != "cpu"
    if on_gpu:
        model.to(device)
    with torch.inference_mode(False):
        forward = inference_forward(model, to_float(split.images[:batch_size], mean, std).to(device),
                                    optimize and not on_gpu)
    loss_sum, correct = 0.0, 0
    for start in range(0, len(split), batch_size):
        data = to_float(split.images[start:start + batch_size], mean, std).to(device)
        target = split.labels[start:start + batch_size].to(device)
        output = forward(data)
        if not log_probs:
            output = F.log_softmax(output, dim=1)
        loss_sum += F.nll_loss(output, target, reduction="sum").item()
        correct += int((output.argmax(dim=1) == target).sum().item())
    model.train(was_training)
    n = len(split)
    return loss_sum / n, correct, 100.0 * correct / n
