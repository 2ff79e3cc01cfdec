"""The code of one submission, read without running it and within fixed bounds, for the similarity flags.

Public interface:

* :class:`SourceFile`: one unit of code, named as the student knows it (``model.py``, ``src/train.py``,
  ``lab.ipynb [cell 3]``: one unit per notebook code cell, as the grader names them elsewhere), its text with the
  lines numbered as in the student's own file or cell.
* :class:`Sources`: the units of a submission and what was left out, and why.
* :func:`read_sources`: the units of an entry's path (a folder, a .zip, a single .py or .ipynb; the entry itself
  may be a link, as when an instructor links the submissions into one folder: it is resolved, and no link inside
  it is ever followed).

Bounds, whatever the submission holds: at most ``max_bytes`` of code read from it in all (its files smallest first,
so a file of padding is the one cut; a zip's members are read from their decompressing stream, so a zip bomb costs
no more than its budget); a notebook is read whole up to :data:`MAX_NOTEBOOK_BYTES` (its outputs, plots included,
are dropped and never count against the code's budget, at most :data:`MAX_READ_BYTES` read in all); at most
:data:`MAX_FILES` code files and :data:`MAX_MEMBERS` entries looked at and :data:`MAX_UNITS` files and cells kept,
never a link or anything but a regular file opened, and a notebook that is not JSON (or is nested too deeply to
parse) yields no code rather than an error. Line ends (CRLF, a lone CR) are read as LF, so lines are
numbered as an editor shows them. IPython lines that are not Python (``!pip``, ``%matplotlib``, see
:func:`grader.inspection.load.is_magic_line`) are blanked, keeping the line numbers; a cell of a non-Python cell
magic (``%%bash``) is left out (``not_python``). Any code read short or left out is a line of ``skipped``.
"""
from __future__ import annotations

import functools
import json
import os
import stat
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.i18n import _
from grader.inspection.load import IGNORED_DIRS, PYTHON_CELL_MAGICS, WRITEFILE_MAGICS, is_magic_line

CODE_SUFFIXES = (".py", ".ipynb")
MAX_BYTES = 8 << 20  # of code read from one submission in all (a real one has 5 to 50 KB)
MAX_NOTEBOOK_BYTES = 64 << 20  # one notebook read whole, its outputs with it (plots make a Colab notebook MBs)
MAX_READ_BYTES = 256 << 20  # read from one submission in all, notebooks' outputs included
MAX_FILES = 200  # code files read from one submission
MAX_MEMBERS = 20_000  # entries of a folder or an archive looked at
MAX_UNITS = 2_000  # units of code (files and notebook cells) kept from one submission
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError,
              RuntimeError, ValueError)


@dataclass(frozen=True)
class SourceFile:
    """One unit of code: ``name`` as the student knows it, ``text`` with the student's own line numbers."""

    name: str
    text: str


@dataclass
class Sources:
    """A submission's units of code, in a stable order, and what was left out (one line each, for a note)."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_python: list[str] = field(default_factory=list)  # cells of a non-Python cell magic, left out


class _Budget:
    """Bytes of code, bytes in all and files left to read from one submission."""

    def __init__(self, max_bytes: int):
        self.bytes = max_bytes
        self.read = MAX_READ_BYTES
        self.files = MAX_FILES

    def _over(self, name: str, sources: Sources) -> bool:
        if self.files > 0 and self.bytes > 0 and self.read > 0:
            return False
        if self.files > -1:  # said once
            sources.skipped.append(_("{name} and the rest: not read (over the limit of {files} files or {bytes} bytes "
                                     "of code)", name=name, files=MAX_FILES, bytes=MAX_BYTES))
        self.files = -1
        return True

    def notebook(self, name: str, size: int, sources: Sources) -> bool:
        """Whether to read a notebook of ``size`` bytes, whole: its outputs are dropped once it is parsed, and its
        code is charged by :meth:`charge`."""
        if self._over(name, sources):
            return False
        if size > min(MAX_NOTEBOOK_BYTES, self.read):
            sources.skipped.append(_("{name}: not read ({size} bytes, over the limit of {limit} for a notebook)",
                                     name=name, size=size, limit=min(MAX_NOTEBOOK_BYTES, self.read)))
            return False
        self.read -= size
        return True

    def take(self, name: str, size: int, sources: Sources) -> int:
        """How many bytes of a code file of ``size`` to read (0: none), noting a file cut short or left out."""
        if self._over(name, sources):
            return 0
        self.files -= 1
        allowed = min(size, self.bytes, self.read)
        if allowed < size:
            sources.skipped.append(_("{name}: read {allowed} of its {size} bytes (the submission's limit)", name=name,
                                     allowed=allowed, size=size))
        self.bytes -= allowed
        self.read -= allowed
        return allowed

    def charge(self, name: str, units: list[SourceFile], sources: Sources) -> list[SourceFile]:
        """A notebook's cells, as far as the budget of code goes (a cell cut short or left out is noted)."""
        if self._over(name, sources):
            return []
        self.files -= 1
        kept = []
        for unit in units:
            data = unit.text.encode("utf-8", "replace")
            if len(data) > self.bytes:
                sources.skipped.append(_("{name}: read {allowed} of its {size} bytes of code (the submission's "
                                         "limit), the cells after it not read", name=unit.name, allowed=self.bytes,
                                         size=len(data)))
                kept.append(SourceFile(unit.name, data[:self.bytes].decode("utf-8", "ignore")))
                self.bytes = 0
                break
            self.bytes -= len(data)
            kept.append(unit)
        return kept


Reader = Callable[[int], bytes]  # reads at most that many bytes of one file


def _collect(listing: list[tuple[str, int, Reader]], budget: _Budget, sources: Sources) -> list[SourceFile]:
    """The units of the files ``listing`` names (name, size, reader), in its order. Notebooks are read and parsed
    first (their outputs never count against the code's budget); then the code of every file, notebook or not, is
    taken smallest first, so a large file (of padding) is the one the budget cuts. A name listed twice (a zip may
    hold one twice) is its first file."""
    firsts: dict[str, tuple[str, int, Reader]] = {}
    for item in listing:
        firsts.setdefault(item[0], item)
    listing = list(firsts.values())
    cells: dict[str, list[SourceFile]] = {}
    sizes: dict[str, int] = {}
    for name, size, read in listing:
        if name.lower().endswith(".ipynb"):
            cells[name] = _notebook_units(name, read(size), sources) if budget.notebook(name, size, sources) else []
            sizes[name] = sum(len(unit.text.encode("utf-8", "replace")) for unit in cells[name])
        else:
            sizes[name] = size
    readers = {name: read for name, _size, read in listing}
    units: dict[str, list[SourceFile]] = {}
    for name in sorted(sizes, key=lambda n: (sizes[n], n)):
        if name in cells:
            units[name] = budget.charge(name, cells[name], sources) if cells[name] else []
        else:
            allowed = budget.take(name, sizes[name], sources)
            units[name] = [SourceFile(name, _text(readers[name](allowed)))] if allowed else []
    return [unit for name, _size, _read in listing for unit in units.get(name, [])]


def _is_code(relative: PurePosixPath) -> bool:
    hidden = any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts[:-1])
    return not hidden and relative.suffix.lower() in CODE_SUFFIXES and not relative.name.startswith(".")


def _folder_files(root: Path, sources: Sources) -> list[tuple[str, int, Reader]]:
    """(relative name, size, reader) of the code files under ``root``, in sorted order; links are never followed."""
    found: list[tuple[str, int, Reader]] = []
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith("."))
        for name in sorted(files):
            seen += 1
            if seen > MAX_MEMBERS:
                sources.skipped.append(_("more than {n} files: the rest not read", n=MAX_MEMBERS))
                return found
            path = Path(folder) / name
            relative = PurePosixPath(path.relative_to(root).as_posix())
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and _is_code(relative):
                found.append((str(relative), info.st_size, functools.partial(_read_file, path)))
    return found


def _read_file(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _zip_files(path: Path, budget: _Budget, sources: Sources) -> list[SourceFile]:
    """The units of the archive's code files, each read from its stream, at most its budget."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                sources.skipped.append(_("{name}: {n} entries, only the first {max} read", name=path.name,
                                         n=len(members), max=MAX_MEMBERS))
            listing: list[tuple[str, int, Reader]] = []
            for member in sorted(members[:MAX_MEMBERS], key=lambda m: m.filename):
                relative = PurePosixPath(member.filename)
                if member.is_dir() or stat.S_ISLNK(member.external_attr >> 16) or relative.is_absolute() \
                        or ".." in relative.parts or not _is_code(relative):
                    continue
                listing.append((member.filename, member.file_size,
                                functools.partial(_read_member, archive, member, sources=sources)))
            names = _without_common_folder([name for name, _size, _read in listing])
            return _collect([(name, size, read) for name, (_old, size, read) in zip(names, listing, strict=True)],
                            budget, sources)
    except ZIP_ERRORS as exc:
        sources.skipped.append(_("{name}: not a readable zip file ({error})", name=path.name,
                                 error=type(exc).__name__))
        return []


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int, *, sources: Sources) -> bytes:
    try:
        with archive.open(member) as handle:
            return handle.read(size)
    except ZIP_ERRORS as exc:
        sources.skipped.append(_("{name}: not readable ({error})", name=member.filename, error=type(exc).__name__))
        return b""


def _without_common_folder(names: list[str]) -> list[str]:
    """Names relative to the archive's single top folder, when it has one (``carol/model.py`` -> ``model.py``)."""
    tops = {PurePosixPath(name).parts[0] for name in names if len(PurePosixPath(name).parts) > 1}
    if len(tops) != 1 or any(len(PurePosixPath(name).parts) == 1 for name in names):
        return names
    return [str(PurePosixPath(*PurePosixPath(name).parts[1:])) for name in names]


def notebook_cells(data: bytes) -> list[tuple[int, str]] | None:
    """(cell number counting every cell from 1, source) of each code cell of a notebook (format 4, or 3's
    worksheets), or None when ``data`` is not a notebook's JSON."""
    try:
        notebook = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(notebook, dict):
        return None
    cells = notebook.get("cells")
    if cells is None and isinstance(notebook.get("worksheets"), list) and notebook["worksheets"]:
        first = notebook["worksheets"][0]
        cells = first.get("cells") if isinstance(first, dict) else None
    if not isinstance(cells, list):
        return None
    found = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", cell.get("input", ""))
            if isinstance(source, list):
                source = "".join(part for part in source if isinstance(part, str))
            if isinstance(source, str):
                found.append((number, source))
    return found


def python_lines(source: str) -> str | None:
    """A cell's source with IPython lines blanked (line numbers kept); None for a cell of a non-Python magic."""
    lines = source.split("\n")  # as Jupyter and tokenize number them
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        words = lines[first].strip()[2:].split()
        if not words or words[0] not in PYTHON_CELL_MAGICS | WRITEFILE_MAGICS:
            return None
    return "\n".join("" if is_magic_line(line) else line for line in lines)


def _text(data: bytes) -> str:
    """A file's text, its line ends (``\\r\\n``, a lone ``\\r``) read as ``\\n``."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _notebook_units(name: str, data: bytes, sources: Sources) -> list[SourceFile]:
    cells = notebook_cells(data)
    if cells is None:
        sources.skipped.append(_("{name}: not a notebook (not JSON of one)", name=name))
        return []
    units = []
    for number, source in cells:
        text = python_lines(source.replace("\r\n", "\n").replace("\r", "\n"))
        if text is None:
            sources.not_python.append(_("{name} [cell {number}]: a cell magic that is not Python", name=name,
                                        number=number))
        elif text.strip():
            units.append(SourceFile(f"{name} [cell {number}]", text))
    return units


def read_sources(path: str | Path, max_bytes: int = MAX_BYTES) -> Sources:
    """The code of the submission at ``path`` (folder, .zip, .py or .ipynb; a link to one is followed, no link in
    it), within the module's bounds; a path that cannot be read yields no code and a line in ``skipped``, never an
    error."""
    path = Path(path)
    sources = Sources()
    budget = _Budget(max_bytes)
    try:
        if path.is_symlink():  # the entry itself, as an instructor may link submissions into one folder
            path = Path(os.path.realpath(path))
        info = path.lstat()
    except OSError:
        sources.skipped.append(_("{name}: not readable", name=path.name))
        return sources
    if stat.S_ISDIR(info.st_mode):
        sources.files = _collect(_folder_files(path, sources), budget, sources)
    elif not stat.S_ISREG(info.st_mode):
        sources.skipped.append(_("{name}: not a regular file", name=path.name))
    elif path.suffix.lower() == ".zip":
        sources.files = _zip_files(path, budget, sources)
    elif path.suffix.lower() in CODE_SUFFIXES:
        sources.files = _collect([(path.name, info.st_size, functools.partial(_read_file, path))], budget,
                                 sources)
    if len(sources.files) > MAX_UNITS:
        sources.skipped.append(_("{n} files and cells: only the first {max} kept", n=len(sources.files), max=MAX_UNITS))
        del sources.files[MAX_UNITS:]
    return sources
