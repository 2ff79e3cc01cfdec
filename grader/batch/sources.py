"""The code of one submission, read without running it and within fixed bounds, for the similarity flags.

Public interface:

* :class:`SourceFile`: one unit of code, named as the student knows it (``model.py``, ``src/train.py``,
  ``lab.ipynb [cell 3]``: one unit per notebook code cell, as the grader names them elsewhere), its text with the
  lines numbered as in the student's own file or cell.
* :class:`Sources`: the units of a submission and what was left out, and why.
* :func:`read_sources`: the units of an entry's path (a folder, a .zip, a single .py or .ipynb).

Bounds, whatever the submission holds: at most ``max_bytes`` read from it in all (a zip's members are read from
their decompressing stream, so a zip bomb costs no more than its budget), at most :data:`MAX_FILES` code files
and :data:`MAX_MEMBERS` entries looked at and :data:`MAX_UNITS` files and cells kept, never a link or anything but a regular file opened, and a
notebook that is not JSON (or is nested too deeply to parse) yields no code rather than an error. IPython lines
that are not Python (``!pip``, ``%matplotlib``, see :func:`grader.inspection.load.is_magic_line`) are blanked,
keeping the line numbers; a cell of a non-Python cell magic (``%%bash``) is left out.
"""
from __future__ import annotations

import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.inspection.load import IGNORED_DIRS, PYTHON_CELL_MAGICS, WRITEFILE_MAGICS, is_magic_line

CODE_SUFFIXES = (".py", ".ipynb")
MAX_BYTES = 8 << 20  # read from one submission in all (a notebook with its plots' outputs can be a few MB)
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


class _Budget:
    """Bytes and files left to read from one submission."""

    def __init__(self, max_bytes: int):
        self.bytes = max_bytes
        self.files = MAX_FILES

    def take(self, name: str, size: int, sources: Sources) -> int:
        """How many bytes of a file of ``size`` to read (0: none), noting a file cut short or left out."""
        if self.files <= 0 or self.bytes <= 0:
            if self.files > -1:  # said once
                sources.skipped.append(f"{name} and the rest: over the limit of {MAX_FILES} files or the bytes read")
            self.files = -1
            return 0
        self.files -= 1
        allowed = min(size, self.bytes)
        if allowed < size:
            sources.skipped.append(f"{name}: read {allowed} of its {size} bytes (the submission's limit)")
        self.bytes -= allowed
        return allowed


def _is_code(relative: PurePosixPath) -> bool:
    hidden = any(part in IGNORED_DIRS or part.startswith(".") for part in relative.parts[:-1])
    return not hidden and relative.suffix.lower() in CODE_SUFFIXES and not relative.name.startswith(".")


def _folder_files(root: Path, budget: _Budget, sources: Sources) -> list[tuple[str, bytes]]:
    """(relative name, bytes) of the code files under ``root``, in sorted order; links are never followed."""
    found: list[tuple[str, bytes]] = []
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS and not d.startswith("."))
        for name in sorted(files):
            seen += 1
            if seen > MAX_MEMBERS:
                sources.skipped.append(f"more than {MAX_MEMBERS} files: the rest not read")
                return found
            path = Path(folder) / name
            relative = PurePosixPath(path.relative_to(root).as_posix())
            try:
                info = path.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode) or not _is_code(relative):
                continue
            size = budget.take(str(relative), info.st_size, sources)
            if size:
                found.append((str(relative), _read_file(path, size)))
    return found


def _read_file(path: Path, size: int) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _zip_files(path: Path, budget: _Budget, sources: Sources) -> list[tuple[str, bytes]]:
    """(name inside the archive, bytes) of its code files; each read from its stream, at most its budget."""
    found: list[tuple[str, bytes]] = []
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS:
                sources.skipped.append(f"{path.name}: {len(members)} entries, only the first {MAX_MEMBERS} read")
            for member in sorted(members[:MAX_MEMBERS], key=lambda m: m.filename):
                relative = PurePosixPath(member.filename)
                if member.is_dir() or stat.S_ISLNK(member.external_attr >> 16) or relative.is_absolute() \
                        or ".." in relative.parts or not _is_code(relative):
                    continue
                size = budget.take(member.filename, member.file_size, sources)
                if size:
                    found.append((member.filename, _read_member(archive, member, size, sources)))
    except ZIP_ERRORS as exc:
        sources.skipped.append(f"{path.name}: not a readable zip file ({type(exc).__name__})")
    return _without_common_folder(found)


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int, sources: Sources) -> bytes:
    try:
        with archive.open(member) as handle:
            return handle.read(size)
    except ZIP_ERRORS as exc:
        sources.skipped.append(f"{member.filename}: not readable ({type(exc).__name__})")
        return b""


def _without_common_folder(found: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Names relative to the archive's single top folder, when it has one (``carol/model.py`` -> ``model.py``)."""
    tops = {PurePosixPath(name).parts[0] for name, _ in found if len(PurePosixPath(name).parts) > 1}
    if len(tops) != 1 or any(len(PurePosixPath(name).parts) == 1 for name, _ in found):
        return found
    return [(str(PurePosixPath(*PurePosixPath(name).parts[1:])), data) for name, data in found]


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


def _units(name: str, data: bytes, sources: Sources) -> list[SourceFile]:
    if not name.lower().endswith(".ipynb"):
        return [SourceFile(name, data.decode("utf-8", errors="replace"))]
    cells = notebook_cells(data)
    if cells is None:
        sources.skipped.append(f"{name}: not a notebook (not JSON of one)")
        return []
    units = []
    for number, source in cells:
        text = python_lines(source)
        if text is None:
            sources.skipped.append(f"{name} [cell {number}]: a cell magic that is not Python")
        elif text.strip():
            units.append(SourceFile(f"{name} [cell {number}]", text))
    return units


def read_sources(path: str | Path, max_bytes: int = MAX_BYTES) -> Sources:
    """The code of the submission at ``path`` (folder, .zip, .py or .ipynb), within the module's bounds; a path
    that cannot be read yields no code and a line in ``skipped``, never an error."""
    path = Path(path)
    sources = Sources()
    budget = _Budget(max_bytes)
    try:
        info = path.lstat()
    except OSError:
        sources.skipped.append(f"{path.name}: not readable")
        return sources
    if stat.S_ISDIR(info.st_mode):
        raw = _folder_files(path, budget, sources)
    elif not stat.S_ISREG(info.st_mode):
        sources.skipped.append(f"{path.name}: not a regular file")
        raw = []
    elif path.suffix.lower() == ".zip":
        raw = _zip_files(path, budget, sources)
    elif path.suffix.lower() in CODE_SUFFIXES:
        size = budget.take(path.name, info.st_size, sources)
        raw = [(path.name, _read_file(path, size))] if size else []
    else:
        raw = []
    for name, data in raw:
        sources.files += _units(name, data, sources)
    if len(sources.files) > MAX_UNITS:
        sources.skipped.append(f"{len(sources.files)} files and cells: only the first {MAX_UNITS} kept")
        del sources.files[MAX_UNITS:]
    return sources
