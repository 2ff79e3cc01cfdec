"""Feedback that teaches: turn a shape, parameter or crash problem into a message a student can act on.

Every message names the student's layer (attribute and source line), gives expected and found values, and for
convolutions and pools the arithmetic with their own numbers: O = floor((I - K + 2P) / S) + 1.
"""
from __future__ import annotations

import difflib
import importlib
import linecache
import math
import re
from typing import NamedTuple

from grader.inspection.recorder import LayerRecord, conv_output_size


class Finding(NamedTuple):
    """A problem as the check decided it: ``code``, its typed cause (a code of :data:`grader.report.CAUSES`), and
    ``text``, the words the student reads. The code is set here, where the text is chosen, never parsed from it."""

    code: str
    text: str


def where(source: str) -> str:
    """'model.py line 12: self.conv1 = nn.Conv2d(1, 32, 5)' from 'model.py:12' (or '' when unknown)."""
    if not source:
        return ""
    file, _, line = source.rpartition(":")
    text = linecache.getline(file, int(line)).strip() if line.isdigit() else ""
    return f"{file} line {line}" + (f": {text}" if text else "")


def layer_name(rec: LayerRecord | dict) -> str:
    """'conv1 (model.py line 12: ...)' for a record or an in-flight module description."""
    name, source = (rec.name, rec.source) if isinstance(rec, LayerRecord) else (rec["name"], rec["source"])
    place = where(source)
    return f"{name} ({place})" if place else name


def fmt_shape(shape, batch: int | None = None) -> str:
    """(B, 32, 26, 26) with the batch dimension written B when it equals ``batch``."""
    if shape is None:
        return "nothing"
    if len(shape) == 1:
        return f"({shape[0]},)"
    def first(d: int) -> str:
        if batch is None or batch < 1:
            return str(d)
        if d == batch:
            return "B"
        return f"{d // batch}B" if d > batch and d % batch == 0 else str(d)
    dims = [first(d) if i == 0 else str(d) for i, d in enumerate(shape)]
    return "(" + ", ".join(dims) + ")"


def product_text(shape) -> str:
    """'20 x 4 x 4 = 320' for the per-image part of a shape."""
    dims = list(shape[1:])
    return " x ".join(str(d) for d in dims) + f" = {math.prod(dims)}"


def spatial_arithmetic(rec: LayerRecord, expected: list[int] | None) -> list[str]:
    """The O = floor((I - K + 2P) / S) + 1 lines for a conv or pool layer, with a fix when one exists."""
    return spatial_finding(rec, expected)[0]


def spatial_finding(rec: LayerRecord, expected: list[int] | None) -> tuple[list[str], str]:
    """:func:`spatial_arithmetic`'s lines and the cause of the first fix they give (``padding``, ``kernel_size``,
    ``stride``; "" when they give none)."""
    cfg = rec.config
    if not cfg or "kernel_size" not in cfg or not rec.input_shape or len(rec.input_shape) != 4:
        return [], ""
    if isinstance(cfg.get("padding"), str):
        return [f"it uses padding={cfg['padding']!r}"], "padding"
    lines, code = [], ""
    for axis, label in ((0, "height"), (1, "width")):
        size = rec.input_shape[2 + axis]
        k, s, p, d = cfg["kernel_size"][axis], cfg["stride"][axis], cfg["padding"][axis], cfg["dilation"][axis]
        out = conv_output_size(size, k, s, p, d, cfg.get("ceil_mode", False))
        if axis == 1 and rec.input_shape[2] == rec.input_shape[3] and cfg["kernel_size"][0] == k \
                and cfg["stride"][0] == s and cfg["padding"][0] == p:
            break  # square input and layer: one line says it
        k_text = f"{d}*({k}-1)+1" if d != 1 else str(k)
        line = f"O = floor((I - K + 2P) / S) + 1 = floor(({size} - {k_text} + 2*{p}) / {s}) + 1 = {out}"
        if rec.input_shape[2] != rec.input_shape[3] or cfg["kernel_size"][0] != cfg["kernel_size"][1]:
            line = f"{label}: " + line
        want = expected[2 + axis] if expected and len(expected) == 4 else None
        if want is not None and want != out:
            line += f", but the table needs {want}"
            fix = conv_fix_finding(size, k, s, p, want) if d == 1 and rec.kind == "Conv2d" else Finding("", "")
            if fix.text:
                line += f" ({fix.text})"
                code = code or fix.code
        lines.append(line)
    return lines, code


MAX_PLAUSIBLE_KERNEL = 11


def conv_fix(size: int, k: int, s: int, p: int, want: int) -> str:
    """Which of K, P or S to change so a convolution gives ``want``, with the arithmetic for the likeliest one.

    Padding the table does not want is the likeliest slip when P = 0 fixes it (Conv2d(1, 10, 5, padding=2) for a
    table that shrinks the side); a side that stays or grows takes padding; with no padding, the kernel size; then
    any plausible padding, kernel or stride.
    """
    return conv_fix_finding(size, k, s, p, want).text


def conv_fix_finding(size: int, k: int, s: int, p: int, want: int) -> Finding:
    """:func:`conv_fix` with its cause: ``padding``, ``kernel_size`` or ``stride`` (the one it says to change), or
    ``("", "")`` when no plausible change gives ``want``."""
    def gives(k_: int, s_: int, p_: int) -> bool:
        return k_ >= 1 and s_ >= 1 and p_ >= 0 and conv_output_size(size, k_, s_, p_) == want
    k_fix = size + 2 * p - s * (want - 1)
    k_ok = 1 <= k_fix <= MAX_PLAUSIBLE_KERNEL and k_fix != k and gives(k_fix, s, p)
    p_fix = next((q for q in range(0, k + 1) if q != p and gives(k, s, q)), None)
    s_fix = next((t for t in range(1, k + 1) if t != s and gives(k, t, p)), None)
    k_text = (f"change K: with S={s} and P={p}, that takes K = I + 2P - S*(O-1) = {k_fix}") if k_ok else ""
    p_text = (f"change P: keeping K={k} and S={s}, P = {p_fix} gives floor(({size} - {k} + 2*{p_fix}) / {s}) + 1 "
              f"= {want}") if p_fix is not None else ""
    s_text = (f"change S: keeping K={k} and P={p}, S = {s_fix} gives floor(({size} - {k} + 2*{p}) / {s_fix}) + 1 "
              f"= {want}") if s_fix is not None else ""
    padding, kernel, stride = Finding("padding", p_text), Finding("kernel_size", k_text), Finding("stride", s_text)
    if p != 0 and p_fix == 0:
        return padding
    if want >= size and p_text:  # the table keeps or grows the side: only padding does that
        return padding
    if p == 0 and k_text:
        return kernel
    if p_text and p_fix is not None and p_fix <= k // 2:
        return padding
    return next((f for f in (kernel, padding, stride) if f.text), Finding("", ""))


def shape_problem(rec: LayerRecord, expected: list[int], batch: int, input_expected: list[int] | None) -> str:
    """Why ``rec`` produced the wrong shape, in the student's terms."""
    return shape_finding(rec, expected, batch, input_expected).text


def shape_finding(rec: LayerRecord, expected: list[int], batch: int, input_expected: list[int] | None) -> Finding:
    """:func:`shape_problem` with its cause: ``upstream_shape`` (the input is already off), ``flatten_batch``,
    ``out_channels``, the convolution's fix (``padding``, ``kernel_size``, ``stride``, else ``conv_arithmetic``),
    ``pool_size``, ``out_features``, else ``wrong_shape``."""
    found = rec.output_shape
    parts = [f"{layer_name(rec)} gives {fmt_shape(found, batch)}, the table needs {fmt_shape(expected, batch)}."]
    if input_expected is not None and rec.input_shape is not None and list(rec.input_shape) != list(input_expected):
        parts.append(f"Its input is already {fmt_shape(rec.input_shape, batch)} instead of "
                     f"{fmt_shape(input_expected, batch)}: fix the earlier layer first.")
        return Finding("upstream_shape", " ".join(parts))
    cfg, code = rec.config, "wrong_shape"
    if rec.kind == "Flatten" and rec.input_shape and found and (found[0] != batch or len(found) == 1):
        parts.append(flatten_rows_text(rec, batch, expected))
        return Finding("flatten_batch", " ".join(parts))
    if rec.kind == "Conv2d" and cfg and found and len(found) == 4 and len(expected) == 4:
        if found[1] != expected[1]:
            parts.append(f"Its out_channels is {cfg['out_channels']}; the table needs {expected[1]}.")
            code = "out_channels"
        if found[2:] != expected[2:]:
            lines, fix = spatial_finding(rec, expected)
            parts.extend(lines)
            if code == "wrong_shape":
                code = fix or ("conv_arithmetic" if lines else code)
    elif rec.kind in ("MaxPool2d", "AvgPool2d") and found and len(found) == 4:
        parts.extend(spatial_arithmetic(rec, expected))
        code = "pool_size"
    elif rec.kind == "Linear" and cfg and found and found[-1] != expected[-1]:
        parts.append(f"Its out_features is {cfg['out_features']}; the table needs {expected[-1]}.")
        code = "out_features"
    elif rec.kind == "Flatten" and rec.input_shape and found:
        parts.append(f"Flattening {fmt_shape(rec.input_shape, batch)} gives {product_text(rec.input_shape)} "
                     "values per image.")
    return Finding(code, " ".join(parts))


def flatten_rows_text(rec: LayerRecord, batch: int, expected: list[int] | None = None) -> str:
    """Why a flatten made other than one row per image, with the numbers: 'its input (B, 512, 2, 2) holds 512 x 2 x
    2 = 2048 values per image, so rows of 512 cut each image into 4 rows'."""
    assert rec.input_shape is not None and rec.output_shape is not None
    found = rec.output_shape
    per_image = math.prod(rec.input_shape[1:])
    fix = "flatten with torch.flatten(x, 1) or x.view(x.size(0), -1)"
    if len(found) == 1:
        return (f"It flattens the batch too: {fmt_shape(rec.input_shape, batch)} becomes ({found[0]},), one long "
                f"vector for all {batch} images. Keep the batch dimension: {fix}.")
    row = math.prod(found[1:])
    want = math.prod(expected[1:]) if expected and len(expected) > 1 else None
    if found[0] > batch and found[0] % batch == 0:
        cut = (f"Its input {fmt_shape(rec.input_shape, batch)} holds {product_text(rec.input_shape)} values per "
               f"image, so rows of {row} cut each image into {found[0] // batch} rows.")
        if want == per_image:
            return (cut + f" The input is what the table has here; the number in the view is not: {fix} (and the "
                    f"Linear after it takes in_features={want}).")
        if want is not None:
            return cut + f" The table needs {want} values per image here: compare the layers above with the table."
        return cut
    return (f"It turns {fmt_shape(rec.input_shape, batch)} ({per_image} values per image) into {found[0]} rows "
            f"instead of the batch of {batch}: {fix}.")


def replay(recs: list[LayerRecord], input_shape: list[int]) -> list[int] | None:
    """The shape ``recs`` (in order) would give from ``input_shape``, by their own configs; None when one of them
    has no config to replay (a layer whose shape rule is not known here)."""
    shape = list(input_shape)
    for rec in recs:
        cfg = rec.config
        if rec.kind in ("Conv2d", "MaxPool2d", "AvgPool2d") and cfg and "kernel_size" in cfg and len(shape) == 4:
            if isinstance(cfg.get("padding"), str):
                return None
            sides = [conv_output_size(shape[2 + a], cfg["kernel_size"][a], cfg["stride"][a], cfg["padding"][a],
                                      cfg["dilation"][a], cfg.get("ceil_mode", False)) for a in (0, 1)]
            channels = cfg["out_channels"] if rec.kind == "Conv2d" else shape[1]
            shape = [shape[0], channels, *sides]
        elif rec.kind == "Linear" and cfg:
            shape = [*shape[:-1], cfg["out_features"]]
        elif rec.kind == "Flatten" and len(shape) > 2:
            shape = [shape[0], math.prod(shape[1:])]
        elif rec.input_shape != rec.output_shape or rec.params:
            return None
    return shape


def chain_text(recs: list[LayerRecord], row_label: str, expected: list[int], batch: int) -> Finding:
    """A row of several shape-setting layers that ends wrong: each layer's step, and the padding fix when one works
    (cause ``padding`` then, else ``wrong_shape``)."""
    assert recs and recs[0].input_shape is not None
    found = recs[-1].output_shape
    lines = [f"Row '{row_label}' ends at {fmt_shape(found, batch)}, the table needs {fmt_shape(expected, batch)}. "
             "Its layers, in order:"]
    for rec in recs:
        steps = spatial_arithmetic(rec, None)
        lines.append(f"  {layer_name(rec)}: {fmt_shape(rec.input_shape, batch)} -> {fmt_shape(rec.output_shape, batch)}"
                     + (f"; {'; '.join(steps)}" if steps else ""))
    padded = [r for r in recs if r.kind == "Conv2d" and isinstance(r.config.get("padding"), list) and any(r.config["padding"])]
    if padded:
        unpadded = [LayerRecord(r.index, r.kind, r.name, r.source, r.input_shape, r.output_shape, r.params,
                                {**r.config, "padding": [0, 0]} if r in padded else r.config) for r in recs]
        if replay(unpadded, list(recs[0].input_shape)) == list(expected):
            lines.append(f"With padding=0 in {', '.join(r.name for r in padded)}, the row gives "
                         f"{fmt_shape(expected, batch)}.")
            return Finding("padding", "\n".join(lines))
    return Finding("wrong_shape", "\n".join(lines))


def missing_text(kinds: tuple[str, ...], row_label: str, after: LayerRecord | None) -> str:
    """'missing ReLU in row conv1 (after conv1 (model.py line 12))'."""
    what = " or ".join(kinds)
    place = f", after {layer_name(after)}" if after is not None else ""
    return f"Missing {what} in row '{row_label}'{place}."


def param_formula(rec: LayerRecord) -> str:
    """'Conv2d(1, 32, 3): 1*32*3*3 + 32 = 320' for layers whose parameter count has a simple formula."""
    cfg = rec.config
    if rec.kind == "Conv2d" and cfg:
        kh, kw = cfg["kernel_size"]
        return (f"Conv2d({cfg['in_channels']}, {cfg['out_channels']}, {kh}x{kw}) has {cfg['in_channels']} x "
                f"{cfg['out_channels']} x {kh} x {kw} weights + {cfg['out_channels']} biases")
    if rec.kind == "Linear" and cfg:
        return (f"Linear({cfg['in_features']}, {cfg['out_features']}) has {cfg['in_features']} x "
                f"{cfg['out_features']} weights + {cfg['out_features']} biases")
    return ""


def linear_finding(in_flight: dict, records: list[LayerRecord], batch: int) -> Finding:
    """Why a Linear's input does not fit it: the batch flattened away (``flatten_batch``), or the features per image
    against its in_features, with the layer that made them (``in_features``); ``("", "")`` when it fits."""
    if len(in_flight["input_shape"]) == 1:
        return Finding("flatten_batch", f"{layer_name(in_flight)} gets {fmt_shape(in_flight['input_shape'], batch)}, "
                       "one vector with no batch dimension: the flatten before it took the batch with it. Flatten "
                       "with torch.flatten(x, 1) or x.view(x.size(0), -1).")
    got = in_flight["input_shape"][-1]
    want = in_flight["config"].get("in_features")
    if want is None or got == want:
        return Finding("", "")
    hint = (f"{layer_name(in_flight)} is Linear(in_features={want}, out_features="
            f"{in_flight['config'].get('out_features')}), but the layer before it produces {got} features per image")
    source = _last_4d(records)
    if source is not None:
        hint += f": {layer_name(source)} outputs {fmt_shape(source.output_shape, batch)}, and " \
                f"{product_text(source.output_shape)}, not {want}"
    return Finding("in_features", hint + f". Set in_features={got}"
                   + (f" ({product_text(source.output_shape).split(' = ')[0]})" if source is not None else "") + ".")


def crash_text(exc: BaseException, tb_text: str, in_flight: dict | None, records: list[LayerRecord], batch: int,
               skipped_names: dict) -> str:
    """Explain an exception raised by the student's forward (or constructor)."""
    return crash_finding(exc, tb_text, in_flight, records, batch, skipped_names).text


def crash_finding(exc: BaseException, tb_text: str, in_flight: dict | None, records: list[LayerRecord], batch: int,
                  skipped_names: dict) -> Finding:
    """:func:`crash_text` with its cause: ``no_forward``, ``not_implemented``, the hint's cause (``in_features``,
    ``in_channels``, ``view_shape``...), else ``forward_error``."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NotImplementedError) and 'missing the required "forward" function' in str(exc):
        return Finding("no_forward", "Your class has no forward() method, so nn.Module has nothing to run when it "
                       "is called: define def forward(self, x): (check its spelling) and return the outputs from it.")
    if isinstance(exc, NotImplementedError):
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)', tb_text)
        where_text = f" ({frames[-1][2]} in {frames[-1][0]} line {frames[-1][1]})" if frames else ""
        return Finding("not_implemented", f"Not implemented yet{where_text}: this part still raises "
                       "NotImplementedError. Fill it in.")
    if in_flight is not None and in_flight["kind"] == "Linear" and in_flight["input_shape"]:
        hint = linear_finding(in_flight, records, batch)
    elif in_flight is not None and in_flight["kind"] == "Conv2d" and in_flight["input_shape"]:
        hint = _conv_crash(in_flight, records, batch)
    elif isinstance(exc, RuntimeError) and VIEW_ERROR.search(str(exc)):
        hint = view_finding(exc, tb_text, records, batch)
    elif isinstance(exc, NameError):
        hint = _skipped_name(exc, skipped_names)
    elif isinstance(exc, AttributeError):
        hint = _attribute_typo(exc)
    else:
        hint = Finding("", "")
    parts = [hint.text] if hint.text else []
    parts.append(tb_text.rstrip() or message)
    return Finding(hint.code if hint.text else "forward_error", "\n".join(parts))


def _conv_crash(in_flight: dict, records: list[LayerRecord], batch: int) -> Finding:
    """Why a convolution raised: the channels it gets against its in_channels, or a map smaller than its kernel."""
    previous = records[-1] if records else None
    got = in_flight["input_shape"][1] if len(in_flight["input_shape"]) > 1 else None
    want = in_flight["config"].get("in_channels")
    if got != want:
        return Finding("in_channels", f"{layer_name(in_flight)} expects in_channels={want}, but its input "
                       f"{fmt_shape(in_flight['input_shape'], batch)} has {got} channels"
                       + (f" (from {layer_name(previous)})" if previous is not None else "")
                       + f". Set in_channels={got}.")
    if len(in_flight["input_shape"]) == 4:
        return Finding("feature_map_too_small", f"{layer_name(in_flight)} gets "
                       f"{fmt_shape(in_flight['input_shape'], batch)}: the feature map is smaller than the kernel. A "
                       "layer before it shrinks the image too much.")
    return Finding("", "")


def _skipped_name(exc: NameError, skipped_names: dict) -> Finding:
    """A NameError of a name that a top-level statement the grader does not run defines."""
    name = getattr(exc, "name", None) or (re.findall(r"name '(\w+)'", str(exc)) or [None])[0]
    if name not in skipped_names:
        return Finding("", "")
    skip = skipped_names[name]
    return Finding("skipped_name", f"'{name}' is defined at {skip.file} line {skip.line}, which the grader does "
                   f"not run ({skip.reason}). Define it from constants only, or compute it inside your class.")


def _attribute_typo(exc: AttributeError) -> Finding:
    """``module 'torch.nn' has no attribute 'TanH'``: the name the module does have."""
    match = re.search(r"module '([\w.]+)' has no attribute '(\w+)'", str(exc))
    if not match:
        return Finding("", "")
    try:
        module = importlib.import_module(match.group(1))
        close = difflib.get_close_matches(match.group(2), dir(module), n=1, cutoff=0.6)
        if not close:
            close = [n for n in dir(module) if n.lower() == match.group(2).lower()]
    except ImportError:
        close = []
    if not close:
        return Finding("", "")
    return Finding("name_typo", f"{match.group(1)} has no {match.group(2)}: did you mean {match.group(1)}.{close[0]}?")


VIEW_ERROR = re.compile(r"shape '\[([-\d, ]*)\]' is invalid for input of size (\d+)")


def _failing_line(tb_text: str) -> str:
    """Where the traceback ends, in the student's code ('model.py line 15: x = x.view(-1, 180)'), or ''."""
    lines = [line for line in tb_text.strip().splitlines() if line.strip()]
    if len(lines) < 3:
        return ""
    place = re.match(r'\s*File "(.+)", line (\d+)', lines[-3])
    return f"{place.group(1)} line {place.group(2)}: {lines[-2].strip()}" if place else ""


BATCH_NAMES = ("batch_size", "BATCH_SIZE", "bs")
_ASSIGN = re.compile(r"^(\w+)\s*=\s*(\d+)\s*(#.*)?$")


def batch_constant(value: int, code: str, files=None) -> str:
    """' (batch_size = 32, set at model.py line 5)' when the failing code line uses a top-level constant of that
    value, found in the student's registered source; '' otherwise."""
    names = [n for n in re.findall(r"\b\w+\b", code) if n in BATCH_NAMES or n.lower() == "batch_size"]
    if not names:
        return ""
    for file in list(files if files is not None else linecache.cache):
        for number, text in enumerate(linecache.getlines(file), start=1):
            match = _ASSIGN.match(text.strip()) if not text[:1].isspace() else None
            if match and match.group(1) in names and int(match.group(2)) == value and _is_student(file):
                return f" ({match.group(1)} = {value}, set at {file} line {number})"
    return f" ({names[0]})"


def _is_student(file: str) -> bool:
    # registered student sources are relative names ("model.py", "lab.ipynb [cell 3]"); library files are absolute
    return not file.startswith(("/", "<"))


def view_finding(exc: BaseException, tb_text: str, records: list[LayerRecord], batch: int) -> Finding:
    """Why a view/reshape does not fit, with the numbers: the values per image it gets against those it asks for;
    its cause ``batch_fixed`` (a fixed first dimension) or ``view_shape``."""
    match = VIEW_ERROR.search(str(exc))
    assert match is not None
    dims = [int(d) for d in match.group(1).replace(" ", "").split(",") if d]
    line = _failing_line(tb_text)
    code = f" ({line})" if line else ""
    source = records[-1] if records and records[-1].output_shape else None
    if dims and dims[0] != -1 and dims[0] != batch:
        constant = batch_constant(dims[0], line)
        return Finding("batch_fixed", f"A view/reshape{code} fixes the first dimension to {dims[0]}{constant}, but "
                       f"the batch holds {batch} images. Use x.view(x.size(0), -1) (or torch.flatten(x, 1)): the "
                       "batch size is x.size(0), never a fixed number or a global batch_size.")
    if source is not None and dims and dims[0] == -1 and source.output_shape:
        want = math.prod(d for d in dims[1:])
        return Finding("view_shape", f"The view/reshape{code} asks for rows of {want} values, but its input, the "
                       f"output of {layer_name(source)}, is {fmt_shape(source.output_shape, batch)}: "
                       f"{product_text(source.output_shape)} values per image, not {want}. Fix the layer whose shape "
                       "differs from the table (above), or the number in the view.")
    return Finding("view_shape", f"A view/reshape{code} asks for a shape that does not fit the data of a batch of "
                   f"{batch} images. Use x.view(x.size(0), -1) (or torch.flatten(x, 1)): the batch size is x.size(0), "
                   "never a fixed number or a global batch_size.")


def _last_4d(records: list[LayerRecord]) -> LayerRecord | None:
    for rec in reversed(records):
        if rec.output_shape is not None and len(rec.output_shape) == 4:
            return rec
    return None
