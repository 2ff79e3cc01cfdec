"""Load a student's submission: find its files and run only the definitions in its code.

Only definitions run: imports, classes, functions, and assignments of constant-like values
(``batch_size = 64``, a ``cfg`` dict, ``device = torch.device(...)``). Top-level training loops, downloads,
plotting, file writes, ``!pip`` / ``%magic`` lines and ``if __name__ == "__main__":`` blocks never run; each
skipped statement is listed with its line and the reason. Notebook cell tags override the rule:
``grader:run`` runs the whole cell, ``grader:skip`` skips it.

This module runs student code: call it only inside the child process (see ``grader.sandbox``).
"""
from __future__ import annotations

import ast
import importlib.abc
import importlib.util
import linecache
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

from grader.inspection.budget import PhaseTimeout

CODE_SUFFIXES = (".py", ".ipynb")
TAG_RUN, TAG_SKIP = "grader:run", "grader:skip"
IGNORED_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", "__MACOSX", "data", ".venv", "venv"}

# Calls allowed on the right of a kept assignment: they build values, they do not train or touch files.
SAFE_CALLS = {
    "torch.device", "torch.cuda.is_available", "torch.backends.mps.is_available", "torch.manual_seed",
    "torch.tensor", "torch.float32", "dict", "list", "tuple", "set", "range", "int", "float", "str", "len",
    "bool", "max", "min", "abs", "round", "sorted", "zip", "enumerate", "frozenset", "OrderedDict",
    "collections.OrderedDict", "math.sqrt", "math.floor", "math.ceil", "os.environ.get",
}
SAFE_CALL_PREFIXES = ("transforms.", "torchvision.transforms.", "T.")


@dataclass
class Skipped:
    """A top-level statement (or cell) that did not run, and why."""

    file: str
    line: int
    reason: str
    text: str = ""


@dataclass
class LoadError:
    """An error raised while running a kept statement: the student's traceback, with their file and line."""

    file: str
    line: int
    kind: str
    message: str
    traceback: str


@dataclass
class Submission:
    """The files of one submission and what happened when its definitions ran."""

    root: Path
    code_files: list[Path] = field(default_factory=list)
    other_files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    modules: dict[str, types.ModuleType] = field(default_factory=dict)
    skipped_names: dict[str, Skipped] = field(default_factory=dict)  # name -> the skipped statement assigning it
    student_files: set[str] = field(default_factory=set)  # filenames as they appear in tracebacks
    class_sites: dict[tuple[str, str], str] = field(default_factory=dict)  # (module, class) -> "file:line"

    def relative(self, path: str | Path) -> str:
        """A path as the student knows it: relative to the submission root."""
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def list_submission_files(path: str | Path) -> Submission:
    """List a submission's files: a folder (searched recursively) or a single .py / .ipynb file."""
    path = Path(path)
    if path.is_file():
        return Submission(root=path.parent, code_files=[path] if path.suffix in CODE_SUFFIXES else [],
                          other_files=[] if path.suffix in CODE_SUFFIXES else [path])
    sub = Submission(root=path)
    for item in sorted(path.rglob("*")):
        if not item.is_file() or any(part in IGNORED_DIRS or part.startswith(".") for part in item.relative_to(path).parts[:-1]):
            continue
        (sub.code_files if item.suffix in CODE_SUFFIXES else sub.other_files).append(item)
    return sub


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _is_constant_like(node: ast.AST) -> bool:
    """True for expressions that only build values: literals, names, arithmetic and a few safe calls."""
    for child in ast.walk(node):
        if isinstance(child, (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)):
            return False
        if isinstance(child, ast.Call):
            name = _dotted(child.func)
            if name not in SAFE_CALLS and not name.startswith(SAFE_CALL_PREFIXES):
                return False
    return True


def _targets_are_names(targets) -> bool:
    def ok(t):
        return isinstance(t, ast.Name) or (isinstance(t, (ast.Tuple, ast.List)) and all(ok(e) for e in t.elts))
    return all(ok(t) for t in targets)


def keep_reason(stmt: ast.stmt) -> str | None:
    """None when a top-level statement is a definition that runs; otherwise why it is skipped."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
        return None
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return None  # a docstring or a bare literal
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        if not _targets_are_names(targets):
            return "assigns to an attribute or item, not a plain name"
        if stmt.value is None or _is_constant_like(stmt.value):
            return None
        return "assignment that calls code (only constants and definitions run)"
    if isinstance(stmt, ast.Try):
        inner = [s for s in stmt.body] + [s for h in stmt.handlers for s in h.body] + stmt.orelse + stmt.finalbody
        if all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or keep_reason(s) is None for s in inner):
            return None
        return "try-block that does more than import"
    if isinstance(stmt, ast.If):
        test = ast.unparse(stmt.test)
        if "__name__" in test and "__main__" in test:
            return "main guard (if __name__ == \"__main__\")"
        return "top-level if-block"
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return "top-level loop (training or data loading)"
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return "top-level with-block (files or training)"
    if isinstance(stmt, ast.Expr):
        return "top-level call or expression"
    return f"top-level {type(stmt).__name__.lower()} statement"


def strip_magics(source: str) -> tuple[str, list[int]]:
    """Blank out IPython lines (``!cmd``, ``%magic``) keeping line numbers; return the source and those lines."""
    lines, magic = [], []
    for number, line in enumerate(source.splitlines(), start=1):
        if line.lstrip().startswith(("!", "%")):
            magic.append(number)
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", magic


@dataclass
class CodeUnit:
    """A piece of source that runs in one module: a .py file or one notebook cell."""

    filename: str  # as shown in tracebacks: "model.py" or "lab.ipynb [cell 3]"
    source: str
    tags: tuple[str, ...] = ()


def code_units(path: Path, display: str) -> list[CodeUnit]:
    """The code of a .py file (one unit) or a notebook (one unit per code cell), read with nbformat."""
    if path.suffix == ".py":
        return [CodeUnit(display, path.read_text(encoding="utf-8", errors="replace"))]
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    units = []
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type == "code":
            tags = tuple(cell.get("metadata", {}).get("tags", []))
            units.append(CodeUnit(f"{display} [cell {index}]", cell.source, tags))
    return units


def register_source(filename: str, source: str) -> None:
    # So tracebacks and the feedback can quote the student's line, also for notebook cells.
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)


def student_traceback(exc: BaseException, student_files: set[str]) -> tuple[str, int, str]:
    """The traceback cut down to the student's own frames: (text, line of the last student frame, its file)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in student_files]
    if isinstance(exc, SyntaxError) and exc.filename in student_files:
        text = "".join(traceback.format_exception_only(type(exc), exc))
        return text, exc.lineno or 0, exc.filename
    lines = ["Traceback (your code):\n"] + traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    last = frames[-1] if frames else None
    return "".join(lines), ((last.lineno or 0) if last else 0), (last.filename if last else "")


class _Runner:
    """Runs the kept statements of code units into modules, recording skips and errors."""

    def __init__(self, sub: Submission):
        self.sub = sub

    def run_unit(self, unit: CodeUnit, module: types.ModuleType) -> None:
        if TAG_SKIP in unit.tags:
            self.sub.skipped.append(Skipped(unit.filename, 1, f"cell tagged {TAG_SKIP}"))
            return
        if unit.source.lstrip().startswith("%%"):
            self.sub.skipped.append(Skipped(unit.filename, 1, "cell magic (%%) cell"))
            return
        source, magic_lines = strip_magics(unit.source)
        for line in magic_lines:
            self.sub.skipped.append(Skipped(unit.filename, line, "shell command or IPython magic",
                                            unit.source.splitlines()[line - 1].strip()))
        register_source(unit.filename, unit.source)
        self.sub.student_files.add(unit.filename)
        try:
            tree = ast.parse(source, filename=unit.filename)
        except SyntaxError as exc:
            text, line, _ = student_traceback(exc, self.sub.student_files)
            self.sub.errors.append(LoadError(unit.filename, line, "SyntaxError", exc.msg or "invalid syntax", text))
            return
        run_all = TAG_RUN in unit.tags
        for stmt in tree.body:
            reason = None if run_all else keep_reason(stmt)
            if reason is not None:
                text = ast.get_source_segment(source, stmt) or ""
                skipped = Skipped(unit.filename, stmt.lineno, reason, text.splitlines()[0][:100] if text else "")
                self.sub.skipped.append(skipped)
                for target in getattr(stmt, "targets", [getattr(stmt, "target", None)]):
                    for node in ast.walk(target) if target is not None else []:
                        if isinstance(node, ast.Name):
                            self.sub.skipped_names.setdefault(node.id, skipped)
                continue
            if isinstance(stmt, ast.ClassDef):
                self.sub.class_sites[(module.__name__, stmt.name)] = f"{unit.filename}:{stmt.lineno}"
            code = compile(ast.Module(body=[stmt], type_ignores=[]), unit.filename, "exec")
            try:
                exec(code, module.__dict__)
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit included
                if isinstance(exc, (KeyboardInterrupt, PhaseTimeout)):
                    raise
                text, line, _ = student_traceback(exc, self.sub.student_files)
                self.sub.errors.append(LoadError(unit.filename, line or stmt.lineno, type(exc).__name__,
                                                 str(exc), text))


class _SubmissionFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets student files import each other (``from model import MyCNN``) under the same definitions-only rule."""

    def __init__(self, runner: _Runner, files: dict[str, tuple[Path, str]]):
        self.runner, self.files = runner, files

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.files:
            return importlib.util.spec_from_loader(fullname, self, origin=str(self.files[fullname][0]))
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        file, display = self.files[module.__name__]
        module.__file__ = str(file)
        self.runner.sub.modules[module.__name__] = module
        for unit in code_units(file, display):
            self.runner.run_unit(unit, module)


def load_submission(path: str | Path) -> Submission:
    """Discover a submission and run the definitions of every code file into its own module."""
    sub = list_submission_files(path)
    runner = _Runner(sub)
    py_files: dict[str, tuple[Path, str]] = {}
    for file in sub.code_files:
        if file.suffix == ".py":
            stem = file.stem
            if stem in sys.modules or not stem.isidentifier() or stem in py_files:
                sub.skipped.append(Skipped(sub.relative(file), 1, f"file name {file.name!r} would shadow a Python module"
                                           if stem in sys.modules else f"file name {file.name!r} is not importable"))
                continue
            py_files[stem] = (file, sub.relative(file))
    finder = _SubmissionFinder(runner, py_files)
    sys.meta_path.insert(0, finder)
    try:
        for stem in py_files:
            if stem not in sub.modules:
                try:
                    importlib.import_module(stem)
                except BaseException as exc:  # noqa: BLE001
                    if isinstance(exc, (KeyboardInterrupt, PhaseTimeout)):
                        raise
                    text, line, filename = student_traceback(exc, sub.student_files)
                    sub.errors.append(LoadError(filename or stem, line, type(exc).__name__, str(exc), text))
        for index, file in enumerate(f for f in sub.code_files if f.suffix == ".ipynb"):
            display = sub.relative(file)
            module = types.ModuleType(f"student_notebook_{index}")
            module.__file__ = str(file)
            sys.modules[module.__name__] = module
            sub.modules[module.__name__] = module
            try:
                units = code_units(file, display)
            except Exception as exc:  # nbformat refuses the file
                sub.errors.append(LoadError(display, 0, type(exc).__name__, f"not a readable notebook: {exc}", ""))
                continue
            for unit in units:
                runner.run_unit(unit, module)
    finally:
        sys.meta_path.remove(finder)
    return sub
