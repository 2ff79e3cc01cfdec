"""The Linux calls the full box is made of, each a small function that says what it could not do.

Public interface:

* :func:`available`: whether this machine has what the full box needs (Linux, fork, a libc with unshare/mount).
* :func:`mount`, :func:`umount`, :func:`pivot_root`: thin wrappers raising OSError with the errno's text.
* :func:`unshare_namespaces`: new user (when not root), network, PID and mount namespaces; the gaps left.
* :func:`become_unprivileged`: a root caller gives up uid 0 for :data:`NOBODY` (its files handed over first).
* :func:`drop_privileges`: every capability dropped for good, uid 0 given up, no_new_privs set; the gaps left.
* :func:`limit_resources`: CPU time, address space, file size and core dumps as rlimits.
* :func:`scrub_environment`: only the kept variables, HOME and TMPDIR in the job's folder.
"""
from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys
import tempfile

from grader.sandbox.facts import CAPSET_UNKNOWN, NO_RLIMITS, state
from grader.sandbox.outcome import Gap

try:
    import resource  # POSIX only: Windows has no rlimits
except ImportError:  # pragma: no cover - exercised on Windows
    resource = None  # type: ignore[assignment]

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(platform.machine())
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())
NOBODY = 65534  # the uid and gid a root grader's job runs as


def _load_libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except (OSError, TypeError):  # Windows: no C library to open by None
        return None


LIBC = _load_libc()


def available() -> bool:
    """Whether the full box can be built here: Linux, fork, rlimits and a C library with unshare and mount."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork") or LIBC is None or resource is None:
        return False
    return all(hasattr(LIBC, name) for name in ("unshare", "mount", "prctl", "syscall"))


def _call(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source, target, fstype, flags: int, data=None) -> None:
    """mount(2); OSError naming ``target`` on failure."""
    enc = (lambda v: v.encode() if isinstance(v, str) else v)
    _call(LIBC.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def umount(target: str) -> None:
    """A lazy umount2(2) of ``target``."""
    _call(LIBC.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def pivot_root(new: str, old: str) -> None:
    """pivot_root(2): ``new`` becomes /, the old root is left at ``old``."""
    if SYS_PIVOT_ROOT is None:
        raise OSError(0, f"pivot_root is not known on {platform.machine()}")
    _call(LIBC.syscall(SYS_PIVOT_ROOT, new.encode(), old.encode()), "pivot_root")


def write(path: str, text: str) -> None:
    """Write ``text`` to a (kernel) file."""
    with open(path, "w") as handle:
        handle.write(text)


def unshare_namespaces() -> tuple[bool, list[Gap]]:
    """Enter new network, PID and mount namespaces (and, when not root, the user namespace that allows them).

    Returns (whether a private mount namespace was entered, the gaps). The PID namespace applies to the next
    child forked: the caller forks after this."""
    gaps = []
    if os.geteuid() != 0:  # unprivileged: a user namespace that maps only ourselves gives the rest
        uid, gid = os.getuid(), os.getgid()
        try:
            _call(LIBC.unshare(CLONE_NEWUSER), "unshare(user)")
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                write(f"/proc/self/{name}", text)
        except OSError as exc:
            return False, [Gap("user namespace", str(exc))]
    for flag, kind in ((CLONE_NEWNET, "network"), (CLONE_NEWPID, "pid namespace")):
        try:
            _call(LIBC.unshare(flag), f"unshare({kind})")
        except OSError as exc:
            gaps.append(Gap(kind, str(exc)))
    try:
        _call(LIBC.unshare(CLONE_NEWNS), "unshare(mount)")
        mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        return False, gaps + [Gap("mount namespace", str(exc))]
    return True, gaps


def hand_over(folder: str, uid: int = NOBODY) -> None:
    """Make ``folder`` and everything in it owned by ``uid`` (before a root job gives up root)."""
    for top, dirs, files in os.walk(folder):
        for name in [top] + [os.path.join(top, n) for n in dirs + files]:
            os.lchown(name, uid, uid)


def become_unprivileged() -> list[Gap]:
    """When running as uid 0 of the machine, become :data:`NOBODY` (no supplementary groups): root's files
    (/etc/shadow, /root) are then closed by ordinary permissions. A no-op for any other uid."""
    if os.geteuid() != 0 or not is_initial_user_namespace():
        return []
    try:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    except OSError as exc:
        return [Gap("uid", str(exc))]
    return []


def is_initial_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map") as handle:
            return handle.read().split()[:3] == ["0", "0", "4294967295"]
    except OSError:
        return False


def drop_privileges(as_nobody: bool = True) -> list[Gap]:
    """Drop every capability for good (bounding set, ambient, effective/permitted), give up uid 0 of the machine
    (:func:`become_unprivileged`, unless ``as_nobody`` is False), and forbid regaining any (no_new_privs)."""
    gaps = []
    for cap in range(64):
        LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if as_nobody:
        gaps += become_unprivileged()
    if LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        gaps.append(Gap("no_new_privs", os.strerror(ctypes.get_errno())))
    if SYS_CAPSET is None:
        return gaps + [Gap("capabilities", state(CAPSET_UNKNOWN, machine=platform.machine()))]
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = ctypes.create_string_buffer(24)  # two zeroed {effective, permitted, inheritable} structs
    if LIBC.syscall(SYS_CAPSET, ctypes.c_char_p(header), data) != 0:
        gaps.append(Gap("capabilities", os.strerror(ctypes.get_errno())))
    return gaps


def _vm_size() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def limit_resources(cpu_s: int, memory_mb: int | None, file_size_mb: int) -> list[Gap]:
    """CPU time (SIGXCPU at ``cpu_s``, SIGKILL 5 s later), address space (``memory_mb`` above what this process
    already maps; None: unlimited), file size and core dumps. The gaps where the platform refuses one."""
    if resource is None:
        return [Gap("rlimits", NO_RLIMITS)]
    gaps = []
    wanted = [(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5)), (resource.RLIMIT_FSIZE, (file_size_mb << 20,) * 2),
              (resource.RLIMIT_CORE, (0, 0))]
    if memory_mb is not None and sys.platform.startswith("linux"):
        memory = _vm_size() + (memory_mb << 20)
        wanted.append((resource.RLIMIT_AS, (memory, memory)))
    for which, value in wanted:
        try:
            resource.setrlimit(which, value)
        except (ValueError, OSError) as exc:
            gaps.append(Gap("rlimits", str(exc)))
    return gaps


def scrub_environment(run: str, kept: tuple[str, ...]) -> None:
    """Keep only the variables named in ``kept``; HOME, TMPDIR and matplotlib's folder in ``run``; run there."""
    values = {k: v for k, v in os.environ.items() if k in kept}
    os.environ.clear()
    os.environ.update(values)
    os.environ.update({"HOME": run, "TMPDIR": run, "MPLCONFIGDIR": os.path.join(run, ".mpl"),
                       "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg"})
    tempfile.tempdir = run
    sys.dont_write_bytecode = True
    os.chdir(run)
