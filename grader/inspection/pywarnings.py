"""Python warnings raised while the student's code runs, told at the student's own line.

Interface:
    StudentWarnings(student_files)   context manager; ``.notes`` lists each warning once:
                                     'lab.ipynb [cell 7] line 16: return F.log_softmax(self.fc3(x)): UserWarning: ...'

A warning torch raises from inside ``F.log_softmax`` carries torch's (or the grader's recorder's) file and line;
the student needs their own. Warnings with no student frame on the stack come from the grader's machinery (the
export, the meta device) and are dropped. Nothing is printed: the notes go into the report.
"""
from __future__ import annotations

import linecache
import sys
import types
import warnings

from grader.i18n import N_, _

MAX_WARNINGS = 10
# A known warning (as Python words it, matched in its text) -> how to fix it, in the course's words.
FIXES = {"Implicit dimension choice for log_softmax": N_("write F.log_softmax(x, dim=1)"),
         "Implicit dimension choice for softmax": N_("write F.softmax(x, dim=1)"),
         "volatile was removed": N_("wrap the evaluation in with torch.no_grad(): instead of "
                                    "Variable(..., volatile=True)"),
         "size_average and reduce args will be deprecated": N_("use reduction='sum' instead of size_average=False")}


class StudentWarnings:
    """Collects warnings raised under it as notes at the innermost student frame (see module docstring)."""

    def __init__(self, student_files: set[str]):
        self.student_files = student_files
        self.notes: list[str] = []
        self._seen: set[tuple[str, str]] = set()
        self._catch: warnings.catch_warnings | None = None

    def __enter__(self) -> StudentWarnings:
        self._catch = warnings.catch_warnings()  # a fresh one each time: the same notes gather over several phases
        self._catch.__enter__()
        warnings.simplefilter("always")
        warnings.showwarning = self._show
        return self

    def __exit__(self, *exc) -> None:
        assert self._catch is not None
        self._catch.__exit__(*exc)
        self._catch = None

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename not in self.student_files:
            frame = frame.f_back
        if frame is None:
            return
        site = _("{file} line {line}", file=frame.f_code.co_filename, line=frame.f_lineno)
        text = str(message).splitlines()[0] if str(message) else category.__name__
        if (site, text) in self._seen or len(self.notes) >= MAX_WARNINGS:
            return
        self._seen.add((site, text))
        code = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
        fix = next((" " + _("Fix: {how}.", how=_(how)) for known, how in FIXES.items() if known in text), "")
        self.notes.append(f"{site}" + (f": {code}" if code else "") + f": {category.__name__}: {text}{fix}")
