"""Hints read from the student's class source: typos Python accepts silently, and the course's NotImplemented stubs.

Interface:
    class_hints(class_site, class_name) -> list[str]   ``def init(self)``, ``def foward``, ``super(Other, self)``,
                                                       an ``__init__`` that never calls ``super().__init__()``
    stub_lines(spec, class_site, stubs) -> list[str]   per ``self.conv1 = NotImplemented``: what the table needs there
    stub_rows(spec, stubs) -> dict[str, str]           the table row each of those attributes stands for

Only the source is read (registered in linecache by the loader, or by the judge), nothing runs, so the judge can
call these as well as the child.
"""
from __future__ import annotations

import ast
import difflib
import linecache
import math

from grader.i18n import N_, _
from grader.inspection.load import strip_magics
from grader.spec import Row, Spec

# A layer attribute's name -> the kind of layer the table lists, by the prefixes students use.
NAME_KINDS = (("conv", "Conv2d"), ("fc", "Linear"), ("linear", "Linear"), ("lin", "Linear"), ("dense", "Linear"),
              ("out", "Linear"), ("last", "Linear"), ("classifier", "Linear"), ("drop", "Dropout"),
              ("bn", "BatchNorm2d"), ("batchnorm", "BatchNorm2d"), ("norm", "BatchNorm2d"), ("pool", "MaxPool2d"),
              ("maxpool", "MaxPool2d"))


def _class_node(class_site: str, class_name: str) -> tuple[ast.ClassDef | None, str]:
    """The ClassDef at ``class_site`` ("file:line") and its file name, read from linecache."""
    file, _sep, line = class_site.rpartition(":")
    if not file or not line.isdigit():
        return None, file
    source = "".join(linecache.getlines(file))
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return None, file
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == class_name and node.lineno == int(line):
            return node, file
    return None, file


def _without_magics(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines[0] = ""
    return strip_magics("\n".join(lines))[0]


def _methods(node: ast.ClassDef) -> dict[str, ast.FunctionDef]:
    return {item.name: item for item in node.body if isinstance(item, ast.FunctionDef)}


def _line(file: str, number: int) -> str:
    return _("{file} line {line}: {code}", file=file, line=number, code=linecache.getline(file, number).strip())


# A method Python never calls because of its misspelt name -> what the student reads.
MISSPELT = (("__init__", N_("{cls} defines {name} ({where}), not {wanted}: Python never calls {name}, so the layers it "
                            "creates never exist. Rename it to def {wanted}(self...).")),
            ("forward", N_("{cls} defines {name} ({where}), not {wanted}: Python never calls {name}, so nn.Module has "
                           "no forward to call. Rename it to def {wanted}(self...).")))


def class_hints(class_site: str, class_name: str) -> list[str]:
    """Typos in the class at ``class_site`` that Python accepts but that break the model, each with its fix."""
    node, file = _class_node(class_site, class_name)
    if node is None:
        return []
    methods = _methods(node)
    hints = []
    for wanted, message in MISSPELT:
        if wanted in methods:
            continue
        close = [name for name in methods if name != wanted and (
            name.strip("_") == wanted.strip("_") or difflib.SequenceMatcher(None, name, wanted).ratio() >= 0.75)]
        if close:
            method = methods[close[0]]
            hints.append(_(message, cls=class_name, name=close[0], where=_line(file, method.lineno), wanted=wanted))
    init = methods.get("__init__")
    if init is not None:
        supers = [call for call in ast.walk(init) if isinstance(call, ast.Call)
                  and isinstance(call.func, ast.Name) and call.func.id == "super"]
        for call in supers:
            if call.args and isinstance(call.args[0], ast.Name) and call.args[0].id != class_name:
                hints.append(_("{cls}.__init__ calls super({other}, self) ({where}), naming the class {other}, "
                               "not {cls}: write super().__init__() (or super({cls}, self).__init__()).",
                               cls=class_name, other=call.args[0].id, where=_line(file, call.lineno)))
        module_init = any(isinstance(c, ast.Attribute) and c.attr == "__init__" for c in ast.walk(init))
        if not supers and not module_init:
            hints.append(_("{cls}.__init__ ({where}) never calls super().__init__(): nn.Module must be set up "
                           "before any layer is assigned. Make it the first line.", cls=class_name,
                           where=_line(file, init.lineno)))
    return hints


def _stub_lines_in(node: ast.ClassDef | None, file: str) -> dict[str, int]:
    """attribute -> line of ``self.<attribute> = NotImplemented`` in the class."""
    found: dict[str, int] = {}
    for item in ast.walk(node) if node is not None else []:
        if isinstance(item, ast.Assign) and isinstance(item.value, ast.Name) and item.value.id == "NotImplemented":
            for target in item.targets:
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self":
                    found.setdefault(target.attr, item.lineno)
    return found


def _kind_of(name: str) -> str | None:
    lowered = name.lower()
    for prefix, kind in NAME_KINDS:
        if lowered.startswith(prefix) or (len(prefix) > 3 and prefix in lowered):
            return kind
    return None


def _row_for_each(spec: Spec, stubs: list[str]) -> dict[str, int]:
    """The table row each stub stands for: the row of its name, else the next row holding a layer of its kind."""
    labels = {row.label: i for i, row in enumerate(spec.rows)}
    rows: dict[str, int] = {}
    used: dict[str, int] = {}  # kind -> how many layers of that kind the stubs took so far
    for name in stubs:
        if name in labels:
            rows[name] = labels[name]
            continue
        kind = _kind_of(name)
        if kind is None:
            continue
        slots = [i for i, row in enumerate(spec.rows) for kinds in row.layers if kind in kinds]
        taken = used.get(kind, 0)
        if taken < len(slots):
            rows[name] = slots[taken]
            used[kind] = taken + 1
        elif slots:
            rows[name] = slots[-1]
    return rows


def stub_rows(spec: Spec, stubs: list[str]) -> dict[str, str]:
    """The label of the table row each NotImplemented attribute stands for (those whose row is unknown are left
    out): the row of its name, else the next row holding a layer of its kind."""
    return {name: spec.rows[index].label for name, index in _row_for_each(spec, stubs).items()}


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def row_need(spec: Spec, index: int) -> str:
    """What the table's row ``index`` asks of its layer: 'the table's row conv1 (Conv2d, ReLU) takes (B, 1, 28, 28)
    to (B, 20, 26, 26): nn.Conv2d(1, 20, kernel_size=K) with floor((28 - K + 2P) / S) + 1 = 26'."""
    row: Row = spec.rows[index]
    before = list(spec.rows[index - 1].shape) if index > 0 else ["B", *spec.input_shape]
    after = list(row.shape)
    fields = {"row": row.label, "kinds": ", ".join("|".join(k) for k in row.layers), "before": _shape(before),
              "after": _shape(after)}
    first = row.layers[0]
    if "Conv2d" in first and len(before) == 4 and len(after) == 4:
        return _("the table's row '{row}' ({kinds}) takes {before} to {after}: nn.Conv2d({in_channels}, "
                 "{out_channels}, kernel_size=K) with floor(({size} - K + 2P) / S) + 1 = {out}", **fields,
                 in_channels=before[1], out_channels=after[1], size=before[2], out=after[2])
    if "Linear" in first and len(after) == 2:
        dims = [d for d in before[1:] if isinstance(d, int)]
        features = math.prod(dims) if len(dims) == len(before) - 1 else "?"
        return _("the table's row '{row}' ({kinds}) takes {before} to {after}: nn.Linear({in_features}, "
                 "{out_features})", **fields, in_features=features, out_features=after[1])
    if any(k.startswith("Dropout") for k in first):
        return _("the table's row '{row}' ({kinds}) takes {before} to {after}: nn.Dropout(p)", **fields)
    return _("the table's row '{row}' ({kinds}) takes {before} to {after}", **fields)


def stub_lines(spec: Spec, class_site: str, class_name: str, stubs: list[str]) -> list[str]:
    """One line per NotImplemented attribute: where it is and what the table's row needs there."""
    node, file = _class_node(class_site, class_name)
    lines_of = _stub_lines_in(node, file)
    rows = _row_for_each(spec, stubs)
    out = []
    for name in stubs:
        place = f" ({_line(file, lines_of[name])})" if name in lines_of else ""
        need = f" ({row_need(spec, rows[name])})" if name in rows else ""
        out.append(_("{name} is still NotImplemented{where}: fill it in{need}.", name=name, where=place, need=need))
    return out
