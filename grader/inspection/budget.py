"""Time budgets per phase, inside the child that runs the student's code.

The job's wall-clock limit (the spec's ``timeout``) is sized for the quiz's re-evaluations. A hang in ``__init__``
should not make a student wait that long, so the phases that run student code get their own budgets: loading the
code and building the class (``load_timeout``), then the model checks that run its forward (``checks_timeout``).
When one runs out, :class:`PhaseTimeout` is raised where the student's code is, so its traceback names their line.
It derives from ``BaseException``, so a student's ``except Exception`` cannot swallow it. Where the platform has no
interval timer (Windows), the job's wall-clock limit alone applies.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from contextlib import contextmanager

from grader.i18n import N_, _

PHASES = {"load": N_("loading your code and building the class"),
          "checks": N_("running your model for the model checks"),
          "candidate": N_("building and running one of your classes to compare it with the table")}
_active: list[tuple[str, float, float]] = []  # the budgets in force, outermost first: (phase, seconds, deadline)


class PhaseTimeout(BaseException):
    """A phase ran past its budget; raised inside the code that was running."""

    def __init__(self, phase: str, seconds: float):
        super().__init__(_("{phase} took over {seconds:g} s", phase=phase_text(phase), seconds=seconds))
        self.phase, self.seconds = phase, seconds


def phase_text(phase: str) -> str:
    """What the student's code was doing in ``phase``, in words ('loading your code and building the class')."""
    return _(PHASES[phase]) if phase in PHASES else phase


@contextmanager
def phase_budget(phase: str, seconds: float | None):
    """Raise :class:`PhaseTimeout` in this (main) thread if the block runs longer than ``seconds``.

    Budgets nest: an inner one (one candidate class) never extends the outer one (the whole load), and when both
    have run out the outer phase is the one raised.
    """
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        now = time.monotonic()
        due = next((entry for entry in _active if entry[2] <= now + 1e-3), _active[-1])
        raise PhaseTimeout(due[0], due[1])

    deadline = time.monotonic() + seconds
    if _active:
        deadline = min(deadline, _active[-1][2])
    previous = signal.signal(signal.SIGALRM, expire)
    _active.append((phase, seconds, deadline))
    signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 1e-4))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        _active.pop()
        signal.signal(signal.SIGALRM, previous)
        if _active:  # the outer budget goes on with what it has left
            signal.setitimer(signal.ITIMER_REAL, max(_active[-1][2] - time.monotonic(), 1e-4))


def remaining() -> float | None:
    """Seconds left of the innermost budget in force, or None when there is none."""
    return max(_active[-1][2] - time.monotonic(), 0.0) if _active else None


def _student_frame(frame: traceback.FrameSummary) -> bool:
    # The student's code is compiled under its name inside the submission ("model.py", "bob.ipynb [cell 3]");
    # the grader, torch and the standard library run from absolute paths.
    return not os.path.isabs(frame.filename) and not frame.filename.startswith("<")


def timeout_text(exc: PhaseTimeout, budgets: dict[str, float]) -> str:
    """What the student reads: the phase, its budget, and where their code was when it was stopped."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _student_frame(f)]
    phase = {"phase": phase_text(exc.phase), "seconds": exc.seconds}
    if frames:
        last = frames[-1]
        code = f": {last.line.strip()}" if last.line else ""
        text = (_("{phase} took over {seconds:g} s, and was stopped: it was running {file} line {line} (in "
                  "{function})", **phase, file=last.filename, line=last.lineno, function=last.name) + code + "\n\n"
                + _("Traceback (your code):") + "\n" + "".join(traceback.format_list(frames)))
    else:
        text = _("{phase} took over {seconds:g} s, and was stopped: it was not running your own code at that moment "
                 "(a library call it made?).", **phase)
    others = ", ".join(_("{phase}: {seconds:g} s", phase=phase_text(k), seconds=v)
                       for k, v in budgets.items() if k != exc.phase)
    limits = (_("Each phase has its own limit ({limits}).", limits=others) if others
              else _("Each phase has its own limit."))
    return (text.rstrip() + "\n\n" + _("Look for an endless loop or long work there: on import only definitions "
                                        "should run, and __init__ should only create the layers.") + " " + limits)
