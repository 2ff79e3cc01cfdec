"""Grading a whole class: find the submissions, grade each in the box, keep results in SQLite, write outputs.

Public interface:

* :func:`grade`: the class flow, resumable: entries (:mod:`grader.batch.entries`) -> each looked up in
  ``OUT/results.sqlite`` by content key -> the rest graded by the local pool (:mod:`grader.batch.pool`) or on a
  Dask cluster (:mod:`grader.batch.cluster`), one transaction per finished submission -> class-level integrity
  flags (:mod:`grader.batch.integrity`) -> gradebook, feedback, Gradescope results and report.html
  (:mod:`grader.outputs`), all rebuilt from the database, so a run killed at any moment and started again gives
  the same files as an uninterrupted run.
* :class:`GradeResult`: what a run did.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from grader.batch.entries import Entry, find_entries
from grader.batch.integrity import class_flags
from grader.batch.pool import job_key, run_pool
from grader.batch.store import Store
from grader.outputs import write_outputs
from grader.report import Flag, Report
from grader.sandbox.limits import Limits
from grader.spec import Spec


@dataclass
class GradeResult:
    """What ``grade`` did: the reports by student, how many were graded now, and where the outputs are."""

    reports: dict[str, Report]
    entries: list[Entry]
    missing: list[tuple[str, str]]
    graded_now: int
    reused: int
    out: Path
    flags: dict[str, list[Flag]]
    ignored: list[str]

    @property
    def all_passed(self) -> bool:
        return not self.missing and all(r.passed for r in self.reports.values())


def _size(path: Path) -> int:
    """Bytes of a submission (all files of a folder)."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        return path.stat().st_size
    except OSError:
        return 0


def grade(spec: Spec, submissions: str | Path, out: str | Path, workers: int | None = None, limits=None,
          roster: str | Path | None = None, progress: bool = True, log=print, cluster: str | None = None,
          device: str = "cpu") -> GradeResult:
    """Grade every submission in ``submissions`` against ``spec`` into ``out``; resumable, see the module doc.

    ``cluster``: a Dask scheduler's address, or slurm / pbs (:mod:`grader.batch.cluster`; ``workers`` is then the
    number of jobqueue worker jobs); None grades on this machine's cores. ``device`` (auto, cpu, cuda) is where the
    cluster's tasks re-evaluate; a local run takes it from ``limits.device``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found = find_entries(submissions, roster)
    for name in found.ignored:
        log(f"ignored: {name} (not a folder, .zip, .ipynb or .py)")
    jobs = workers  # with slurm / pbs: the worker jobs to start
    workers = max(1, workers or os.cpu_count() or 1)
    limits = limits or Limits(wall_s=spec.timeout)
    store = Store(out / "results.sqlite")
    try:
        store.set_meta(assignment=spec.name, title=spec.title)
        todo = []
        for entry in found.entries:
            key = job_key(spec, entry, limits)
            if store.key_of(entry.student) != key:
                todo.append((entry, key))
        # Largest first: a submission with a checkpoint is re-evaluated (seconds), one without is not, and a long
        # job started last would leave the other workers idle at the end.
        todo.sort(key=lambda job: -_size(job[0].path))
        if todo and cluster:
            from grader.batch.cluster import connect, run_on_cluster

            connection = connect(cluster, jobs=jobs)
            try:
                graded = run_on_cluster(spec, todo, store, limits, connection, device, progress, len(found.entries))
            finally:
                connection.close()
        else:
            graded = run_pool(spec, todo, store, workers, limits, progress, len(found.entries)) if todo else 0
        reports = store.reports([e.student for e in found.entries])
        quizzes = store.quizzes()
    finally:
        store.close()
    try:
        flags = class_flags(spec, found.entries, reports)
    except Exception as exc:  # noqa: BLE001 - one odd report must not cost the class its outputs
        log(f"warning: the class-level flags could not be computed ({type(exc).__name__}: {exc}); the outputs "
            "are written without them")
        flags = {}
    for entry in found.entries:
        flags.setdefault(entry.student, [])[:0] = entry.flags
    write_outputs(spec, out, found.entries, reports, found.missing, flags, quizzes)
    return GradeResult(reports, found.entries, found.missing, graded, len(found.entries) - len(todo), out, flags,
                       found.ignored)
