"""What one job may use, and which isolation levels this machine offers.

Public interface:

* :class:`Limits`: wall time, CPU time, memory, file size, disk, processes, threads, isolation level, device.
* :data:`ISOLATION_LEVELS`: ``full`` (Linux namespaces, :mod:`grader.sandbox.full`) and ``process`` (a plain child
  process, :mod:`grader.sandbox.process`).
* :func:`full_isolation_available`, :func:`best_isolation`, :func:`check_isolation` and :class:`IsolationError`.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field

from grader.errors import GraderError
from grader.sandbox import linux
from grader.sandbox.facts import NO_NAMESPACES, THIS_SYSTEM, UNKNOWN_LEVEL, state

ISOLATION_LEVELS = ("full", "process")


class IsolationError(GraderError, ValueError):
    """An isolation level that does not exist, or ``full`` where this machine cannot provide it. Its message is a
    fact of :mod:`grader.sandbox.facts`, in English: show it with :func:`grader.batch.verdict.fact_words`."""


def full_isolation_available() -> bool:
    """Whether this machine can run the ``full`` level: Linux, fork, and a C library with unshare and mount."""
    return linux.available()


def best_isolation() -> str:
    """``full`` where it works, ``process`` elsewhere."""
    return "full" if full_isolation_available() else "process"


def check_isolation(level: str) -> str:
    """``level`` when this machine can provide it; IsolationError saying why not otherwise."""
    if level not in ISOLATION_LEVELS:
        raise IsolationError(state(UNKNOWN_LEVEL, level=repr(level), levels=", ".join(ISOLATION_LEVELS)))
    if level == "full" and not full_isolation_available():
        raise IsolationError(state(NO_NAMESPACES, system=platform.system() or THIS_SYSTEM))
    return level


@dataclass
class Limits:
    """The resources one job may use. ``memory_mb`` is address space on top of the pre-imported grader."""

    wall_s: float = 60.0
    cpu_s: float | None = None  # default: twice the wall limit plus 10 s
    memory_mb: int = 4096
    file_size_mb: int = 256
    disk_mb: int = 512  # the private working directory (a tmpfs) holds at most this much
    processes: int = 64
    # torch intra-op threads per child. More than 1 only when the forking process has run no torch computation
    # yet (a fresh command): a forked child cannot use the OpenMP threads of a parent that already started them.
    threads: int = 1
    isolation: str = field(default_factory=best_isolation)
    device: str = "cpu"  # where the quiz re-evaluates best.pt: cpu or cuda (resolved from --device before)

    def cpu(self) -> int:
        """The CPU-time limit in seconds."""
        return int(self.cpu_s if self.cpu_s is not None else self.wall_s * 2 + 10)
