"""The command line in the chosen language: ``--lang`` > ``$GRADER_LANG`` > course.toml's ``language`` > the system
locale > English, for the grader's own help and messages and for click's (usage errors, headings), chosen before
click parses so that a usage error is already in it; an unknown language is a usage error; scripts' JSON keys do not
depend on the language."""
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from grader.cli import cli
from grader.i18n import current_language
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "corpus"
SUBMISSION = str(CORPUS / "fail_wrong_kernel_simplecnn.py")


def hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def run(args, env=None):
    return CliRunner(env=env).invoke(cli, args)


@pytest.mark.parametrize("args", [["--lang", "ko", "--help"], ["--lang", "ko", "check", "--help"],
                                  ["check", "--help", "--lang", "ko"], ["quiz", "--lang=ko", "build", "--help"]],
                         ids=" ".join)
def test_help_is_korean_with_lang_ko(args):
    result = run(args)
    assert result.exit_code == 0, result.output
    assert hangul(result.output) and "사용법:" in result.output and "옵션:" in result.output
    assert "Usage:" not in result.output and "Show this message and exit." not in result.output
    assert "이 도움말을 보여 주고 끝냅니다." in result.output  # click's own --help line
    if "check" in args:
        assert "제출물" in result.output and "grader check lab1/ --assignment simple-cnn" in result.output  # code kept


def test_english_help_is_unchanged_and_every_command_has_lang():
    def walk(command, path):
        yield path
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                yield from walk(sub, path + [name])

    for path in walk(cli, []):
        result = run([*path, "--help"])
        assert result.exit_code == 0 and "--lang [en|ko]" in result.output, path
        assert "Usage:" in result.output and not hangul(result.output), path


def test_a_usage_error_is_korean_with_exit_code_2():
    result = run(["--lang", "ko", "check", SUBMISSION])
    assert result.exit_code == 2
    assert "필요한 옵션이 없습니다: '--assignment'" in result.output and "사용법:" in result.output
    assert "Missing option" not in result.output and "Traceback" not in result.output
    english = run(["check", SUBMISSION])
    assert english.exit_code == 2 and "Error: Missing option '--assignment' / '-a'." in english.output


def test_a_wrong_value_and_an_unknown_command_are_korean():
    choice = run(["--lang", "ko", "check", SUBMISSION, "-a", "simple-cnn", "--isolation", "chroot"])
    assert choice.exit_code == 2 and "'chroot'은(는) 'full', 'process' 중 하나가 아닙니다." in choice.output
    typo = run(["--lang", "ko", "chek"])
    assert typo.exit_code == 2 and "'chek' 명령은 없습니다. 혹시 'check'을(를) 말한 것입니까?" in typo.output
    missing = run(["--lang", "ko", "check", "no-such-folder/", "-a", "simple-cnn"])
    assert missing.exit_code == 2 and "경로 'no-such-folder/'이(가) 없습니다." in missing.output


def test_grader_lang_chooses_korean_and_lang_beats_it():
    assert hangul(run(["check", SUBMISSION], env={"GRADER_LANG": "ko"}).output)
    assert not hangul(run(["--lang", "en", "check", SUBMISSION], env={"GRADER_LANG": "ko"}).output)
    assert not hangul(run(["check", SUBMISSION, "--lang", "en"], env={"GRADER_LANG": "ko"}).output)
    assert hangul(run(["check", SUBMISSION, "--lang", "ko"], env={"GRADER_LANG": "en"}).output)


@pytest.fixture
def korean_course(tmp_path):
    (tmp_path / "course.toml").write_text('language = "ko"\n', encoding="utf-8")
    return tmp_path


def test_the_course_s_language_comes_after_grader_lang(korean_course):
    assert hangul(run(["--course", str(korean_course), "check", SUBMISSION]).output)
    assert hangul(run([f"--course={korean_course}", "check", SUBMISSION]).output)
    assert hangul(run(["check", SUBMISSION], env={"GRADER_ASSIGNMENTS": str(korean_course)}).output)
    assert not hangul(run(["--course", str(korean_course), "check", SUBMISSION], env={"GRADER_LANG": "en"}).output)
    assert not hangul(run(["--course", str(korean_course), "--lang", "en", "check", SUBMISSION]).output)


def test_an_unknown_language_is_a_usage_error(tmp_path):
    result = run(["--lang", "fr", "list"])
    assert result.exit_code == 2 and "'--lang'" in result.output and "'fr'" in result.output
    result = run(["list"], env={"GRADER_LANG": "fr"})
    assert result.exit_code == 2 and "GRADER_LANG: no catalog for 'fr'; choose one of en, ko" in result.output
    (tmp_path / "course.toml").write_text('language = "klingon"\n', encoding="utf-8")
    result = run(["--course", str(tmp_path), "list"])
    assert result.exit_code == 2 and "course.toml language: no catalog for 'klingon'" in result.output
    assert run(["--course", str(tmp_path), "--lang", "ko", "list", "--help"]).exit_code == 0  # --lang decides


def test_the_language_is_the_caller_s_again_after_a_run():
    before = dict(os.environ)
    assert run(["--lang", "ko", "check", SUBMISSION]).exit_code == 2
    assert current_language() == "en" and dict(os.environ) == before  # nothing writes os.environ


def _keys(value):
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_keys(item) for item in value]
    return type(value).__name__


def test_json_keys_and_codes_are_the_same_in_both_languages(monkeypatch):
    from grader.pipeline import check_submission

    # In this process (the box's language is its own business): the CLI's language is what renders the report.
    monkeypatch.setattr("grader.batch.job.check_in_box", lambda spec, path, **options: check_submission(spec, path))
    documents = {}
    for lang in ("en", "ko"):
        monkeypatch.delitem(sys.modules, Path(SUBMISSION).stem, raising=False)  # as in a fresh box
        result = run(["--lang", lang, "check", SUBMISSION, "-a", "simple-cnn", "--json", "--no-cache"])
        assert result.exit_code == 1, result.output
        documents[lang] = json.loads(result.stdout)
    english, korean = documents["en"], documents["ko"]
    assert _keys(english) == _keys(korean)
    for key in ("assignment", "student", "score", "max_score", "passed"):
        assert english[key] == korean[key]
    assert [(c["name"], c["status"], c["score"]) for c in english["checks"]] == \
        [(c["name"], c["status"], c["score"]) for c in korean["checks"]]


def test_main_sets_the_language_before_click_parses():
    code = "import sys; sys.argv = ['grader', 'check', sys.argv[1], '--lang', 'ko']; from grader.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, SUBMISSION], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "사용법: grader check" in done.stderr and "필요한 옵션이 없습니다: '--assignment'" in done.stderr
