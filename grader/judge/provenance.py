"""Whether the exported model is the class the observation names: its layers must be built by that class's code.

Public interface:

* :func:`foreign_layers`: the layers of the graph whose construction line (``site``) lies outside the graded class
  and everything its code refers to (its bases, helper classes and functions, module-level tables), or that carry
  weights but were not built while the class was: a graph exported from another model than the one named.

The observation is written by the process that ran the student's code, so it could name one class and carry the
graph of another. The judge reads the submitted source itself (never runs it) to tell.
"""
from __future__ import annotations

import ast

from grader.i18n import _
from grader.inspection.load import CodeUnit

Span = tuple[str, int, int]  # (unit's file name, first line, last line)


def _top_level(units: list[CodeUnit]) -> dict[str, list[tuple[Span, ast.AST]]]:
    """Every name a unit defines at its top level (class, function, assignment, import), with its span."""
    found: dict[str, list[tuple[Span, ast.AST]]] = {}
    modules = {unit.filename.rsplit("/", 1)[-1].removesuffix(".py"): unit for unit in units
               if unit.filename.endswith(".py")}
    modules.update({unit.writes.removesuffix(".py"): unit for unit in units if unit.writes.endswith(".py")})
    for unit in units:
        try:
            tree = ast.parse(unit.source)
        except SyntaxError:
            continue
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)]
            elif isinstance(node, ast.Import):  # ``import models``: a student module, all of it
                for alias in node.names:
                    other = modules.get(alias.name)
                    if other is not None:
                        whole = (other.filename, 1, other.source.count("\n") + 1)
                        found.setdefault(alias.asname or alias.name, []).append((whole, ast.parse(other.source)))
            span = (unit.filename, node.lineno, getattr(node, "end_lineno", node.lineno) or node.lineno)
            for name in names:
                found.setdefault(name, []).append((span, node))
    return found


def _reachable(class_name: str, units: list[CodeUnit]) -> list[Span] | None:
    """The spans of ``class_name`` and of every top-level definition its code refers to, transitively; None when
    the class is not defined at the top level of the submitted code."""
    defined = _top_level(units)
    if not any(isinstance(node, ast.ClassDef) for _span, node in defined.get(class_name, [])):
        return None
    spans: list[Span] = []
    todo, seen = [class_name], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for span, node in defined.get(name, []):
            spans.append(span)
            todo += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    return spans


def foreign_layers(class_name: str, units: list[CodeUnit], labels: dict, weighted: set[str]) -> list[str]:
    """The leaf layers of ``labels`` (the graph's module table) that ``class_name`` did not build: those built on
    a line of the submitted code that the class does not reach, and those with weights (paths in ``weighted``)
    that were built while no class was (no line at all). [] when the class is not defined at the top level of
    the submitted code (nothing to tell by)."""
    spans = _reachable(class_name, units)
    if spans is None:
        return []
    files = {unit.filename for unit in units}
    foreign = []
    for path, label in labels.items():
        if not isinstance(label, dict) or not label.get("leaf"):
            continue
        site = label.get("site") if isinstance(label.get("site"), str) else ""
        if not site:
            if path in weighted:
                foreign.append(_("{path} (built outside {cls}())", path=path, cls=class_name))
            continue
        file, _sep, line = site.rpartition(":")
        if file not in files or not line.isdigit():
            continue
        if not any(file == f and first <= int(line) <= last for f, first, last in spans):
            foreign.append(f"{path} ({site})")
    return foreign
