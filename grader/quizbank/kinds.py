"""Answer kinds of the quiz bank: each computes its answer by building the torch modules with the drawn parameters
and running them, never by a hand formula, and says the worked arithmetic for the feedback.

Every kind takes the drawn parameters (a dict of ints, floats or lists) and returns an :class:`Answer`. A kind
raises :class:`Unanswerable` when the parameters make no valid question (an output size below 1, ...): the template's
constraints are checked on real answers, so such a draw is simply drawn again.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.i18n import _


class Unanswerable(ValueError):
    """The drawn parameters make no valid question."""


@dataclass
class Answer:
    """The right answer, the tolerance a response may be off by (absolute), and the worked arithmetic."""

    value: float
    tolerance: float
    working: str


META = torch.device("meta")  # shapes and parameter counts need no weights: no initialisation to pay for


def _layers(spec: list[dict]) -> list[nn.Module]:
    """Modules (on the meta device) from plain layer descriptions: {"conv": [in, out, k, stride, padding]},
    {"pool": [k, stride]}, {"linear": [in, out]}, {"relu": []}."""
    made: list[nn.Module] = []
    for layer in spec:
        (kind, args), = layer.items()
        if kind == "conv":
            cin, cout, k, *rest = args
            made.append(nn.Conv2d(cin, cout, k, stride=rest[0] if rest else 1, padding=rest[1] if len(rest) > 1 else 0,
                                  device=META))
        elif kind == "pool":
            k, *rest = args
            made.append(nn.MaxPool2d(k, stride=rest[0] if rest else k))
        elif kind == "linear":
            made.append(nn.Linear(args[0], args[1], device=META))
        elif kind == "relu":
            made.append(nn.ReLU())
        else:
            raise ValueError(_("unknown layer kind {kind}", kind=repr(kind)))
    return made


def _run(modules: list[nn.Module], shape: tuple) -> torch.Size:
    x = torch.zeros(shape, device=META)
    try:
        with torch.no_grad():
            for module in modules:
                x = module(x)
    except RuntimeError as exc:  # a size below 1, a kernel larger than its input
        raise Unanswerable(str(exc).splitlines()[0]) from None
    return x.shape


def conv_output(p: dict) -> Answer:
    """The output height of Conv2d(k, stride s, padding pad) on an I x I input: O = floor((I - K + 2P) / S) + 1."""
    i, k, s, pad = p["input"], p["kernel"], p.get("stride", 1), p.get("padding", 0)
    out = _run([nn.Conv2d(1, 1, k, stride=s, padding=pad, device=META)], (1, 1, i, i))[-1]
    return Answer(out, 0, f"O = floor((I - K + 2P) / S) + 1 = floor(({i} - {k} + 2*{pad}) / {s}) + 1 = {out}")


def pool_output(p: dict) -> Answer:
    """The output height of MaxPool2d(k, stride s) on an I x I input."""
    i, k = p["input"], p["kernel"]
    s = p.get("stride", k)
    out = _run([nn.MaxPool2d(k, stride=s)], (1, 1, i, i))[-1]
    return Answer(out, 0, f"O = floor((I - K) / S) + 1 = floor(({i} - {k}) / {s}) + 1 = {out}")


def conv_params(p: dict) -> Answer:
    """Trainable parameters of Conv2d(in, out, k): (k*k*in + 1) * out (the Week 4 slide's formula is wrong)."""
    cin, cout, k = p["in_channels"], p["out_channels"], p["kernel"]
    count = sum(t.numel() for t in nn.Conv2d(cin, cout, k, device=META).parameters())
    arithmetic = f"(K*K*in + 1) * out = ({k}*{k}*{cin} + 1) * {cout} = {count}"
    return Answer(count, 0, _("{arithmetic}: {k}x{k}x{cin} weights and one bias per output channel",
                              arithmetic=arithmetic, k=k, cin=cin))


def linear_params(p: dict) -> Answer:
    """Trainable parameters of Linear(in, out): (in + 1) * out."""
    cin, cout = p["in_features"], p["out_features"]
    count = sum(t.numel() for t in nn.Linear(cin, cout, device=META).parameters())
    return Answer(count, 0, f"(in + 1) * out = ({cin} + 1) * {cout} = {count}")


def table_params(p: dict) -> Answer:
    """Trainable parameters of a stack of layers, summed."""
    modules = _layers(p["layers"])
    counts = [sum(t.numel() for t in m.parameters()) for m in modules]
    terms = " + ".join(f"{c:,}" for c in counts if c)
    return Answer(sum(counts), 0, f"{terms} = {sum(counts):,}")


def flatten_size(p: dict) -> Answer:
    """The in_features the Linear after a stack of conv/pool layers must take (the Linear(320, 10) exercise)."""
    modules = _layers(p["layers"])
    shape = _run(modules, (1, p["channels"], p["input"], p["input"]))
    c, h, w = shape[1:]
    return Answer(c * h * w, 0, _("the last feature map is {c} x {h} x {w}, so in_features = {c} x {h} x {w} = {size}",
                                  c=c, h=h, w=w, size=c * h * w))


def receptive_field(p: dict) -> Answer:
    """How many input pixels (per side) one output pixel of a conv/pool stack sees, found from the gradient of that
    output pixel with respect to the input."""
    modules = _layers(p["layers"])
    size = p.get("input", 64)
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = x
    for module in modules:
        if isinstance(module, nn.Conv2d):
            k, s = module.kernel_size, module.stride
            module = nn.Conv2d(1, 1, (k[0], k[-1]), stride=(s[0], s[-1]), padding=0, bias=False)
            nn.init.ones_(module.weight)
        elif isinstance(module, nn.MaxPool2d):
            module = nn.AvgPool2d(module.kernel_size, stride=module.stride)  # max picks one pixel; avg sees all
        y = module(y)
    if y.shape[-1] < 1:
        raise Unanswerable("the stack leaves no output pixel")
    centre = y.shape[-1] // 2
    y[0, 0, centre, centre].backward()
    assert x.grad is not None
    seen = (x.grad[0, 0].abs().sum(dim=0) > 0).nonzero()
    width = int(seen.max() - seen.min() + 1)
    return Answer(width, 0, _("one output pixel depends on a {width} x {width} patch of the input", width=width))


def _class_in_range(index: int, logits: list) -> None:
    if not 0 <= index < len(logits):
        raise Unanswerable(f"class {index} is not one of the {len(logits)} logits")


def softmax_prob(p: dict) -> Answer:
    """The softmax probability of class ``index`` for the given logits."""
    logits = torch.tensor(p["logits"], dtype=torch.float64)
    _class_in_range(p["index"], p["logits"])
    prob = float(torch.softmax(logits, dim=0)[p["index"]])
    exps = " + ".join(f"e^{v:g}" for v in p["logits"])
    return Answer(round(prob, 4), 0.001, f"e^{p['logits'][p['index']]:g} / ({exps}) = {prob:.4f}")


def cross_entropy(p: dict) -> Answer:
    """The cross-entropy loss of the given logits for the true class ``target``: -log softmax(logits)[target]."""
    logits = torch.tensor([p["logits"]], dtype=torch.float64)
    _class_in_range(p["target"], p["logits"])
    loss = float(F.cross_entropy(logits, torch.tensor([p["target"]])))
    return Answer(round(loss, 4), 0.001, f"-log(softmax(logits)[{p['target']}]) = {loss:.4f}")


def best_epoch(p: dict) -> Answer:
    """Which epoch best.pt holds when it is saved only on a new minimum of the validation loss (1-based)."""
    losses = torch.tensor(p["val_loss"])
    epoch = int(torch.argmin(losses)) + 1
    return Answer(epoch, 0, _("the lowest validation loss, {loss}, is at epoch {epoch}; {file} is saved only when the "
                              "loss reaches a new minimum, so it holds that epoch",
                              loss=f"{float(losses.min()):.4f}", epoch=epoch, file="best.pt"))


KINDS = {f.__name__: f for f in (conv_output, pool_output, conv_params, linear_params, table_params, flatten_size,
                                  receptive_field, softmax_prob, cross_entropy, best_epoch)}
