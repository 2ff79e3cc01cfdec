"""What the box did, as facts: the record a job returns, and nothing a grader would say about it.

Public interface:

* :class:`Gap`: one protection this machine could not apply (``kind`` from :data:`GAP_KINDS`, the system's detail).
* :func:`decode_gaps`: gaps sent as ``[[kind, detail], ...]``, malformed items dropped.
* :class:`Outcome`: one finished job: the frames its task sent, how its process ended, what it used, what changed.

Every field of an Outcome comes from a process that runs no student code (the supervisor at the full level, the
grader's own process at the process level), except ``frames``: those are the task's, and at the process level also
``output``. A task frame is data to be verified, never a fact about the box.
"""
from __future__ import annotations

from dataclasses import dataclass, field

GAP_KINDS = ("user namespace", "network", "pid namespace", "mount namespace", "file view", "read-only",
             "capabilities", "no_new_privs", "uid", "process limit", "rlimits", "process level")


@dataclass(frozen=True)
class Gap:
    """A protection that was not applied: ``kind`` (one of :data:`GAP_KINDS`) and the system's reason."""

    kind: str
    detail: str = ""

    def __post_init__(self):
        if self.kind not in GAP_KINDS:
            raise ValueError(f"unknown gap kind {self.kind!r}")


@dataclass
class Outcome:
    """One finished job, as the box observed it."""

    level: str  # "full" or "process"
    frames: list[bytes] | None = None  # what the task sent, in order; None when the channel did not hold whole frames
    output: str = ""  # what the job printed (captured, cut to the output limit)
    exit_code: int | None = None  # the task process's exit code, when it exited
    signal: int | None = None  # the signal that ended it, when one did
    timed_out: bool = False  # past the wall-clock limit: stopped by the box
    cpu_exceeded: bool = False  # past the CPU-time limit
    file_too_large: bool = False  # wrote a file over the file-size limit
    overflow: bool = False  # sent more than the channel's limit: stopped, its frames dropped
    channel_limit: int = 0  # that limit, in bytes
    started: bool = True  # False when the box itself could not start (``start_error`` says why)
    start_error: str = ""
    unusable: str = ""  # the submission could not be laid out (a bad zip, a special file...): why, in the box's words
    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mb: float = 0.0
    changed_files: list[str] = field(default_factory=list)  # submitted files the run changed, by their names
    gaps: list[Gap] = field(default_factory=list)

    @property
    def crashed(self) -> bool:
        """Ended by a signal the box did not send for a limit (a segfault, an abort)."""
        return self.signal is not None and not (self.timed_out or self.cpu_exceeded or self.file_too_large)


def decode_gaps(items) -> list[Gap]:
    """The gaps of a box frame (``[[kind, detail], ...]``); anything malformed or of an unknown kind is dropped."""
    gaps = []
    for item in items[:40] if isinstance(items, list) else []:
        if isinstance(item, list) and len(item) == 2 and all(isinstance(v, str) for v in item) \
                and item[0] in GAP_KINDS:
            gaps.append(Gap(item[0], item[1][:300]))
    return gaps
