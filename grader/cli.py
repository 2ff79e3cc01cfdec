"""The ``grader`` command line: click declarations only, one call per verb to a plain function of
:mod:`grader.commands` (which tests call directly).

Exit codes: 0 every required check passed, 1 some check failed, 2 usage or internal error. The configuration
(:mod:`grader.config`) is read once, here, and passed on; nothing here writes ``os.environ``.

Every command has ``--lang ko|en`` and its help in that language: the help texts are marked with ``N_`` here and
translated when shown, by the click classes of :mod:`grader.cli_base`, which also choose the language before click
parses (click's own messages: :mod:`grader.i18n.clickmsg`).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from grader import cli_gradebook, commands
from grader.cli_base import Group, start_language, version_option
from grader.config import read_config
from grader.errors import GraderError
from grader.i18n import N_, _

EXIT_OK, EXIT_FAIL, EXIT_USAGE = commands.EXIT_OK, commands.EXIT_FAIL, commands.EXIT_USAGE
ISOLATION_HELP = N_("full: Linux namespaces, read-only files, no network, process and memory limits; process: a plain "
                    "child process with the wall-clock limit (macOS, Windows, containers)  [default: $GRADER_ISOLATION, "
                    "else full where it works]")
DEVICE_HELP = N_("Where best.pt is re-evaluated (auto: the GPU when torch sees one).")


def _config(ctx: click.Context):
    return ctx.find_root().obj


class _Failed(click.ClickException):
    """A :class:`~grader.errors.GraderError`, as click shows an error: ``error: ...`` on stderr, exit code 2."""

    exit_code = EXIT_USAGE

    def show(self, file=None) -> None:
        click.secho(_("error: {message}", message=self.message), fg="red", err=True)


class _Group(Group):
    """The command group (help in the chosen language, --lang on every command): the one place a GraderError
    becomes exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GraderError as exc:
            raise _Failed(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
             help=N_("""Auto-grader for PyTorch CNN courses.

    \b
    Examples:
      grader list
      grader check my_submission/ --assignment mycnn
      grader grade submissions/ --assignment mycnn --out grades/
      grader --course ~/my-course list
      grader release --out kit/                       (instructors: the student kit)
      grader reference train mycnn --out runs/mycnn   (instructors and TAs)
    """))
@version_option()
@click.option("--course", type=click.Path(exists=True, file_okay=False), default=None,
              help=N_("Folder with one sub-folder per assignment (spec.toml)  [default: $GRADER_ASSIGNMENTS, else the "
                      "assignments that ship with the grader]"))
@click.pass_context
def cli(ctx, course):
    import dataclasses

    config = read_config()
    ctx.obj = dataclasses.replace(config, assignments=Path(course).resolve()) if course else config

@cli.command("check", help=N_("""Check a submission (a folder, a .py or an .ipynb) against an assignment's layer table.

    \b
    Only definitions in your code run (imports, classes, functions, constants); training loops,
    downloads and plots at the top level are skipped and listed. Exit code: 0 when every required
    check passes, 1 when one fails, 2 on a usage error.

    \b
    Examples:
      grader check lab1/ --assignment simple-cnn
      grader check week4.ipynb -a mycnn --json > report.json
      grader check lab1/ -a simple-cnn --isolation process
    """))
@click.argument("path", type=click.Path(exists=True))
@click.option("--assignment", "-a", required=True, help=N_("Assignment name (see 'grader list') or a spec.toml path."))
@click.option("--json", "as_json", is_flag=True, help=N_("Print one JSON document instead of the readable report."))
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help=N_("Seconds before the check is stopped  [default: the spec's, 60]"))
@click.option("--no-cache", is_flag=True, help=N_("Check again even if this exact submission was checked before."))
@click.option("--isolation", type=click.Choice(["full", "process"]), default=None, help=ISOLATION_HELP)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help=DEVICE_HELP)
def check(path, assignment, as_json, timeout, no_cache, isolation, device):
    sys.exit(commands.check_command(path, assignment, as_json=as_json, timeout=timeout, use_cache=not no_cache,
                                    isolation=isolation, device=device, config=_config(click.get_current_context())))

@cli.command("grade", help=N_("""Grade a whole class: SUBMISSIONS holds one folder, .zip or notebook per student.

    \b
    Each submission runs in its own sandboxed process (no network, read-only file system but for a
    private scratch folder, CPU, memory, file-size and process limits). Results are kept in
    OUT/results.sqlite: running the same command again grades only new or changed submissions, and a
    run killed part-way finishes where it stopped. Writes OUT/gradebook.csv, OUT/feedback/<student>.md,
    OUT/gradescope/<student>/results.json and OUT/report.html.
    With --cluster, each submission is sent (its bytes, no shared file system needed) to a Dask worker that
    sandboxes it the same way; this command alone writes the results, and the outputs equal a local run's.
    The score is the checks' points, then the instructor's overrides ('grader override'), then the late
    rule of the spec's [late] table or the course's course.toml, from the submission times given here
    (kept for the next runs). Canvas's LATE file names are read as late marks.
    Exit code: 0 when every student passes, 1 when one fails or is missing, 2 on a usage error.

    \b
    Examples:
      grader grade submissions/ --assignment mycnn --out grades/
      grader grade submissions/ -a mycnn --out grades/ --roster roster.csv --workers 2 --timeout 120
      grader grade submissions/ -a mycnn --out grades/ --submitted-at times.csv
      grader grade moodle-download/ -a mycnn --out grades/ --worksheet Grades-Week4.csv --force
      grader grade submissions/ -a cifar-vgg16 --out grades/ --cluster tcp://head-node:8786 --device auto
      grader grade submissions/ -a mycnn --out grades/ --cluster slurm --workers 8
    """))
@click.argument("submissions", type=click.Path(exists=True, file_okay=False))
@click.option("--assignment", "-a", required=True, help=N_("Assignment name (see 'grader list') or a spec.toml path."))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help=N_("Folder for the results (created)."))
@click.option("--workers", type=click.IntRange(min=1), default=None, help=N_("Submissions graded at once  [default: CPU count]; with --cluster slurm / pbs: the worker jobs to "
                                                                             "start  [default: 1]"))
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help=N_("Wall-clock seconds per submission  [default: the spec's]"))
@click.option("--memory", type=click.IntRange(min=64), default=4096, show_default=True,
              help=N_("Address space in MB a submission may add to the grader's own."))
@click.option("--roster", type=click.Path(exists=True, dir_okay=False), default=None,
              help=N_("CSV with an id column (id, student, sid, email...), optionally name and email: matches "
                      "entries (named by id or email) to students and lists the missing ones."))
@click.option("--json", "as_json", is_flag=True, help=N_("Print a JSON summary instead of the readable one."))
@click.option("--no-progress", is_flag=True, help=N_("Hide the progress bar."))
@click.option("--isolation", type=click.Choice(["full", "process"]), default=None, help=ISOLATION_HELP)
@click.option("--cluster", default=None, metavar="ADDRESS|slurm|pbs",
              help=N_("Grade on a Dask cluster: a running scheduler (tcp://HOST:8786), or slurm / pbs to start "
                      "--workers worker jobs through dask-jobqueue (needs 'cnn-grader[cluster]')."))
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help=N_("Where the quiz re-evaluates best.pt. On a cluster, GPU tasks go to workers declaring the Dask "
                      "resource GPU (auto: the CIFAR-10 ones)."))
@click.option("--force", is_flag=True, help=N_("Grade every submission again, unchanged ones too (the results they "
                                               "replace are kept: 'grader history STUDENT')."))
@click.option("--submitted-at", "submitted_at", type=click.Path(exists=True, dir_okay=False), default=None,
              help=N_("CSV of submission times: an id column (id, student, sid, email...) and submitted_at (ISO 8601; "
                      "without an offset, in the rules' timezone). For the late rule (docs/grading.md)."))
@click.option("--worksheet", type=click.Path(exists=True, dir_okay=False), default=None,
              help=N_("A Moodle assignment's grading worksheet: submission times from its 'Last modified "
                      "(submission)' column."))
@click.option("--times-from-mtime", is_flag=True,
              help=N_("Where no other source gives a time, use the submission's modification time (named as a "
                      "fallback in every output: it is when the file was written here, and a student can set it)."))
@click.option("--forget-times", is_flag=True, help=N_("Drop the submission times kept from earlier runs first."))
def grade_cmd(submissions, assignment, out, workers, timeout, memory, roster, as_json, no_progress, isolation,
              cluster, device, force, submitted_at, worksheet, times_from_mtime, forget_times):
    sys.exit(commands.grade_command(submissions, assignment, out, workers=workers, timeout=timeout, memory=memory,
                                    roster=roster, as_json=as_json, progress=not no_progress, isolation=isolation,
                                    cluster=cluster, device=device, force=force, submitted_at=submitted_at,
                                    worksheet=worksheet, times_from_mtime=times_from_mtime,
                                    forget_times=forget_times, config=_config(click.get_current_context())))

@cli.group("autograder", help=N_("""Write the files a course platform runs the grader from, or (run) grade inside one.

    \b
    Examples:
      grader autograder gradescope -a mycnn --out gs/       # gs/autograder.zip: upload it to Gradescope
      grader autograder prairielearn -a mycnn --out pl/     # a question folder and a grader image
      grader autograder classroom -a mycnn --out template/  # a GitHub Classroom template repository
    """))
def autograder_group():
    pass


def _bundle_command(platform: str, what: str):
    @autograder_group.command(platform, help=what)
    @click.option("--assignment", "-a", required=True, help=N_("Assignment name (see 'grader list') or a spec.toml path."))
    @click.option("--out", "out", required=True, type=click.Path(file_okay=False), help=N_("Folder for the files (new or empty)."))
    @click.option("--wheel", type=click.Path(exists=True, dir_okay=False), default=None,
                  help=N_("The kit's wheel from 'grader release'  [default: built and audited from this repository]"))
    @click.option("--json", "as_json", is_flag=True, help=N_("Print a JSON list of the files written."))
    def command(assignment, out, wheel, as_json, **options):
        sys.exit(commands.autograder_command(platform, assignment, out, wheel=wheel, as_json=as_json,
                                             config=_config(click.get_current_context()), **options))
    return command


_bundle_command("gradescope", N_("""Write Gradescope's autograder zip (setup.sh, run_autograder, the wheel, the spec).

    \b
    Upload OUT/autograder.zip under the assignment's Configure Autograder (Ubuntu 22.04 base image).
    Example:
      grader autograder gradescope -a mycnn --out gradescope-mycnn/
    """))
_bundle_command("classroom", N_("""Write a GitHub Classroom template repository: .github/workflows/classroom.yml, the
    kit's wheel and spec under .github/grader/, and the starters.

    \b
    Commit OUT as the assignment's template repository; each push reports the points of every check.
    Example:
      grader autograder classroom -a mycnn --out mycnn-template/
    """))
click.option("--image", default=None, help=N_("The grading image's name in info.json  [default: cnn-grader/NAME:latest]"))(
    _bundle_command("prairielearn", N_("""Write a PrairieLearn question (info.json, question.html, tests/) and its
    grader image (grader-image/Dockerfile and the wheel).

    \b
    Copy OUT/questions/NAME into the course repository's questions/, and build and push the image.
    Example:
      grader autograder prairielearn -a mycnn --out pl-mycnn/ --image myorg/cnn-grader:2026
    """)))


@autograder_group.command("run", help=N_("""Grade the submission inside a platform's job and write its results (what the written scripts call).

    \b
    Exit code 0 once the platform's document is written, whatever the grade: the document carries it.
    Examples:
      grader --course /autograder/source/assignments autograder run gradescope -a mycnn
      grader autograder run classroom -a mycnn --submission . --output "$GITHUB_OUTPUT"
    """))
@click.argument("platform", type=click.Choice(["gradescope", "prairielearn", "classroom"]))
@click.option("--assignment", "-a", required=True, help=N_("Assignment name (see 'grader list') or a spec.toml path."))
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help=N_("The platform's job folder  [default: /autograder for gradescope, /grade for prairielearn]"))
@click.option("--submission", type=click.Path(exists=True, file_okay=False), default=".", show_default=True,
              help=N_("classroom: the checked-out repository (its .git and .github are not graded)."))
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help=N_("classroom: the step's $GITHUB_OUTPUT file, which gets the reporter's result=  [default: print it]"))
def autograder_run(platform, assignment, root, submission, output):
    sys.exit(commands.autograder_run_command(platform, assignment, root=root, submission=submission, output=output,
                                             config=_config(click.get_current_context())))


@cli.command("assign", help=N_("""Generate the student starters (starter.py, starter.ipynb) of assignments from the reference.

    \b
    Solution regions of the reference become `raise NotImplementedError`; the layer table comes from
    the spec. Regenerating is idempotent.

    \b
    Examples:
      grader assign mycnn
      grader assign --all
      grader assign --all --check     # in CI: fail when a starter in git has drifted
    """))
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help=N_("Every assignment whose spec names a reference."))
@click.option("--check", is_flag=True, help=N_("Write nothing; exit 1 when a starter differs from what would be generated."))
def assign(names, all_, check):
    sys.exit(commands.assign_command(list(names), all_=all_, check=check, config=_config(click.get_current_context())))

@cli.command("list", help=N_("""List the assignments with their titles.

    \b
    Example:
      grader list
    """))
def list_command():
    sys.exit(commands.list_command(config=_config(click.get_current_context())))

@cli.command("release", help=N_("""Write the student kit an instructor posts: the grader's wheel (no solutions), starters, README.

    \b
    Instructor-only: run it in the course repository. The wheel is built from a clean copy of the
    sources and audited: a wheel holding a reference module or a line of a solution region is refused.
    Starters that differ from what the reference generates are refused too (run 'grader assign --all').

    \b
    Examples:
      grader release --out kit/
      grader release --out kit-week4/ -a mycnn -a simple-cnn
    """))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help=N_("Folder for the kit (new or empty)."))
@click.option("--assignment", "-a", "names", multiple=True,
              help=N_("Only these assignments (repeat the option)  [default: every assignment of the course]"))
def release_cmd(out, names):
    sys.exit(commands.release_command(out, list(names), config=_config(click.get_current_context())))

@cli.group("quiz", help=N_("""The quiz bank: CNN questions with a variant per student, for Moodle and Canvas (answers computed by torch).

    \b
    Example:
      grader quiz build --roster roster.csv --out quiz/
    """))
def quiz_group():
    pass


@quiz_group.command("build", help=N_("""Write a quiz from BANK (default: the course's bank, CNN arithmetic) for the students of ROSTER.

    \b
    Writes into OUT: moodle.xml and gift.txt (a category of POOL variants per template: Moodle draws one),
    canvas-qti.zip (a question group per template), key.json and key.csv (each student's own variant, seeded
    by their id: the same student always gets the same questions).

    \b
    Examples:
      grader quiz build --roster roster.csv --out quiz/
      grader quiz build my-bank.toml --roster roster.csv --out quiz/ --pool 50
    """))
@click.argument("bank", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--roster", type=click.Path(exists=True, dir_okay=False), required=True,
              help=N_("CSV with an id column (id, student, sid, email...): each student gets their own variants."))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help=N_("Folder for the exports (created)."))
@click.option("--pool", type=click.IntRange(min=1, max=500), default=20, show_default=True,
              help=N_("Variants per template in the Moodle and Canvas exports."))
def quiz_build(bank, roster, out, pool):
    sys.exit(commands.quiz_build_command(bank, roster, out, pool=pool, config=_config(click.get_current_context())))

@quiz_group.command("grade", help=N_("""Grade RESPONSES (a CSV: a student column, one column per question id) against the quiz's key.

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
    """))
@click.argument("responses", type=click.Path(exists=True, dir_okay=False))
@click.option("--key", "key", required=True, type=click.Path(exists=True, dir_okay=False),
              help=N_("key.json written by 'grader quiz build'."))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help=N_("Folder for the results (created)."))
@click.option("--gradebook", "gradebook", type=click.Path(file_okay=False), default=None,
              help=N_("Also join the class gradebook: the OUT folder of 'grader grade' gets a column 'quiz: NAME'."))
@click.option("--name", "name", default=None, help=N_("The quiz's column name  [default: the bank's title, from KEY]"))
def quiz_grade(responses, key, out, gradebook, name):
    sys.exit(commands.quiz_grade_command(responses, key, out, gradebook=gradebook, name=name))

@cli.group(help=N_("""Reference solutions (instructors and TAs): train them, write what a student would submit.

    \b
    The solutions are not in the student kit: there these commands say so and exit 2.

    \b
    Example:
      grader reference train mycnn --out runs/mycnn --epochs 5 --data-dir ../shared/data/mnist
    """))
def reference():
    pass


@reference.command("train", help=N_("""Train reference network NAME deterministically; save best.pt only on a new minimum validation loss.

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
    """))
@click.argument("name")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help=N_("Folder for best.pt, curves.json and the plots."))
@click.option("--epochs", type=click.IntRange(min=1), default=None, help=N_("Epochs to train  [default: the network's own, see docs/reference.md]"))
@click.option("--seed", type=int, default=1, show_default=True, help=N_("Seed for weights, data order and dropout."))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help=N_("Folder holding MNIST/raw/ or cifar-10-batches-py/ (torchvision's layout)  "
                      "[default: $GRADER_DATA_DIR / $GRADER_CIFAR_DIR, then download]"))
@click.option("--resume", type=click.Path(dir_okay=False, exists=True), default=None, help=N_("Continue from this best.pt."))
@click.option("--train-limit", type=click.IntRange(min=1), default=None, help=N_("Train on the first N training images only."))
@click.option("--lr", type=float, default=None, help=N_("Learning rate  [default: the network's own]"))
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help=N_("Training batch size  [default: 64]"))
@click.option("--no-progress", is_flag=True, help=N_("Hide the progress bar."))
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help=N_("Where to train and validate (auto: the GPU when torch sees one)."))
def reference_train(name, out, epochs, seed, data_dir, resume, train_limit, lr, batch_size, no_progress, device):
    sys.exit(commands.reference_train_command(name, out, epochs=epochs, seed=seed, data_dir=data_dir, resume=resume,
                                              train_limit=train_limit, lr=lr, batch_size=batch_size,
                                              progress=not no_progress, device=device))

@reference.command("plot", help=N_("""Draw the validation plots of training runs again from their curves.json, without retraining.

    \b
    RUNS are folders written by 'grader reference train' (or any folder with a curves.json).
    Without --out, each run's val_loss.png and val_acc.png are drawn again in place (they carry their data,
    as the quiz expects). With --out, the runs are overlaid in one figure each, for the lecture slides.

    \b
    Examples:
      grader reference plot runs/mycnn
      grader reference plot runs/mlp runs/mycnn runs/simple-cnn --out slides/week4
    """))
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help=N_("Write one val_loss.png and val_acc.png here with a line per run  "
                      "[default: redraw each run's own plots in its folder]"))
def reference_plot(runs, out):
    sys.exit(commands.reference_plot_command(list(runs), out=out))

@reference.command("ensemble", help=N_("""Evaluate CIFAR-10 reference checkpoints alone and as an ensemble (mean of their softmax outputs).

    \b
    Examples:
      grader reference ensemble runs/vgg16/best.pt runs/vgg13/best.pt runs/vgg11/best.pt --data-dir ~/data
      grader reference ensemble runs/*/best.pt --split validation --json
    """))
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help=N_("Folder holding cifar-10-batches-py/  [default: $GRADER_CIFAR_DIR]"))
@click.option("--split", type=click.Choice(["test", "validation"]), default="test", show_default=True,
              help=N_("test: CIFAR-10's test batch; validation: the first checkpoint's seed split."))
@click.option("--json", "as_json", is_flag=True, help=N_("Print one JSON document."))
def reference_ensemble(checkpoints, data_dir, split, as_json):
    sys.exit(commands.reference_ensemble_command(list(checkpoints), data_dir=data_dir, split=split,
                                                 as_json=as_json))

for _command in (cli_gradebook.export_cmd, cli_gradebook.override_cmd, cli_gradebook.history_cmd,
                 cli_gradebook.recompute_cmd):
    cli.add_command(_command)


def _exit(code) -> None:
    """Exit with ``code`` once the output is out, skipping the interpreter's teardown (about 0.6 s once torch's
    compiler stack is imported): every file the command writes is closed by then."""
    code = code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_USAGE)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main():
    """Entry point of the ``grader`` console script. The language is chosen from the raw arguments first, so that
    click's own usage errors are in it too."""
    start_language(sys.argv[1:])  # an unknown GRADER_LANG or course language: the group's usage error
    try:
        cli.main(standalone_mode=False)
    except SystemExit as exc:
        _exit(exc.code)
    except click.exceptions.Exit as exc:
        _exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo(_("aborted"), err=True)
        _exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        _exit(EXIT_USAGE)
    except GraderError as exc:  # raised before a command ran (reading the configuration)
        click.secho(_("error: {message}", message=str(exc)), fg="red", err=True)
        _exit(EXIT_USAGE)
    _exit(EXIT_OK)
