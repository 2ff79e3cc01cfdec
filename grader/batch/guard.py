"""Keeping the course's solutions out of reach of the code under test, where the kernel cannot.

Public interface:

* :func:`reference_locations`: where the reference solutions are installed here (folders), found without importing
  them. The full box hides these from its file system view (:mod:`grader.sandbox.view`).
* :func:`forget_reference`: drop every imported module of them from ``sys.modules`` (a fork of a process that
  imported them, such as the test suite's, would still hold them).
* :func:`block_reference`: at the process level only, where there is no view: an audit hook that makes importing
  or reading them fail. It is a barrier, not evidence: nothing it sees is reported as a fact about the run.
"""
from __future__ import annotations

import importlib.util
import os
import sys

from grader.i18n import _, current_language, translations

REFERENCE_PACKAGE = "reference"


class ReferenceBlocked(ImportError):
    """Raised into the student's code when it reaches for the reference solutions (process level)."""


def reference_locations() -> list[str]:
    """The folders the reference package is installed in on this machine ([] when it is not installed)."""
    try:
        found = importlib.util.find_spec(REFERENCE_PACKAGE)
    except (ImportError, ValueError):
        return []
    return [os.path.realpath(p) for p in (found.submodule_search_locations or [])] if found else []


def forget_reference() -> None:
    """Forget every imported module of the reference solutions."""
    for name in [n for n in sys.modules if n == REFERENCE_PACKAGE or n.startswith(REFERENCE_PACKAGE + ".")]:
        del sys.modules[name]


def block_reference(folders: list[str]) -> None:
    """Refuse, through an audit hook, importing the reference package or reading files in ``folders``."""
    blocked = [d.rstrip(os.sep) + os.sep for d in folders]
    forget_reference()
    translations(current_language())  # the catalog read now: the hook's sentences open no file

    def inside(path) -> bool:
        if not blocked or not isinstance(path, (str, bytes, os.PathLike)):
            return False
        try:
            full = os.path.realpath(os.fsdecode(path)) + os.sep
        except (TypeError, ValueError):
            return False
        return any(full.startswith(d) for d in blocked)

    def hook(event: str, args) -> None:
        if event == "import" and args and str(args[0]).split(".")[0] == REFERENCE_PACKAGE:
            raise ReferenceBlocked(_("importing {module} is not allowed while grading: the reference solutions are "
                                     "instructor-only: write the network yourself (and do not name a module of yours "
                                     "{package}).", module=repr(args[0]), package=repr(REFERENCE_PACKAGE)))
        if event in ("open", "os.listdir", "os.scandir") and args and inside(args[0]):
            raise ReferenceBlocked(_("reading {path} is not allowed while grading: the reference solutions are "
                                     "instructor-only: write the network yourself (and do not name a module of yours "
                                     "{package}).", path=repr(os.fsdecode(args[0])), package=repr(REFERENCE_PACKAGE)))

    sys.addaudithook(hook)
