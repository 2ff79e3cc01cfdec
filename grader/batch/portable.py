"""The ``process`` isolation level: the checks in a plain child process, on any operating system.

Where Linux namespaces are unavailable (macOS, Windows, a container that forbids them) or when asked for with
``GRADER_ISOLATION=process`` / ``--isolation process``, a submission is checked in a fresh interpreter started
with multiprocessing's ``spawn`` (the only start method every platform has). The child works on its own copy of
the submission in a temporary folder, sends its report as one frame on a multiprocessing pipe, and is killed at
the wall-clock limit. Where the platform has rlimits (macOS, Linux), CPU time, file size and core dumps are
limited too. The audit hook of the full sandbox runs here as well, so importing the reference solutions fails
and what the code tried is recorded.

What this level does not give: a private file system view, a closed network, a process-count limit, and a result
channel the code cannot reach. It is meant for a student self-checking on their own laptop; grade a class with
the full sandbox. ``Report.isolation`` lists these gaps in every report made at this level.
"""
from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from grader.batch import sandbox
from grader.report import Report
from grader.spec import Spec

NOT_ISOLATED = [
    "process level: your code ran in a plain child process with the wall-clock limit (no Linux namespaces here, "
    "or --isolation process)",
    "the network, the file system and other processes were not isolated",
    "no process-count or memory limit",
]


@dataclass
class PortableJob:
    """A plain child process that is checking one submission."""

    process: multiprocessing.process.BaseProcess
    conn: Connection  # the parent's end of the result pipe
    capture: str  # file receiving what the child prints
    work: str
    student: str
    deadline: float
    began: float
    frame: bytes = b""
    timed_out: bool = False
    read_fd: int = -1  # no selectable descriptor: the pool polls this kind of job
    source: Path | None = None
    stage: str = "observe"  # the judge stage runs in this (clean) process, in finish()
    before: dict | None = None  # the working copy's fingerprints before the child started

    def poll(self, spec=None, limits=None) -> bool:
        """Take the report if it arrived; True once the child is over (reported, died, or past its deadline)."""
        try:
            while not self.frame and self.conn.poll():
                self.frame = self.conn.recv_bytes()
        except (EOFError, OSError):
            pass
        if self.frame or not self.process.is_alive():
            return True
        if time.monotonic() > self.deadline:
            self.timed_out = True
            return True
        return False

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)

    def abandon(self) -> None:
        """Stop a job whose result is no longer wanted and remove its folder."""
        self.stop()
        self.conn.close()
        shutil.rmtree(self.work, ignore_errors=True)


def start(spec: Spec, source: Path, student: str, limits) -> PortableJob:
    """Start a fresh interpreter that checks ``source`` (already resolved); return at once."""
    work = tempfile.mkdtemp(prefix=f"cnn-grader-{os.getpid()}-")
    run = os.path.join(work, "run")
    sandbox.copy_submission(source, Path(run))
    try:
        sandbox._unpack(run)  # here, so that the unpacked files are fingerprinted before the child runs
    except sandbox.SubmissionError:
        pass  # the child reports it
    before = sandbox.working_copy(run)
    capture = os.path.join(work, "output.txt")
    open(capture, "wb").close()
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    began = time.monotonic()
    process = context.Process(target=child_main, args=(spec, student, limits, run, capture, send,
                                                       sandbox.reference_locations()), daemon=True)
    sys.stdout.flush()
    sys.stderr.flush()
    process.start()
    send.close()
    return PortableJob(process, receive, capture, work, student, began + limits.wall_s, began, source=source,
                       before=before)


def finish(job: PortableJob, spec: Spec, limits) -> Report:
    """The report of a job that ``poll`` said is over; the folder is removed."""
    timed_out = job.timed_out
    job.poll()
    job.stop()
    job.conn.close()
    with open(job.capture, "rb") as handle:
        output = handle.read(sandbox.MAX_OUTPUT + 1).decode("utf-8", errors="replace")
    run = os.path.join(job.work, "run")
    changed = sandbox.changed_files(job.before, sandbox.working_copy(run, job.before)) if job.before else []
    shutil.rmtree(job.work, ignore_errors=True)

    def exit_reason() -> str:
        code = job.process.exitcode
        if code is not None and code < 0:
            return f"the check process was killed by signal {-code}: your code may crash the interpreter."
        return (f"the check process ended without a result (exit code {code}): your code calls sys.exit / "
                "os._exit, or crashed the interpreter, or exceeded a resource limit.")

    frames = None if timed_out else sandbox.split_frames(job.frame)
    head = sandbox._head(frames)
    if frames is not None and head is not None and head.get("kind") == "observation" and len(frames) == 2 \
            and job.source is not None:
        report = sandbox.judge_here(spec, job.source, job.student, head.get("data") or {}, frames[1], limits)
        report = sandbox.observed_into(report, {"output": output, "isolation": head.get("isolation"),
                                                "events": head.get("events")}, "process")
        report.timings["wall_s"] = round(time.monotonic() - job.began, 3)
    else:
        report = sandbox.conclude(spec, job.student, limits, job.frame, timed_out, output, job.began, exit_reason)
    report.isolation_level = "process"
    report.isolation = list(dict.fromkeys(NOT_ISOLATED + report.isolation))
    report.changed_files = changed
    return report


def _limit_resources(limits) -> list[str]:
    """CPU time, file size and core dumps where the platform has rlimits; what could not be set."""
    if sandbox.resource is None:
        return ["no CPU-time or file-size limit (this platform has no rlimits)"]
    resource = sandbox.resource
    missing = []
    for which, value in ((resource.RLIMIT_CPU, limits.cpu()), (resource.RLIMIT_FSIZE, limits.file_size_mb << 20),
                         (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError) as exc:
            missing.append(f"a resource limit could not be set ({exc})")
    return missing


def child_main(spec: Spec, student: str, limits, run: str, capture: str, conn, reference_dirs: list[str]) -> None:
    """The spawned child: redirect output, set limits, check the copy in ``run``, send one report frame."""
    try:
        fd = os.open(capture, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, errors="replace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="replace")
        missing = _limit_resources(limits)
        os.environ.update({"HOME": run, "TMPDIR": run, "MPLCONFIGDIR": os.path.join(run, ".mpl"),
                           "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"})
        tempfile.tempdir = run
        sys.dont_write_bytecode = True
        os.chdir(run)
        import torch

        from grader.quiz.evaluate import use_device

        torch.set_num_threads(max(1, limits.threads))
        use_device(limits.device)
        me = os.getpid()
        events = sandbox._watch(run, reference_dirs)
        kind, result, weights = sandbox.run_task(spec, student, run, ("observe",))
        if os.getpid() != me:
            os._exit(0)  # a copy the student's code forked: only the checker itself reports
        data = sandbox.message(kind, result, missing, list(dict.fromkeys(events))[:sandbox.MAX_EVENTS], weights)
    except BaseException as exc:  # noqa: BLE001 - a report must reach the parent whatever the student did
        data = sandbox._report_message(sandbox.fatal_report(spec, student, f"internal error while checking: "
                                                             f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        conn.send_bytes(data)
        conn.close()
    finally:
        os._exit(0)  # skip interpreter shutdown: student objects may hang it
