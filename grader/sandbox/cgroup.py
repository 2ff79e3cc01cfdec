"""A pids cgroup per worker slot: the process-count limit, and the handle that kills everything a job started.

Public interface:

* :func:`make_cgroup`: a cgroup (v1 pids controller) for one slot, or None where there is none to use.
* :func:`kill_cgroup`: SIGKILL every process in it until it is empty.
* :func:`remove_cgroup`: kill and remove it.
* :func:`clean_stale`: what a grader killed with SIGKILL left behind (its cgroups and work folders).
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

PIDS_CGROUP = Path("/sys/fs/cgroup/pids")
PREFIX = "cnn-grader"  # cgroups and work folders are named cnn-grader-<owner pid>-...


def _owner_alive(name: str) -> bool:
    """Whether the grader whose pid is in ``name`` (cnn-grader-<pid>-...) still runs."""
    if os.name != "posix":
        return True  # Windows' os.kill terminates the process: never probe with it, never clean up another's
    try:
        os.kill(int(name.split("-")[2]), 0)
        return True
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True


def clean_stale() -> None:
    """Kill and remove what a grader killed with SIGKILL left behind: its cgroups (and their processes), work dirs."""
    if PIDS_CGROUP.is_dir():
        for group in PIDS_CGROUP.glob(f"{PREFIX}-*"):
            if not _owner_alive(group.name):
                remove_cgroup(group)
    for work in Path(tempfile.gettempdir()).glob(f"{PREFIX}-*"):
        if not _owner_alive(work.name):
            shutil.rmtree(work, ignore_errors=True)


def make_cgroup(slot: int, processes: int) -> Path | None:
    """A pids cgroup for one worker slot holding at most ``processes``; None if unavailable here."""
    if not (PIDS_CGROUP / "cgroup.procs").exists():
        return None
    group = PIDS_CGROUP / f"{PREFIX}-{os.getpid()}-{slot}"
    try:
        group.mkdir(exist_ok=True)
        (group / "pids.max").write_text(str(processes))
    except OSError:
        return None
    return group


def join(group: Path, pid: int) -> None:
    """Move process ``pid`` into ``group``."""
    (group / "cgroup.procs").write_text(str(pid))


def kill_cgroup(group: Path) -> None:
    """Kill every process in ``group`` until it is empty (a fork bomb is bounded by pids.max)."""
    for _ in range(200):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def remove_cgroup(group: Path | None) -> None:
    """Kill what is in ``group`` and remove it (None: nothing to do)."""
    if group is not None:
        kill_cgroup(group)
        try:
            group.rmdir()
        except OSError:
            pass
