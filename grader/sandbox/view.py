"""The file system a full-level job sees: a tmpfs root holding only what Python and torch need, read-only.

Public interface:

* :class:`View`: the paths bound read-only (``bind``) and those hidden under an empty mount (``hide``).
* :func:`python_view`: the system's libraries, the interpreter and its installed packages, plus ``extra``.
* :func:`new_root`: lay out the view on a tmpfs with the job's own folder and pivot into it (the rest is absent).
* :func:`copy_in`: the submission copied into the job's folder (:class:`DoesNotFit` when too large).
* :func:`read_only_everything`: the fallback when no root of its own can be made: every mount read-only.

Nothing else exists for the job: not other jobs' folders, not the grader's cache or outputs, not /root or the home
folder, and of /etc only the files a running interpreter reads (the dynamic loader's cache, time zone, user names).
"""
from __future__ import annotations

import glob
import os
import shutil
import sys
from dataclasses import dataclass, field

from grader.sandbox import linux
from grader.sandbox.facts import DOES_NOT_FIT, state
from grader.sandbox.linux import MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT
from grader.sandbox.outcome import Gap

SYSTEM = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
       "/etc/nsswitch.conf", "/etc/hosts", "/etc/alternatives", "/etc/fonts", "/etc/mime.types", "/etc/os-release")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


@dataclass
class View:
    """What a job's file system shows: ``bind`` read-only, ``hide`` (inside a bound path) as empty folders,
    ``devices`` as device nodes."""

    bind: list[str]
    hide: list[str] = field(default_factory=list)
    devices: tuple[str, ...] = DEVICES


def gpu_devices() -> tuple[str, ...]:
    """The NVIDIA device files a CUDA job needs (bound only when asked for)."""
    return tuple(sorted(glob.glob("/dev/nvidia*")))


def python_view(extra: list[str], hide: list[str], cuda: bool = False) -> View:
    """The system, the interpreter, its installed packages and ``extra`` bound; ``hide`` absent inside them."""
    prefixes = {p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix) if p}
    wanted = list(SYSTEM + ETC) + sorted(prefixes) + [os.path.realpath(p) for p in sorted(prefixes)]
    wanted += [p for p in sys.path if p and ("site-packages" in p or "dist-packages" in p
                                             or any(p.startswith(x + os.sep) for x in prefixes))]
    wanted += extra
    kept: list[str] = []
    for path in sorted({os.path.abspath(p) for p in wanted if os.path.lexists(p)}, key=len):
        if not any(path == k or path.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(path)
    hidden = [h for h in (os.path.realpath(p) for p in hide)
              if any(h == k or h.startswith(k.rstrip(os.sep) + os.sep) for k in kept)]
    return View(kept, hidden, DEVICES + (gpu_devices() if cuda else ()))


def _bind(path: str, target: str) -> None:
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    linux.mount(path, target, None, MS_BIND | MS_REC)
    linux.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID)


def new_root(work: str, run: str, view: View, disk_mb: int) -> None:
    """Make a tmpfs the job's whole file system: ``view`` bound, the devices, an empty /tmp, and ``work``'s
    ``submission`` copied into ``run`` (the same path as outside). Then pivot into it, so nothing else exists."""
    root = os.path.join(work, "root")
    os.makedirs(root, exist_ok=True)
    linux.mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_mb}m,mode=0755")
    for path in view.bind:
        _bind(path, root + path)
    for path in view.hide:  # an empty, read-only folder over it: absent, whatever the path it is reached by
        if os.path.isdir(root + path):
            linux.mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
    for device in view.devices:
        if os.path.exists(device):
            os.makedirs(root + "/dev", exist_ok=True)
            open(root + device, "a").close()
            linux.mount(device, root + device, None, MS_BIND)
    for folder in ("/proc", "/tmp", "/dev/shm"):
        os.makedirs(root + folder, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    os.chmod(root + "/dev/shm", 0o1777)
    copy_in(work, root + run, disk_mb)
    old = os.path.join(root, ".old")
    os.makedirs(old, exist_ok=True)
    linux.pivot_root(root, old)
    os.chdir("/")
    linux.umount("/.old")
    os.rmdir("/.old")


class DoesNotFit(Exception):
    """The submission is larger than the job's working folder."""


def copy_in(work: str, run: str, disk_mb: int) -> None:
    """Copy ``work``'s submission into the job's folder ``run``; DoesNotFit when the folder is too small for it."""
    try:
        shutil.copytree(os.path.join(work, "submission"), os.path.join(run, "submission"), symlinks=True)
    except OSError:  # shutil.Error too: ENOSPC on the tmpfs
        raise DoesNotFit(state(DOES_NOT_FIT, mb=disk_mb)) from None


def read_only_everything(run: str, disk_mb: int) -> list[Gap]:
    """The fallback view: every file system remounted read-only, and a private tmpfs for the job in ``run``."""
    gaps = []
    points = sorted({line.split()[4] for line in open("/proc/self/mountinfo")}, key=len)
    for point in points:
        try:
            linux.mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        except OSError as exc:
            if point == "/":
                raise
            gaps.append(Gap("read-only", f"{point}: {exc}"))
    linux.mount("tmpfs", run, "tmpfs", MS_NOSUID | MS_NODEV, f"size={disk_mb}m,mode=0755")
    return gaps
