"""A grading process resident on a cluster worker: torch and the grader are imported once, and every submission
the worker is given is sandboxed from it exactly as ``grader grade`` does on one machine.

The Dask worker itself is multi-threaded (its event loop, its task threads), and a fork from a threaded process
may inherit locks held by other threads. So the worker keeps single-threaded resident processes, one per task
thread (:func:`resident`; started with the worker by ``--preload grader.batch.resident``, else on the first task),
and hands them submissions over a pipe; the sandbox forks from here. The protocol is length-
prefixed frames: a JSON request (with the client's language: the report is written in it), then the submission's
bytes (a tar); the answer is the report's JSON. Nothing the
student's code prints can reach the channel: the sandbox's children get their own stdout and close every other
file descriptor, and this process moves its own stdout away from the channel.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path

from grader.i18n import DEFAULT_LANGUAGE, _, current_language, set_language

HEADER = struct.Struct(">Q")
COPY_BUFFER = 4 << 20  # tar copies a checkpoint in a few large pieces, not thousands of 16 KB ones


class ResidentError(RuntimeError):
    """The resident process died or broke the protocol (the worker then fails the task, and Dask retries it)."""


def pack(path: Path) -> bytes:
    """The submission at ``path`` (a folder or one file) as tar bytes, links kept as links, named as it is."""
    buffer = io.BytesIO()
    with tarfile.TarFile(fileobj=buffer, mode="w", copybufsize=COPY_BUFFER) as tar:
        tar.add(path, arcname=path.name, recursive=True)
    return buffer.getvalue()


def unpack(payload: bytes, folder: Path) -> Path:
    """Unpack :func:`pack`'s bytes into ``folder``; return the submission's path there."""
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r") as tar:
        names = tar.getnames()
        tar.extractall(folder, filter="tar")  # links stay links, nothing lands outside ``folder``
    top = {name.split("/", 1)[0] for name in names}
    if len(top) != 1:
        raise ResidentError(_("a packed submission holds {n} top-level entries, not one", n=len(top)))
    return folder / top.pop()


def _read_exactly(stream, size: int) -> bytes | None:
    """``size`` bytes from ``stream`` (a pipe may return fewer per read), None at the end of the stream."""
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream) -> bytes | None:
    head = _read_exactly(stream, HEADER.size)
    if head is None:
        return None
    (size,) = HEADER.unpack(head)
    return _read_exactly(stream, size)


def _write_frame(stream, data: bytes) -> None:
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def full_isolation_works() -> bool:
    """Whether this machine can really enter the full sandbox's user namespace (a container may forbid it even
    where the C library has ``unshare``): tried in a throw-away child."""
    from grader.sandbox import linux

    if not linux.available():
        return False
    if os.geteuid() == 0:
        return True
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if linux.LIBC.unshare(linux.CLONE_NEWUSER) == 0 else 1)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _pid, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def grade_request(request: dict, payload: bytes, full_works: bool, launcher=None) -> dict:
    """Grade one packed submission in the sandbox (the portable level where namespaces do not work here), its
    report in the request's language (a request of an older client has none: English)."""
    set_language(request.get("lang") or DEFAULT_LANGUAGE)  # this process's every later sentence, and its boxes'
    from grader.batch.job import check_in_box
    from grader.quiz.evaluate import use_device
    from grader.report import Report, fatal_report
    from grader.sandbox.limits import Limits
    from grader.spec import SpecError, parse_spec_text

    try:
        spec = parse_spec_text(request["spec_toml"], request["spec_name"])
    except SpecError as exc:  # a worker with another grader version: a report that says so, with the error's text
        return Report(request["spec_name"], request["student"],
                      fatal=_("the grader on the worker cannot read the assignment's spec: {error}",
                              error=exc)).to_dict()
    known = {f.name for f in fields(Limits)}
    limits = Limits(**{k: v for k, v in request["limits"].items() if k in known})
    if limits.isolation == "full" and not full_works:
        limits.isolation = "process"  # the report's isolation_level says so
    use_device(request.get("device", "cpu"))
    folder = Path(tempfile.mkdtemp(prefix=f"grader-resident-{os.getpid()}-"))
    try:
        source = unpack(payload, folder)
        report = check_in_box(spec, source, request["student"], limits=limits, launcher=launcher)
    except (ResidentError, tarfile.TarError, OSError) as exc:
        report = fatal_report(spec, request["student"], _("the grader could not unpack the submission on its "
                                                          "worker: {error}", error=exc))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return report.to_dict()


def main() -> None:
    """The resident's loop: one request at a time until the worker closes the channel."""
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print (a warning, a progress bar) goes to stderr, never into the channel
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    from grader.batch.job import prepare_parent
    from grader.sandbox import cgroup
    from grader.sandbox.zygote import Zygote

    prepare_parent()
    cgroup.clean_stale()
    full_works = full_isolation_works()
    launcher = None
    if full_works:  # each submission's code forks from a process that never held another's report
        launcher = Zygote()
        launcher.start("grader.batch.job:prepare_parent")
    _write_frame(channel_out, json.dumps({"ready": True, "full_isolation": full_works}).encode())
    while True:
        head = _read_frame(channel_in)
        payload = _read_frame(channel_in) if head is not None else None
        if head is None or payload is None:
            return
        answer = grade_request(json.loads(head), payload, full_works, launcher)
        try:
            _write_frame(channel_out, json.dumps(answer).encode())
        except BrokenPipeError:
            return


class Resident:
    """The worker's handle on one resident process: started on first use (or by the preload), started again if
    it died."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.info: dict | None = None  # its ready message, once read

    def start(self) -> None:
        """Start the process; return at once (it imports torch and the grader while the worker goes on)."""
        # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which suits a worker holding data frames
        # but makes glibc hand memory back after each of torch's large allocations: the re-evaluation then spends
        # a third of its time in the kernel. The resident takes the machine's default, as a local grader does.
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
        self.process = subprocess.Popen([sys.executable, "-m", "grader.batch.resident"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, start_new_session=True, env=env)
        self.info = None

    def _ready(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()
        assert self.process is not None
        if self.info is None:
            ready = _read_frame(self.process.stdout)
            if ready is None:
                self.close()
                raise ResidentError(_("the grading process on this worker did not start (see the worker's log)"))
            self.info = json.loads(ready)

    def grade(self, request: dict, payload: bytes) -> dict:
        """The report (as a dict) of one submission."""
        self._ready()
        assert self.process is not None and self.process.stdin is not None
        try:
            _write_frame(self.process.stdin, json.dumps(request).encode())
            _write_frame(self.process.stdin, payload)
            answer = _read_frame(self.process.stdout)
        except (BrokenPipeError, OSError) as exc:
            answer = None
            error: Exception | None = exc
        else:
            error = None
        if answer is None:
            self.close()
            raise ResidentError(_("the grading process on this worker ended mid-submission ({error})",
                                  error=error or _("no answer")))
        return json.loads(answer)

    def close(self) -> None:
        if self.process is not None:
            try:
                self.process.kill()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self.process = None


_IDLE: list[Resident] = []  # this worker's residents not grading right now
_IDLE_LOCK = threading.Lock()


@contextmanager
def resident() -> Iterator[Resident]:
    """An idle resident process of this worker for the duration of one task (a new one if none is idle)."""
    with _IDLE_LOCK:
        found = _IDLE.pop() if _IDLE else Resident()
    try:
        yield found
    finally:
        with _IDLE_LOCK:
            _IDLE.append(found)


def dask_setup(worker) -> None:
    """``dask worker ADDRESS --preload grader.batch.resident``: start one resident per task thread as the worker
    starts, so that importing torch and the grader is done before the first submission arrives."""
    for _slot in range(max(1, int(getattr(worker, "nthreads", 1) or 1))):
        started = Resident()
        started.start()
        with _IDLE_LOCK:
            _IDLE.append(started)


def wait_ready() -> int:
    """Block until this worker's idle residents have imported torch and the grader; how many there are (for a
    benchmark that must not time their start-up, with ``client.run(wait_ready)``)."""
    with _IDLE_LOCK:
        idle = list(_IDLE)
    for found in idle:
        found._ready()
    return len(idle)


def dask_teardown(worker) -> None:
    with _IDLE_LOCK:
        while _IDLE:
            _IDLE.pop().close()


def request_for(spec, spec_toml: str | list[str], student: str, limits, device: str = "cpu") -> dict:
    """The JSON request for one submission: the spec travels as text (``spec_toml``, read once per run), so
    workers need no course folder; ``lang``: the client's language, which the report is written in."""
    return {"spec_name": spec.name, "spec_toml": spec_toml, "student": student,
            "limits": asdict(limits), "device": device, "lang": current_language()}


if __name__ == "__main__":
    main()
