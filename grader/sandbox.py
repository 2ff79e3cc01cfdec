"""Run the check of one submission in a child process with limits, and read its report from a private pipe.

The child (``python -m grader.child``) gets its job as JSON on stdin, sends its standard output and error to a
capture file before any student code runs, and writes the report as JSON to a pipe only the parent reads. What
the student prints can never be mistaken for the result: it is shown as "Your code printed" only.
The parent enforces the wall-clock limit by killing the child's whole process group.
"""
from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.report import MAX_OUTPUT, CheckResult, Report
from grader.spec import DEFAULT_POINTS, Spec

FILE_SIZE_LIMIT = 256 * 1024 * 1024  # bytes one file written by the child may reach


def _limits(cpu_seconds: int):
    def apply():
        os.setsid()  # own process group: a timeout kills every process the student started
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def check_in_child(spec: Spec, path: str | Path, student: str | None = None, timeout: float | None = None,
                   use_cache: bool = False) -> Report:
    """Check ``path`` against ``spec`` in a child process; a timeout or crash becomes a report with ``fatal`` set.

    With ``use_cache``, an unchanged submission (same files, spec and grader code) is answered from the cache.
    """
    path = Path(path).resolve()
    timeout = timeout or spec.timeout
    student = student or path.stem
    if use_cache:
        from grader import cache

        key = cache.submission_key(spec.path, path, student)
        cached = cache.load(key)
        if cached is not None:
            return cached
        report = check_in_child(spec, path, student, timeout, use_cache=False)
        cache.store(key, report)
        return report
    read_fd, write_fd = os.pipe()
    job = {"spec": str(spec.path), "path": str(path), "student": student, "result_fd": write_fd}
    with tempfile.TemporaryDirectory(prefix="grader-") as work, \
            tempfile.TemporaryFile(mode="w+b") as captured:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "GRADER_DATA_DIR",
                                                              "GRADER_ASSIGNMENTS", "PYTHONPATH")}
        env.update({"HOME": work, "TMPDIR": work, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
                    "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "2")})
        began = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "grader.child"], stdin=subprocess.PIPE, stdout=captured,
                                stderr=captured, cwd=work, env=env, pass_fds=(write_fd,),
                                preexec_fn=_limits(int(timeout * 2) + 10))
        os.close(write_fd)
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        chunks: list[bytes] = []
        selector = selectors.DefaultSelector()
        selector.register(read_fd, selectors.EVENT_READ)
        timed_out = False
        while True:
            left = timeout - (time.monotonic() - began)
            if left <= 0:
                timed_out = True
                break
            if not selector.select(timeout=min(left, 0.5)):
                if proc.poll() is not None and not selector.select(timeout=0):
                    break
                continue
            data = os.read(read_fd, 1 << 16)
            if not data:
                break
            chunks.append(data)
        selector.close()
        os.close(read_fd)
        if timed_out:
            _kill_group(proc)
        try:
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - began)))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            proc.wait()
        _kill_group(proc)  # anything the student left running
        captured.seek(0)
        output = captured.read(MAX_OUTPUT + 1).decode("utf-8", errors="replace")
    if len(output) > MAX_OUTPUT:
        output = output[:MAX_OUTPUT] + "\n... (output truncated)"
    report = None
    if chunks and not timed_out:
        try:
            report = Report.from_dict(json.loads(b"".join(chunks)))
        except (ValueError, KeyError, TypeError):
            report = None
    if report is None:
        report = Report(assignment=spec.name, student=student)
        report.checks = [CheckResult(name, "error", 0.0, points, "Not run: the check process did not finish (see above).")
                         for name, points in spec.points.items() if name in DEFAULT_POINTS]
        if timed_out:
            report.fatal = (f"your code did not finish within {timeout:g} s: look for an endless loop or work "
                            "at the top level of a module or in a class body (only definitions should run on import).")
        else:
            report.fatal = (f"the check process ended without a result (exit code {proc.returncode}): your code "
                            "may call sys.exit / os._exit, crash the interpreter, or exceed a resource limit.")
    report.output = output
    report.timings["wall_s"] = round(time.monotonic() - began, 3)
    return report
