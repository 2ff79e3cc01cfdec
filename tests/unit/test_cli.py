"""CLI wiring, in-process with click's CliRunner: every verb has help with an example, options reach the plain
function, and a problem the user can fix is exit code 2 with its message (never a traceback)."""
import shutil

import pytest
from click.testing import CliRunner

from grader import commands
from grader.cli import cli
from tests.conftest import ROOT

VERBS = [["check"], ["grade"], ["export"], ["assign"], ["list"], ["release"], ["quiz", "build"], ["quiz", "grade"],
         ["reference", "train"], ["reference", "plot"], ["reference", "ensemble"]]


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help_with_an_example(verb):
    result = CliRunner().invoke(cli, [*verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output and "grader " + " ".join(verb) in result.output


def test_a_user_error_is_exit_code_2_with_its_message():
    result = CliRunner().invoke(cli, ["check", str(ROOT / "examples"), "-a", "no-such-assignment"])
    assert result.exit_code == 2 and "unknown assignment 'no-such-assignment'" in result.output
    assert "Traceback" not in result.output
    bad = CliRunner(env={"GRADER_ISOLATION": "chroot"}).invoke(cli, ["list"])
    assert bad.exit_code == 2 and "GRADER_ISOLATION='chroot': choose full or process" in bad.output


def test_course_chooses_the_assignments_without_touching_the_environment(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "assignments" / "mlp", tmp_path / "only-mlp")
    before = dict(__import__("os").environ)
    result = CliRunner().invoke(cli, ["--course", str(tmp_path), "list"])
    assert result.exit_code == 0 and result.output.split()[0] == "only-mlp" and "mycnn" not in result.output
    assert dict(__import__("os").environ) == before


def test_options_reach_the_plain_function(monkeypatch):
    seen = {}
    monkeypatch.setattr(commands, "grade_command", lambda *a, **k: seen.update(args=a, **k) or 0)
    result = CliRunner().invoke(cli, ["grade", str(ROOT / "examples"), "-a", "mycnn", "--out", "o", "--workers", "3",
                                      "--timeout", "9", "--isolation", "process", "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    assert seen["args"] == (str(ROOT / "examples"), "mycnn", "o")
    assert seen["workers"] == 3 and seen["timeout"] == 9 and seen["isolation"] == "process"
    assert seen["progress"] is False and seen["as_json"] is True and seen["config"].cores >= 1
