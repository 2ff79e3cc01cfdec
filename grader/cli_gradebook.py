"""The ``grader`` verbs on a graded class: export, override, history, recompute (click declarations only; the
work is in :mod:`grader.commands`). :mod:`grader.cli` adds them to the command group."""
from __future__ import annotations

import sys

import click

from grader import commands
from grader.cli_base import Command
from grader.i18n import N_, _


def _config():
    return click.get_current_context().find_root().obj


@click.command("override", cls=Command, help=N_("""Adjust a graded student's points, with a reason; every output of OUT is rewritten (no check runs).

    \b
    Kept in OUT/results.sqlite with who, when and why, and shown in the gradebook's override column,
    report.html and the student's feedback ("adjusted by the instructor"). It stays through regrades
    until removed. The late rule applies after overrides: to waive a penalty, grant an extension.

    \b
    Examples:
      grader override 20231234 shapes --points 3 --reason "conv2's padding was right; the table had a typo" --out grades/
      grader override 20231234 --points 9 --reason "graded by hand: notebook corrupted" --out grades/
      grader override 20231234 shapes --remove --reason "typo fixed in the spec" --out grades/
      grader override --csv regrade-requests.csv --out grades/ --by kim
    """))
@click.argument("student", required=False)
@click.argument("check", required=False)
@click.option("--out", "out", required=True, type=click.Path(exists=True, file_okay=False),
              help=N_("The graded class: the OUT of 'grader grade'."))
@click.option("--points", type=float, default=None, help=N_("The points to give: for CHECK (0 to its points), or "
                                                            "without CHECK the whole score (0 to the assignment's)."))
@click.option("--reason", default="", help=N_("Why (required for an override): the student reads it in the feedback."))
@click.option("--by", default="", help=N_("Who made it  [default: the OS user]"))
@click.option("--remove", is_flag=True, help=N_("Remove STUDENT's override of CHECK (or of the score)."))
@click.option("--csv", "csv_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help=N_("Many at once: a CSV with student, points, reason (and check, by); points 'remove' removes."))
@click.option("--assignment", "-a", default=None, help=N_("The spec  [default: the one OUT was graded with]"))
@click.option("--json", "as_json", is_flag=True, help=N_("Print the overrides kept or removed as JSON."))
def override_cmd(student, check, out, points, reason, by, remove, csv_file, assignment, as_json):
    sys.exit(commands.override_command(out, student, check, points=points, reason=reason, by=by, remove=remove,
                                       csv_file=csv_file, assignment=assignment, as_json=as_json,
                                       config=_config()))

@click.command("history", cls=Command, help=N_("""Print everything OUT holds on STUDENT: each grading (regrades keep the earlier results), every
    override (removed ones too), the late rule, and the score as the gradebook shows it now.

    \b
    Examples:
      grader history 20231234 --out grades/
      grader history 20231234 --out grades/ --json
    """))
@click.argument("student")
@click.option("--out", "out", required=True, type=click.Path(exists=True, file_okay=False),
              help=N_("The graded class: the OUT of 'grader grade'."))
@click.option("--assignment", "-a", default=None, help=N_("The spec  [default: the one OUT was graded with]"))
@click.option("--json", "as_json", is_flag=True, help=N_("Print one JSON document."))
def history_cmd(student, out, assignment, as_json):
    sys.exit(commands.history_command(out, student, assignment=assignment, as_json=as_json,
                                      config=_config()))

@click.command("recompute", cls=Command, help=N_("""Rewrite OUT's gradebook, report.html and feedback with the deadline rules as they are now.

    \b
    After moving a due date or granting an extension (the spec's [late] table or course.toml): no
    check runs, the stored results and submission times are reused.

    \b
    Examples:
      grader recompute --out grades/
    """))
@click.option("--out", "out", required=True, type=click.Path(exists=True, file_okay=False),
              help=N_("The graded class: the OUT of 'grader grade'."))
@click.option("--assignment", "-a", default=None, help=N_("The spec  [default: the one OUT was graded with]"))
@click.option("--json", "as_json", is_flag=True, help=N_("Print each student's score and rule as JSON."))
def recompute_cmd(out, assignment, as_json):
    sys.exit(commands.recompute_command(out, assignment=assignment, as_json=as_json,
                                        config=_config()))


@click.command("export", cls=Command, help=N_("""Write the class gradebook in GRADES (the OUT of 'grader grade') for import into Canvas or Moodle.

    \b
    One grade column for the assignment and one per quiz joined with 'grader quiz grade --gradebook'.
    With --lms-roster, every student of the LMS gets a row with their LMS identity; those with no grade here
    are listed as missing (their cells stay empty, which the LMS leaves unchanged), and gradebook students
    the LMS does not know are listed as unknown. Gradescope's results.json files are not touched.

    \b
    Examples:
      grader export grades/ --to canvas --lms-roster canvas-export.csv
      grader export grades/ --to moodle --lms-roster moodle-participants.csv --file moodle.csv
      grader export grades/ --to moodle-assignment --worksheet Grades-Week4.csv

    \b
    moodle-assignment writes GRADES/lms/moodle-worksheet.csv (for 'Upload grading worksheet') and
    GRADES/lms/moodle-feedback.zip (for 'Upload multiple feedback files in a zip'); see docs/platforms.md.
    """))
@click.argument("grades", type=click.Path(exists=True, file_okay=False))
@click.option("--to", "lms", required=True, type=click.Choice(["canvas", "moodle", "moodle-assignment"]),
              help=N_("canvas or moodle: the gradebook import; moodle-assignment: a Moodle assignment's grading worksheet "
                      "filled in (give --worksheet) and its feedback files zip."))
@click.option("--worksheet", type=click.Path(exists=True, dir_okay=False), default=None,
              help=N_("With --to moodle-assignment: the grading worksheet downloaded from the Moodle assignment."))
@click.option("--lms-roster", type=click.Path(exists=True, dir_okay=False), default=None,
              help=N_("The LMS's own student list: Canvas's gradebook export, or Moodle's grade export or participants "
                      "CSV. Students are matched by its ids (Canvas: ID, SIS User ID, SIS Login ID; Moodle: ID number, "
                      "Username, Email address)."))
@click.option("--file", "file", type=click.Path(dir_okay=False), default=None,
              help=N_("Where to write  [default: GRADES/lms/canvas-gradebook.csv or moodle-grades.csv]"))
@click.option("--json", "as_json", is_flag=True, help=N_("Print a JSON summary (file, columns, missing, unknown)."))
def export_cmd(grades, lms, worksheet, lms_roster, file, as_json):
    if lms == "moodle-assignment":
        if worksheet is None:
            raise click.UsageError(_("--to moodle-assignment needs --worksheet: the grading worksheet downloaded "
                                     "from the assignment (View all submissions > Grading action > Download grading "
                                     "worksheet)"))
        sys.exit(commands.moodle_assignment_command(grades, worksheet, out=file, as_json=as_json))
    if worksheet is not None:
        raise click.UsageError(_("--worksheet goes with --to moodle-assignment"))
    sys.exit(commands.export_command(grades, lms, lms_roster=lms_roster, file=file, as_json=as_json))
