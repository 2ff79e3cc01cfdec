"""What each ``grader`` verb does, as plain functions with keyword defaults: the command line (:mod:`grader.cli`)
declares the options and calls one of these; tests call them directly.

Public interface: :func:`check_command`, :func:`grade_command`, :func:`export_command`, :func:`assign_command`,
:func:`list_command`, :func:`release_command`, :func:`quiz_build_command`, :func:`quiz_grade_command`,
:func:`reference_train_command`, :func:`reference_plot_command`, :func:`reference_ensemble_command`,
:func:`autograder_command`, :func:`autograder_run_command`, :func:`moodle_assignment_command`.

Each prints for a person (or JSON with ``as_json``) and returns the exit code: 0 all required checks pass, 1 a
check failed. A problem the user can fix raises :class:`~grader.errors.GraderError` (exit code 2). Configuration
comes in as a :class:`~grader.config.Config`, read once by the caller.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from grader.cli_summary import final_json, grade_summary
from grader.config import Config, read_config
from grader.errors import GraderError
from grader.i18n import N_, _
from grader.report import render_text, to_json
from grader.spec import SpecError, assignments_root, list_assignments, load_spec

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
ENSEMBLE_LINE = {"test": N_("{accuracy:6.2f}%  ensemble of {count} (mean of softmax), {images} test images"),
                 "validation": N_("{accuracy:6.2f}%  ensemble of {count} (mean of softmax), {images} validation images")}


def _config(config: Config | None) -> Config:
    return config if config is not None else read_config()


def _root(config: Config) -> Path:
    return config.assignments or assignments_root()


def _limits(config: Config, isolation: str | None, **values):
    """The box's limits at the isolation level asked for (else the configured one, else the best here)."""
    from grader.sandbox.limits import Limits, check_isolation

    level = isolation or config.isolation
    if level:
        values["isolation"] = check_isolation(level)
    return Limits(**values)


def _device(device: str) -> str:
    from grader.quiz.evaluate import resolve_device

    return resolve_device(device)


def check_command(path: str, assignment: str, *, as_json: bool = False, timeout: float | None = None,
                  use_cache: bool = True, isolation: str | None = None, device: str = "cpu",
                  config: Config | None = None) -> int:
    """Check one submission in the box, print the report; 0 when every required check passes, else 1."""
    from grader.batch.job import check_in_box

    config = _config(config)
    spec = load_spec(assignment, _root(config))
    # This command's own process has run no torch computation, so its box may use every configured core.
    limits = _limits(config, isolation, wall_s=timeout or spec.timeout, threads=config.cores, device=_device(device))
    report = check_in_box(spec, path, use_cache=use_cache, limits=limits, cache_dir=config.cache_dir)
    if as_json:
        click.echo(to_json(report))
    else:
        render_text(report)
    return EXIT_OK if report.passed else EXIT_FAIL


def grade_command(submissions: str, assignment: str, out: str, *, workers: int | None = None,
                  timeout: float | None = None, memory: int = 4096, roster: str | None = None,
                  as_json: bool = False, progress: bool = True, isolation: str | None = None,
                  cluster: str | None = None, device: str = "cpu", force: bool = False,
                  submitted_at: str | None = None, worksheet: str | None = None, times_from_mtime: bool = False,
                  forget_times: bool = False, config: Config | None = None) -> int:
    """Grade a class into ``out``; print a summary; 0 when every student passed, 1 otherwise."""
    from grader.grading import grade

    config = _config(config)
    spec = load_spec(assignment, _root(config))
    cores = config.cores
    local_device = "cpu" if cluster else _device(device)  # a cluster places its tasks itself
    # A fresh command: no torch computation before the forks, so each box may use its share of the cores.
    limits = _limits(config, isolation, wall_s=timeout or spec.timeout, memory_mb=memory,
                     threads=max(1, cores // min(workers or cores, cores)), device=local_device)
    try:
        result = grade(spec, submissions, out, workers=workers, limits=limits, roster=roster, progress=progress,
                       log=lambda m: click.echo(m, err=True), cluster=cluster, device=device, force=force,
                       submitted_at=submitted_at, worksheet=worksheet, times_from_mtime=times_from_mtime,
                       forget_times=forget_times)
    except KeyboardInterrupt:
        click.echo("\n" + _("interrupted: every finished submission is kept in {out}/results.sqlite; run the same "
                            "command again to grade the rest", out=out), err=True)
        return EXIT_USAGE
    grade_summary(spec, result, as_json)
    return EXIT_OK if result.all_passed else EXIT_FAIL


def export_command(grades: str, lms: str, *, lms_roster: str | None = None, file: str | None = None,
                   as_json: bool = False) -> int:
    """Write the gradebook of ``grades`` for ``lms``; print the file and the unmatched students; return 0."""
    from grader.outputs.lms import export_lms

    done = export_lms(grades, lms, lms_roster, file)
    if as_json:
        click.echo(json.dumps({"file": str(done.path), "lms": lms, "rows": done.rows,
                               "columns": [{"title": c.title, "points": c.points} for c in done.columns],
                               "missing": done.missing, "unknown": done.unknown}, indent=2))
        return EXIT_OK
    columns = ", ".join(_("{title} ({points:g} points)", title=repr(c.title), points=c.points)
                        for c in done.columns)
    click.echo(_("wrote {file}: {rows} students, columns {columns}", file=done.path, rows=done.rows, columns=columns))
    if done.missing:
        click.echo(_("on the LMS roster but not in the gradebook (exported with empty grades): {students}",
                     students=", ".join(done.missing)))
    if done.unknown:
        click.echo(_("in the gradebook but not on the LMS roster (not exported): {students}",
                     students=", ".join(done.unknown)))
    if lms_roster is None:
        click.echo(_("no --lms-roster: the LMS matches students by {column}, which holds the gradebook's ids",
                     column="SIS Login ID") if lms == "canvas" else
                   _("no --lms-roster: the LMS matches students by the first column, which holds the gradebook's ids"))
    if lms == "moodle":
        click.echo(_("in Moodle: Grades > Import > CSV file; under 'Identify user by' map the identity column, and "
                     "map each grade column to its grade item (or 'new grade item')"))
    else:
        click.echo(_("in Canvas: Grades > Import; a new column title creates an assignment"))
    return EXIT_OK


def moodle_assignment_command(grades: str, worksheet: str, *, out: str | None = None, as_json: bool = False) -> int:
    """Fill Moodle's grading worksheet and write the feedback zip from ``grades``; print what was written; 0."""
    from grader.platforms.moodle import moodle_assignment

    done = moodle_assignment(grades, worksheet, out)
    for warning in done.warnings:  # on stderr, with --json too
        click.echo(_("warning: {warning}", warning=warning), err=True)
    if as_json:
        click.echo(json.dumps({"worksheet": str(done.worksheet), "feedback_zip": str(done.feedback_zip),
                               "graded": done.graded, "missing": done.missing, "unknown": done.unknown}, indent=2))
        return EXIT_OK
    click.echo(_("wrote {worksheet} ({graded} grades) and {zip}", worksheet=done.worksheet, graded=done.graded,
                 zip=done.feedback_zip))
    if done.missing:
        click.echo(_("on the worksheet but not graded (left as downloaded): {students}",
                     students=", ".join(done.missing)))
    if done.unknown:
        click.echo(_("graded but not on the worksheet (no participant id matches): {students}",
                     students=", ".join(done.unknown)))
    click.echo(_("in Moodle: the assignment's 'View all submissions', then Grading action > 'Upload grading worksheet' "
                 "(the .csv) and 'Upload multiple feedback files in a zip' (the .zip)"))
    return EXIT_OK


def autograder_command(platform: str, assignment: str, out: str, *, wheel: str | None = None,
                       image: str | None = None, as_json: bool = False, config: Config | None = None) -> int:
    """Write ``platform``'s autograder files for ``assignment`` into ``out``; print them; 0."""
    import tempfile

    from grader.authoring.course import reference_dir
    from grader.authoring.release import audit_wheel, kit_wheel, solution_only_lines
    from grader.platforms.bundles import BundleError, bundle, copy_wheel

    config = _config(config)
    spec = load_spec(assignment, _root(config))
    options = {"image": image} if platform == "prairielearn" else {}
    with tempfile.TemporaryDirectory(prefix="grader-autograder-") as staging:
        if wheel:
            built = copy_wheel(Path(wheel), Path(staging))
            leaks = audit_wheel(built, solution_only_lines(reference_dir()))
            if leaks:
                raise BundleError(_("{wheel} would give away solutions:", wheel=wheel) + "\n  " + "\n  ".join(leaks))
        else:
            built = kit_wheel(Path(staging), config.assignments)
        done = bundle(platform, spec, built, Path(out), **options)
    if as_json:
        click.echo(json.dumps({"platform": platform, "out": str(done.out), "upload": str(done.upload or ""),
                               "files": [str(f) for f in done.files], "notes": done.notes}, indent=2))
        return EXIT_OK
    click.echo(_("wrote the {platform} files for {assignment} in {out}:", platform=platform, assignment=spec.name,
                 out=done.out))
    for path in done.files:
        click.echo(f"  {path}")
    for note in done.notes:
        click.echo(_("note: {note}", note=note))
    click.echo(_("upload steps: docs/platforms.md"))
    return EXIT_OK


def autograder_run_command(platform: str, assignment: str, *, root: str | None = None, submission: str = ".",
                           output: str | None = None, config: Config | None = None) -> int:
    """Inside ``platform``'s grading job: check the submission and write the platform's results; 0 once they
    are written (the document carries the outcome, and the platform's job must go on to read it)."""
    from grader.platforms import run

    config = _config(config)
    spec = load_spec(assignment, _root(config))
    if platform == "gradescope":
        doc = run.run_gradescope(spec, config, Path(root or "/autograder"))
        click.echo(_("score {score}: wrote {file}", score=doc.get("score"),
                     file=Path(root or "/autograder") / "results" / "results.json"))
    elif platform == "prairielearn":
        doc = run.run_prairielearn(spec, config, Path(root or "/grade"))
        click.echo(_("score {score}: wrote {file}", score=doc.get("score"),
                     file=Path(root or "/grade") / "results" / "results.json"))
    else:
        doc, report = run.run_classroom(spec, config, Path(submission), Path(output) if output else None)
        if report is not None:
            render_text(report)
        if output is None:
            click.echo(run.classroom_output(doc), nl=False)
    return EXIT_OK


def assign_command(names: list[str], *, all_: bool = False, check: bool = False, config: Config | None = None) -> int:
    """Generate (or with ``check`` compare) the student starters; 1 when ``check`` finds a difference."""
    from grader.authoring.starters import generate

    root = _root(_config(config))
    if all_:
        names = [n for n in list_assignments(root) if load_spec(n, root).reference]
    if not names:
        raise GraderError(_("name one or more assignments, or pass --all"))
    drifted = []
    for name in names:
        changed = generate(load_spec(name, root), check=check)
        for path in changed:
            click.echo(_("differs: {file}", file=path) if check else _("wrote: {file}", file=path))
        drifted.extend(changed)
    if check and drifted:
        click.echo(_("{n} starter file(s) differ from the reference: run 'grader assign --all'", n=len(drifted)),
                   err=True)
        return EXIT_FAIL
    click.echo(_("starters are up to date") if check else _("done: {n} assignment(s)", n=len(names)))
    return EXIT_OK


def list_command(*, config: Config | None = None) -> int:
    """Print every assignment with its title."""
    root = _root(_config(config))
    names = list_assignments(root)
    if not names:
        raise GraderError(_("no assignments found under {root}", root=root))
    width = max(len(n) for n in names)
    for name in names:
        try:
            title = load_spec(name, root).shown_title
        except SpecError as exc:
            title = _("(bad spec: {error})", error=exc)
        click.echo(f"{name:{width}}  {title}")
    return EXIT_OK


def release_command(out: str, names: list[str] | None = None, *, config: Config | None = None) -> int:
    """Write the student kit into ``out``."""
    from grader.authoring.release import release

    kit = release(out, list(names or []), log=lambda m: click.echo(m, err=True), course=_root(_config(config)))
    click.echo(_("wrote {out}/: {wheel}, README.md, starters/ for {n} assignment(s)", out=kit.out,
                 wheel=kit.wheel.name, n=len(kit.assignments)))
    return EXIT_OK


def quiz_build_command(bank: str | None, roster: str, out: str, *, pool: int = 20,
                       config: Config | None = None) -> int:
    """Write a quiz of ``bank`` (default: the course's) with each student's own variants."""
    from grader.batch.entries import read_roster
    from grader.quizbank import build
    from grader.quizbank.bank import load_bank

    loaded = load_bank(bank or _root(_config(config)) / "quiz-bank" / "cnn.toml")
    students = [student for student, _name, _email in read_roster(roster)]
    built = build(loaded, students, out, pool)
    click.echo(_("{title}: {questions} questions for {students} students; wrote {files} in {out}",
                 title=loaded.shown_title, questions=built.questions, students=built.students,
                 files=", ".join(f.name for f in built.files), out=built.out))
    if built.full_credit_only_in_canvas:
        click.echo(_("canvas-qti.zip gives full credit only (text2qti writes one numerical answer per question); the "
                     "partial credit of {templates} is in moodle.xml, gift.txt and the key ('grader quiz grade' "
                     "applies it)", templates=", ".join(built.full_credit_only_in_canvas)), err=True)
    return EXIT_OK


def quiz_grade_command(responses: str, key: str, out: str, *, gradebook: str | None = None,
                       name: str | None = None) -> int:
    """Grade quiz responses against the key; 0 when every student answered everything right, else 1."""
    from grader.quizbank.grading import grade_responses, join_gradebook, quiz_title, write_quiz_grades

    results, missing = grade_responses(key, responses)
    quiz = name or quiz_title(key)
    path = write_quiz_grades(results, missing, out)
    perfect = sum(r.score == r.max_score for r in results)
    click.echo(_("{n} students graded ({perfect} all right), {missing} missing; wrote {file}", n=len(results),
                 perfect=perfect, missing=len(missing), file=path))
    if gradebook:
        book = join_gradebook(results, missing, gradebook, quiz)
        click.echo(_("joined the class gradebook: column 'quiz: {quiz}' in {file}", quiz=quiz, file=book)
                   if book.exists() else
                   _("joined the class gradebook: {folder}/results.sqlite (the gradebook gets the column when "
                     "'grader grade' writes it)", folder=gradebook))
    return EXIT_OK if perfect == len(results) and not missing else EXIT_FAIL


def reference_train_command(name: str, out: str, *, epochs: int | None = None, seed: int = 1,
                            data_dir: str | None = None, resume: str | None = None, train_limit: int | None = None,
                            lr: float | None = None, batch_size: int | None = None, progress: bool = True,
                            device: str = "cpu") -> int:
    """Train reference network ``name`` and write what a student would submit."""
    from grader.authoring.course import import_reference

    networks = import_reference().NETWORKS
    run = import_reference("reference.train").run
    if name not in networks:
        raise GraderError(_("unknown network {name}; choose one of: {networks}", name=repr(name),
                            networks=", ".join(networks)))
    try:
        result = run(name, out, epochs=epochs, seed=seed, data_dir=data_dir, resume=resume, train_limit=train_limit,
                     lr=lr, batch_size=batch_size, progress=progress, log=click.echo, device=_device(device))
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    if result.val_loss:
        best = result.best_epoch
        click.echo(_("done in {seconds:.0f} s: best epoch {best}, validation loss {loss:.4f}, accuracy "
                     "{accuracy:.2f}%; wrote {out}/best.pt, curves.json, val_loss.png, val_acc.png",
                     seconds=result.seconds, best=best, loss=result.val_loss[best - 1],
                     accuracy=result.val_accuracy[best - 1], out=result.out))
    return EXIT_OK


def reference_plot_command(runs: list[str], *, out: str | None = None) -> int:
    """Draw the validation plots of training runs again from their curves.json."""
    from grader.quiz.curves import overlay_plots, redraw_plots

    try:
        written = [path for run in runs for path in redraw_plots(run)] if out is None else \
            overlay_plots(list(runs), out)
    except ValueError as exc:
        raise GraderError(str(exc)) from None
    for path in written:
        click.echo(_("wrote {file}", file=path))
    return EXIT_OK


def reference_ensemble_command(checkpoints: list[str], *, data_dir: str | None = None, split: str = "test",
                               as_json: bool = False) -> int:
    """Evaluate CIFAR-10 reference checkpoints alone and as an ensemble."""
    from grader.authoring.course import import_reference

    evaluate = import_reference("reference.ensemble").evaluate
    try:
        result = evaluate(list(checkpoints), data_dir, split)
    except (ValueError, KeyError) as exc:
        raise GraderError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"split": result.split, "images": result.n, "single": result.single,
                               "ensemble": result.ensemble}, indent=2))
        return EXIT_OK
    for name, accuracy in result.single.items():
        click.echo(f"{accuracy:6.2f}%  {name}")
    click.echo(_(ENSEMBLE_LINE[split], accuracy=result.ensemble, count=len(result.single), images=result.n))
    return EXIT_OK


def override_command(out: str, student: str | None, check: str | None, *, points: float | None = None,
                     reason: str = "", by: str = "", remove: bool = False, csv_file: str | None = None,
                     assignment: str | None = None, as_json: bool = False, config: Config | None = None) -> int:
    """Keep an override (or remove one, or every row of ``csv_file``) in ``out`` and rebuild its outputs; 0."""
    from grader.instructor import OverrideRequest, add_override, class_spec, read_override_csv

    spec = class_spec(out, assignment, _root(_config(config)))
    if csv_file:
        if student is not None or points is not None or remove or reason:
            raise GraderError(_("--csv FILE gives every override itself: drop STUDENT, CHECK, --points, --reason "
                                "and --remove"))
        requests = read_override_csv(csv_file, by)
    else:
        if student is None or (points is None and not remove):
            raise GraderError(_("give STUDENT and --points N --reason \"...\" (or --remove), or --csv FILE"))
        requests = [OverrideRequest(student, check or "", None if remove else points, reason, by)]
    warnings: list[str] = []
    done = add_override(spec, out, requests, warnings)  # one override per request, in order
    for warning in warnings:  # on stderr, with --json too (as grade and recompute say them)
        click.echo(_("warning: {warning}", warning=warning), err=True)
    if as_json:
        click.echo(json.dumps([{"id": o.id, "student": o.student, "check": o.check, "points": o.points,
                                "reason": o.reason, "by": o.by, "at": o.at, "removed": r.points is None}
                               for r, o in zip(requests, done, strict=True)], indent=2))
        return EXIT_OK
    for request, override in zip(requests, done, strict=True):
        fields = {"student": override.student, "target": override.target, "points": override.points,
                  "reason": override.reason}
        click.echo(_("removed: {student} {target} -> {points:g} ({reason})", **fields) if request.points is None else
                   _("kept: {student} {target} -> {points:g} ({reason})", **fields))
    click.echo(_("rewrote {out}/gradebook.csv, report.html, feedback/, gradescope/ (no check ran)", out=out))
    return EXIT_OK


def history_command(out: str, student: str, *, assignment: str | None = None, as_json: bool = False,
                    config: Config | None = None) -> int:
    """Print what ``out`` holds on ``student``: results, regrades, overrides, submission time, final score; 0."""
    from datetime import UTC, datetime

    from grader.adjust import override_text
    from grader.instructor import class_spec, student_history

    spec = class_spec(out, assignment, _root(_config(config)))
    found = student_history(spec, out, student)

    def when(at: float | None) -> str:
        return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "-"

    if as_json:
        click.echo(json.dumps({
            "student": student, "score": found.final.final if found.final else None,
            **(final_json(found.final) if found.final else {}),
            "current": {"score": found.current.score, "graded_at": found.graded_at} if found.current else None,
            "earlier": [{"score": g.report.score, "graded_at": g.graded_at, "replaced_at": g.replaced_at,
                         "cause": g.cause} for g in found.earlier],
            "override_log": [{"id": o.id, "check": o.check, "points": o.points, "reason": o.reason, "by": o.by, "at": o.at,
                           "removed_at": o.removed_at, "removed_by": o.removed_by,
                           "removed_reason": o.removed_reason} for o in found.overrides],
            "times": found.times}, indent=2))
        return EXIT_OK
    click.echo(_("{student} ({assignment}), from {out}/results.sqlite", student=student, assignment=spec.name, out=out))
    if found.current is not None:
        click.echo("  " + _("graded {when}: {score:g} / {max:g} (current)", when=when(found.graded_at),
                            score=found.current.score, max=found.current.max_score))
    for g in reversed(found.earlier):
        click.echo("  " + _("graded {when}: {score:g} / {max:g}, replaced {replaced} ({cause})", when=when(g.graded_at),
                            score=g.report.score, max=g.report.max_score, replaced=when(g.replaced_at),
                            cause=_(g.cause)))
    for o in found.overrides:
        state = _("in force") if o.active else _("removed {when} by {by}: {reason}", when=when(o.removed_at),
                                                  by=o.removed_by, reason=o.removed_reason)
        click.echo("  " + _("override #{id} {target} -> {points:g} by {by} {when}: {reason} ({state})", id=o.id,
                            target=o.target, points=o.points, by=o.by, when=when(o.at), reason=o.reason,
                            state=state))
    final = found.final
    if final is not None:
        if final.late is not None:
            click.echo("  " + _("late rule: {rule}", rule=final.late.rule))
        parts = [_("checks {points:g}", points=final.raw), *(override_text(a) for a in final.applied)]
        parts += [_("late -{penalty:g}", penalty=final.penalty)] if final.penalty else []
        click.echo("  " + _("score now: {score:g} ({parts})", score=final.final, parts="; ".join(parts)))
    return EXIT_OK


def recompute_command(out: str, *, assignment: str | None = None, as_json: bool = False,
                      config: Config | None = None) -> int:
    """Rebuild ``out``'s outputs from its results.sqlite with the rules as they are now (no check runs); 0."""
    from grader.grading import rebuild_outputs
    from grader.instructor import class_spec

    spec = class_spec(out, assignment, _root(_config(config)))
    built = rebuild_outputs(spec, out)
    if as_json:
        click.echo(json.dumps({"assignment": spec.name, "students": {
            s: {"score": f.final, **final_json(f)} for s, f in sorted(built.finals.items())},
            "warnings": [{"code": c, "text": t} for c, t in zip(built.warning_codes, built.warnings, strict=False)]},
            indent=2))
        return EXIT_OK
    late = sum(1 for f in built.finals.values() if f.penalty)
    overridden = sum(1 for f in built.finals.values() if f.applied)
    click.echo(_("{assignment}: {n} students recomputed from {out}/results.sqlite (no check ran): {late} with a "
                 "late penalty, {overridden} with overrides", assignment=spec.name, n=len(built.finals), out=out,
                 late=late, overridden=overridden))
    for warning in built.warnings:
        click.echo(_("warning: {warning}", warning=warning), err=True)
    click.echo(_("rewrote {out}/gradebook.csv, report.html, feedback/, gradescope/", out=out))
    return EXIT_OK
