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

from grader.i18n import _
from grader.inspection.arithmetic import (  # noqa: F401 - re-exported: the feedback's arithmetic is part of it
    Finding,
    conv_fix,
    conv_fix_finding,
    spatial_arithmetic,
    spatial_finding,
)
from grader.inspection.recorder import LayerRecord, conv_output_size


def where(source: str) -> str:
    """'model.py line 12: self.conv1 = nn.Conv2d(1, 32, 5)' from 'model.py:12' (or '' when unknown)."""
    if not source:
        return ""
    file, _sep, line = source.rpartition(":")
    text = linecache.getline(file, int(line)).strip() if line.isdigit() else ""
    return place_text(file, line, text)


def place_text(file: str, line: object, code: str = "") -> str:
    """'model.py line 12: self.conv1 = nn.Conv2d(1, 32, 5)' (without the code when it is '')."""
    if code:
        return _("{file} line {line}: {code}", file=file, line=line, code=code)
    return _("{file} line {line}", file=file, line=line)


def layer_name(rec: LayerRecord | dict) -> str:
    """'conv1 (model.py line 12: ...)' for a record or an in-flight module description."""
    name, source = (rec.name, rec.source) if isinstance(rec, LayerRecord) else (rec["name"], rec["source"])
    place = where(source)
    return f"{name} ({place})" if place else name


def fmt_shape(shape, batch: int | None = None) -> str:
    """(B, 32, 26, 26) with the batch dimension written B when it equals ``batch``."""
    if shape is None:
        return _("nothing")
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


def either(kinds) -> str:
    """'ReLU or ELU' for the kinds a table row accepts at one place."""
    text = kinds[0]
    for kind in kinds[1:]:
        text = _("{first} or {second}", first=text, second=kind)
    return text


def shape_problem(rec: LayerRecord, expected: list[int], batch: int, input_expected: list[int] | None) -> str:
    """Why ``rec`` produced the wrong shape, in the student's terms."""
    return shape_finding(rec, expected, batch, input_expected).text


def shape_head(rec: LayerRecord, found, expected, batch: int) -> str:
    """'conv1 (model.py line 12: ...) gives (B, 4, 24, 24), the table needs (B, 4, 26, 26).'"""
    return _("{layer} gives {found}, the table needs {expected}.", layer=layer_name(rec),
             found=fmt_shape(found, batch), expected=fmt_shape(expected, batch))


def shape_finding(rec: LayerRecord, expected: list[int], batch: int, input_expected: list[int] | None) -> Finding:
    """:func:`shape_problem` with its cause: ``upstream_shape`` (the input is already off), ``flatten_batch``,
    ``out_channels``, the convolution's fix (``padding``, ``kernel_size``, ``stride``, else ``conv_arithmetic``),
    ``pool_size``, ``out_features``, else ``wrong_shape``."""
    code, details = shape_details(rec, expected, batch, input_expected)
    return Finding(code, " ".join([shape_head(rec, rec.output_shape, expected, batch), *details]))


def shape_details(rec: LayerRecord, expected: list[int], batch: int,
                  input_expected: list[int] | None) -> tuple[str, list[str]]:
    """:func:`shape_finding`'s cause and its sentences after the first (the one :func:`shape_head` writes)."""
    found = rec.output_shape
    parts: list[str] = []
    if input_expected is not None and rec.input_shape is not None and list(rec.input_shape) != list(input_expected):
        parts.append(_("Its input is already {found} instead of {expected}: fix the earlier layer first.",
                       found=fmt_shape(rec.input_shape, batch), expected=fmt_shape(input_expected, batch)))
        return "upstream_shape", parts
    cfg, code = rec.config, "wrong_shape"
    if rec.kind == "Flatten" and rec.input_shape and found and (found[0] != batch or len(found) == 1):
        parts.append(flatten_rows_text(rec, batch, expected))
        return "flatten_batch", parts
    if rec.kind == "Conv2d" and cfg and found and len(found) == 4 and len(expected) == 4:
        if found[1] != expected[1]:
            parts.append(_("Its out_channels is {out_channels}; the table needs {expected}.",
                           out_channels=cfg["out_channels"], expected=expected[1]))
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
        parts.append(_("Its out_features is {out_features}; the table needs {expected}.",
                       out_features=cfg["out_features"], expected=expected[-1]))
        code = "out_features"
    elif rec.kind == "Flatten" and rec.input_shape and found:
        parts.append(_("Flattening {shape} gives {product} values per image.",
                       shape=fmt_shape(rec.input_shape, batch), product=product_text(rec.input_shape)))
    return code, parts


def flatten_fix() -> str:
    """How to flatten keeping one row per image, as the end of a sentence."""
    return _("flatten with torch.flatten(x, 1) or x.view(x.size(0), -1)")


def flatten_rows_text(rec: LayerRecord, batch: int, expected: list[int] | None = None) -> str:
    """Why a flatten made other than one row per image, with the numbers: 'its input (B, 512, 2, 2) holds 512 x 2 x
    2 = 2048 values per image, so rows of 512 cut each image into 4 rows'."""
    assert rec.input_shape is not None and rec.output_shape is not None
    found = rec.output_shape
    per_image = math.prod(rec.input_shape[1:])
    shape = fmt_shape(rec.input_shape, batch)
    if len(found) == 1:
        return _("It flattens the batch too: {shape} becomes ({values},), one long vector for all {batch} images. "
                 "Keep the batch dimension: {fix}.", shape=shape, values=found[0], batch=batch, fix=flatten_fix())
    row = math.prod(found[1:])
    want = math.prod(expected[1:]) if expected and len(expected) > 1 else None
    if found[0] > batch and found[0] % batch == 0:
        cut = _("Its input {shape} holds {product} values per image, so rows of {row} cut each image into {rows} "
                "rows.", shape=shape, product=product_text(rec.input_shape), row=row, rows=found[0] // batch)
        if want == per_image:
            return cut + " " + _("The input is what the table has here; the number in the view is not: {fix} (and "
                                 "the Linear after it takes in_features={want}).", fix=flatten_fix(), want=want)
        if want is not None:
            return cut + " " + _("The table needs {want} values per image here: compare the layers above with the "
                                 "table.", want=want)
        return cut
    return _("It turns {shape} ({per_image} values per image) into {rows} rows instead of the batch of {batch}: "
             "{fix}.", shape=shape, per_image=per_image, rows=found[0], batch=batch, fix=flatten_fix())


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
    lines = [_("Row '{row}' ends at {found}, the table needs {expected}. Its layers, in order:", row=row_label,
               found=fmt_shape(found, batch), expected=fmt_shape(expected, batch))]
    for rec in recs:
        steps = spatial_arithmetic(rec, None)
        lines.append(f"  {layer_name(rec)}: {fmt_shape(rec.input_shape, batch)} -> {fmt_shape(rec.output_shape, batch)}"
                     + (f"; {'; '.join(steps)}" if steps else ""))
    padded = [r for r in recs if r.kind == "Conv2d" and isinstance(r.config.get("padding"), list) and any(r.config["padding"])]
    if padded:
        unpadded = [LayerRecord(r.index, r.kind, r.name, r.source, r.input_shape, r.output_shape, r.params,
                                {**r.config, "padding": [0, 0]} if r in padded else r.config) for r in recs]
        if replay(unpadded, list(recs[0].input_shape)) == list(expected):
            lines.append(_("With padding=0 in {layers}, the row gives {expected}.",
                           layers=", ".join(r.name for r in padded), expected=fmt_shape(expected, batch)))
            return Finding("padding", "\n".join(lines))
    return Finding("wrong_shape", "\n".join(lines))


def missing_text(kinds: tuple[str, ...], row_label: str, after: LayerRecord | None) -> str:
    """'missing ReLU in row conv1 (after conv1 (model.py line 12))'."""
    if after is not None:
        return _("Missing {kinds} in row '{row}', after {layer}.", kinds=either(kinds), row=row_label,
                 layer=layer_name(after))
    return _("Missing {kinds} in row '{row}'.", kinds=either(kinds), row=row_label)


def param_formula(rec: LayerRecord) -> str:
    """'Conv2d(1, 32, 3): 1*32*3*3 + 32 = 320' for layers whose parameter count has a simple formula."""
    cfg = rec.config
    if rec.kind == "Conv2d" and cfg:
        kh, kw = cfg["kernel_size"]
        return _("Conv2d({in_channels}, {out_channels}, {kh}x{kw}) has {in_channels} x {out_channels} x {kh} x {kw} "
                 "weights + {out_channels} biases", in_channels=cfg["in_channels"], out_channels=cfg["out_channels"],
                 kh=kh, kw=kw)
    if rec.kind == "Linear" and cfg:
        return _("Linear({in_features}, {out_features}) has {in_features} x {out_features} weights + {out_features} "
                 "biases", in_features=cfg["in_features"], out_features=cfg["out_features"])
    return ""


def linear_finding(in_flight: dict, records: list[LayerRecord], batch: int) -> Finding:
    """Why a Linear's input does not fit it: the batch flattened away (``flatten_batch``), or the features per image
    against its in_features, with the layer that made them (``in_features``); ``("", "")`` when it fits."""
    if len(in_flight["input_shape"]) == 1:
        return Finding("flatten_batch", _(
            "{layer} gets {shape}, one vector with no batch dimension: the flatten before it took the batch with it. "
            "Flatten with torch.flatten(x, 1) or x.view(x.size(0), -1).", layer=layer_name(in_flight),
            shape=fmt_shape(in_flight["input_shape"], batch)))
    got = in_flight["input_shape"][-1]
    want = in_flight["config"].get("in_features")
    if want is None or got == want:
        return Finding("", "")
    fields = {"layer": layer_name(in_flight), "want": want, "out_features": in_flight["config"].get("out_features"),
              "got": got}
    source = _last_4d(records)
    if source is None:
        return Finding("in_features", _(
            "{layer} is Linear(in_features={want}, out_features={out_features}), but the layer before it produces "
            "{got} features per image. Set in_features={got}.", **fields))
    product = product_text(source.output_shape)
    return Finding("in_features", _(
        "{layer} is Linear(in_features={want}, out_features={out_features}), but the layer before it produces {got} "
        "features per image: {source} outputs {shape}, and {product}, not {want}. Set in_features={got} ({dims}).",
        **fields, source=layer_name(source), shape=fmt_shape(source.output_shape, batch), product=product,
        dims=product.split(" = ")[0]))


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
        return Finding("no_forward", _("Your class has no forward() method, so nn.Module has nothing to run when it "
                                       "is called: define def forward(self, x): (check its spelling) and return the "
                                       "outputs from it."))
    if isinstance(exc, NotImplementedError):
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)', tb_text)
        if frames:
            return Finding("not_implemented", _(
                "Not implemented yet ({function} in {file} line {line}): this part still raises NotImplementedError. "
                "Fill it in.", function=frames[-1][2], file=frames[-1][0], line=frames[-1][1]))
        return Finding("not_implemented", _("Not implemented yet: this part still raises NotImplementedError. Fill "
                                            "it in."))
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
    shape = fmt_shape(in_flight["input_shape"], batch)
    if got != want and previous is not None:
        return Finding("in_channels", _(
            "{layer} expects in_channels={want}, but its input {shape} has {got} channels (from {previous}). Set "
            "in_channels={got}.", layer=layer_name(in_flight), want=want, shape=shape, got=got,
            previous=layer_name(previous)))
    if got != want:
        return Finding("in_channels", _("{layer} expects in_channels={want}, but its input {shape} has {got} "
                                        "channels. Set in_channels={got}.", layer=layer_name(in_flight), want=want,
                                        shape=shape, got=got))
    if len(in_flight["input_shape"]) == 4:
        return Finding("feature_map_too_small", _(
            "{layer} gets {shape}: the feature map is smaller than the kernel. A layer before it shrinks the image "
            "too much.", layer=layer_name(in_flight), shape=shape))
    return Finding("", "")


def _skipped_name(exc: NameError, skipped_names: dict) -> Finding:
    """A NameError of a name that a top-level statement the grader does not run defines."""
    name = getattr(exc, "name", None) or (re.findall(r"name '(\w+)'", str(exc)) or [None])[0]
    if name not in skipped_names:
        return Finding("", "")
    skip = skipped_names[name]
    return Finding("skipped_name", _(
        "'{name}' is defined at {file} line {line}, which the grader does not run ({reason}). Define it from "
        "constants only, or compute it inside your class.", name=name, file=skip.file, line=skip.line,
        reason=skip.reason))


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
    return Finding("name_typo", _("{module} has no {name}: did you mean {module}.{close}?", module=match.group(1),
                                  name=match.group(2), close=close[0]))


VIEW_ERROR = re.compile(r"shape '\[([-\d, ]*)\]' is invalid for input of size (\d+)")


def _failing_line(tb_text: str) -> str:
    """Where the traceback ends, in the student's code ('model.py line 15: x = x.view(-1, 180)'), or ''."""
    lines = [line for line in tb_text.strip().splitlines() if line.strip()]
    if len(lines) < 3:
        return ""
    place = re.match(r'\s*File "(.+)", line (\d+)', lines[-3])
    if place is None:
        return ""
    return _("{file} line {line}: {code}", file=place.group(1), line=place.group(2), code=lines[-2].strip())


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
                return " " + _("({name} = {value}, set at {file} line {line})", name=match.group(1), value=value,
                               file=file, line=number)
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
        return Finding("batch_fixed", _(
            "A view/reshape{where} fixes the first dimension to {first}{constant}, but the batch holds {batch} "
            "images. Use x.view(x.size(0), -1) (or torch.flatten(x, 1)): the batch size is x.size(0), never a fixed "
            "number or a global batch_size.", where=code, first=dims[0], constant=batch_constant(dims[0], line),
            batch=batch))
    if source is not None and dims and dims[0] == -1 and source.output_shape:
        want = math.prod(d for d in dims[1:])
        return Finding("view_shape", _(
            "The view/reshape{where} asks for rows of {want} values, but its input, the output of {layer}, is "
            "{shape}: {product} values per image, not {want}. Fix the layer whose shape differs from the table "
            "(above), or the number in the view.", where=code, want=want, layer=layer_name(source),
            shape=fmt_shape(source.output_shape, batch), product=product_text(source.output_shape)))
    return Finding("view_shape", _(
        "A view/reshape{where} asks for a shape that does not fit the data of a batch of {batch} images. Use "
        "x.view(x.size(0), -1) (or torch.flatten(x, 1)): the batch size is x.size(0), never a fixed number or a "
        "global batch_size.", where=code, batch=batch))


def _last_4d(records: list[LayerRecord]) -> LayerRecord | None:
    for rec in reversed(records):
        if rec.output_shape is not None and len(rec.output_shape) == 4:
            return rec
    return None
