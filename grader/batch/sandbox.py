"""Run the check of one submission in a forked, sandboxed child process and read its report from a private pipe.

The parent has already imported torch and the grader, so a child costs a ``fork()``, not an interpreter start.
Two processes per job: a supervisor that joins the slot's pids cgroup (process-count limit, and the handle that
kills everything the job started), enters new mount, network and PID namespaces and forks the checker, which is
PID 1 of its namespace. Before any student code runs, the checker has:

* no network: a new network namespace, whose only interface is a loopback that is down;
* a read-only view of every file system, but for a private tmpfs (``Limits.disk_mb``) holding a copy of the
  submission, which is its working directory, HOME and TMPDIR; its own /proc, showing only its own processes;
* no capabilities (bounding set emptied, no_new_privs), so it cannot remount, signal the grader or regain root;
* limits on CPU time, address space, file size and core dumps, and a scrubbed environment;
* standard output and error sent to a capture file and every other inherited file descriptor closed: what the
  student prints is kept as "your code printed", never read as a result, which comes as one length-prefixed frame.

A wall-clock deadline kills the cgroup. What could not be applied on this machine is listed in ``Report.isolation``.

That is the ``full`` isolation level, the default wherever Linux namespaces work. Where they cannot (macOS,
Windows, a container that forbids them) or when ``GRADER_ISOLATION=process`` / ``--isolation process`` asks for it,
the ``process`` level runs the same checks in a plain child process with the wall-clock limit
(:mod:`grader.batch.portable`). At both levels the student's code cannot import the reference solutions.
"""
from __future__ import annotations

import ctypes
import importlib.util
import io
import json
import os
import platform
import shutil
import signal
import stat
import struct
import sys
import tempfile
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grader
from grader.files import sha256_file
from grader.report import MAX_OUTPUT, Report, check_types, fatal_report
from grader.spec import Spec

try:
    import resource  # POSIX only: Windows has no rlimits
except ImportError:  # pragma: no cover - exercised on Windows
    resource = None  # type: ignore[assignment]

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(platform.machine())
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")  # cgroup v1 pids controller: the process-count limit and the kill handle
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "GRADER_DATA_DIR", "GRADER_CIFAR_DIR", "GRADER_ASSIGNMENTS", "PYTHONPATH",
            "OMP_NUM_THREADS", "SYSTEMROOT")  # SYSTEMROOT: Windows cannot start Python without it
ISOLATION_ENV = "GRADER_ISOLATION"
ISOLATION_LEVELS = ("full", "process")
REFERENCE_PACKAGE = "reference"  # the course's solutions: never importable by the code under test
REFERENCE_EVENT = "tried to import the reference solutions"
MAX_ZIP_BYTES = 500 * 1024 * 1024  # uncompressed size of a submitted zip
MAX_ZIP_FILES = 2000
MAX_EVENTS = 10
# What the parent reads of one child's result channel at most: a CIFAR VGG19's exported weights are about 80 MB.
# Past it the child is stopped and its row says so, so junk on the pipe cannot grow the grader's memory.
MAX_CHANNEL_BYTES = 256 * 1024 * 1024


@dataclass
class Limits:
    """The resources one submission may use. ``memory_mb`` is address space on top of the pre-imported grader."""

    wall_s: float = 60.0
    cpu_s: float | None = None  # default: twice the wall limit plus 10 s
    memory_mb: int = 4096
    file_size_mb: int = 256
    disk_mb: int = 512  # the private working directory (a tmpfs) holds at most this much
    processes: int = 64
    # torch intra-op threads per child. More than 1 only when the forking process has run no torch computation
    # yet (a fresh command): a forked child cannot use the OpenMP threads of a parent that already started them.
    threads: int = 1
    # "full": forked into Linux namespaces (above); "process": a plain child process with the wall-clock limit.
    isolation: str = field(default_factory=lambda: default_isolation())
    device: str = "cpu"  # where the quiz re-evaluates best.pt: cpu or cuda (resolved from --device before)

    def cpu(self) -> int:
        return int(self.cpu_s if self.cpu_s is not None else self.wall_s * 2 + 10)


@dataclass
class Running:
    """A child that is checking one submission."""

    pid: int
    read_fd: int
    capture: IO[bytes]  # what the child prints
    work: str
    cgroup: Path | None
    student: str
    deadline: float
    began: float
    chunks: list = field(default_factory=list)
    status: int | None = None
    timed_out: bool = False
    stage: str = "observe"  # then "judge": a second child, forked from this clean process, judges the graph
    observed: dict = field(default_factory=dict)  # the observe stage's output, events and isolation notes
    source: Path | None = None
    received: int = 0  # bytes read from the result channel
    overflow: bool = False  # it sent more than MAX_CHANNEL_BYTES


def _load_libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # Windows: no C library to open by None
        return None


_LIBC = _load_libc()


def full_isolation_available() -> bool:
    """Whether this machine can run the ``full`` level: Linux, fork, and a C library with unshare and mount."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or _LIBC is None or resource is None:
        return False
    return all(hasattr(_LIBC, name) for name in ("unshare", "mount", "prctl", "syscall"))


class IsolationError(ValueError):
    """An isolation level that does not exist, or ``full`` where this machine cannot provide it."""


def default_isolation() -> str:
    """``$GRADER_ISOLATION`` when set, else ``full`` where it works and ``process`` elsewhere."""
    wanted = os.environ.get(ISOLATION_ENV, "").strip().lower()
    if wanted:
        return check_isolation(wanted)
    return "full" if full_isolation_available() else "process"


def check_isolation(level: str) -> str:
    """``level`` when this machine can provide it; IsolationError saying why not otherwise."""
    if level not in ISOLATION_LEVELS:
        raise IsolationError(f"unknown isolation level {level!r}; choose one of: {', '.join(ISOLATION_LEVELS)}")
    if level == "full" and not full_isolation_available():
        raise IsolationError(f"the full sandbox needs Linux namespaces, which {platform.system() or 'this system'} "
                             "does not offer here: use --isolation process (a plain child process with the "
                             "wall-clock limit)")
    return level


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target, fstype, flags: int, data=None) -> None:
    enc = (lambda v: v.encode() if isinstance(v, str) else v)
    _call(_LIBC.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _write(path: str | Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _enter_namespaces(work: str, limits: Limits) -> tuple[str, list[str]]:
    """Unshare mount, network and PID namespaces, make every mount read-only and give the job a private tmpfs.

    Returns (the directory to run in, what could not be done). Runs in the first child, before its own fork.
    """
    missing = []
    if os.geteuid() != 0:  # unprivileged: a user namespace that maps only ourselves gives the rest
        uid, gid = os.getuid(), os.getgid()
        try:
            _call(_LIBC.unshare(CLONE_NEWUSER), "unshare(user)")
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                _write(f"/proc/self/{name}", text)
        except OSError as exc:
            return work, [f"no namespaces (the kernel refused a user namespace: {exc}): the network stays "
                          "reachable and files the grader's user may write stay writable"]
    try:
        _call(_LIBC.unshare(CLONE_NEWNET), "unshare(net)")
    except OSError as exc:
        missing.append(f"network not isolated ({exc})")
    try:
        _call(_LIBC.unshare(CLONE_NEWPID), "unshare(pid)")
    except OSError as exc:
        missing.append(f"no private process namespace ({exc})")
    try:
        _call(_LIBC.unshare(CLONE_NEWNS), "unshare(mount)")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        missing.append(f"no private file system view ({exc}): files the grader's user may read stay readable")
        return work, missing
    run = os.path.join(work, "run")
    try:
        _new_root(work, run, limits)
    except OSError as exc:  # no root of its own: at least make every file system read-only
        missing.append(f"the file system was not reduced to the job's own files ({exc}): other files stay "
                       "readable")
        try:
            _read_only_everything(run, limits, missing)
        except OSError as exc2:
            missing.append(f"no read-only file system view ({exc2}): files the grader's user may write stay "
                           "writable")
            return work, missing
        try:
            shutil.copytree(os.path.join(work, "submission"), os.path.join(run, "submission"), symlinks=True)
        except OSError:
            raise SubmissionError(f"the submission does not fit the {limits.disk_mb} MB working folder of the "
                                  "grader: hand in your code, best.pt and curves, not datasets.") from None
    return run, missing


def visible_paths() -> list[str]:
    """What a job's file system shows besides its own folder: the system, the interpreter and its installed
    packages, the grader, and the course's data folders, all read-only. Nothing else: not the submissions, not
    the output folder, not the home folder, not other jobs' folders, not the reference solutions."""
    wanted = ["/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc"]
    prefixes = {p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix) if p}
    wanted += sorted(prefixes) + [os.path.realpath(p) for p in sorted(prefixes)]
    wanted += [p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p
                                             or any(p.startswith(x + os.sep) for x in prefixes))]
    wanted.append(os.path.dirname(os.path.abspath(grader.__file__)))
    wanted.append(os.path.expanduser("~/.cache/grader"))  # the datasets' download folder, when there is one
    wanted += [os.environ[k] for k in ("GRADER_DATA_DIR", "GRADER_CIFAR_DIR") if os.environ.get(k)]
    blocked = [d.rstrip(os.sep) + os.sep for d in reference_locations()]
    kept: list[str] = []
    for path in sorted({os.path.abspath(p) for p in wanted if os.path.lexists(p)}, key=len):
        if any(path == k or path.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            continue  # already visible through a parent
        if any((path + os.sep).startswith(b) or b.startswith(path + os.sep) for b in blocked) \
                and not path.startswith(("/usr", "/lib", "/bin", "/etc", "/sbin")):
            continue  # would show the reference solutions
        kept.append(path)
    return kept


DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
MNT_DETACH = 2


def gpu_devices() -> tuple[str, ...]:
    """The NVIDIA device files a CUDA re-evaluation needs inside the sandbox (bound only with --device cuda)."""
    import glob

    return tuple(sorted(glob.glob("/dev/nvidia*")))


def _new_root(work: str, run: str, limits: Limits) -> None:
    """Make a tmpfs the job's whole file system: :func:`visible_paths` bound read-only, the devices a program
    needs, an empty /tmp, and a copy of the submission in ``run`` (the same path as outside). Then pivot into it,
    so nothing else exists for the job: absent, not merely read-only."""
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root is not known on {platform.machine()}")
    root = os.path.join(work, "root")
    os.makedirs(root, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.disk_mb}m,mode=0755")
    for path in visible_paths():
        target = root + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.lexists(target):
                os.symlink(os.readlink(path), target)
            continue
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount(path, target, None, MS_BIND | MS_REC)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)
    for device in DEVICES + (gpu_devices() if limits.device == "cuda" else ()):
        if os.path.exists(device):
            os.makedirs(root + "/dev", exist_ok=True)
            open(root + device, "a").close()
            _mount(device, root + device, None, MS_BIND)
    for folder in ("/proc", "/tmp", "/dev/shm"):
        os.makedirs(root + folder, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    try:
        shutil.copytree(os.path.join(work, "submission"), root + os.path.join(run, "submission"), symlinks=True)
    except OSError:
        raise SubmissionError(f"the submission does not fit the {limits.disk_mb} MB working folder of the grader: "
                              "hand in your code, best.pt and curves, not datasets.") from None
    old = os.path.join(root, ".old")
    os.makedirs(old, exist_ok=True)
    _call(_LIBC.syscall(SYS_PIVOT_ROOT, root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    _call(_LIBC.umount2(b"/.old", MNT_DETACH), "umount /.old")
    os.rmdir("/.old")


def _read_only_everything(run: str, limits: Limits, missing: list[str]) -> None:
    """The fallback view: every file system remounted read-only, and a private tmpfs for the job in ``run``."""
    points = sorted({line.split()[4] for line in open("/proc/self/mountinfo")}, key=len)
    for point in points:
        try:
            _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError as exc:
            if point == "/":
                raise
            missing.append(f"{point} stays writable ({exc})")
    _mount("tmpfs", run, "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.disk_mb}m,mode=0700")


def _drop_privileges() -> list[str]:
    """Drop every capability for good (bounding set, ambient, effective/permitted) and forbid regaining any."""
    missing = []
    for cap in range(64):
        _LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if _LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        missing.append("could not set no_new_privs")
    if SYS_CAPSET is None:
        return missing + ["capabilities not dropped on this architecture"]
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)  # two zeroed {effective, permitted, inheritable} structs
    if _LIBC.syscall(SYS_CAPSET, ctypes.c_char_p(header), data) != 0:
        missing.append(f"capabilities not dropped ({os.strerror(ctypes.get_errno())})")
    return missing


def _vm_size() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_resources(limits: Limits) -> None:
    memory = _vm_size() + limits.memory_mb * 1024 * 1024
    # CPU: SIGXCPU at the soft limit (so the report can say why), SIGKILL 5 s later if that is ignored.
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu(), limits.cpu() + 5))
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, limits.file_size_mb * 1024 * 1024),
                         (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(which, (value, value))


def _scrub_environment(run: str) -> None:
    kept = {k: v for k, v in os.environ.items() if k in KEPT_ENV}
    os.environ.clear()
    os.environ.update(kept)
    os.environ.update({"HOME": run, "TMPDIR": run, "MPLCONFIGDIR": os.path.join(run, ".mpl"),
                       "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"})
    tempfile.tempdir = run
    sys.dont_write_bytecode = True
    os.chdir(run)


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
        for group in PIDS_CGROUP.glob("cnn-grader-*"):
            if not _owner_alive(group.name):
                remove_cgroup(group)
    for work in Path(tempfile.gettempdir()).glob("cnn-grader-*"):
        if not _owner_alive(work.name):
            shutil.rmtree(work, ignore_errors=True)


def make_cgroup(slot: int, limits: Limits) -> Path | None:
    """A pids cgroup for one worker slot (process-count limit, and a handle that kills them all); None if unavailable."""
    if not (PIDS_CGROUP / "cgroup.procs").exists():
        return None
    group = PIDS_CGROUP / f"cnn-grader-{os.getpid()}-{slot}"
    try:
        group.mkdir(exist_ok=True)
        _write(group / "pids.max", str(limits.processes))
    except OSError:
        return None
    return group


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
    if group is not None:
        kill_cgroup(group)
        try:
            group.rmdir()
        except OSError:
            pass


def _unpack(run: str) -> Path:
    """The submission inside ``run``: a folder or file; a zip is unpacked here, in the sandbox."""
    source = next((Path(run) / "submission").iterdir())
    if source.suffix.lower() != ".zip":
        return source
    target = Path(run) / "unpacked" / source.stem
    if target.is_dir():  # unpacked already, by the supervisor (before any student code ran)
        return _unpacked_entry(target)
    target.mkdir(parents=True)
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_FILES:
                raise ValueError(f"{len(members)} files, over the limit of {MAX_ZIP_FILES}")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise ValueError(f"over {MAX_ZIP_BYTES // 2**20} MB uncompressed")
            for member in members:
                name = Path(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise ValueError(f"unsafe path in the archive: {member.filename}")
                if not stat.S_ISLNK(member.external_attr >> 16):
                    archive.extract(member, target)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise SubmissionError(f"{source.name} is not a usable zip file ({exc}). Hand in a zip made by your "
                              "system's 'compress' or 'zip -r', or the folder itself.") from None
    return _unpacked_entry(target)


def _unpacked_entry(target: Path) -> Path:
    entries = [p for p in target.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target


def working_copy(run: str | Path, only: dict[str, str] | None = None) -> dict[str, str]:
    """Fingerprints of the submission's working copy in ``run``: relative path -> SHA-256 of a regular file,
    ``link:<target>`` of a symbolic link, or what else is there. Covers the copied submission and, for a zip, its
    unpacked files. With ``only``, just those paths, and a missing one is ``missing``. Never follows a link and
    never opens anything but a regular file (a FIFO planted by the code would block the reader)."""
    run = Path(run)
    if only is None:
        paths = []
        for top in ("submission", "unpacked"):
            for folder, dirs, files in os.walk(run / top):  # a link to a folder is listed, not entered
                links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
                paths += [os.path.relpath(os.path.join(folder, name), run) for name in files + links]
    else:
        paths = list(only)
    prints = {}
    for relative in sorted(set(paths)):
        path = run / relative
        try:
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                prints[relative] = "link:" + os.readlink(path)
            elif stat.S_ISREG(mode):
                prints[relative] = sha256_file(path)
            else:
                prints[relative] = "not a regular file"
        except FileNotFoundError:
            prints[relative] = "missing"
        except OSError as exc:
            prints[relative] = f"unreadable ({exc.strerror})"
    return prints


def changed_files(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """The submitted files whose working copy differs after the run (changed, replaced or removed), by the name
    the student knows them by (their path inside the submission)."""
    names = []
    for relative, fingerprint in sorted(before.items()):
        if after.get(relative) != fingerprint:
            parts = Path(relative).parts
            names.append(str(Path(*parts[2:])) if len(parts) > 2 else parts[-1])
    return names


def trailer(changed: list[str]) -> bytes:
    """The supervisor's last frame on the result channel, sent after the checker (and all it started) ended."""
    return _frame(json.dumps({"kind": "trailer", "changed": changed}).encode())


def take_trailer(data: bytes) -> tuple[bytes, list[str] | None]:
    """The channel's data without the supervisor's trailer frame, and the files the trailer says changed.

    Only the last frame can be the supervisor's: the checker's code cannot write after it, because the supervisor
    sends it once the checker's whole PID namespace is gone. A trailer-like frame anywhere else is left in place,
    where it makes the channel count as tampered with. None when there is no trailer.
    """
    frames = split_frames(data)
    if not frames:
        return data, None
    try:
        last = json.loads(frames[-1])
    except (ValueError, RecursionError):
        return data, None
    if not isinstance(last, dict) or last.get("kind") != "trailer" or not isinstance(last.get("changed"), list):
        return data, None
    return b"".join(_frame(f) for f in frames[:-1]), [str(name)[:200] for name in last["changed"]][:MAX_EVENTS]


class SubmissionError(Exception):
    """The submission itself is unusable (corrupt zip...): the message is for the student."""


def _frame(payload: bytes) -> bytes:
    return struct.pack(">Q", len(payload)) + payload


def message(kind: str, data: dict, isolation: list[str] | None = None, events: list[str] | None = None,
            weights: bytes = b"") -> bytes:
    """What a child sends on its result channel: one JSON frame (``kind`` is "report" or "observation"), and for an
    observation a second frame with the exported weights."""
    head = json.dumps({"kind": kind, "data": data, "isolation": isolation or [], "events": events or []}).encode()
    return _frame(head) + (_frame(weights) if kind == "observation" else b"")


def _report_message(report: Report, isolation=None, events=None) -> bytes:
    return message("report", report.to_dict(), isolation, events)


def split_frames(data: bytes) -> list[bytes] | None:
    """The frames of a result channel, or None when it does not hold whole frames."""
    frames, at = [], 0
    while at < len(data):
        if len(data) - at < 8:
            return None
        size = struct.unpack(">Q", data[at:at + 8])[0]
        if at + 8 + size > len(data):
            return None
        frames.append(data[at + 8:at + 8 + size])
        at += 8 + size
    return frames


def run_task(spec: Spec, student: str, run: str, task: tuple) -> tuple[str, dict, bytes]:
    """In a child: ``task`` on the copy of the submission in ``run``: (kind, data, weights).

    ``("observe",)`` runs the student's code (:func:`grader.pipeline.observe_submission`): an observation and the
    exported weights, or a report graded in-process. ``("judge", observation, weights)`` runs no student code:
    the judge's report (:func:`grader.judge.judge.judge`).
    """
    try:
        path = _unpack(run)
        if task[0] == "judge":
            from grader.judge.judge import judge
            from grader.pipeline import Observation

            return "report", judge(spec, path, Observation.from_dict(task[1]), task[2]).to_dict(), b""
        from grader.pipeline import observe_submission

        result, weights = observe_submission(spec, path, student)
    except SubmissionError as exc:
        return "report", fatal_report(spec, student, str(exc)).to_dict(), b""
    if isinstance(result, Report):
        return "report", result.to_dict(), b""
    return "observation", result.to_dict(), weights


def _send(result_fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(result_fd, view):]


def _supervisor(spec: Spec, student: str, limits: Limits, work: str, cgroup: Path | None,
                result_fd: int, capture_fd: int, task: tuple) -> None:
    """First child: joins the cgroup, enters the namespaces, forks the checker (PID 1 of its namespace), waits."""
    try:
        if cgroup is not None:
            _write(cgroup / "cgroup.procs", str(os.getpid()))
        os.setsid()
        os.dup2(capture_fd, 1)
        os.dup2(capture_fd, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        for low, high in ((3, result_fd), (result_fd + 1, 1 << 16)):
            os.closerange(low, high)  # other students' pipes, the results database, the parent's files
        try:
            run, missing = _enter_namespaces(work, limits)
        except SubmissionError as exc:
            _send(result_fd, _report_message(fatal_report(spec, student, str(exc))))
            os._exit(0)
        if cgroup is None:
            missing.append("no process-count limit (no pids cgroup here)")
        before = None
        if task[0] == "observe":  # the one stage that runs student code: note the working copy first
            try:
                _unpack(run)
            except SubmissionError:
                pass  # the checker reports it
            before = working_copy(run)
        pid = os.fork()
        if pid == 0:
            _checker(spec, student, limits, run, missing, result_fd, task)
        _, status, usage = os.wait4(pid, 0)
        if before is not None:  # PID 1 of the namespace is gone, and with it every process the code started
            try:
                changed = changed_files(before, working_copy(run, before))
            except Exception:  # noqa: BLE001 - say so rather than send nothing
                changed = ["(the working copy could not be read after the run)"]
            _send(result_fd, trailer(changed))
        if os.WIFEXITED(status):
            os._exit(os.WEXITSTATUS(status))
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= limits.cpu():
            sig = signal.SIGXCPU  # PID 1 of a namespace ignores SIGXCPU, so the hard limit's SIGKILL ended it
        os._exit(128 + sig)
    except BaseException as exc:  # noqa: BLE001
        try:
            _send(result_fd, _report_message(fatal_report(spec, student, f"the sandbox could not start: {exc}")))
        finally:
            os._exit(3)


def _checker(spec: Spec, student: str, limits: Limits, run: str, missing: list[str], result_fd: int,
             task: tuple) -> None:
    """Second child: mounts its own /proc, drops privileges and limits, then runs ``task``. Never returns."""
    try:
        try:
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError:
            pass  # no private PID namespace: /proc shows the host's processes (already noted)
        missing = missing + _drop_privileges()
        _limit_resources(limits)
        _scrub_environment(run)
        # Fresh Python file objects: the parent's may have been locked at the moment of the fork.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True, errors="replace")
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="replace")
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        import torch

        from grader.quiz.evaluate import use_device

        torch.set_num_threads(max(1, limits.threads))
        use_device(limits.device)
        me = os.getpid()
        events = _watch(run)
        kind, result, weights = run_task(spec, student, run, task)
        if os.getpid() != me:
            os._exit(0)  # a copy the student's code forked: only the checker itself reports
        sys.stdout.flush()
        sys.stderr.flush()
        data = message(kind, result, missing, list(dict.fromkeys(events))[:MAX_EVENTS], weights)
    except BaseException as exc:  # noqa: BLE001 - a report must reach the parent whatever the student did
        try:
            data = _report_message(fatal_report(spec, student, f"internal error while checking: "
                                                 f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        except BaseException:  # noqa: BLE001
            os._exit(3)
    try:
        _send(result_fd, data)
    finally:
        os._exit(0)  # skip interpreter shutdown: student objects may hang it


def _writes(mode, flags) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return mode is None and isinstance(flags, int) and bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))


def reference_locations() -> list[str]:
    """Where the reference solutions are installed on this machine (folders), found without importing them."""
    try:
        found = importlib.util.find_spec(REFERENCE_PACKAGE)
    except (ImportError, ValueError):
        return []
    return [os.path.realpath(p) for p in (found.submodule_search_locations or [])] if found else []


def hide_reference() -> None:
    """Forget every imported module of the reference solutions, so an import has to go through the audit hook."""
    for name in [n for n in sys.modules if n == REFERENCE_PACKAGE or n.startswith(REFERENCE_PACKAGE + ".")]:
        del sys.modules[name]


class ReferenceBlocked(ImportError):
    """Raised into the student's code when it reaches for the reference solutions."""


def _watch(run: str, reference_dirs: list[str] | None = None) -> list[str]:
    """Record, through an audit hook student code cannot remove, what it tried that a model never needs.

    Importing the reference solutions (by name, or by reading their files from ``reference_dirs``) fails with
    :class:`ReferenceBlocked` and is recorded as :data:`REFERENCE_EVENT`.
    """
    events: list[str] = []
    run_prefix = os.path.realpath(run) + os.sep
    blocked = [d.rstrip(os.sep) + os.sep for d in (reference_locations() if reference_dirs is None else reference_dirs)]
    hide_reference()

    def refuse(what: str) -> None:
        events.append(REFERENCE_EVENT)
        raise ReferenceBlocked(f"{what} is not allowed while grading: the reference solutions are instructor-only. "
                               f"Write the network yourself (and do not name a module of yours "
                               f"{REFERENCE_PACKAGE!r}).")

    def reads_reference(path) -> bool:
        if not blocked or not isinstance(path, (str, bytes, os.PathLike)):
            return False
        try:
            full = os.path.realpath(os.fsdecode(path)) + os.sep
        except (TypeError, ValueError):
            return False
        return any(full.startswith(d) for d in blocked)

    def short(value) -> str:
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        return text if len(text) <= 80 else text[:77] + "..."

    def hook(event: str, args) -> None:
        if event == "import" and args and str(args[0]).split(".")[0] == REFERENCE_PACKAGE:
            refuse(f"importing {args[0]!r}")
        elif event in ("open", "os.listdir", "os.scandir") and args and reads_reference(args[0]):
            refuse(f"reading {os.fsdecode(args[0])!r}")
        if event in ("os.system", "subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn"):
            events.append(f"ran a program: {event}({short(args[0] if event == 'os.system' else args[1] if len(args) > 1 else args[0])})")
        elif event in ("os.fork", "os.forkpty"):
            events.append("forked a process (os.fork)")
        elif event in ("socket.connect", "socket.sendto"):
            events.append(f"opened a network connection to {short(args[1])}")
        elif event == "open" and len(args) > 2 and _writes(args[1], args[2]):
            path = args[0]
            if isinstance(path, (str, bytes)):
                full = os.path.realpath(os.fsdecode(path))
                if not full.startswith(run_prefix) and not full.startswith("/dev/"):
                    events.append(f"wrote outside its folder: {short(full)}")

    sys.addaudithook(hook)
    return events


def copy_submission(source: Path, folder: Path) -> None:
    """Copy the submission (a folder or one file) into ``folder``/submission/, links kept as links."""
    copy_to = folder / "submission" / source.name
    copy_to.parent.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, copy_to, symlinks=True)
    else:
        shutil.copy2(source, copy_to)


def start(spec: Spec, source: str | Path, student: str, limits: Limits, cgroup: Path | None = None):
    """Start a child that checks ``source`` (a folder, .py, .ipynb or .zip) at ``limits.isolation``; return at once.

    ``full``: a forked, sandboxed child (a :class:`Running`); ``process``: a plain child process
    (:class:`grader.batch.portable.PortableJob`). Either way, ``poll``, ``finish`` and ``abandon`` take the job.
    """
    source = Path(source).resolve()
    if limits.isolation == "process":
        from grader.batch import portable

        return portable.start(spec, source, student, limits)
    job = _fork_job(spec, source, student, limits, cgroup, ("observe",))
    job.source = source
    return job


def _fork_job(spec: Spec, source: Path, student: str, limits: Limits, cgroup: Path | None, task: tuple) -> Running:
    """Fork the supervisor of one child that runs ``task`` on a fresh copy of ``source``."""
    work = tempfile.mkdtemp(prefix=f"cnn-grader-{os.getpid()}-")
    os.mkdir(os.path.join(work, "run"))
    copy_submission(source, Path(work))
    capture = tempfile.TemporaryFile(mode="w+b")
    read_fd, write_fd = os.pipe()
    began = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _supervisor(spec, student, limits, work, cgroup, write_fd, capture.fileno(), task)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    return Running(pid, read_fd, capture, work, cgroup, student, began + limits.wall_s, began)


def poll(job, spec: Spec | None = None, limits: Limits | None = None) -> bool:
    """Read what the child sent so far and reap it; True once the job is over (finished or past its deadline).

    With ``spec`` and ``limits``, an observe stage that sent an exported model is followed by the judge stage
    in the same job: a second child, forked from this process, judges it (``poll`` then says False).
    """
    if not isinstance(job, Running):
        return job.poll(spec, limits)
    over = _poll_child(job)
    if over and job.stage == "observe" and spec is not None and limits is not None and not job.timed_out:
        return not _start_judge(job, spec, limits)
    return over


def _start_judge(job: Running, spec: Spec, limits: Limits) -> bool:
    """When the observe stage sent an observation: keep what it said and fork the judge; True if it was started."""
    data, changed = take_trailer(b"".join(job.chunks))
    frames = split_frames(data)
    head = _head(frames)
    if frames is None or head is None or head.get("kind") != "observation" or len(frames) != 2 or job.source is None:
        return False
    output = _collect(job)
    job.observed = {"output": output, "isolation": _strings(head.get("isolation")) or [],
                    "events": _strings(head.get("events")) or [], "changed": changed or []}
    judge = _fork_job(spec, job.source, job.student, limits, job.cgroup, ("judge", head.get("data") or {}, frames[1]))
    for name in ("pid", "read_fd", "capture", "work", "deadline", "chunks", "status", "timed_out"):
        setattr(job, name, getattr(judge, name))
    job.stage = "judge"
    return True


def _head(frames: list[bytes] | None) -> dict | None:
    if not frames:
        return None
    try:
        head = json.loads(frames[0])
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
        return None
    if not isinstance(head, dict) or not all(_strings(head.get(key)) is not None for key in ("isolation", "events")):
        return None
    return head


def _strings(value, limit: int = 200) -> list[str] | None:
    """A frame's list of short strings, each cut to ``limit``; None when it is not a list of strings."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return [item[:limit] for item in value[:MAX_EVENTS * 4]]


def _collect(job: Running) -> str:
    """Stop and reap a finished child, clean up after it, and return what it printed."""
    stop(job)
    _poll_child(job)
    os.close(job.read_fd)
    job.capture.seek(0)
    output = job.capture.read(MAX_OUTPUT + 1).decode("utf-8", errors="replace")
    job.capture.close()
    shutil.rmtree(job.work, ignore_errors=True)
    return output


def _read_available(job: Running) -> None:
    while not job.overflow:
        try:
            data = os.read(job.read_fd, 1 << 16)
        except BlockingIOError:
            break
        if not data:
            break
        job.received += len(data)
        if job.received > MAX_CHANNEL_BYTES:
            job.overflow, job.chunks = True, []  # what it sent is dropped: no report can be that large
            break
        job.chunks.append(data)


def _poll_child(job: Running) -> bool:
    _read_available(job)
    if job.status is None:
        pid, status = os.waitpid(job.pid, os.WNOHANG)
        if pid:
            job.status = status
            _read_available(job)  # what it sent just before it exited (the supervisor's trailer)
    if job.status is not None or job.overflow:
        return True
    if time.monotonic() > job.deadline:
        job.timed_out = True
        return True
    return False


def stop(job: Running) -> None:
    """Kill the job's process group and every process of its cgroup, and reap the child."""
    try:
        os.killpg(job.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if job.cgroup is not None:
        kill_cgroup(job.cgroup)
    if job.status is None:
        _, job.status = os.waitpid(job.pid, 0)


def abandon(job) -> None:
    """Stop a job whose result is no longer wanted (Ctrl-C) and clean up after it."""
    if not isinstance(job, Running):
        job.abandon()
        return
    stop(job)
    job.capture.close()
    os.close(job.read_fd)
    shutil.rmtree(job.work, ignore_errors=True)


def finish(job, spec: Spec, limits: Limits) -> Report:
    """Collect the report of a job that ``poll`` said is over, clean up, and return it."""
    if not isinstance(job, Running):
        from grader.batch import portable

        return portable.finish(job, spec, limits)
    timed_out = job.timed_out
    output = _collect(job)
    if job.overflow:
        report = fatal_report(spec, job.student, f"more than {MAX_CHANNEL_BYTES // 2**20} MB arrived on the grader's "
                              "result pipe, so the run was stopped: your code wrote to the grader's own pipe.")
        report.output, report.isolation_level = output[:MAX_OUTPUT], "full"
        return report
    if job.stage == "judge":
        report = conclude(spec, job.student, limits, b"".join(job.chunks), timed_out, "", job.began,
                          lambda: "the judge " + _exit_reason(job.status, limits), judge_stage=True)
        return observed_into(report, job.observed, "full")
    data, changed = take_trailer(b"".join(job.chunks))
    report = conclude(spec, job.student, limits, data, timed_out, output, job.began,
                      lambda: _exit_reason(job.status, limits))
    report.changed_files = changed or []
    return report


def judge_here(spec: Spec, source: Path, student: str, observation: dict, weights: bytes, limits: Limits) -> Report:
    """Judge an observation in this process (which runs no student code) on a fresh copy of ``source``."""
    began = time.monotonic()
    work = tempfile.mkdtemp(prefix=f"cnn-grader-{os.getpid()}-")
    try:
        copy_submission(Path(source), Path(work))
        from grader.quiz.evaluate import use_device

        use_device(limits.device)
        kind, result, _ = run_task(spec, student, work, ("judge", observation, weights))
        report = Report.from_dict(result)
    except Exception as exc:  # noqa: BLE001 - the judge's own failure is an internal error, said as such
        report = fatal_report(spec, student, f"internal error while judging: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report.judged = "graph" if not report.fatal else ""
    report.timings["wall_s"] = round(time.monotonic() - began, 3)
    return report


def observed_into(report: Report, observed: dict, level: str) -> Report:
    """The judge's report with what the observe stage printed, tried and could not isolate."""
    output = observed.get("output", "")
    report.output = output[:MAX_OUTPUT] + "\n... (output truncated)" if len(output) > MAX_OUTPUT else output
    report.isolation = list(observed.get("isolation") or [])
    report.sandbox_events = list(observed.get("events") or [])[:MAX_EVENTS]
    report.changed_files = list(observed.get("changed") or [])
    report.isolation_level = level
    return report


def conclude(spec: Spec, student: str, limits: Limits, frame: bytes, timed_out: bool, output: str, began: float,
             exit_reason, judge_stage: bool = False) -> Report:
    """The report of a finished job (either isolation level): the child's own, or a fatal one saying why not.

    ``frame`` is what the child sent on its result channel, ``output`` what it printed, ``exit_reason`` a
    function giving the reason to report when the child sent nothing.
    """
    if len(output) > MAX_OUTPUT:
        output = output[:MAX_OUTPUT] + "\n... (output truncated)"
    report = None if timed_out else _parse_frame(frame, spec, student, judge_stage)
    if report is None:
        if timed_out and judge_stage:
            reason = (f"judging your exported model took over {limits.wall_s:g} s: a model this slow cannot be "
                      "re-evaluated within the assignment's time limit.")
        elif timed_out:
            reason = (f"your code did not finish within {limits.wall_s:g} s: look for an endless loop or work at "
                      "the top level of a module or in a class body (only definitions should run on import).")
        else:
            reason = exit_reason()
        report = fatal_report(spec, student, reason)
    report.output = output
    report.isolation_level = report.isolation_level or limits.isolation
    report.timings["wall_s"] = round(time.monotonic() - began, 3)
    return report


def _parse_frame(data: bytes, spec: Spec, student: str, judge_stage: bool = False) -> Report | None:
    """The report a child sent, None when it sent nothing, a fatal report when the channel was tampered with.

    A report that did not come from the judge stage was computed in the student's own process: unless it is a
    fatal one (nothing to forge), it is marked ``judged = "in-process: ..."``, whatever the child wrote there.
    """
    if not data:
        return None
    frames = split_frames(data)
    head = _head(frames)
    if frames is None or head is None or len(frames) != 1 or head.get("kind") != "report" \
            or not isinstance(head.get("data"), dict):
        return fatal_report(spec, student, "the result channel was tampered with (it carried more or less than "
                             "one report): your code wrote to the grader's own pipe.")
    try:
        report = check_types(Report.from_dict(head["data"]))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return fatal_report(spec, student, "the result channel carried an unreadable report.")
    report.isolation = _strings(head.get("isolation")) or []
    report.sandbox_events = (_strings(head.get("events")) or [])[:MAX_EVENTS]
    if judge_stage:
        report.judged = "graph"
    elif report.fatal and report.score == 0:
        report.judged = ""
    elif not report.judged.startswith("in-process"):
        report.judged = "in-process: the sandbox sent a finished report instead of the model"
    return report


def _exit_reason(status: int | None, limits: Limits) -> str:
    # The supervisor exits with 128 + N when the checker died of signal N.
    sig = None
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    elif status is not None and os.WIFEXITED(status) and 128 < os.WEXITSTATUS(status) < 128 + 65:
        sig = os.WEXITSTATUS(status) - 128
    if sig is not None:
        if sig == signal.SIGXCPU:
            return f"your code used more than {limits.cpu()} s of CPU time and was stopped."
        if sig == signal.SIGXFSZ:
            return f"your code wrote a file over the {limits.file_size_mb} MB limit and was stopped."
        return f"the check process was killed by signal {signal.Signals(sig).name}: your code may crash the interpreter."
    code = os.WEXITSTATUS(status) if status is not None else None
    return (f"the check process ended without a result (exit code {code}): your code calls sys.exit / os._exit, "
            "or crashed the interpreter, or exceeded a resource limit.")


def check_in_child(spec: Spec, path: str | Path, student: str | None = None, timeout: float | None = None,
                   use_cache: bool = False, limits: Limits | None = None) -> Report:
    """Check ``path`` against ``spec`` in a sandboxed child; a timeout or crash becomes a report with ``fatal`` set.

    With ``use_cache``, an unchanged submission (same files, spec and grader code) is answered from the cache.
    """
    path = Path(path).resolve()
    student = student or path.stem
    limits = limits or Limits(wall_s=timeout or spec.timeout)
    if use_cache:
        from grader.batch import cache

        key = cache.submission_key(spec.path, path, f"{student}\0{limits.isolation}")
        cached = cache.load(key)
        if cached is not None:
            return cached
        report = check_in_child(spec, path, student, use_cache=False, limits=limits)
        cache.store(key, report)
        return report
    if limits.isolation == "process":
        job = start(spec, path, student, limits)
        while not poll(job, spec, limits):
            time.sleep(0.02)
        return finish(job, spec, limits)
    prepare_parent()
    clean_stale()
    cgroup = make_cgroup(0, limits)
    try:
        job = start(spec, path, student, limits, cgroup)
        while not poll(job, spec, limits):
            time.sleep(0.02)
        return finish(job, spec, limits)
    finally:
        remove_cgroup(cgroup)


def prepare_parent() -> None:
    """Import what every child needs once, in the parent, so a fork pays for none of it."""
    import matplotlib
    import torch  # noqa: F401
    import torch.export._trace  # noqa: F401 - imports torch._dynamo (about 2 s): once, not in every child

    matplotlib.use("Agg")
    import matplotlib.font_manager  # noqa: F401 - the font list, read once: a child importing pyplot would build

    # it again (running fc-list, a program the sandbox reports), so a report would depend on the parent's state.
    import grader.inspection.checks  # noqa: F401
    import grader.judge.judge  # noqa: F401
    import grader.pipeline  # noqa: F401
    import grader.quiz.checks  # noqa: F401
    from grader.data.mnist import DataError, load_mnist

    try:
        load_mnist(False)  # the quiz's validation split, read once and shared with every child
    except DataError:
        pass  # the quiz will say so in each report
