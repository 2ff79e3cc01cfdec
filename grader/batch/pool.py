"""The local pool: a class's submissions graded a few at a time on this machine, each a
:class:`~grader.batch.job.SubmissionJob`, results stored as they arrive.

Public interface:

* :func:`run_pool`: grade a list of (entry, key) with up to N jobs at once into the store; how many were graded.
* :func:`job_key`: the content key of a submission's grade (its files, the spec, the grader's code, the language
  and its catalog, the limits).
* :func:`error_report`: the row of a submission whose handling failed in the grader's own process.

At the full level, every observe stage (the only one that runs student code) is forked by a fork server that
never held a report (:mod:`grader.sandbox.zygote`); the judge stages fork from here. The class flow that calls
this, and the cluster beside it, is :mod:`grader.grading`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import selectors
import time

from grader.batch import cache, verdict
from grader.batch.entries import Entry
from grader.batch.store import Store
from grader.i18n import _
from grader.report import Report, fatal_report
from grader.spec import Spec


def job_key(spec: Spec, entry: Entry, limits) -> str:
    """Content key of a submission's grade: its files, the spec, the grader's code, the language and its catalog
    (:func:`grader.i18n.catalog_key`, in :func:`grader.batch.cache.submission_key`: a report is text in one
    language) and the limits."""
    digest = hashlib.sha256(cache.submission_key(spec.sources or spec.path, entry.path, entry.student).encode())
    digest.update(json.dumps([limits.wall_s, limits.cpu(), limits.memory_mb, limits.file_size_mb, limits.disk_mb,
                              limits.processes, limits.isolation]).encode())
    return digest.hexdigest()


def error_report(spec: Spec, entry: Entry, exc: Exception) -> Report:
    """The row of a submission whose grading failed in the grader's own process (not in the student's code)."""
    reason = verdict.fact_words(str(exc).splitlines()[0][:300]) if str(exc) else ""  # the box's words, or the error's
    error = f"{type(exc).__name__}: {reason}"
    return fatal_report(spec, entry.student, _("this submission could not be graded: {error}. The rest of the class "
                                               "was graded; tell the instructor.", error=error))


def _start_zygote(limits):
    """A fork server for the observe stages (full level), or None where jobs fork from here."""
    if limits.isolation != "full":
        return None
    from grader.sandbox.zygote import Zygote

    zygote = Zygote()
    zygote.start("grader.batch.job:prepare_parent")
    return zygote


class _Slots:
    """The running jobs, their worker slots and the selector that wakes the loop when a job's channel has data."""

    def __init__(self, spec: Spec, store: Store, workers: int, limits, launcher, groups, bar):
        self.spec, self.store, self.limits, self.launcher, self.groups, self.bar = (
            spec, store, limits, launcher, groups, bar)
        self.free = list(range(workers))
        self.running: dict[int, tuple] = {}  # id(job) -> (job, entry, key, slot)
        self.selector = selectors.DefaultSelector()
        self.done = self.failures = 0

    def watch(self, fd: int, on: bool) -> None:
        if fd >= 0 and on and fd not in self.selector.get_map():
            self.selector.register(fd, selectors.EVENT_READ)
        elif fd >= 0 and not on and fd in self.selector.get_map():
            self.selector.unregister(fd)

    def record(self, entry: Entry, key: str, report: Report, slot: int) -> None:
        self.store.put(entry.student, key, str(entry.path), report, entry.files or cache.files_key(entry.path))
        self.free.append(slot)
        self.done += 1
        self.failures += not report.passed
        self.bar.set_postfix({_("failed"): self.failures}, refresh=False)
        self.bar.update(1)

    def start(self, entry: Entry, key: str) -> None:
        """Start ``entry``'s job in a free slot; a failure to start is its own error row."""
        from grader.batch.job import SubmissionJob

        slot = self.free.pop(0)
        job = SubmissionJob(self.spec, entry.path, entry.student, self.limits, self.groups[slot], self.launcher)
        try:
            job.start()
        except Exception as exc:  # noqa: BLE001 - one submission's trouble is its own error row
            with contextlib.suppress(Exception):
                job.abandon()
            self.record(entry, key, error_report(self.spec, entry, exc), slot)
            return
        self.running[id(job)] = (job, entry, key, slot)
        self.watch(job.fd, True)

    def wait(self) -> None:
        """Until a job's channel has data (or a tenth of a second, which the process level always waits)."""
        if self.selector.get_map():
            self.selector.select(timeout=0.1)
        else:  # process-level jobs only: nothing to select on (Windows pipes are not selectable)
            time.sleep(0.05)

    def advance(self) -> None:
        """Poll every running job; store the reports of those that are over."""
        for ident, (job, entry, key, slot) in list(self.running.items()):
            fd = job.fd
            try:
                over = job.poll()
                if job.fd != fd or over:
                    self.watch(fd, False)
                if not over:
                    self.watch(job.fd, True)
                    continue
                report = job.finish()
            except Exception as exc:  # noqa: BLE001 - reading one job went wrong: that student's error row
                self.watch(fd, False)
                self.watch(job.fd, False)
                with contextlib.suppress(Exception):  # it may be half cleaned up already
                    job.abandon()
                report = error_report(self.spec, entry, exc)
            del self.running[ident]
            self.record(entry, key, report, slot)

    def close(self) -> None:
        for job, *_rest in self.running.values():  # Ctrl-C or an error: no child outlives the grader
            with contextlib.suppress(Exception):
                job.abandon()
        self.selector.close()


def run_pool(spec: Spec, todo: list, store: Store, workers: int, limits, progress: bool, total: int) -> int:
    """Grade ``todo`` ((entry, key) pairs) with up to ``workers`` jobs at a time; store each result as it arrives;
    return how many were graded."""
    from tqdm import tqdm

    from grader.batch.job import prepare_parent
    from grader.sandbox import cgroup

    full = limits.isolation == "full"
    if full:
        prepare_parent()
    cgroup.clean_stale()
    launcher = _start_zygote(limits)
    groups = [cgroup.make_cgroup(slot, limits.processes) if full else None for slot in range(workers)]
    bar = tqdm(total=total, initial=total - len(todo), desc=_("grading"), unit=_("student"), disable=not progress,
               dynamic_ncols=True)
    slots = _Slots(spec, store, workers, limits, launcher, groups, bar)
    pending = list(todo)
    try:
        while pending or slots.running:
            while pending and slots.free:
                slots.start(*pending.pop(0))
            slots.wait()
            slots.advance()
    finally:
        slots.close()
        for group in groups:
            cgroup.remove_cgroup(group)
        if launcher is not None:
            launcher.close()
        bar.close()
    return slots.done
