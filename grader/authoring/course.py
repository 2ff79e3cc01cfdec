"""The instructor-only side: the course's reference solutions, found only where an instructor installed them.

The grader never needs the solutions to check a submission. Three instructor commands do (``grader reference``,
``grader assign``, and ``grader release``'s drift check): they reach the ``reference`` package through
:func:`import_reference`, which says plainly what to do when it is absent, as it is in the student kit.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from grader.errors import GraderError
from grader.i18n import N_, _

REFERENCE_PACKAGE = "reference"
INSTRUCTOR_ONLY = N_("the reference solutions are instructor-only and are not part of this install (the student kit "
                     "has the grader and the assignments, not the solutions). Instructors and TAs: in the course "
                     "repository, run  {command}")
INSTALL_REFERENCE = "pip install -e . -e ./reference"


class InstructorOnly(GraderError):
    """The reference solutions are not installed here."""


def import_reference(module: str = REFERENCE_PACKAGE) -> ModuleType:
    """The reference package, or one of its modules (``reference.train``); InstructorOnly when not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == REFERENCE_PACKAGE:
            raise InstructorOnly(_(INSTRUCTOR_ONLY, command=INSTALL_REFERENCE)) from None
        raise


def reference_dir() -> Path:
    """The folder of the installed reference package (its sources and templates)."""
    return Path(str(import_reference().__file__)).resolve().parent
