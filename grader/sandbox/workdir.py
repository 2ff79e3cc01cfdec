"""A job's work folder: a copy of the submission, its zip unpacked, and fingerprints to tell what the job changed.

Public interface:

* :func:`make_workdir`: a fresh folder (``cnn-grader-<pid>-...`` in the temporary folder) with the submission copied.
* :func:`copy_submission`: the copy alone; :class:`Unusable` for special files and names that are not UTF-8.
* :func:`unpack`: the submission inside a run folder, a zip unpacked there (bounded, no links, no escapes).
* :func:`working_copy` and :func:`changed_files`: fingerprints, and the submitted files whose bytes changed.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from grader.files import sha256_file
from grader.sandbox.cgroup import PREFIX
from grader.sandbox.facts import NOT_A_ZIP, NOT_UTF8, SPECIAL_FILE, TOO_LARGE, TOO_MANY_FILES, UNSAFE_PATH, state

MAX_ZIP_BYTES = 500 * 1024 * 1024  # uncompressed size of a submitted zip
MAX_ZIP_FILES = 2000
MAX_CHANGED = 10


class Unusable(Exception):
    """The submission cannot be laid out in a work folder; the message says what is wrong with it."""


def _check_tree(source: Path) -> None:
    entries = [source] + (sorted(source.rglob("*")) if source.is_dir() and not source.is_symlink() else [])
    for path in entries:
        try:
            os.fsencode(path).decode("utf-8")
        except UnicodeDecodeError:
            raise Unusable(state(NOT_UTF8, name=repr(os.fsencode(path.name)))) from None
        mode = os.lstat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
            raise Unusable(state(SPECIAL_FILE, name=path.name)) from None


def copy_submission(source: Path, folder: Path) -> Path:
    """Copy the submission (a folder or one file) into ``folder``/submission/, links kept as links; its copy."""
    _check_tree(source)
    copy_to = folder / "submission" / source.name
    copy_to.parent.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, copy_to, symlinks=True)
    else:
        shutil.copy2(source, copy_to)
    return copy_to


def make_workdir(source: Path) -> str:
    """A fresh work folder holding ``run/`` and a copy of ``source`` in ``submission/``; Unusable when it cannot."""
    work = tempfile.mkdtemp(prefix=f"{PREFIX}-{os.getpid()}-")
    os.mkdir(os.path.join(work, "run"))
    try:
        copy_submission(source, Path(work))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return work


def unpack(run: str | Path) -> Path:
    """The submission inside ``run``: a folder or file; a zip is unpacked next to it (once)."""
    source = next((Path(run) / "submission").iterdir())
    if source.suffix.lower() != ".zip":
        return source
    target = Path(run) / "unpacked" / source.stem
    if target.is_dir():  # unpacked already, before any student code ran
        return _unpacked_entry(target)
    target.mkdir(parents=True)
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_FILES:
                raise ValueError(state(TOO_MANY_FILES, n=len(members), max=MAX_ZIP_FILES))
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise ValueError(state(TOO_LARGE, mb=MAX_ZIP_BYTES // 2**20))
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(state(UNSAFE_PATH, name=member.filename))
                if not stat.S_ISLNK(member.external_attr >> 16):
                    archive.extract(member, target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise Unusable(state(NOT_A_ZIP, name=source.name, error=exc)) from None
    return _unpacked_entry(target)


def _unpacked_entry(target: Path) -> Path:
    entries = [p for p in target.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


def working_copy(run: str | Path, only: dict[str, str] | None = None) -> dict[str, str]:
    """Fingerprints of the submission's working copy in ``run``: relative path -> SHA-256 of a regular file,
    ``link:<target>`` of a symbolic link, or what else is there. Covers the copied submission and, for a zip, its
    unpacked files. With ``only``, just those paths, and a missing one is ``missing``. Never follows a link and
    never opens anything but a regular file (a FIFO planted by the code would block the reader)."""
    run = Path(run)
    if only is None:
        paths = []
        for top in ("submission", "unpacked"):
            for folder, dirs, files in os.walk(run / top):  # a link to a folder is listed, not entered
                links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
                paths += [os.path.relpath(os.path.join(folder, name), run) for name in files + links]
    else:
        paths = list(only)
    prints = {}
    for relative in sorted(set(paths)):
        path = run / relative
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                prints[relative] = "link:" + os.readlink(path)
            elif stat.S_ISREG(mode):
                prints[relative] = sha256_file(path)
            else:
                prints[relative] = "not a regular file"
        except FileNotFoundError:
            prints[relative] = "missing"
        except OSError as exc:
            prints[relative] = f"unreadable ({exc.strerror})"
    return prints


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The submitted files whose working copy differs after the run (changed, replaced or removed), by the name
    the student knows them by (their path inside the submission); at most :data:`MAX_CHANGED`."""
    names = []
    for relative, fingerprint in sorted(before.items()):
        if after.get(relative) != fingerprint:
            parts = Path(relative).parts
            names.append(str(Path(*parts[2:])) if len(parts) > 2 else parts[-1])
    return names[:MAX_CHANGED]
