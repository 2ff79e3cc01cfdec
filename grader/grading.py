"""Grading a whole class: find the submissions, grade each in the box, keep results in SQLite, write outputs.

Public interface:

* :func:`grade`: the class flow, resumable: entries (:mod:`grader.batch.entries`) -> each looked up in
  ``OUT/results.sqlite`` by content key -> the rest graded by the local pool (:mod:`grader.batch.pool`) or on a
  Dask cluster (:mod:`grader.batch.cluster`), one transaction per finished submission -> class-level integrity
  flags (:mod:`grader.batch.integrity`) -> gradebook, feedback, Gradescope results and report.html
  (:mod:`grader.outputs`), all rebuilt from the database, so a run killed at any moment and started again gives
  the same files as an uninterrupted run.
* :func:`rebuild_outputs`: the outputs again from results.sqlite alone, with the deadline rules, extensions and
  overrides as they are now (``grader recompute``, ``grader override``): no check runs.
* :class:`GradeResult`, :class:`Rebuilt`: what a run did.

The score a student gets is the report's points, then the instructor's overrides, then the late rule
(:mod:`grader.adjust`); the submission times were found and stored when ``grade`` ran (:mod:`grader.batch.times`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.adjust import FinalGrade, ScoreChange, final_grade
from grader.batch.cache import files_key
from grader.batch.entries import BatchError, Entry, find_entries
from grader.batch.integrity import class_flags
from grader.batch.pool import job_key, run_pool
from grader.batch.store import Store
from grader.batch.times import find_times, merge_times, times_from_dict
from grader.i18n import LANGUAGES, _, current_language, use_language
from grader.late import late_policy, late_result
from grader.outputs import write_outputs
from grader.outputs.gradebook import max_points
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
    finals: dict[str, FinalGrade] = field(default_factory=dict)
    changes: dict[str, ScoreChange] = field(default_factory=dict)
    untimed: list[str] = field(default_factory=list)  # graded students the due date applies to, with no known time
    warnings: list[str] = field(default_factory=list)  # about the rules (class_grades), in the current language
    warning_codes: list[str] = field(default_factory=list)  # each warning's code (WARNING_CODES), in the same order
    started: float = 0.0  # when this run began (seconds since the epoch): its regrades are the changes since

    @property
    def all_passed(self) -> bool:
        return not self.missing and all(r.passed for r in self.reports.values())


@dataclass
class Rebuilt:
    """What :func:`rebuild_outputs` built the outputs from."""

    entries: list[Entry]
    missing: list[tuple[str, str]]
    reports: dict[str, Report]
    flags: dict[str, list[Flag]]
    finals: dict[str, FinalGrade]
    changes: dict[str, ScoreChange]
    untimed: list[str]
    quizzes: dict = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # about the rules, for the instructor (grader.commands)
    warning_codes: list[str] = field(default_factory=list)  # each warning's code (WARNING_CODES), in the same order


# The codes of the rules' warnings (for scripts: the text is in the current language).
WARNING_CODES = ("stale_time", "untimed", "unknown_extension", "no_due_date", "graded_in_other_language")


CLASS_RECORD = "class_record"  # the meta key of the last run's entries, missing students and flags


def _flags_json(flags: list[Flag]) -> list[list[str]]:
    return [[flag.kind, str(flag)] for flag in flags]


def _flags_from(data) -> list[Flag]:
    return [Flag(kind, text) for kind, text in data]


def _save_record(store: Store, spec: Spec, entries: list[Entry], missing, flags: dict[str, list[Flag]],
                 pairs: list[dict]) -> None:
    record = {"entries": [{"student": e.student, "path": str(e.path), "name": e.name, "flags": _flags_json(e.flags)}
                          for e in entries],
              "missing": [list(m) for m in missing],
              "flags": {s: _flags_json(f) for s, f in flags.items()}, "pairs": pairs}
    store.set_meta(**{CLASS_RECORD: json.dumps(record, sort_keys=True), "spec_path": str(spec.path)})


def class_record(store: Store, out: Path) -> tuple[list[Entry], list[tuple[str, str]], dict[str, list[Flag]], list]:
    """(entries, missing students, flags, similar pairs) of the class record the last ``grade`` kept."""
    text = store.meta().get(CLASS_RECORD)
    if text is None:
        raise BatchError(_("{out}/results.sqlite holds no graded class yet: run 'grader grade SUBMISSIONS -a NAME "
                           "--out {out}' first", out=out))
    record = json.loads(text)
    entries = [Entry(e["student"], Path(e["path"]), e["name"], _flags_from(e["flags"])) for e in record["entries"]]
    return (entries, [(s, n) for s, n in record["missing"]],
            {s: _flags_from(f) for s, f in record["flags"].items()}, record.get("pairs", []))


def _changes(store: Store, reports: dict[str, Report]) -> dict[str, ScoreChange]:
    """Each student's last regrade that changed the score as graded: the latest earlier result of another score."""
    last = {g.student: g for g in store.history() if g.student in reports and g.report.score != reports[g.student].score}
    return {s: ScoreChange(g.report.score, reports[s].score, g.cause, g.replaced_at) for s, g in last.items()}


def graded_language(reports) -> str | None:
    """The language ``reports`` (stored reports) were written in when it is one and not the current language: an
    output made from them is written in it (their sentences are: an output never mixes two languages). None when
    they are in the current language (or mixed, or none)."""
    graded_in = {report.lang for report in reports} & set(LANGUAGES)  # a stored word, checked
    return graded_in.pop() if len(graded_in) == 1 and current_language() not in graded_in else None


def other_language_warning(graded: str) -> str:
    """The warning that outputs are written in ``graded`` (:func:`graded_language`), in the current language."""
    return _("the class was graded in {graded}, so its outputs are written in {graded}; 'grader grade --lang "
             "{asked}' grades it again in {asked}", graded=graded, asked=current_language())


def rebuild_outputs(spec: Spec, out: str | Path) -> Rebuilt:
    """Write every output of ``out`` again from its results.sqlite (:func:`class_grades`); runs no check. The
    outputs are written in the language the class was graded in (:func:`graded_language`), with a warning when
    that is not the current language."""
    built = class_grades(spec, out)
    graded = graded_language(built.reports.values())
    if graded is not None:
        said = built  # the warnings, in the language asked for (the instructor's)
        with use_language(graded):
            built = class_grades(spec, out)
            _write_rebuilt(spec, out, built)
        built.warnings, built.warning_codes = said.warnings, said.warning_codes
        built.warnings.append(other_language_warning(graded))
        built.warning_codes.append("graded_in_other_language")
        return built
    _write_rebuilt(spec, out, built)
    return built


def _write_rebuilt(spec: Spec, out: str | Path, built: Rebuilt) -> None:
    write_outputs(spec, Path(out), built.entries, built.reports, built.missing, built.flags, built.quizzes,
                  finals=built.finals, changes=built.changes, pairs=built.pairs)


def class_grades(spec: Spec, out: str | Path) -> Rebuilt:
    """The class's grades from ``out``'s results.sqlite: the stored reports and times, the overrides in force,
    the deadline rules as the spec and course file say now. Writes nothing; BatchError before any grade."""
    out = Path(out)
    if not (out / "results.sqlite").is_file():
        raise BatchError(_("{out} has no results.sqlite: run 'grader grade SUBMISSIONS -a NAME --out {out}' first",
                           out=out))
    policy = late_policy(spec.name, spec.path, spec.late)
    store = Store(out / "results.sqlite")
    try:
        entries, missing, flags, pairs = class_record(store, out)
        reports = store.reports([e.student for e in entries])
        quizzes = store.quizzes()
        stored, files = store.times(), store.files()
        overrides: dict[str, list] = {}
        for override in store.overrides(active_only=True):
            overrides.setdefault(override.student, []).append(override)
        changes = _changes(store, reports)
    finally:
        store.close()
    built = Rebuilt(entries, missing, reports, flags, {}, changes, [], quizzes, pairs)
    students = [e.student for e in entries] + [s for s, _name in missing]
    times, stale = {}, []
    for student, record in stored.items():
        if record.get("files") and files.get(student) and record["files"] != files[student]:
            stale.append(student)  # the time of an earlier submission: this one's is unknown
        else:
            times[student] = times_from_dict(record)
    top = max_points(spec)
    for student in students:
        report = reports.get(student)
        late = late_result(policy, times.get(student), student) if report is not None else None
        if late is not None and late.minutes_late is None and not (times.get(student) and times[student].marked_late):
            built.untimed.append(student)
        built.finals[student] = final_grade(report, overrides.get(student, []), late, top)
    found = _rule_warnings(policy, students, stale, built.untimed)
    built.warning_codes, built.warnings = [code for code, _text in found], [text for _code, text in found]
    return built


def _some(students: list[str]) -> str:
    """The first five of ``students``, ', ...' after them when there are more."""
    return ", ".join(students[:5]) + (", ..." if len(students) > 5 else "")


def _rule_warnings(policy, students: list[str], stale: list[str], untimed: list[str]) -> list[tuple[str, str]]:
    """What the instructor must know about the rules, (code, text) each: students with no time, extensions of
    nobody, no due date."""
    warnings = []
    if stale:
        warnings.append(("stale_time", _("the submission time kept for {students} is of an earlier submission (they "
                                         "resubmitted): give the new time with --submitted-at",
                                         students=_some(sorted(stale)))))
    if untimed:
        warnings.append(("untimed", _("the due date applies but no submission time is known for {n} student(s) "
                                      "({students}): no penalty taken; give --submitted-at CSV, --worksheet (Moodle) "
                                      "or --times-from-mtime", n=len(untimed), students=_some(untimed))))
    if policy is not None:
        known = {s.lower() for s in students}
        nobody = sorted(s for s in policy.extensions if s.lower() not in known)
        if nobody:
            warnings.append(("unknown_extension", _("extensions for students not in this class: {students} (ids are "
                                                    "the gradebook's student column)", students=", ".join(nobody))))
        if policy.due is None and (policy.percent_per_day or policy.percent_per_hour):
            warnings.append(("no_due_date", _("the late rule ({source}) has no due date, so it takes nothing here: "
                                              "set due in course.toml's [assignments.NAME] or the spec's [late] table",
                                              source=policy.source)))
    return warnings


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
          device: str = "cpu", force: bool = False, submitted_at: str | Path | None = None,
          worksheet: str | Path | None = None, times_from_mtime: bool = False,
          forget_times: bool = False) -> GradeResult:
    """Grade every submission in ``submissions`` against ``spec`` into ``out``; resumable, see the module doc.

    ``cluster``: a Dask scheduler's address, or slurm / pbs (:mod:`grader.batch.cluster`; ``workers`` is then the
    number of jobqueue worker jobs); None grades on this machine's cores. ``device`` (auto, cpu, cuda) is where the
    cluster's tasks re-evaluate; a local run takes it from ``limits.device``. ``force``: grade every submission
    again, even unchanged ones (the results they replace are kept as history). ``submitted_at`` (a CSV),
    ``worksheet`` (a Moodle grading worksheet) and ``times_from_mtime``: where the submission times come from
    (:mod:`grader.batch.times`); times found before are kept for students these do not name, unless a stronger
    source gave them (``forget_times``: drop every time found before).
    """
    out, started = Path(out), time.time()
    policy = late_policy(spec.name, spec.path, spec.late)  # a bad rule is said before anything is graded
    found = find_entries(submissions, roster)
    times = find_times(found.entries, submitted_at=submitted_at, worksheet=worksheet, from_mtime=times_from_mtime,
                       zone=policy.zone if policy else None)
    _log_found(found.ignored, times.unmatched, submissions, log)
    out.mkdir(parents=True, exist_ok=True)
    jobs = workers  # with slurm / pbs: the worker jobs to start
    workers = max(1, workers or os.cpu_count() or 1)
    limits = limits or Limits(wall_s=spec.timeout)
    store = Store(out / "results.sqlite")
    try:
        store.set_meta(assignment=spec.name, title=spec.title)
        for entry in found.entries:  # hashed once: the times kept and each stored result name these files
            entry.files = files_key(entry.path)
        _keep_times(store, found.entries, times, forget_times)
        todo = []
        for entry in found.entries:
            key = job_key(spec, entry, limits)
            if force or store.key_of(entry.student) != key:
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
        _record_class(spec, store, found.entries, found.missing, reports, log)
    finally:
        store.close()
    built = rebuild_outputs(spec, out)
    return GradeResult(reports, found.entries, found.missing, graded, len(found.entries) - len(todo), out,
                       built.flags, found.ignored, built.finals, built.changes, built.untimed, built.warnings,
                       built.warning_codes, started)


def _log_found(ignored: list[str], unmatched: list[str], submissions, log) -> None:
    """Say what of SUBMISSIONS is no submission, and which rows of the times name no submission."""
    for name in ignored:
        log(_("ignored: {name} (not a folder, .zip, .ipynb or .py)", name=name))
    for row in unmatched:
        log(_("warning: submission time of {row} matches no submission in {submissions}", row=row,
              submissions=submissions))


def _keep_times(store: Store, entries: list[Entry], times, forget: bool) -> None:
    """Store the submission times found now, each with its submission's files (``forget``: drop the older first)."""
    if forget:
        store.forget_times()
    store.put_times(merge_times(store.times(), times, {e.student: e.files for e in entries}))


def _record_class(spec: Spec, store: Store, entries: list[Entry], missing, reports: dict[str, Report], log) -> None:
    """Compute the class-level flags and similar pairs and keep them, with the entries, as the class record."""
    try:
        flags = class_flags(spec, entries, reports)
    except Exception as exc:  # noqa: BLE001 - one odd report must not cost the class its outputs
        log(_("warning: the class-level flags could not be computed ({error}: {detail}); the outputs are written "
              "without them", error=type(exc).__name__, detail=exc))
        flags = {}
    for entry in entries:
        flags.setdefault(entry.student, [])[:0] = entry.flags
    pairs = _similar_pairs(spec, entries, flags, log)
    _save_record(store, spec, entries, missing, flags, pairs)


def _similar_pairs(spec: Spec, entries: list[Entry], flags: dict[str, list[Flag]], log) -> list[dict]:
    """The class's similar-source pairs (their records), their flags added to ``flags``; a failure is a warning,
    never the class's outputs."""
    from grader.batch.similarity import compare_class_with_notes, similarity_flags

    try:
        found = compare_class_with_notes(spec, entries)
    except Exception as exc:  # noqa: BLE001 - one odd submission must not cost the class its outputs
        log(_("warning: the source similarity could not be computed ({error}: {detail})", error=type(exc).__name__,
              detail=exc))
        return []
    for note in found.class_notes:
        log(_("warning: source similarity: {note}", note=note))
    for student, notes in found.notes.items():  # what of a submission was not compared, never silently
        flags.setdefault(student, []).extend(Flag("source not compared", note) for note in notes)
    for student, similar in similarity_flags(found.pairs).items():
        flags.setdefault(student, []).extend(similar)
    return [pair.to_dict() for pair in found.pairs]
