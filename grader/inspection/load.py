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
import re
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path

from grader.i18n import _
from grader.inspection.budget import PhaseTimeout

CODE_SUFFIXES = (".py", ".ipynb")
TAG_RUN, TAG_SKIP = "grader:run", "grader:skip"
# A comment on a class's line, or the line above it, that pins the class to grade: ``class SimpleVGG(nn.Module):
# # grader: model``. See docs/checks.md ("Which class is graded").
MODEL_MARKER = re.compile(r"#\s*grader:\s*model\b")
# Cell magics whose body is Python: the body is read under the definitions-only rule like any cell.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
WRITEFILE_MAGICS = {"writefile", "file"}
# IPython line syntax that is not Python: ``!cmd``, ``%magic``, ``x = !cmd``, ``nn.Conv2d?``, ``?nn.Conv2d``.
_SHELL_ASSIGN = re.compile(r"^\s*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")
_HELP = re.compile(r"^\s*(\?{1,2}\s*[\w.]+|[\w.]+\s*\?{1,2})\s*$")
_CARET_LINE = re.compile(r"^\s*[\^~]+\s*$")
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
    # what a student may not expect to be skipped (an import, a name from a skipped line, a %% cell): listed first
    surprising: bool = False


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
    marked: set[tuple[str, str]] = field(default_factory=set)  # (module, class) carrying the MODEL_MARKER comment

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
            return _("assigns to an attribute or item, not a plain name")
        if stmt.value is None or _is_constant_like(stmt.value):
            return None
        return _("assignment that calls code (only constants and definitions run)")
    if isinstance(stmt, ast.Try):
        inner = [s for s in stmt.body] + [s for h in stmt.handlers for s in h.body] + stmt.orelse + stmt.finalbody
        if all(isinstance(s, (ast.Import, ast.ImportFrom, ast.Pass)) or keep_reason(s) is None for s in inner):
            return None
        return _("try-block that does more than import")
    if isinstance(stmt, ast.If):
        test = ast.unparse(stmt.test)
        if "__name__" in test and "__main__" in test:
            return _("main guard (if __name__ == \"__main__\")")
        return _("top-level if-block")
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return _("top-level loop (training or data loading)")
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return _("top-level with-block (files or training)")
    if isinstance(stmt, ast.Expr):
        return _("top-level call or expression")
    return _("top-level {kind} statement", kind=type(stmt).__name__.lower())


def is_magic_line(line: str) -> bool:
    """True for an IPython line that is not Python: ``!cmd``, ``%magic``, ``x = !cmd``, ``nn.Conv2d?``."""
    return line.lstrip().startswith(("!", "%")) or bool(_SHELL_ASSIGN.match(line)) or bool(_HELP.match(line))


def strip_magics(source: str) -> tuple[str, list[int]]:
    """Blank out IPython lines (see :func:`is_magic_line`) keeping line numbers; return the source and those lines."""
    lines, magic = [], []
    for number, line in enumerate(source.splitlines(), start=1):
        if is_magic_line(line):
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
    magic: str = ""  # the cell magic of its first line ("time", "writefile"...), "" for none
    writes: str = ""  # for a %%writefile cell: the file it writes ("model.py")
    append: bool = False  # %%writefile -a

    @property
    def body(self) -> str:
        """The source with a cell magic's line blanked (line numbers stay those of the cell)."""
        if not self.magic:
            return self.source
        lines = self.source.splitlines()
        first = next(i for i, line in enumerate(lines) if line.strip())
        return "\n".join("" if i <= first else line for i, line in enumerate(lines)) + "\n"


def _cell_magic(source: str) -> tuple[str, list[str]]:
    """(magic name, its arguments) of a cell starting with ``%%name args``, else ("", [])."""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    if not first.startswith("%%"):
        return "", []
    words = first[2:].split()
    return (words[0], words[1:]) if words else ("", [])


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
            magic, args = _cell_magic(cell.source)
            unit = CodeUnit(f"{display} [cell {index}]", cell.source, tags, magic)
            if magic in WRITEFILE_MAGICS:
                names = [a for a in args if not a.startswith("-")]
                unit.writes = names[-1].strip("'\"") if names else ""
                unit.append = "-a" in args or "--append" in args
            units.append(unit)
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
    lines = ([_("Traceback (your code):") + "\n"] + traceback.format_list(frames)) if frames else []
    lines += traceback.format_exception_only(type(exc), exc)
    last = frames[-1] if frames else None
    # Python's ^^^^ markers under the failing expression read as noise once the text is quoted in a sentence.
    text = "\n".join(line for line in "".join(lines).splitlines() if not _CARET_LINE.match(line)) + "\n"
    return text, ((last.lineno or 0) if last else 0), (last.filename if last else "")


def _is_unavailable_import(stmt: ast.stmt, exc: BaseException) -> bool:
    """An import of a module that is not installed where the grader runs (seaborn, google.colab...).

    The reference solutions are refused with an ImportError of their own kind: that stays an error.
    """
    return type(exc) is ModuleNotFoundError and isinstance(stmt, (ast.Import, ast.ImportFrom))


def _bound_names(stmt: ast.stmt) -> list[str]:
    """The plain names a top-level statement binds (assignment targets, imported names)."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in stmt.names if alias.name != "*"]
    targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
    return [node.id for target in targets if target is not None for node in ast.walk(target)
            if isinstance(node, ast.Name)]


def _skipped_cell(unit: CodeUnit, module: types.ModuleType) -> Skipped | None:
    """The whole unit skipped (a cell tagged grader:skip, a %%writefile cell of a notebook, a cell magic that is
    not Python), or None when its statements are read one by one."""
    if TAG_SKIP in unit.tags:
        return Skipped(unit.filename, 1, _("cell tagged {tag}", tag=TAG_SKIP))
    if unit.magic in WRITEFILE_MAGICS and module.__name__.startswith(NOTEBOOK_PREFIX):
        # the .py file it writes is a module of its own (see load_submission)
        reason = (_("%%{magic} cell: writes {file}: loaded as the module {module}", magic=unit.magic,
                    file=unit.writes, module=Path(unit.writes).stem) if unit.writes.endswith(".py") else
                  _("%%{magic} cell: writes {file} (not Python)", magic=unit.magic, file=unit.writes or _("a file")))
        return Skipped(unit.filename, 1, reason, surprising=True)
    if unit.magic and unit.magic not in PYTHON_CELL_MAGICS and unit.magic not in WRITEFILE_MAGICS:
        return Skipped(unit.filename, 1, _("%%{magic} cell (not Python)", magic=unit.magic), surprising=True)
    return None


class _Runner:
    """Runs the kept statements of code units into modules, recording skips and errors."""

    def __init__(self, sub: Submission):
        self.sub = sub

    def _skip(self, unit: CodeUnit, stmt: ast.stmt, source: str, reason: str, surprising: bool = False) -> None:
        text = ast.get_source_segment(source, stmt) or ""
        skipped = Skipped(unit.filename, stmt.lineno, reason, text.splitlines()[0][:100] if text else "", surprising)
        self.sub.skipped.append(skipped)
        for name in _bound_names(stmt):
            self.sub.skipped_names.setdefault(name, skipped)

    def run_unit(self, unit: CodeUnit, module: types.ModuleType) -> None:
        whole = _skipped_cell(unit, module)
        if whole is not None:
            self.sub.skipped.append(whole)
            return
        source, magic_lines = strip_magics(unit.body)
        for line in magic_lines:
            self.sub.skipped.append(Skipped(unit.filename, line, _("shell command or IPython magic"),
                                            unit.source.splitlines()[line - 1].strip()))
        register_source(unit.filename, unit.source)
        self.sub.student_files.add(unit.filename)
        try:
            tree = ast.parse(source, filename=unit.filename)
        except SyntaxError as exc:
            text, line, _file = student_traceback(exc, self.sub.student_files)
            self.sub.errors.append(LoadError(unit.filename, line, "SyntaxError", exc.msg or "invalid syntax", text))
            return
        run_all = TAG_RUN in unit.tags
        lines = unit.source.splitlines()
        for stmt in tree.body:
            reason = None if run_all else keep_reason(stmt)
            if reason is not None:
                self._skip(unit, stmt, source, reason)
                continue
            if isinstance(stmt, ast.ClassDef):
                self.sub.class_sites[(module.__name__, stmt.name)] = f"{unit.filename}:{stmt.lineno}"
                around = lines[max(stmt.lineno - 2, 0):stmt.lineno]
                if any(MODEL_MARKER.search(line) for line in around):
                    self.sub.marked.add((module.__name__, stmt.name))
            code = compile(ast.Module(body=[stmt], type_ignores=[]), unit.filename, "exec")
            try:
                exec(code, module.__dict__)
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything, SystemExit included
                if isinstance(exc, (KeyboardInterrupt, PhaseTimeout)):
                    raise
                if _is_unavailable_import(stmt, exc):
                    what = stmt.module if isinstance(stmt, ast.ImportFrom) and stmt.module else \
                        ", ".join(alias.name for alias in getattr(stmt, "names", []))
                    self._skip(unit, stmt, source, _("imports {module}, which is not installed where the grader "
                                                     "runs; nothing graded needs it", module=what), surprising=True)
                    continue
                name = getattr(exc, "name", None)
                if isinstance(exc, NameError) and name in self.sub.skipped_names \
                        and not isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    origin = self.sub.skipped_names[name]
                    self._skip(unit, stmt, source, _("uses {name}, set at {file} line {line}, which does not run",
                                                     name=name, file=origin.file, line=origin.line), surprising=True)
                    continue
                text, line, _file = student_traceback(exc, self.sub.student_files)
                self.sub.errors.append(LoadError(unit.filename, line or stmt.lineno, type(exc).__name__,
                                                 str(exc), text))


NOTEBOOK_PREFIX = "student_notebook_"
FILE_PREFIX = "student_file_"


@dataclass
class ModuleSource:
    """The code of one student module: a .py file, or what a notebook's ``%%writefile`` cells write."""

    origin: Path
    units: list[CodeUnit]


class _SubmissionFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets student files import each other (``from model import MyCNN``) under the same definitions-only rule."""

    def __init__(self, runner: _Runner, sources: dict[str, ModuleSource]):
        self.runner, self.sources = runner, sources

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.sources:
            return importlib.util.spec_from_loader(fullname, self, origin=str(self.sources[fullname].origin))
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source = self.sources[module.__name__]
        module.__file__ = str(source.origin)
        self.runner.sub.modules[module.__name__] = module
        for unit in source.units:
            self.runner.run_unit(unit, module)


def _read_units(sub: Submission, file: Path) -> list[CodeUnit] | None:
    """The code units of one file, or None (with a load error) when the notebook cannot be read."""
    display = sub.relative(file)
    try:
        return code_units(file, display)
    except Exception as exc:  # noqa: BLE001 - nbformat refuses the file
        sub.errors.append(LoadError(display, 0, type(exc).__name__, _("not a readable notebook: {error}", error=exc),
                                    ""))
        return None


def _written_files(notebooks: dict[Path, list[CodeUnit]]) -> dict[str, list[CodeUnit]]:
    """What the ``%%writefile NAME.py`` cells of the notebooks write, by module name, in cell order."""
    written: dict[str, list[CodeUnit]] = {}
    for units in notebooks.values():
        for unit in units:
            if unit.magic in WRITEFILE_MAGICS and unit.writes.endswith(".py"):
                stem = Path(unit.writes).stem
                written[stem] = [*written.get(stem, []), unit] if unit.append else [unit]
    return written


def load_submission(path: str | Path) -> Submission:
    """Discover a submission and run the definitions of every code file into its own module.

    Any .py loads, whatever its name (``10_1_cnn_mnist.py``, ``Lab 1.py``): a file whose name is a free Python
    identifier can also be imported by the others (``from model import MyCNN``); the rest load under a private
    module name. A notebook's ``%%writefile model.py`` cell is that file: importable as ``model``, and code of the
    submission (a real model.py beside the notebook wins).
    """
    sub = list_submission_files(path)
    runner = _Runner(sub)
    importable: dict[str, ModuleSource] = {}
    private: list[ModuleSource] = []
    notebooks: dict[Path, list[CodeUnit]] = {}
    for file in sub.code_files:
        units = _read_units(sub, file)
        if units is None:
            continue
        if file.suffix == ".ipynb":
            notebooks[file] = units
            continue
        stem = file.stem
        if stem.isidentifier() and stem not in sys.modules and stem not in importable:
            importable[stem] = ModuleSource(file, units)
        else:
            if stem in sys.modules:
                sub.skipped.append(Skipped(sub.relative(file), 1, _(
                    "file name {file} is also a Python module's: it loads, but 'import {module}' gets the installed "
                    "module", file=repr(file.name), module=stem)))
            private.append(ModuleSource(file, units))
    for stem, units in _written_files(notebooks).items():
        if stem in importable or stem in sys.modules or not stem.isidentifier():
            continue
        importable[stem] = ModuleSource(next(f for f, us in notebooks.items() if units[0] in us), units)
    finder = _SubmissionFinder(runner, importable)
    sys.meta_path.insert(0, finder)
    try:
        for stem in importable:
            if stem not in sub.modules:
                try:
                    importlib.import_module(stem)
                except BaseException as exc:  # noqa: BLE001
                    if isinstance(exc, (KeyboardInterrupt, PhaseTimeout)):
                        raise
                    text, line, filename = student_traceback(exc, sub.student_files)
                    sub.errors.append(LoadError(filename or stem, line, type(exc).__name__, str(exc), text))
        loose = [(FILE_PREFIX, source.origin, source.units) for source in private]
        loose += [(NOTEBOOK_PREFIX, file, units) for file, units in notebooks.items()]
        for index, (prefix, file, units) in enumerate(loose):
            module = types.ModuleType(f"{prefix}{index}")
            module.__file__ = str(file)
            sys.modules[module.__name__] = module
            sub.modules[module.__name__] = module
            for unit in units:
                runner.run_unit(unit, module)
    finally:
        sys.meta_path.remove(finder)
    return sub
