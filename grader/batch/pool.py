"""Grade a whole class: find the submissions, grade each in a sandboxed fork, keep results in SQLite, write outputs.

The flow of ``grade``: find the entries (one per student, matched through a roster when given) -> look each
up in ``OUT/results.sqlite`` by content key -> grade the rest with a pool of forked workers (``grader.sandbox``),
one transaction per finished submission -> class-level integrity flags (``grader.integrity``) -> gradebook,
feedback, Gradescope results and report.html (``grader.gradebook``, ``grader.html_report``), all rebuilt from the
database, so a run killed at any moment and started again gives the same files as an uninterrupted run.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import re
import selectors
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch import cache
from grader.batch.store import Store
from grader.report import Flag, Report, fatal_report
from grader.spec import Spec

ENTRY_SUFFIXES = (".zip", ".ipynb", ".py")
ROSTER_ID_COLUMNS = ("id", "student", "student_id", "sid", "username", "login", "email")


class BatchError(Exception):
    """A usage problem of the batch (missing folder, bad roster): the message says what to fix."""


@dataclass
class Entry:
    """One student's submission: ``path`` is a folder, a .zip, or a single .ipynb / .py file."""

    student: str
    path: Path
    name: str = ""  # from the roster
    flags: list[Flag] = field(default_factory=list)


@dataclass
class Discovery:
    entries: list[Entry]
    missing: list[tuple[str, str]]  # (student, name) on the roster with no submission
    ignored: list[str]  # files in SUBMISSIONS that are not a submission


def read_roster(path: str | Path) -> list[tuple[str, str, str]]:
    """(student id, name, email) rows of a roster CSV whose header has an id column (id, student, sid, email...).

    The email is from an ``email`` column beside another id column (else ""): a submission may be named by either.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip().lower(): c for c in reader.fieldnames or []}
            id_column = next((columns[c] for c in ROSTER_ID_COLUMNS if c in columns), None)
            if id_column is None:
                raise BatchError(f"{path}: no id column; the header needs one of {', '.join(ROSTER_ID_COLUMNS)} "
                                 f"(found: {', '.join(reader.fieldnames or []) or 'nothing'})")
            name_column = columns.get("name")
            email_column = columns.get("email") if columns.get("email") != id_column else None
            rows = [(row[id_column].strip(), (row.get(name_column) or "").strip() if name_column else "",
                     (row.get(email_column) or "").strip() if email_column else "")
                    for row in reader if (row.get(id_column) or "").strip()]
    except OSError as exc:
        raise BatchError(f"cannot read the roster {path}: {exc.strerror}") from None
    return rows


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in re.split(r"[^A-Za-z0-9@.]+", text) if t}


# The part of an entry name the LMS writes, which a student cannot choose: Moodle's participant id
# ("Full Name_123456_assignsubmission_file_" and, flattened, "..._file_model.py"), Canvas's user id
# ("lastfirst_12345_67890_model.py", "lastfirst_LATE_12345_67890_model.py"). The rest is the student's file name.
LMS_NAMES = (re.compile(r"^.+?_(\d+)_assign(?:submission|feedback)_(?:file|onlinetext)_?"),
             re.compile(r"^[a-z0-9]+(?:_late)?_(\d+)_\d+_", re.IGNORECASE))


def lms_identity(entry_name: str) -> str | None:
    """The LMS-written id in ``entry_name`` (see :data:`LMS_NAMES`), or None for a name of another shape."""
    for pattern in LMS_NAMES:
        match = pattern.match(entry_name)
        if match:
            return match.group(1)
    return None


def _roster_matches(entry_name: str, roster: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """Every roster row ``entry_name`` names: by the LMS-written id alone when there is one (a file name the
    student chose never decides), else by the id, its email's local part or the email as a word of the name."""
    identity = lms_identity(entry_name)
    if identity is not None:
        return [(student, name) for student, name, email in roster if student.lower() == identity.lower()]
    tokens = _tokens(entry_name)
    found = []
    for student, name, email in roster:
        sid = student.lower()
        if entry_name.lower() == sid or sid in tokens or sid.split("@")[0] in tokens \
                or (email and (entry_name.lower() == email.lower() or email.lower() in tokens)):
            found.append((student, name))
    return found


def find_entries(submissions: str | Path, roster: str | Path | None = None) -> Discovery:
    """One entry per student in ``submissions``: its folders, .zip, .ipynb and .py files (named after them)."""
    root = Path(submissions)
    if not root.is_dir():
        raise BatchError(f"{root} is not a folder: SUBMISSIONS holds one folder, .zip or notebook per student")
    entries, ignored = [], []
    for path in sorted(root.iterdir()):
        if path.name.startswith((".", "__")):
            continue
        if path.is_dir() or path.suffix.lower() in ENTRY_SUFFIXES:
            stem = path.name if path.is_dir() else path.stem
            entries.append(Entry(stem, path))
        else:
            ignored.append(path.name)
    missing = []
    if roster is not None:
        rows = read_roster(roster)
        matched: dict[str, Entry] = {}
        for entry in entries:
            found = _roster_matches(entry.student, rows)
            if not found:
                entry.flags.append(Flag("not on the roster"))
                continue
            if len(found) > 1:  # never a silent pick: the instructor decides
                entry.flags.append(Flag("not on the roster", "its name matches several roster rows ("
                                        + ", ".join(student for student, _ in found) + "): graded under its own name"))
                continue
            student, name = found[0]
            if student in matched:
                entry.flags.append(Flag("duplicate submission", f"second submission of {student}: graded under its own name"))
                continue
            entry.student, entry.name = student, name
            matched[student] = entry
        missing = [(s, n) for s, n, _ in rows if s not in matched]
    taken = {entry.student for entry in entries}
    seen: set[str] = set()
    for entry in entries:  # two entries of one name (alice/ and alice.zip): keep both, apart
        if entry.student in seen:
            entry.flags.append(Flag("duplicate submission", f"another submission is also named {entry.student}"))
            number = 2
            while f"{entry.student}~{number}" in taken:  # a real carl~2 beside carl/ and carl.zip keeps its name
                number += 1
            entry.student = f"{entry.student}~{number}"
            taken.add(entry.student)
        seen.add(entry.student)
    return Discovery(entries, missing, ignored)


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


def job_key(spec: Spec, entry: Entry, limits) -> str:
    """Content key of a submission's grade: its files, the spec, the grader's code and the limits."""
    digest = hashlib.sha256(cache.submission_key(spec.path, entry.path, entry.student).encode())
    digest.update(json.dumps([limits.wall_s, limits.cpu(), limits.memory_mb, limits.file_size_mb, limits.disk_mb,
                              limits.processes, limits.isolation]).encode())
    return digest.hexdigest()


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
    from grader.batch import sandbox

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    found = find_entries(submissions, roster)
    for name in found.ignored:
        log(f"ignored: {name} (not a folder, .zip, .ipynb or .py)")
    jobs = workers  # with slurm / pbs: the worker jobs to start
    workers = max(1, workers or os.cpu_count() or 1)
    limits = limits or sandbox.Limits(wall_s=spec.timeout)
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
            graded = _run_pool(spec, todo, store, workers, limits, progress, len(found.entries)) if todo else 0
        reports = store.reports([e.student for e in found.entries])
        quizzes = store.quizzes()
    finally:
        store.close()
    from grader.batch.integrity import class_flags
    from grader.outputs import write_outputs

    flags = class_flags(spec, found.entries, reports)
    for entry in found.entries:
        flags.setdefault(entry.student, [])[:0] = entry.flags
    write_outputs(spec, out, found.entries, reports, found.missing, flags, quizzes)
    return GradeResult(reports, found.entries, found.missing, graded, len(found.entries) - len(todo), out, flags,
                       found.ignored)


def _error_report(spec: Spec, entry: Entry, exc: Exception) -> Report:
    """The row of a submission whose grading failed in the grader's own process (not in the student's code)."""
    reason = str(exc).splitlines()[0][:300] if str(exc) else ""
    return fatal_report(spec, entry.student, f"this submission could not be graded: {type(exc).__name__}: {reason}. "
                        "The rest of the class was graded; tell the instructor.")


def _run_pool(spec: Spec, todo: list, store: Store, workers: int, limits, progress: bool, total: int) -> int:
    """Grade ``todo`` with up to ``workers`` forked children at a time; store each result as it arrives."""
    from tqdm import tqdm

    from grader.batch import sandbox

    full = limits.isolation == "full"
    if full:
        sandbox.prepare_parent()
    sandbox.clean_stale()
    groups = [sandbox.make_cgroup(slot, limits) if full else None for slot in range(workers)]
    free = list(range(workers))
    running: dict[int, tuple] = {}  # id(job) -> (job, entry, key, slot)
    pending = list(todo)
    failures = done = 0
    bar = tqdm(total=total, initial=total - len(todo), desc="grading", unit="student", disable=not progress,
               dynamic_ncols=True)
    selector = selectors.DefaultSelector()
    try:
        while pending or running:
            while pending and free:
                entry, key = pending.pop(0)
                slot = free.pop(0)
                try:
                    job = sandbox.start(spec, entry.path, entry.student, limits, groups[slot])
                except Exception as exc:  # noqa: BLE001 - one submission's trouble is its own error row
                    store.put(entry.student, key, str(entry.path), _error_report(spec, entry, exc))
                    free.append(slot)
                    done, failures = done + 1, failures + 1
                    bar.update(1)
                    continue
                running[id(job)] = (job, entry, key, slot)
                if job.read_fd >= 0:  # a full-sandbox job: wake up when it writes
                    selector.register(job.read_fd, selectors.EVENT_READ)
            if selector.get_map():
                selector.select(timeout=0.1)
            else:  # process-level jobs only: nothing to select on (Windows pipes are not selectable)
                time.sleep(0.05)
            for ident, (job, entry, key, slot) in list(running.items()):
                fd, stage = job.read_fd, getattr(job, "stage", "")
                try:
                    over = sandbox.poll(job, spec, limits)
                    if fd >= 0 and (over or job.stage != stage):  # over, or the judge stage has its own pipe
                        selector.unregister(fd)
                    if not over:
                        if job.stage != stage and job.read_fd >= 0:
                            selector.register(job.read_fd, selectors.EVENT_READ)
                        continue
                    report = sandbox.finish(job, spec, limits)
                except Exception as exc:  # noqa: BLE001 - reading one child went wrong: that student's error row
                    for registered in (fd, job.read_fd):
                        if registered >= 0 and registered in selector.get_map():
                            selector.unregister(registered)
                    with contextlib.suppress(Exception):  # it may be half cleaned up already
                        sandbox.abandon(job)
                    report = _error_report(spec, entry, exc)
                store.put(entry.student, key, str(entry.path), report)
                del running[ident]
                free.append(slot)
                done += 1
                failures += not report.passed
                bar.set_postfix(failed=failures, refresh=False)
                bar.update(1)
    finally:
        for job, *_ in running.values():  # Ctrl-C or an error: no child outlives the grader
            sandbox.abandon(job)
        for group in groups:
            sandbox.remove_cgroup(group)
        selector.close()
        bar.close()
    return done
