"""The ``process`` isolation level: a job in a plain child process, on any operating system.

Public interface:

* :class:`ProcessJob`: ``start()``, ``poll()`` (True once over), ``stop()``, ``outcome()`` (an :class:`Outcome`),
  as :class:`grader.sandbox.full.FullJob`; ``fd`` is -1 (nothing to select on: poll it). A root owner's child
  runs as uid 65534 unless ``as_nobody=False``.
* :func:`root_kept`: why a root owner's child would keep uid 0 here ("" when it would not).

Where Linux namespaces are unavailable (macOS, Windows, a container that forbids them) or when asked for, the task
runs in a fresh interpreter started with multiprocessing's ``spawn`` (the only start method every platform has),
on its own copy of the submission, killed at the wall-clock limit; CPU time, file size and core dumps are limited
where the platform has rlimits. The task must be picklable. The owner's process, which runs no task code, takes
the facts: how the child ended, the time, and the working copy's fingerprints before and after.

What this level does not give, and every Outcome lists as gaps: a private file system view, a closed network, a
process-count limit, and a channel the task cannot reach (it is a descriptor of the task's own process).
"""
from __future__ import annotations

import io
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from grader.sandbox import facts, linux, workdir
from grader.sandbox.channel import MAX_CHANNEL_BYTES, decode_json
from grader.sandbox.full import OUTPUT_BYTES, Task
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Gap, Outcome, decode_gaps

GAPS = [Gap("process level", facts.PLAIN_CHILD), Gap("network", facts.NOT_ISOLATED),
        Gap("file view", facts.NOT_ISOLATED), Gap("process limit", facts.NO_PROCESS_LIMIT)]


def _child(task: Task, run: str, capture: str, conn, limits: Limits, as_nobody: bool = False) -> None:
    """The spawned child: output to ``capture``, limits, uid 0 given up (``as_nobody``), the box's frame, then
    the task."""
    try:
        fd = os.open(capture, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, errors="replace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="replace")
        gaps = linux.limit_resources(limits.cpu(), None, limits.file_size_mb)
        if as_nobody:
            gaps += linux.become_unprivileged()
            if os.geteuid() == 0 and not any(g.kind == "uid" for g in gaps):
                gaps.append(Gap("uid", facts.STILL_UID_0))
        os.environ.update({"HOME": run, "TMPDIR": run, "MPLCONFIGDIR": os.path.join(run, ".mpl"),
                           "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"})
        tempfile.tempdir = run
        sys.dont_write_bytecode = True
        os.chdir(run)
        conn.send_bytes(json.dumps({"kind": "box", "gaps": [[g.kind, g.detail] for g in gaps]}).encode())
        me = os.getpid()

        def send(data: bytes) -> None:
            if os.getpid() != me:
                os._exit(0)  # a copy the task's code forked: only the child itself sends
            conn.send_bytes(data)

        task(workdir.unpack(run), send)
        if os.getpid() == me:
            sys.stdout.flush()
            sys.stderr.flush()
            conn.close()
    finally:
        os._exit(0)  # skip interpreter shutdown: student objects may hang it


def _unreadable_python() -> str:
    """The first folder of this Python (its standard library, its packages, the grader) that other users cannot
    read, or ""."""
    import sysconfig

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the grader's own sources
    for top in sorted({sys.base_prefix, sys.prefix, os.path.dirname(os.__file__), sysconfig.get_paths()["purelib"],
                       package}):
        path = os.path.realpath(top)
        while True:
            mode = os.stat(path).st_mode
            if not mode & 0o001 or (path == os.path.realpath(top) and not mode & 0o004):
                return path
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return ""


def root_kept() -> str:
    """Why a root owner's child would keep uid 0 at this level, in words ("" when it gives uid 0 up, or when the
    owner is not root): a caller whose own files must stay out of the code's reach refuses to run it then. A fact
    of :mod:`grader.sandbox.facts` (English): show it with :func:`grader.batch.verdict.fact_words`."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return ""
    unreadable = _unreadable_python()
    if unreadable:
        return facts.state(facts.PYTHON_UNREADABLE, folder=unreadable)
    if sys.platform.startswith("linux") and not linux.is_initial_user_namespace():
        return facts.NOT_INITIAL_NAMESPACE
    return ""


class ProcessJob:
    """One job at the process level (see the module docstring)."""

    fd = -1

    def __init__(self, task: Task, source: Path, limits: Limits, channel_limit: int = MAX_CHANNEL_BYTES,
                 as_nobody: bool = True):
        self.task, self.source, self.limits, self.channel_limit = task, Path(source), limits, channel_limit
        # A root owner's child gives up uid 0 (a job that runs no student code may keep it): the files of root
        # (a platform's results folder, /root) are then closed to it, and a process it leaves behind too.
        root = as_nobody and hasattr(os, "geteuid") and os.geteuid() == 0
        unreadable = _unreadable_python() if root else ""
        self.as_nobody = root and not unreadable
        self.uid_gap = [Gap("uid", facts.state(facts.KEPT_UID_0, folder=unreadable))] if unreadable else []
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.frames: list[bytes] = []
        self.received = 0
        self.overflow = self.timed_out = False
        self.work = self.unusable = ""
        self.began = 0.0
        self.before: dict[str, str] = {}

    def start(self) -> None:
        """Copy and unpack the submission, fingerprint it, and spawn the child; returns at once."""
        self.began = time.monotonic()
        try:
            self.work = workdir.make_workdir(self.source)
            run = os.path.join(self.work, "run")
            shutil.move(os.path.join(self.work, "submission"), os.path.join(run, "submission"))
            workdir.unpack(run)  # here, so that the unpacked files are fingerprinted before the child runs
        except workdir.Unusable as exc:
            self.unusable = str(exc)
            return
        self.before = workdir.working_copy(run)
        capture = os.path.join(self.work, "output.txt")
        open(capture, "wb").close()
        if self.as_nobody:
            linux.hand_over(self.work)  # its own copy and output file stay its own
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        self.process = context.Process(target=_child, args=(self.task, run, capture, send, self.limits, self.as_nobody),
                                       daemon=True)
        sys.stdout.flush()
        sys.stderr.flush()
        self.process.start()
        send.close()
        self.conn = receive

    def _receive(self) -> None:
        if self.conn is None or self.process is None:
            return
        try:
            while not self.overflow and self.conn.poll():
                data = self.conn.recv_bytes(self.channel_limit)
                self.received += len(data)
                if self.received > self.channel_limit:
                    self.overflow, self.frames = True, []
                else:
                    self.frames.append(data)
        except EOFError:  # the child closed its end
            return
        except OSError:  # one message over the limit
            self.overflow, self.frames = True, []

    def poll(self) -> bool:
        """Take what arrived; True once the child is over (ended, overflowed, or past its deadline)."""
        if self.process is None:
            return True
        self._receive()
        if self.overflow or not self.process.is_alive():
            self._receive()
            return True
        if time.monotonic() > self.began + self.limits.wall_s:
            self.timed_out = True
            return True
        return False

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=10)

    def abandon(self) -> None:
        """Stop a job whose result is no longer wanted and remove its folder."""
        self.stop()
        if self.conn is not None:
            self.conn.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def outcome(self) -> Outcome:
        """The facts of a job that ``poll`` said is over; its folder is removed."""
        if self.process is None:
            shutil.rmtree(self.work, ignore_errors=True)
            return Outcome("process", frames=[], unusable=self.unusable, started=not self.unusable, gaps=list(GAPS))
        self._receive()
        self.stop()
        if self.conn is not None:
            self.conn.close()
        with open(os.path.join(self.work, "output.txt"), "rb") as handle:
            output = handle.read(OUTPUT_BYTES).decode("utf-8", errors="replace")
        run = os.path.join(self.work, "run")
        changed = workdir.changed_files(self.before, workdir.working_copy(run, self.before))
        shutil.rmtree(self.work, ignore_errors=True)
        result = Outcome("process", output=output, timed_out=self.timed_out, overflow=self.overflow,
                         wall_s=round(time.monotonic() - self.began, 3), changed_files=changed, gaps=list(GAPS) + self.uid_gap,
                         channel_limit=self.channel_limit)
        code = self.process.exitcode
        if code is not None and code < 0:
            result.signal = -code
        elif code is not None:
            result.exit_code = code
        head = decode_json(self.frames[0]) if self.frames else None
        if isinstance(head, dict) and head.get("kind") == "box":
            result.frames = self.frames[1:]
            result.gaps += decode_gaps(head.get("gaps"))
        else:
            result.frames = [] if not self.frames else None
        return result
