"""The only place where what the box did becomes words: an :class:`~grader.sandbox.outcome.Outcome`'s facts as
the sentences a student and an instructor read, the same for every isolation level.

Public interface:

* :func:`failure_text`: why a stage produced no result (time, CPU, file size, a crash, the pipe), or None;
  :func:`failure` the same with its typed cause (a code of :data:`grader.report.CAUSES`).
* :func:`gap_texts`: the protections that were not applied, for ``Report.isolation``.
* :func:`box_events`: what the box itself observed the code do that no model needs, for ``Report.sandbox_events``.
* :func:`fact_words`: a fact the box stated in English (:mod:`grader.sandbox.facts`), in the current language;
  :func:`changed_texts`: the files a run changed, as the report lists them.
* :data:`TAMPERED`: the channel event of a frame out of the box's shape (a flood names its limit), marked for the
  catalog (:func:`box_events` translates it); :func:`tampered_text`: the student's sentence for it.

Every sentence is rendered in the current language (:mod:`grader.i18n`) when it is made: in the grader's own process,
from the Outcome's facts.
"""
from __future__ import annotations

import functools
import re
import signal
import string

from grader.i18n import N_, _
from grader.sandbox.channel import MAX_CHANNEL_BYTES
from grader.sandbox.facts import COPY_UNREADABLE, TEMPLATES
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Gap, Outcome

TAMPERED = N_("wrote to the grader's own result pipe (the channel did not hold the box's frames)")
GAP_WORDS = {
    "user namespace": N_("no namespaces (the kernel refused a user namespace): the network stays reachable and files "
                         "the grader's user may write stay writable"),
    "network": N_("network not isolated"),
    "pid namespace": N_("no private process namespace"),
    "mount namespace": N_("no private file system view: files the grader's user may read stay readable"),
    "file view": N_("the file system was not reduced to the job's own files"),
    "read-only": N_("a file system stays writable"),
    "capabilities": N_("capabilities not dropped"),
    "no_new_privs": N_("could not set no_new_privs"),
    "uid": N_("still uid 0: could not switch to an unprivileged user"),
    "process limit": N_("no process-count limit"),
    "rlimits": N_("a resource limit could not be set"),
    "process level": N_("process level: your code ran in a plain child process with the wall-clock limit (no Linux "
                        "namespaces here, or --isolation process)"),
}


@functools.lru_cache(maxsize=1)
def _fact_patterns() -> tuple[tuple[str, re.Pattern], ...]:
    """Each template of :data:`grader.sandbox.facts.TEMPLATES` with the pattern its facts match (a field: any text)."""
    found = []
    for template in TEMPLATES:
        parts = [re.escape(literal) + (f"(?P<{name}>.+?)" if name is not None else "")
                 for literal, name, _spec, _conversion in string.Formatter().parse(template)]
        found.append((template, re.compile("".join(parts), re.S)))
    return tuple(found)


# The fields of a fact that may be facts themselves (an error the box met, "this system"); the others (a file name,
# a folder, a number) are the student's or the machine's words, never worded again.
FACT_FIELDS = ("error", "system")


def fact_words(text: str) -> str:
    """``text``, a fact the box stated (a template of :mod:`grader.sandbox.facts` with its fields, of which
    :data:`FACT_FIELDS` may be facts themselves), in the current language; any other text (the system's own words)
    as it is."""
    for template, pattern in _fact_patterns():
        found = pattern.fullmatch(text)
        if found is not None:
            return _(template, **{name: fact_words(value) if name in FACT_FIELDS else value
                                  for name, value in found.groupdict().items()})
    return text


def gap_texts(gaps: list[Gap]) -> list[str]:
    """Each gap in words, with the system's reason; duplicates once."""
    return list(dict.fromkeys(_(GAP_WORDS[g.kind]) + (f" ({fact_words(g.detail)})" if g.detail else "")
                              for g in gaps))


def changed_texts(outcome: Outcome) -> list[str]:
    """The submitted files the run changed, by their names (the box's note that it could not tell, in words)."""
    return [_(COPY_UNREADABLE) if name == COPY_UNREADABLE else name for name in outcome.changed_files]


def box_events(outcome: Outcome) -> list[str]:
    """What the box observed that no model does: writing to the result pipe, or flooding it."""
    if outcome.overflow:
        return [_("sent more than {mb:.0f} MB on the grader's result pipe", mb=_megabytes(outcome))]
    if outcome.frames is None and not outcome.timed_out:
        return [_(TAMPERED)]
    return []


def tampered_text() -> str:
    """The student's sentence for a result channel the code wrote to."""
    return _("the result channel was tampered with: your code wrote to the grader's own result pipe (the channel did "
             "not hold the box's frames).")


def _megabytes(outcome: Outcome) -> float:
    return (outcome.channel_limit or MAX_CHANNEL_BYTES) / 2**20


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return _("signal {number}", number=sig)


def failure_text(outcome: Outcome, limits: Limits, stage: str) -> str | None:
    """Why ``stage`` ("observe" or "judge") gave no usable result, for the student; None when it may have one."""
    found = failure(outcome, limits, stage)
    return found[1] if found is not None else None


def failure(outcome: Outcome, limits: Limits, stage: str) -> tuple[str, str] | None:
    """(the typed cause, :func:`failure_text`'s words) of a stage that gave no usable result; None when it may
    have one. The causes: ``unusable_submission``, ``sandbox_unavailable``, ``timeout``, ``output_flood``,
    ``channel_tampered``, ``cpu_limit``, ``file_size_limit``, ``crashed``."""
    if outcome.unusable:
        return "unusable_submission", _("{problem}. Hand in a folder, or a zip made by your system's 'compress' or "
                                        "'zip -r', holding your code, best.pt and curves (not datasets).",
                                        problem=fact_words(outcome.unusable))
    if not outcome.started:
        return "sandbox_unavailable", _("the sandbox could not start: {error}", error=outcome.start_error)
    if outcome.timed_out:
        if stage == "judge":
            return "timeout", _("judging your exported model took over {seconds:g} s: a model this slow cannot be "
                                "re-evaluated within the assignment's time limit.", seconds=limits.wall_s)
        return "timeout", _("your code did not finish within {seconds:g} s: look for an endless loop or work at the "
                            "top level of a module or in a class body (only definitions should run on import).",
                            seconds=limits.wall_s)
    if outcome.overflow:
        return "output_flood", _("your code sent more than {mb:.0f} MB on the grader's result pipe, so the run was "
                                 "stopped.", mb=_megabytes(outcome))
    if outcome.frames is None:
        return "channel_tampered", tampered_text()
    if outcome.cpu_exceeded:
        return "cpu_limit", _("your code used more than {seconds} s of CPU time and was stopped.",
                              seconds=limits.cpu())
    if outcome.file_too_large:
        return "file_size_limit", _("your code wrote a file over the {mb} MB limit and was stopped.",
                                    mb=limits.file_size_mb)
    if outcome.signal is not None and not outcome.frames:
        if stage == "judge":
            return "crashed", _("the judge was killed by {signal}: your code may crash the interpreter.",
                                signal=_signal_name(outcome.signal))
        return "crashed", _("the check process was killed by {signal}: your code may crash the interpreter.",
                            signal=_signal_name(outcome.signal))
    if not outcome.frames:
        return "crashed", _("the check process ended without a result (exit code {code}): your code calls sys.exit / "
                            "os._exit, or crashed the interpreter, or exceeded a resource limit.",
                            code=outcome.exit_code)
    return None
