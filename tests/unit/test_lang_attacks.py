"""Unit layer: what a hostile submission or an odd setting can do to the language: the language a report records
is the job's (never the box's, which runs the student's code), and a stored language the grader has no catalog for
never stops the class's outputs."""
from grader.batch.entries import Entry
from grader.batch.job import _in_process, _readable
from grader.batch.store import Store
from grader.grading import _save_record, rebuild_outputs
from grader.i18n import use_language
from grader.report import Report
from grader.spec import load_spec


def test_the_language_a_box_sends_is_not_the_reports():
    spec = load_spec("mycnn")
    sent = {"assignment": "mycnn", "student": "s", "notes": ["n"], "lang": "xx"}
    assert _in_process(_readable(spec, "s", sent, "ko")).lang == "ko"
    with use_language("ko"):
        assert _readable(spec, "s", {**sent, "lang": "en"}).lang == "ko"


def _stored_class(out, spec, student: str, report: Report) -> None:
    """``out`` as 'grader grade' leaves it for a class of one: ``student``'s stored ``report`` and the class record
    (the submission is ``out / student`` or ``out / student.py``)."""
    path = out / student if (out / student).exists() else out / f"{student}.py"
    store = Store(out / "results.sqlite")
    store.put(student, "k", path.name, report, files="f")
    _save_record(store, spec, [Entry(student, path)], [], {}, [])
    store.close()


def test_a_stored_language_without_a_catalog_does_not_stop_the_outputs(tmp_path):
    spec = load_spec("mycnn")
    (tmp_path / "ann.py").write_text("x = 1\n")
    _stored_class(tmp_path, spec, "ann", Report("mycnn", "ann", lang="xx"))
    built = rebuild_outputs(spec, tmp_path)  # a report written before the job kept its own language
    assert "graded_in_other_language" not in built.warning_codes
    assert (tmp_path / "feedback" / "ann.md").is_file()


def test_a_platform_bundle_grades_in_the_language_it_was_written_in(tmp_path):
    """The platform's machine has its own locale (Gradescope's: none): the run command says the bundle's language."""
    from grader.platforms.bundles import classroom_bundle, gradescope_bundle, prairielearn_bundle

    spec = load_spec("mycnn")
    wheel = tmp_path / "cnn_grader-0-py3-none-any.whl"
    wheel.write_bytes(b"")
    with use_language("ko"):
        gradescope_bundle(spec, wheel, tmp_path / "gs")
        prairielearn_bundle(spec, wheel, tmp_path / "pl")
        classroom_bundle(spec, wheel, tmp_path / "gc")
    gradescope_bundle(spec, wheel, tmp_path / "gs_en")
    runs = [tmp_path / "gs" / "source" / "run_autograder", tmp_path / "pl" / "questions" / "mycnn" / "tests" / "run.sh",
            tmp_path / "gc" / ".github" / "workflows" / "classroom.yml"]
    for path in runs:
        line = next(line for line in path.read_text().splitlines() if "autograder run" in line)
        assert line.endswith("--lang ko") or " --lang ko " in line, line
    assert "--lang en" in (tmp_path / "gs_en" / "source" / "run_autograder").read_text()
    question = (tmp_path / "pl" / "questions" / "mycnn" / "question.html").read_text()
    assert "<code>grader check model.py -a mycnn --lang ko</code>" in question  # what the student is told to run


def test_an_override_in_another_language_says_the_outputs_stay_in_the_graded_one(tmp_path, capsys):
    from grader.commands import override_command

    spec = load_spec("mycnn")
    (tmp_path / "ann.py").write_text("x = 1\n")
    _stored_class(tmp_path, spec, "ann", Report("mycnn", "ann", lang="ko"))
    assert override_command(str(tmp_path), "ann", None, points=1, reason="by hand", by="kim",
                            assignment=str(spec.path)) == 0
    said = capsys.readouterr()
    assert "the class was graded in ko" in said.err and "grader grade --lang en" in said.err, said
    assert "the class was graded in" not in said.out


def test_a_korean_kit_asks_for_korean_where_the_student_runs_it():
    """The student's terminal and kernel do not know the course's language (course.toml is the instructor's, not
    in the kit): a starter or README written in Korean says --lang ko / lang="ko"; an English one is unchanged."""
    from pathlib import Path

    from grader.authoring.release import student_readme
    from grader.authoring.starters import render_py, self_check_code

    spec = load_spec("mycnn")
    with use_language("ko"):
        cell, starter = self_check_code(spec, "MyCNN"), render_py(spec)
        readme = student_readme(Path("cnn_grader-0-py3-none-any.whl"), [spec])
    assert cell.count("lang='ko'") == 2 and "grader check starter.py --assignment mycnn --lang ko" in starter
    assert 'grader.check(MyCNN, assignment="mycnn", lang="ko")' in readme and "-a mycnn --json --lang ko" in readme
    assert "lang" not in self_check_code(spec, "MyCNN") and "--lang" not in student_readme(Path("w.whl"), [spec])


def test_the_system_locale_is_read_as_gettext_reads_it():
    from grader.i18n import system_language

    assert system_language({"LANGUAGE": "fr:ko", "LANG": "en_US.UTF-8"}) == "ko"  # a priority list
    assert system_language({"LANGUAGE": "en_GB:ko"}) == "en" and system_language({"LANGUAGE": "fr"}) is None
    assert system_language({"LC_ALL": "C", "LANG": "ko_KR.UTF-8"}) is None  # LC_ALL=C wins: the source text


def test_lang_takes_a_locale_name_as_grader_lang_does():
    from click.testing import CliRunner

    from grader.cli import cli

    for value in ("ko_KR", "ko-KR.UTF-8", "KO"):
        result = CliRunner().invoke(cli, ["--lang", value, "list"])
        assert result.exit_code == 0 and "합성곱" in result.output, (value, result.output)
    refused = CliRunner().invoke(cli, ["--lang", "fr_FR", "list"])
    assert refused.exit_code == 2 and "'fr_FR' is not one of 'en', 'ko'" in refused.output


def test_a_graded_row_whose_reason_reads_quiz_only_stays_in_the_gradebook(tmp_path):
    """A fatal's first line is the reason column, and a report the box sent may say anything: only the grader's own
    quiz-only rows (status missing) are dropped when the quiz columns are written again."""
    import csv
    from types import SimpleNamespace

    from grader.i18n import _
    from grader.outputs.gradebook import QUIZ_ONLY, add_quizzes, render_gradebook

    header = ["student", "name", "score", "max_score", "status", "reason", "flags"]
    with use_language("ko"):
        forged = _(QUIZ_ONLY)
        rows = [["ann", "", "0", "10", "error", forged, ""], ["bob", "", "3", "10", "error", QUIZ_ONLY, ""]]
        path = tmp_path / "gradebook.csv"
        path.write_text(render_gradebook(header, rows, {}, "10"))
        for _time in range(2):
            add_quizzes(path, {"q1": {"cat": SimpleNamespace(score=2.0)}})
    found = {row["student"]: row for row in csv.DictReader(path.open())}
    assert sorted(found) == ["ann", "bob", "cat"] and found["ann"]["status"] == "error"
    assert found["cat"]["status"] == "missing" and found["cat"]["quiz: q1"] == "2"


def test_a_planted_catalog_neither_stops_the_grader_nor_hides_from_the_cache_key(tmp_path, monkeypatch):
    """Code that ran with the grader's rights (the process level as root, when uid 65534 cannot read Python) may
    leave a grader.mo beside the .po, which is read first: a broken one falls back to the .po, and one that is read
    is part of the cache key."""
    import os
    import shutil

    import grader.i18n as i18n
    from grader.i18n.catalog import compile_catalogs

    folder = tmp_path / "locale" / "ko" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    shutil.copy(i18n.LOCALE_DIR / "ko" / "LC_MESSAGES" / "grader.po", folder / "grader.po")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path / "locale")
    i18n.translations.cache_clear()
    try:
        honest = i18n.catalog_key("ko")
        (folder / "grader.mo").write_bytes(b"garbage")
        os.utime(folder / "grader.mo", (os.stat(folder / "grader.po").st_mtime + 10,) * 2)
        assert i18n.translations("ko").gettext("network not isolated") != "network not isolated"  # the .po's
        compile_catalogs(tmp_path / "forged", tmp_path / "locale")
        shutil.copy(tmp_path / "forged" / "ko" / "LC_MESSAGES" / "grader.mo", folder / "grader.mo")
        os.utime(folder / "grader.mo", (os.stat(folder / "grader.po").st_mtime + 10,) * 2)
        assert i18n.catalog_key("ko") != honest
    finally:
        i18n.translations.cache_clear()


def test_a_file_name_in_a_fact_is_never_worded_as_the_graders_sentence():
    from grader.batch.verdict import fact_words
    from grader.sandbox.facts import NOT_A_ZIP, SPECIAL_FILE, TOO_MANY_FILES, UNSAFE_PATH, state

    with use_language("ko"):
        named = fact_words(state(SPECIAL_FILE, name="the fork server ended"))
        nested = fact_words(state(NOT_A_ZIP, name="w.zip", error=state(UNSAFE_PATH, name="../no answer")))
        counted = fact_words(state(NOT_A_ZIP, name="w.zip", error=state(TOO_MANY_FILES, n=9, max=5)))
    assert named.startswith("the fork server ended") and "포크" not in named
    assert "../no answer" in nested and "unsafe path" not in nested  # the error is a fact: worded, its name kept
    assert "over the limit" not in counted and "9" in counted


def test_an_optimizer_state_of_any_numbers_is_checked_not_crashed_on():
    """best.pt is the student's: an infinite or many-number step, or a state key of no parameter, is a finding (or
    nothing), never the judge's internal error."""
    from pathlib import Path
    from types import SimpleNamespace

    import torch

    from grader.quiz.checks import _optimizer_check

    spec, model = load_spec("mycnn"), torch.nn.Linear(2, 2)
    for step in (torch.tensor(float("inf")), float("nan"), torch.tensor([1.0, 2.0]), "x", -3):
        state = {0: {"step": step}, 1: {"step": step}}
        optimizer = {"state": state, "param_groups": [{"params": [0, 1]}]}
        ckpt = SimpleNamespace(optimizer=optimizer, epoch=2, path=Path("best.pt"), layout="{}")
        result = _optimizer_check(spec, ckpt, model, 64)
        assert result.status == "pass" and "step count" not in result.message, (step, result.message)
    optimizer = {"state": {7: {"exp_avg": torch.zeros(3)}, "w": {}}, "param_groups": [{"params": [0, 1]}]}
    ckpt = SimpleNamespace(optimizer=optimizer, epoch=2, path=Path("best.pt"), layout="{}")
    assert _optimizer_check(spec, ckpt, model, 64).status == "fail"


def test_a_translation_with_quotes_keeps_the_platform_scripts_working(tmp_path, monkeypatch):
    """The scripts' sentences come from the catalog (a translator's text): quotes, a per cent sign, a backslash or
    a dollar in them still make one valid results.json and the echoed line as written."""
    import json
    import subprocess

    import grader.platforms.bundles as bundles
    from grader.platforms.bundles import gradescope_bundle

    hostile = "it's \"broken\" 100% \\ $HOME `id` "

    def translated(message, /, **fields):
        return hostile + message.format(**fields)

    monkeypatch.setattr(bundles, "_", translated)
    wheel = tmp_path / "cnn_grader-0-py3-none-any.whl"
    wheel.write_bytes(b"")
    gradescope_bundle(load_spec("mycnn"), wheel, tmp_path / "gs")
    source = tmp_path / "gs" / "source"
    line = next(x for x in (source / "run_autograder").read_text().splitlines() if "printf" in x)
    script = "status=7\n" + line.replace('> "$results"', "")
    doc = json.loads(subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout)
    assert doc["output"].startswith(hostile) and "(exit code 7)" in doc["output"]
    echo = [x for x in (source / "setup.sh").read_text().splitlines() if x.startswith("echo ")][-1]
    said = subprocess.run(["bash", "-c", echo], capture_output=True, text=True, check=True).stdout
    assert said == hostile + "the grader for mycnn is installed in /autograder/venv\n"


def test_the_flag_of_a_report_the_box_sent_is_worded_in_the_readers_language():
    from grader.batch.job import SENT_A_REPORT
    from grader.report import own_flags

    report = Report("mycnn", "s", judged="in-process: " + SENT_A_REPORT)
    with use_language("ko"):
        flag = own_flags(report)[0]
    assert flag.kind == "graded in-process" and SENT_A_REPORT not in flag


def test_a_moodle_worksheet_is_written_in_the_language_the_class_was_graded_in(tmp_path):
    """Its comments quote the reports' reasons and sit beside the feedback files: one language, with a warning."""
    from grader.platforms.moodle import moodle_assignment
    from grader.report import CheckResult

    spec, student = load_spec("mycnn"), "Alice_1_assignsubmission_file_"
    (tmp_path / student).mkdir()
    with use_language("ko"):
        failed = Report("mycnn", student, checks=[CheckResult("class", "fail", 0.0, 1.0, "클래스가 없습니다")])
    _stored_class(tmp_path, spec, student, failed)
    rebuild_outputs(spec, tmp_path)
    sheet = tmp_path / "ws.csv"
    sheet.write_text("Identifier,Full name,Grade,Maximum Grade,Feedback comments\nParticipant 1,Alice,,100,\n")
    done = moodle_assignment(tmp_path, sheet)
    comment = done.worksheet.read_text().splitlines()[1]
    assert "점수" in comment and "Score" not in comment and "full report" not in comment, comment
    assert done.warnings and "graded in ko" in done.warnings[0]


def test_a_course_language_without_a_catalog_still_lets_help_show(tmp_path):
    from click.testing import CliRunner

    from grader.cli import cli

    (tmp_path / "course.toml").write_text('language = "kr"\n')  # the typo of a careless instructor
    for args in (["--help"], ["list", "-h"], ["--version"]):
        shown = CliRunner().invoke(cli, ["--course", str(tmp_path), *args])
        assert shown.exit_code == 0 and "no catalog" not in shown.output, (args, shown.output)
    refused = CliRunner().invoke(cli, ["--course", str(tmp_path), "list"])
    assert refused.exit_code == 2 and "course.toml language: no catalog for 'kr'" in refused.output
