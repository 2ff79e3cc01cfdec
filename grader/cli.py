"""The ``grader`` command line: one thin click command per verb, each calling a plain function.

Exit codes: 0 every required check passed, 1 some check failed, 2 usage or internal error.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from grader.authoring.course import InstructorOnly
from grader.report import render_text, to_json
from grader.spec import SpecError, assignments_root, list_assignments, load_spec

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(click.UsageError):
    exit_code = EXIT_USAGE


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="cnn-grader")
@click.option("--course", type=click.Path(exists=True, file_okay=False), default=None, envvar="GRADER_ASSIGNMENTS",
              help="Folder with one sub-folder per assignment (spec.toml)  [default: $GRADER_ASSIGNMENTS, else the "
                   "assignments that ship with the grader]")
def cli(course):
    """Auto-grader for PyTorch CNN courses.

    \b
    Examples:
      grader list
      grader check my_submission/ --assignment mycnn
      grader grade submissions/ --assignment mycnn --out grades/
      grader --course ~/my-course list
      grader release --out kit/                       (instructors: the student kit)
      grader reference train mycnn --out runs/mycnn   (instructors and TAs)
    """
    if course:
        os.environ["GRADER_ASSIGNMENTS"] = str(Path(course).resolve())


ISOLATION_HELP = ("full: Linux namespaces, read-only files, no network, process and memory limits; process: a plain "
                  "child process with the wall-clock limit (macOS, Windows, containers)  [default: $GRADER_ISOLATION, "
                  "else full where it works]")


def _limits(isolation: str | None, **values):
    """The sandbox limits for a command, at the isolation level asked for (usage error when unavailable)."""
    from grader.batch.sandbox import IsolationError, Limits, check_isolation

    try:
        if isolation:
            values["isolation"] = check_isolation(isolation)
        return Limits(**values)
    except IsolationError as exc:
        raise UsageError(str(exc)) from None


DEVICE_HELP = "Where best.pt is re-evaluated (auto: the GPU when torch sees one)."


def _device_or_usage(device: str) -> str:
    """cpu or cuda for --device; a usage error when cuda is asked for and torch sees no GPU."""
    from grader.quiz.evaluate import DeviceError, resolve_device

    try:
        return resolve_device(device)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None


def _instructor_only(exc) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(EXIT_USAGE)


def _cores() -> int:
    """Cores the checks may use: $OMP_NUM_THREADS when set, else every core."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def _load_spec_or_usage(assignment: str):

    try:
        return load_spec(assignment)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def check_command(path: str, assignment: str, as_json: bool = False, timeout: float | None = None,
                  use_cache: bool = True, isolation: str | None = None, device: str = "cpu") -> int:
    """Check one submission in a child process, print the report, return the exit code (0 pass, 1 fail)."""
    from grader.batch.sandbox import check_in_child

    spec = _load_spec_or_usage(assignment)
    # This command's own process has run no torch computation, so its child may use every core (or
    # $OMP_NUM_THREADS of them, when set).
    limits = _limits(isolation, wall_s=timeout or spec.timeout, threads=_cores(), device=_device_or_usage(device))
    report = check_in_child(spec, path, use_cache=use_cache, limits=limits)
    if as_json:
        click.echo(to_json(report))
    else:
        render_text(report)
    return EXIT_OK if report.passed else EXIT_FAIL


@cli.command("check")
@click.argument("path", type=click.Path(exists=True))
@click.option("--assignment", "-a", required=True, help="Assignment name (see 'grader list') or a spec.toml path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of the readable report.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Seconds before the check is stopped  [default: the spec's, 60]")
@click.option("--no-cache", is_flag=True, help="Check again even if this exact submission was checked before.")
@click.option("--isolation", type=click.Choice(["full", "process"]), default=None, help=ISOLATION_HELP)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help=DEVICE_HELP)
def check(path, assignment, as_json, timeout, no_cache, isolation, device):
    """Check a submission (a folder, a .py or an .ipynb) against an assignment's layer table.

    \b
    Only definitions in your code run (imports, classes, functions, constants); training loops,
    downloads and plots at the top level are skipped and listed. Exit code: 0 when every required
    check passes, 1 when one fails, 2 on a usage error.

    \b
    Examples:
      grader check lab1/ --assignment simple-cnn
      grader check week4.ipynb -a mycnn --json > report.json
      grader check lab1/ -a simple-cnn --isolation process
    """
    sys.exit(check_command(path, assignment, as_json, timeout, use_cache=not no_cache, isolation=isolation,
                           device=device))


def grade_command(submissions: str, assignment: str, out: str, workers: int | None = None,
                  timeout: float | None = None, memory: int = 4096, roster: str | None = None,
                  as_json: bool = False, progress: bool = True, isolation: str | None = None,
                  cluster: str | None = None, device: str = "cpu") -> int:
    """Grade a class into ``out``; print a summary; return 0 when every student passed, 1 otherwise."""
    from grader.batch.pool import BatchError, grade
    from grader.outputs.gradebook import status_of

    spec = _load_spec_or_usage(assignment)
    cores = _cores()
    local_device = "cpu" if cluster else _device_or_usage(device)  # a cluster places its tasks itself
    # A fresh command: no torch computation before the forks, so each child may use its share of the cores.
    limits = _limits(isolation, wall_s=timeout or spec.timeout, memory_mb=memory,
                     threads=max(1, cores // min(workers or cores, cores)), device=local_device)
    try:
        result = grade(spec, submissions, out, workers=workers, limits=limits, roster=roster, progress=progress,
                       log=lambda m: click.echo(m, err=True), cluster=cluster, device=device)
    except BatchError as exc:  # a ClusterError too (unreachable scheduler, missing extra)
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: every finished submission is kept in {out}/results.sqlite; run the same "
                   "command again to grade the rest", err=True)
        return EXIT_USAGE
    if as_json:
        click.echo(json.dumps({"assignment": spec.name, "out": str(result.out), "graded_now": result.graded_now,
                               "reused": result.reused, "students": [
                                   {"student": e.student, "score": result.reports[e.student].score,
                                    "max_score": result.reports[e.student].max_score,
                                    "status": status_of(result.reports[e.student]),
                                    "flags": result.flags.get(e.student, [])} for e in result.entries
                                   if e.student in result.reports],
                               "missing": [s for s, _ in result.missing]}, indent=2))
    else:
        statuses = [status_of(r) for r in result.reports.values()]
        click.echo(f"{spec.name}: {len(result.entries)} submissions ({result.graded_now} graded now, "
                   f"{result.reused} unchanged since the last run): "
                   + ", ".join(f"{statuses.count(s)} {s}" for s in ("passed", "failed", "error"))
                   + (f", {len(result.missing)} missing" if result.missing else ""))
        flagged = sorted(s for s, f in result.flags.items() if f)
        if flagged:
            click.echo(f"flagged: {', '.join(flagged)}")
        click.echo(f"wrote {result.out}/gradebook.csv, report.html, feedback/, gradescope/")
    return EXIT_OK if result.all_passed else EXIT_FAIL


@cli.command("grade")
@click.argument("submissions", type=click.Path(exists=True, file_okay=False))
@click.option("--assignment", "-a", required=True, help="Assignment name (see 'grader list') or a spec.toml path.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the results (created).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Submissions graded at once  [default: CPU count]; with --cluster slurm / pbs: the worker jobs to "
                   "start  [default: 1]")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Wall-clock seconds per submission  [default: the spec's]")
@click.option("--memory", type=click.IntRange(min=64), default=4096, show_default=True,
              help="Address space in MB a submission may add to the grader's own.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV with an id column (id, student, sid, email...), optionally name and email: matches "
                   "entries (named by id or email) to students and lists the missing ones.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the readable one.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--isolation", type=click.Choice(["full", "process"]), default=None, help=ISOLATION_HELP)
@click.option("--cluster", default=None, metavar="ADDRESS|slurm|pbs",
              help="Grade on a Dask cluster: a running scheduler (tcp://HOST:8786), or slurm / pbs to start "
                   "--workers worker jobs through dask-jobqueue (needs 'cnn-grader[cluster]').")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the quiz re-evaluates best.pt. On a cluster, GPU tasks go to workers declaring the Dask "
                   "resource GPU (auto: the CIFAR-10 ones).")
def grade_cmd(submissions, assignment, out, workers, timeout, memory, roster, as_json, no_progress, isolation,
              cluster, device):
    """Grade a whole class: SUBMISSIONS holds one folder, .zip or notebook per student.

    \b
    Each submission runs in its own sandboxed process (no network, read-only file system but for a
    private scratch folder, CPU, memory, file-size and process limits). Results are kept in
    OUT/results.sqlite: running the same command again grades only new or changed submissions, and a
    run killed part-way finishes where it stopped. Writes OUT/gradebook.csv, OUT/feedback/<student>.md,
    OUT/gradescope/<student>/results.json and OUT/report.html.
    With --cluster, each submission is sent (its bytes, no shared file system needed) to a Dask worker that
    sandboxes it the same way; this command alone writes the results, and the outputs equal a local run's.
    Exit code: 0 when every student passes, 1 when one fails or is missing, 2 on a usage error.

    \b
    Examples:
      grader grade submissions/ --assignment mycnn --out grades/
      grader grade submissions/ -a mycnn --out grades/ --roster roster.csv --workers 2 --timeout 120
      grader grade submissions/ -a cifar-vgg16 --out grades/ --cluster tcp://head-node:8786 --device auto
      grader grade submissions/ -a mycnn --out grades/ --cluster slurm --workers 8
    """
    sys.exit(grade_command(submissions, assignment, out, workers, timeout, memory, roster, as_json,
                           progress=not no_progress, isolation=isolation, cluster=cluster, device=device))


def export_command(grades: str, lms: str, lms_roster: str | None = None, file: str | None = None,
                   as_json: bool = False) -> int:
    """Write the gradebook of ``grades`` for ``lms``; print the file and the unmatched students; return 0."""
    from grader.outputs.lms import LmsExportError, export_lms

    try:
        done = export_lms(grades, lms, lms_roster, file)
    except LmsExportError as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps({"file": str(done.path), "lms": lms, "rows": done.rows,
                               "columns": [{"title": c.title, "points": c.points} for c in done.columns],
                               "missing": done.missing, "unknown": done.unknown}, indent=2))
        return EXIT_OK
    click.echo(f"wrote {done.path}: {done.rows} students, columns " + ", ".join(
        f"{c.title!r} ({c.points:g} points)" for c in done.columns))
    if done.missing:
        click.echo(f"on the LMS roster but not in the gradebook (exported with empty grades): {', '.join(done.missing)}")
    if done.unknown:
        click.echo(f"in the gradebook but not on the LMS roster (not exported): {', '.join(done.unknown)}")
    if lms_roster is None:
        column = "SIS Login ID" if lms == "canvas" else "the first column"
        click.echo(f"no --lms-roster: the LMS matches students by {column}, which holds the gradebook's ids")
    if lms == "moodle":
        click.echo("in Moodle: Grades > Import > CSV file; under 'Identify user by' map the identity column, and "
                   "map each grade column to its grade item (or 'new grade item')")
    else:
        click.echo("in Canvas: Grades > Import; a new column title creates an assignment")
    return EXIT_OK


@cli.command("export")
@click.argument("grades", type=click.Path(exists=True, file_okay=False))
@click.option("--to", "lms", required=True, type=click.Choice(["canvas", "moodle"]), help="The LMS's import format.")
@click.option("--lms-roster", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The LMS's own student list: Canvas's gradebook export, or Moodle's grade export or participants "
                   "CSV. Students are matched by its ids (Canvas: ID, SIS User ID, SIS Login ID; Moodle: ID number, "
                   "Username, Email address).")
@click.option("--file", "file", type=click.Path(dir_okay=False), default=None,
              help="Where to write  [default: GRADES/lms/canvas-gradebook.csv or moodle-grades.csv]")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (file, columns, missing, unknown).")
def export_cmd(grades, lms, lms_roster, file, as_json):
    """Write the class gradebook in GRADES (the OUT of 'grader grade') for import into Canvas or Moodle.

    \b
    One grade column for the assignment and one per quiz joined with 'grader quiz grade --gradebook'.
    With --lms-roster, every student of the LMS gets a row with their LMS identity; those with no grade here
    are listed as missing (their cells stay empty, which the LMS leaves unchanged), and gradebook students
    the LMS does not know are listed as unknown. Gradescope's results.json files are not touched.

    \b
    Examples:
      grader export grades/ --to canvas --lms-roster canvas-export.csv
      grader export grades/ --to moodle --lms-roster moodle-participants.csv --file moodle.csv
    """
    sys.exit(export_command(grades, lms, lms_roster, file, as_json))


@cli.command("assign")
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every assignment whose spec names a reference.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a starter differs from what would be generated.")
def assign(names, all_, check):
    """Generate the student starters (starter.py, starter.ipynb) of assignments from the reference.

    \b
    Solution regions of the reference become `raise NotImplementedError`; the layer table comes from
    the spec. Regenerating is idempotent.

    \b
    Examples:
      grader assign mycnn
      grader assign --all
      grader assign --all --check     # in CI: fail when a starter in git has drifted
    """
    from grader.authoring.starters import AuthoringError, generate

    if all_:
        names = [n for n in list_assignments() if _load_spec_or_usage(n).reference]
    if not names:
        raise UsageError("name one or more assignments, or pass --all")
    drifted = []
    for name in names:
        try:
            changed = generate(_load_spec_or_usage(name), check=check)
        except AuthoringError as exc:
            raise UsageError(str(exc)) from None
        except InstructorOnly as exc:
            _instructor_only(exc)
        for path in changed:
            click.echo(f"{'differs' if check else 'wrote'}: {path}")
        drifted.extend(changed)
    if check and drifted:
        click.echo(f"{len(drifted)} starter file(s) differ from the reference: run 'grader assign --all'", err=True)
        sys.exit(EXIT_FAIL)
    click.echo("starters are up to date" if check else f"done: {len(names)} assignment(s)")


@cli.command("list")
def list_command():
    """List the assignments with their titles.

    \b
    Example:
      grader list
    """

    names = list_assignments()
    if not names:
        raise UsageError(f"no assignments found under {assignments_root()}")
    width = max(len(n) for n in names)
    for name in names:
        try:
            title = load_spec(name).title
        except SpecError as exc:
            title = f"(bad spec: {exc})"
        click.echo(f"{name:{width}}  {title}")


@cli.command("release")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the kit (new or empty).")
@click.option("--assignment", "-a", "names", multiple=True,
              help="Only these assignments (repeat the option)  [default: every assignment of the course]")
def release_cmd(out, names):
    """Write the student kit an instructor posts: the grader's wheel (no solutions), starters, README.

    \b
    Instructor-only: run it in the course repository. The wheel is built from a clean copy of the
    sources and audited: a wheel holding a reference module or a line of a solution region is refused.
    Starters that differ from what the reference generates are refused too (run 'grader assign --all').

    \b
    Examples:
      grader release --out kit/
      grader release --out kit-week4/ -a mycnn -a simple-cnn
    """
    from grader.authoring.release import ReleaseError, release

    try:
        kit = release(out, list(names), log=lambda m: click.echo(m, err=True))
    except (ReleaseError, SpecError) as exc:
        raise UsageError(str(exc)) from None
    except InstructorOnly as exc:
        _instructor_only(exc)
    click.echo(f"wrote {kit.out}/: {kit.wheel.name}, README.md, starters/ for {len(kit.assignments)} assignment(s)")


@cli.group("quiz")
def quiz_group():
    """The quiz bank: CNN questions with a variant per student, for Moodle and Canvas (answers computed by torch).

    \b
    Example:
      grader quiz build --roster roster.csv --out quiz/
    """


@quiz_group.command("build")
@click.argument("bank", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--roster", type=click.Path(exists=True, dir_okay=False), required=True,
              help="CSV with an id column (id, student, sid, email...): each student gets their own variants.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the exports (created).")
@click.option("--pool", type=click.IntRange(min=1, max=500), default=20, show_default=True,
              help="Variants per template in the Moodle and Canvas exports.")
def quiz_build(bank, roster, out, pool):
    """Write a quiz from BANK (default: the course's bank, CNN arithmetic) for the students of ROSTER.

    \b
    Writes into OUT: moodle.xml and gift.txt (a category of POOL variants per template: Moodle draws one),
    canvas-qti.zip (a question group per template), key.json and key.csv (each student's own variant, seeded
    by their id: the same student always gets the same questions).

    \b
    Examples:
      grader quiz build --roster roster.csv --out quiz/
      grader quiz build my-bank.toml --roster roster.csv --out quiz/ --pool 50
    """
    from grader.batch.pool import BatchError, read_roster
    from grader.quizbank import build
    from grader.quizbank.bank import BankError, load_bank

    try:
        loaded = load_bank(bank or assignments_root() / "quiz-bank" / "cnn.toml")
        students = [student for student, _, _ in read_roster(roster)]
        built = build(loaded, students, out, pool)
    except (BankError, BatchError) as exc:
        raise UsageError(str(exc)) from None
    click.echo(f"{loaded.title}: {built.questions} questions for {built.students} students; wrote "
               + ", ".join(f.name for f in built.files) + f" in {built.out}")
    if built.full_credit_only_in_canvas:
        click.echo("canvas-qti.zip gives full credit only (text2qti writes one numerical answer per question); the "
                   "partial credit of " + ", ".join(built.full_credit_only_in_canvas) + " is in moodle.xml, "
                   "gift.txt and the key ('grader quiz grade' applies it)", err=True)


@quiz_group.command("grade")
@click.argument("responses", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key", required=True, type=click.Path(exists=True, dir_okay=False),
              help="key.json written by 'grader quiz build'.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the results (created).")
@click.option("--gradebook", "gradebook", type=click.Path(file_okay=False), default=None,
              help="Also join the class gradebook: the OUT folder of 'grader grade' gets a column 'quiz: NAME'.")
@click.option("--name", "name", default=None, help="The quiz's column name  [default: the bank's title, from KEY]")
def quiz_grade(responses, key, out, gradebook, name):
    """Grade RESPONSES (a CSV: a student column, one column per question id) against the quiz's key.

    \b
    Writes OUT/quiz-grades.csv (the points per question, the total, missing students) and
    OUT/quiz-feedback/<student>.md (each answer, the right one and the worked arithmetic with their numbers).
    A response within the question's tolerance earns its points; within a wider 'partial' tolerance of the
    template, its share of them. With --gradebook, the totals become a column of the class gradebook (kept when
    'grader grade' runs again; graded again, the quiz replaces its column).
    Exit code: 0 when every student answered everything right, 1 otherwise, 2 on a usage error.

    \b
    Examples:
      grader quiz grade responses.csv --key quiz/key.json --out quiz-grades/
      grader quiz grade responses.csv --key quiz/key.json --out quiz-grades/ --gradebook grades/ --name "Quiz 1"
    """
    from grader.quizbank.grading import QuizGradeError, grade_responses, join_gradebook, quiz_title, write_quiz_grades

    try:
        results, missing = grade_responses(key, responses)
        quiz = name or quiz_title(key)
    except QuizGradeError as exc:
        raise UsageError(str(exc)) from None
    path = write_quiz_grades(results, missing, out)
    perfect = sum(r.score == r.max_score for r in results)
    click.echo(f"{len(results)} students graded ({perfect} all right), {len(missing)} missing; wrote {path}")
    if gradebook:
        book = join_gradebook(results, missing, gradebook, quiz)
        joined = f"column 'quiz: {quiz}' in {book}" if book.exists() else \
            f"{gradebook}/results.sqlite (the gradebook gets the column when 'grader grade' writes it)"
        click.echo(f"joined the class gradebook: {joined}")
    sys.exit(EXIT_OK if perfect == len(results) and not missing else EXIT_FAIL)


@cli.group()
def reference():
    """Reference solutions (instructors and TAs): train them, write what a student would submit.

    \b
    The solutions are not in the student kit: there these commands say so and exit 2.

    \b
    Example:
      grader reference train mycnn --out runs/mycnn --epochs 5 --data-dir ../shared/data/mnist
    """


@reference.command("train")
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for best.pt, curves.json and the plots.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs to train  [default: the network's own, see docs/reference.md]")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for weights, data order and dropout.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder holding MNIST/raw/ or cifar-10-batches-py/ (torchvision's layout)  "
                   "[default: $GRADER_DATA_DIR / $GRADER_CIFAR_DIR, then download]")
@click.option("--resume", type=click.Path(dir_okay=False, exists=True), default=None, help="Continue from this best.pt.")
@click.option("--train-limit", type=click.IntRange(min=1), default=None, help="Train on the first N training images only.")
@click.option("--lr", type=float, default=None, help="Learning rate  [default: the network's own]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Training batch size  [default: 64]")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help="Where to train and validate (auto: the GPU when torch sees one).")
def reference_train(name, out, epochs, seed, data_dir, resume, train_limit, lr, batch_size, no_progress, device):
    """Train reference network NAME deterministically; save best.pt only on a new minimum validation loss.

    \b
    Writes into OUT: best.pt, curves.json, val_loss.png, val_acc.png.
    NAME is one of: mlp, simple-cnn, vgg-like, mycnn, lenet-320, cnn-5x5 (MNIST), and cifar-cnn1,
    cifar-vgg11 / 13 / 16 / 19, each also with -bn (CIFAR-10: RMSprop with L2, validation on the seed's
    fifth of the training images, recorded in curves.json).

    \b
    Examples:
      grader reference train mlp --out runs/mlp --data-dir ../shared/data/mnist
      grader reference train mycnn --out runs/mycnn --epochs 2 --train-limit 6000
      grader reference train mycnn --out runs/mycnn --epochs 8 --resume runs/mycnn/best.pt
      grader reference train cifar-vgg16-bn --out runs/vgg16 --seed 1 --data-dir ~/data
    """
    from grader.authoring.course import import_reference
    from grader.data.mnist import DataError

    try:
        NETWORKS = import_reference().NETWORKS
        run = import_reference("reference.train").run
    except InstructorOnly as exc:
        _instructor_only(exc)
    if name not in NETWORKS:
        raise UsageError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}")
    try:
        result = run(name, out, epochs=epochs, seed=seed, data_dir=data_dir, resume=resume, train_limit=train_limit,
                     lr=lr, batch_size=batch_size, progress=not no_progress, log=click.echo,
                     device=_device_or_usage(device))
    except (DataError, ValueError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_USAGE)
    if result.val_loss:
        best = result.best_epoch
        click.echo(f"done in {result.seconds:.0f} s: best epoch {best}, validation loss {result.val_loss[best - 1]:.4f}, "
                   f"accuracy {result.val_accuracy[best - 1]:.2f}%; wrote {result.out}/best.pt, curves.json, "
                   "val_loss.png, val_acc.png")


@reference.command("plot")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Write one val_loss.png and val_acc.png here with a line per run  "
                   "[default: redraw each run's own plots in its folder]")
def reference_plot(runs, out):
    """Draw the validation plots of training runs again from their curves.json, without retraining.

    \b
    RUNS are folders written by 'grader reference train' (or any folder with a curves.json).
    Without --out, each run's val_loss.png and val_acc.png are drawn again in place (they carry their data,
    as the quiz expects). With --out, the runs are overlaid in one figure each, for the lecture slides.

    \b
    Examples:
      grader reference plot runs/mycnn
      grader reference plot runs/mlp runs/mycnn runs/simple-cnn --out slides/week4
    """
    from grader.quiz.curves import overlay_plots, redraw_plots

    try:
        if out is None:
            written = [path for run in runs for path in redraw_plots(run)]
        else:
            written = overlay_plots(list(runs), out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")


@reference.command("ensemble")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder holding cifar-10-batches-py/  [default: $GRADER_CIFAR_DIR]")
@click.option("--split", type=click.Choice(["test", "validation"]), default="test", show_default=True,
              help="test: CIFAR-10's test batch; validation: the first checkpoint's seed split.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def reference_ensemble(checkpoints, data_dir, split, as_json):
    """Evaluate CIFAR-10 reference checkpoints alone and as an ensemble (mean of their softmax outputs).

    \b
    Examples:
      grader reference ensemble runs/vgg16/best.pt runs/vgg13/best.pt runs/vgg11/best.pt --data-dir ~/data
      grader reference ensemble runs/*/best.pt --split validation --json
    """
    from grader.authoring.course import import_reference
    from grader.data.mnist import DataError

    try:
        evaluate = import_reference("reference.ensemble").evaluate
    except InstructorOnly as exc:
        _instructor_only(exc)

    try:
        result = evaluate(list(checkpoints), data_dir, split)
    except (DataError, ValueError, KeyError) as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_USAGE)
    if as_json:
        click.echo(json.dumps({"split": result.split, "images": result.n, "single": result.single,
                               "ensemble": result.ensemble}, indent=2))
        return
    for name, accuracy in result.single.items():
        click.echo(f"{accuracy:6.2f}%  {name}")
    click.echo(f"{result.ensemble:6.2f}%  ensemble of {len(result.single)} (mean of softmax), {result.n} {split} images")


def main():
    """Entry point of the ``grader`` console script."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_OK)
