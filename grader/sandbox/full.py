"""The ``full`` isolation level: a job in Linux namespaces, with a supervisor that states what happened.

Public interface:

* :class:`Task`: what runs in the box: ``task(path, send)`` with the submission's path and a function that sends one
  frame to the job's owner. It is the only code of a job that may run student code.
* :class:`FullJob`: ``start()``, ``poll()`` (True once over), ``stop()``, ``outcome()`` (an :class:`Outcome`), and
  ``fd`` to wait on with select.
* :func:`launch`: fork the supervisor of one job (what :class:`FullJob` and the zygote call).

Two processes per job. The supervisor runs no student code: it joins the slot's cgroup, enters new user (when not
root), network, PID and mount namespaces, lays out the file system (:mod:`grader.sandbox.view`), fingerprints the
working copy and forks the checker, PID 1 of the new PID namespace. The checker mounts its own /proc, drops every
capability and uid 0 of the machine, sets the rlimits and a scrubbed environment, sends one frame listing what it
could not apply (before any task code runs, so nothing can forge it), and runs the task. When the checker's
namespace is gone (and with it every process the task started), the supervisor sends the last frame: the exit
status, CPU time and peak memory from ``wait4``, the files the run changed, and its own gaps. The task's frames are
those in between; a channel that does not hold whole frames in that shape is reported as such (``frames=None``).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from grader.sandbox import cgroup as cgroups
from grader.sandbox import linux, workdir
from grader.sandbox import view as views
from grader.sandbox.channel import MAX_CHANNEL_BYTES, Reader, decode_json, frame, send_all, split_frames
from grader.sandbox.facts import COPY_UNREADABLE, NO_MOUNT_NAMESPACE, NO_PIDS_CGROUP, NOT_REDUCED, state
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Gap, Outcome, decode_gaps

OUTPUT_BYTES = 64 * 1024  # of what a job printed, the owner reads at most this much
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "OMP_NUM_THREADS")


class Task(Protocol):
    def __call__(self, path: Path, send: Callable[[bytes], None]) -> None: ...


def _encode_gaps(gaps: list[Gap]) -> list[list[str]]:
    return [[g.kind, g.detail[:300]] for g in gaps]


def _lay_out(work: str, limits: Limits, view: views.View) -> tuple[str, list[Gap]]:
    """In the supervisor: the namespaces and the file system view; (the run folder, the gaps)."""
    private, gaps = linux.unshare_namespaces()
    run = os.path.join(work, "run")
    if not private:
        gaps.append(Gap("file view", NO_MOUNT_NAMESPACE))
        views.copy_in(work, run, limits.disk_mb)
        return run, gaps
    try:
        views.new_root(work, run, view, limits.disk_mb)
    except OSError as exc:
        gaps.append(Gap("file view", state(NOT_REDUCED, error=exc)))
        gaps += views.read_only_everything(run, limits.disk_mb)
        views.copy_in(work, run, limits.disk_mb)
    return run, gaps


def _checker(task: Task, path: Path, run: str, limits: Limits, result_fd: int, as_nobody: bool) -> None:
    """The checker (PID 1 of the job's namespace): privileges and limits, the box's frame, then the task."""
    gaps: list[Gap] = []
    try:
        linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    except OSError:
        pass  # no private PID namespace: /proc shows the host's processes (the supervisor's gap says so)
    gaps += linux.drop_privileges(as_nobody)
    gaps += linux.limit_resources(limits.cpu(), limits.memory_mb, limits.file_size_mb)
    linux.scrub_environment(run, KEPT_ENV)
    # Fresh Python file objects: the parent's may have been locked at the moment of the fork.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, errors="replace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="replace")
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    send_all(result_fd, frame(json.dumps({"kind": "box", "gaps": _encode_gaps(gaps)}).encode()))
    me = os.getpid()

    def send(data: bytes) -> None:
        if os.getpid() != me:
            os._exit(0)  # a copy the task's code forked: only the checker itself sends
        send_all(result_fd, frame(data))

    try:
        task(path, send)
    finally:
        if os.getpid() == me:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(0)  # skip interpreter shutdown: student objects may hang it; a fork of the task's ends here too


def _supervise(task: Task, work: str, limits: Limits, view: views.View, group: Path | None, result_fd: int,
               capture_fd: int, as_nobody: bool) -> None:
    """The supervisor (see the module docstring). Never returns."""
    trailer: dict = {"kind": "trailer", "gaps": [], "changed": [], "unusable": "", "status": None}
    try:
        if group is not None:
            cgroups.join(group, os.getpid())
        os.setsid()
        os.dup2(capture_fd, 1)
        os.dup2(capture_fd, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for low, high in ((3, result_fd), (result_fd + 1, 1 << 16)):
            os.closerange(low, high)  # other jobs' pipes, the results database, the owner's files
        try:
            run, gaps = _lay_out(work, limits, view)
        except views.DoesNotFit as exc:
            trailer["unusable"] = str(exc)
            send_all(result_fd, frame(json.dumps(trailer).encode()))
            os._exit(0)
        if group is None:
            gaps.append(Gap("process limit", NO_PIDS_CGROUP))
        trailer["gaps"] = _encode_gaps(gaps)
        try:
            path = workdir.unpack(run)
        except workdir.Unusable as exc:
            trailer["unusable"] = str(exc)
            send_all(result_fd, frame(json.dumps(trailer).encode()))
            os._exit(0)
        before = workdir.working_copy(run)
        if as_nobody and os.geteuid() == 0:
            linux.hand_over(run)  # the checker gives up root: its folder must stay its own
        pid = os.fork()
        if pid == 0:
            _checker(task, path, run, limits, result_fd, as_nobody)
        _, status, usage = os.wait4(pid, 0)
        trailer["status"] = status
        trailer["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
        trailer["rss_kb"] = usage.ru_maxrss
        try:  # PID 1 of the namespace is gone, and with it every process the code started
            trailer["changed"] = workdir.changed_files(before, workdir.working_copy(run, before))
        except Exception:  # noqa: BLE001 - say so rather than send nothing
            trailer["changed"] = [COPY_UNREADABLE]
        send_all(result_fd, frame(json.dumps(trailer).encode()))
        os._exit(0)
    except BaseException as exc:  # noqa: BLE001
        try:
            trailer["start_error"] = f"{type(exc).__name__}: {exc}"[:500]
            send_all(result_fd, frame(json.dumps(trailer).encode()))
        finally:
            os._exit(3)


def launch(task: Task, work: str, limits: Limits, view: views.View, group: Path | None, result_fd: int,
           capture_fd: int, as_nobody: bool = True) -> int:
    """Fork the supervisor of one job; its pid. ``result_fd`` and ``capture_fd`` are the write ends it keeps.
    ``as_nobody``: a root owner's job gives up uid 0 (a job that runs no student code may keep it, without any
    capability, to read data folders only root may read)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _supervise(task, work, limits, view, group, result_fd, capture_fd, as_nobody)
    return pid


class FullJob:
    """One job at the full level (see the module docstring)."""

    def __init__(self, task: Task, source: Path, limits: Limits, view: views.View, group: Path | None = None,
                 launcher=None, as_nobody: bool = True, channel_limit: int = MAX_CHANNEL_BYTES):
        self.task, self.source, self.limits, self.view, self.group = task, Path(source), limits, view, group
        self.as_nobody, self.channel_limit = as_nobody, channel_limit
        self.launcher = launcher  # a zygote (grader.sandbox.zygote) that forks the supervisor; None: fork here
        self.pid = 0
        self.status: int | None = None
        self.timed_out = False
        self.fd = -1
        self.work = ""
        self.began = 0.0
        self.reader: Reader | None = None
        self.capture: IO[bytes] | None = None
        self.unusable = ""

    def start(self) -> None:
        """Copy the submission into a fresh work folder and fork the supervisor; returns at once."""
        self.began = time.monotonic()
        try:
            self.work = workdir.make_workdir(self.source)
        except workdir.Unusable as exc:
            self.unusable = str(exc)
            return
        capture = self.capture = tempfile.TemporaryFile(mode="w+b")
        read_fd, write_fd = os.pipe()
        try:
            if self.launcher is not None:
                self.pid = self.launcher.launch(self.task, self.work, self.limits, self.view, self.group,
                                                write_fd, capture.fileno())
            else:
                self.pid = launch(self.task, self.work, self.limits, self.view, self.group, write_fd,
                                  capture.fileno(), self.as_nobody)
        finally:
            os.close(write_fd)
        os.set_blocking(read_fd, False)
        self.fd = read_fd
        self.reader = Reader(read_fd, self.channel_limit)

    def _reap(self, block: bool) -> None:
        if self.status is not None or not self.pid:
            return
        if self.launcher is not None:
            self.status = self.launcher.wait(self.pid, block)
            return
        pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid:
            self.status = status

    def poll(self) -> bool:
        """Read what arrived; True once the job is over (its supervisor ended, it overflowed, or time is up)."""
        if self.reader is None:
            return True
        self.reader.read_available()
        self._reap(block=False)
        if self.status is not None:
            self.reader.read_available()  # what was sent just before the exit (the trailer)
        if self.status is not None or self.reader.overflow:
            return True
        if time.monotonic() > self.began + self.limits.wall_s:
            self.timed_out = True
            return True
        return False

    def stop(self) -> None:
        """Kill the supervisor's process group and every process of the cgroup, and reap the supervisor."""
        if not self.pid:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.group is not None:
            cgroups.kill_cgroup(self.group)
        self._reap(block=True)

    def _clean_up(self) -> str:
        output = ""
        if self.capture is not None:
            self.capture.seek(0)
            output = self.capture.read(OUTPUT_BYTES).decode("utf-8", errors="replace")
            self.capture.close()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.work:
            shutil.rmtree(self.work, ignore_errors=True)
        return output

    def abandon(self) -> None:
        """Stop a job whose result is no longer wanted and clean up after it."""
        self.stop()
        self._clean_up()

    def outcome(self) -> Outcome:
        """The facts of a job that ``poll`` said is over; its folder and descriptors are released."""
        if self.reader is None:
            return Outcome("full", frames=[], unusable=self.unusable, started=not self.unusable)
        self.stop()
        self.reader.read_available()
        overflow = self.reader.overflow
        data = self.reader.data()
        output = self._clean_up()
        result = Outcome("full", output=output, timed_out=self.timed_out, overflow=overflow,
                         wall_s=round(time.monotonic() - self.began, 3), channel_limit=self.channel_limit)
        if overflow:
            return result
        frames = split_frames(data)
        head = decode_json(frames[0]) if frames else None
        tail = decode_json(frames[-1]) if frames else None
        if isinstance(tail, dict) and tail.get("kind") == "trailer":
            _take_trailer(result, tail, self.limits)
        if frames is None or not isinstance(tail, dict) or tail.get("kind") != "trailer":
            # no supervisor's last frame: stopped at the deadline, or a channel not in the box's shape
            result.frames = [] if self.timed_out or not data else None
            return result
        if not isinstance(head, dict) or head.get("kind") != "box":
            result.frames = [] if len(frames) == 1 else None  # only the trailer: the checker never started
            return result
        result.gaps = decode_gaps(head.get("gaps")) + result.gaps
        result.frames = frames[1:-1]
        return result


def _take_trailer(result: Outcome, tail: dict, limits: Limits) -> None:
    """The supervisor's facts into ``result``."""
    result.gaps = decode_gaps(tail.get("gaps"))
    changed = tail.get("changed")
    result.changed_files = [str(c)[:200] for c in changed][:10] if isinstance(changed, list) else []
    result.unusable = str(tail.get("unusable") or "")[:500]
    if tail.get("start_error"):
        result.started, result.start_error = False, str(tail["start_error"])[:500]
    result.cpu_s = float(tail.get("cpu_s") or 0.0)
    result.peak_rss_mb = round(float(tail.get("rss_kb") or 0) / 1024, 1)
    status = tail.get("status")
    if not isinstance(status, int):
        return
    if os.WIFEXITED(status):
        result.exit_code = os.WEXITSTATUS(status)
        return
    sig = os.WTERMSIG(status)
    result.signal = sig
    # PID 1 of a namespace ignores SIGXCPU, so the hard limit's SIGKILL is what ends it
    result.cpu_exceeded = sig == signal.SIGXCPU or (sig == signal.SIGKILL and result.cpu_s >= limits.cpu())
    result.file_too_large = sig == signal.SIGXFSZ

