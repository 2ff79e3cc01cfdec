"""The only place where what the box did becomes words: an :class:`~grader.sandbox.outcome.Outcome`'s facts as
the sentences a student and an instructor read, the same for every isolation level.

Public interface:

* :func:`failure_text`: why a stage produced no result (time, CPU, file size, a crash, the pipe), or None;
  :func:`failure` the same with its typed cause (a code of :data:`grader.report.CAUSES`).
* :func:`gap_texts`: the protections that were not applied, for ``Report.isolation``.
* :func:`box_events`: what the box itself observed the code do that no model needs, for ``Report.sandbox_events``.
* :data:`TAMPERED`: the channel event of a frame out of the box's shape (a flood names its limit).
"""
from __future__ import annotations

import signal

from grader.sandbox.channel import MAX_CHANNEL_BYTES
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Gap, Outcome

TAMPERED = "wrote to the grader's own result pipe (the channel did not hold the box's frames)"
GAP_WORDS = {
    "user namespace": "no namespaces (the kernel refused a user namespace): the network stays reachable and files "
                      "the grader's user may write stay writable",
    "network": "network not isolated",
    "pid namespace": "no private process namespace",
    "mount namespace": "no private file system view: files the grader's user may read stay readable",
    "file view": "the file system was not reduced to the job's own files",
    "read-only": "a file system stays writable",
    "capabilities": "capabilities not dropped",
    "no_new_privs": "could not set no_new_privs",
    "uid": "still uid 0: could not switch to an unprivileged user",
    "process limit": "no process-count limit",
    "rlimits": "a resource limit could not be set",
    "process level": "process level: your code ran in a plain child process with the wall-clock limit (no Linux "
                     "namespaces here, or --isolation process)",
}


def gap_texts(gaps: list[Gap]) -> list[str]:
    """Each gap in words, with the system's reason; duplicates once."""
    return list(dict.fromkeys(GAP_WORDS[g.kind] + (f" ({g.detail})" if g.detail else "") for g in gaps))


def box_events(outcome: Outcome) -> list[str]:
    """What the box observed that no model does: writing to the result pipe, or flooding it."""
    if outcome.overflow:
        return [_overflow(outcome)]
    if outcome.frames is None and not outcome.timed_out:
        return [TAMPERED]
    return []


def _overflow(outcome: Outcome) -> str:
    limit = outcome.channel_limit or MAX_CHANNEL_BYTES
    return f"sent more than {limit / 2**20:.0f} MB on the grader's result pipe"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def failure_text(outcome: Outcome, limits: Limits, stage: str) -> str | None:
    """Why ``stage`` ("observe" or "judge") gave no usable result, for the student; None when it may have one."""
    found = failure(outcome, limits, stage)
    return found[1] if found is not None else None


def failure(outcome: Outcome, limits: Limits, stage: str) -> tuple[str, str] | None:
    """(the typed cause, :func:`failure_text`'s words) of a stage that gave no usable result; None when it may
    have one. The causes: ``unusable_submission``, ``sandbox_unavailable``, ``timeout``, ``output_flood``,
    ``channel_tampered``, ``cpu_limit``, ``file_size_limit``, ``crashed``."""
    if outcome.unusable:
        return "unusable_submission", (f"{outcome.unusable}. Hand in a folder, or a zip made by your system's "
                                       "'compress' or 'zip -r', holding your code, best.pt and curves (not datasets).")
    if not outcome.started:
        return "sandbox_unavailable", f"the sandbox could not start: {outcome.start_error}"
    if outcome.timed_out:
        if stage == "judge":
            return "timeout", (f"judging your exported model took over {limits.wall_s:g} s: a model this slow "
                               "cannot be re-evaluated within the assignment's time limit.")
        return "timeout", (f"your code did not finish within {limits.wall_s:g} s: look for an endless loop or work "
                           "at the top level of a module or in a class body (only definitions should run on import).")
    if outcome.overflow:
        return "output_flood", f"your code {_overflow(outcome)}, so the run was stopped."
    if outcome.frames is None:
        return "channel_tampered", f"the result channel was tampered with: your code {TAMPERED}."
    if outcome.cpu_exceeded:
        return "cpu_limit", f"your code used more than {limits.cpu()} s of CPU time and was stopped."
    if outcome.file_too_large:
        return "file_size_limit", f"your code wrote a file over the {limits.file_size_mb} MB limit and was stopped."
    if outcome.signal is not None and not outcome.frames:
        who = "the judge" if stage == "judge" else "the check process"
        return "crashed", f"{who} was killed by {_signal_name(outcome.signal)}: your code may crash the interpreter."
    if not outcome.frames:
        return "crashed", (f"the check process ended without a result (exit code {outcome.exit_code}): your code "
                           "calls sys.exit / os._exit, or crashed the interpreter, or exceeded a resource limit.")
    return None
