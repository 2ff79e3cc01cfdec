"""Unit layer: the gradebook, its spreadsheet-safe CSV, the feedback file and report.html's flag kinds."""
from pathlib import Path

import pytest

from grader.spec import load_spec


def test_flags_carry_their_kind_into_the_gradebook_and_report_html():
    # report.html filters by a flag's kind, which is set where the flag is raised, never read back from its text
    import re

    from grader.batch.entries import Entry
    from grader.outputs.gradebook import gradebook_csv
    from grader.outputs.html_report import render_html
    from grader.report import Flag, Report

    spec = load_spec("simple-cnn")
    entries = [Entry("ann", Path("ann")), Entry("ben", Path("ben"))]
    reports = {"ann": Report("simple-cnn", "ann", judged="in-process: export failed (x)", changed_files=["best.pt"]),
               "ben": Report("simple-cnn", "ben", sandbox_events=["ran a program: /bin/sh"])}
    flags = {"ann": [Flag("identical weights", "identical weights (in a different file) as ben")],
             "ben": [Flag("not on the roster")]}
    html = render_html(spec, entries, reports, [("cy", "Cy Lee")], flags)
    rows = re.findall(r'<tr[^>]*data-kinds="([^"]*)"', html)
    assert "identical weights|graded in-process|working copy changed during the run" in rows
    assert "sandbox|not on the roster" in rows and "no submission" in rows
    book = gradebook_csv(spec, entries, reports, [("cy", "Cy Lee")], flags)
    assert ("identical weights (in a different file) as ben; graded in-process: export failed (x); "
            "working copy changed during the run: best.pt") in book
    with pytest.raises(ValueError, match="unknown flag kind"):
        Flag("made up")


def test_spreadsheet_safe_neutralises_formulas_and_keeps_numbers():
    from grader.outputs.gradebook import spreadsheet_safe

    assert spreadsheet_safe('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    for text in ("+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text
    for number in ("19", "-3", "+2.5", "1e-4", "0"):
        assert spreadsheet_safe(number) == number


def test_gradebook_rows_reasons_and_feedback_markdown():
    import csv
    import io

    from grader.batch.entries import Entry
    from grader.outputs.gradebook import feedback_markdown, gradebook_csv
    from grader.report import CheckResult, Report

    spec = load_spec("simple-cnn")
    crashed = Report("simple-cnn", "dan", checks=[
        CheckResult("class", "fail", 0.0, 1.0, "Found Net (net.py line 4), but Net() failed:\nTraceback (your code):\n"
                    "  File \"net.py\", line 7\nZeroDivisionError: division by zero", gist="Net() failed: "
                    "ZeroDivisionError: division by zero"),
        CheckResult("shapes", "skip", 0.0, 4.0, "Skipped: the model could not be built.")],
        changed_files=["best.pt"], output="hello from dan")
    fine = Report("simple-cnn", "eve", checks=[CheckResult("class", "pass", 1.0, 1.0, "Using Net.")])
    entries = [Entry("dan", Path("dan"), name="Dan Ng"), Entry("eve", Path("eve"))]
    rows = list(csv.DictReader(io.StringIO(gradebook_csv(spec, entries, {"dan": crashed, "eve": fine},
                                                          [("=cmd", "Mallory")], {}))))
    by = {r["student"]: r for r in rows}
    assert by["dan"]["name"] == "Dan Ng" and by["dan"]["score"] == "0" and by["dan"]["class"] == "0"
    assert by["dan"]["reason"] == "class: Net() failed: ZeroDivisionError: division by zero"  # the gist, not line 1
    assert by["dan"]["flags"] == "working copy changed during the run: best.pt"
    assert by["eve"]["status"] == "passed" and by["eve"]["reason"] == ""
    assert by["'=cmd"]["status"] == "missing"  # a formula-like id is written as text
    text = feedback_markdown(crashed)
    assert "**Score: 0 / 5**" in text and "ZeroDivisionError: division by zero" in text
    assert "## Your working copy" in text and "hello from dan" in text


def test_check_details_have_their_declared_shape():
    from dataclasses import asdict

    from grader.report import CheckResult, CurvesDetails, Report, details_of

    good = asdict(CurvesDetails([0.5, 0.4], [80.0, 85.0], "curves.json", 2))
    report = Report("mycnn", "ann", checks=[CheckResult("curves", "pass", 1, 1, "ok", details=good)])
    assert details_of(report, "curves") == CurvesDetails([0.5, 0.4], [80.0, 85.0], "curves.json", 2)
    assert details_of(Report.from_dict(report.to_dict()), "curves").best_epoch == 2  # through JSON and back
    assert details_of(report, "reeval") is None
    for bad in ({**good, "extra": 1}, {"val_loss": [0.5]}):  # a child cannot send details of another shape
        with pytest.raises(ValueError, match="declared shape"):
            CheckResult("curves", "pass", 1, 1, "ok", details=bad)
    with pytest.raises(ValueError, match="declared shape"):
        CheckResult("output", "pass", 1, 1, "ok", details={"anything": 1})  # a check with no details


def test_output_names_and_entries_never_share_a_name(tmp_path):
    from grader.batch.entries import find_entries
    from grader.outputs.gradebook import output_names

    assert output_names(["bob", "bob.", "Bob", "al/ice"]) == {"bob": "bob", "bob.": "bob~2", "Bob": "Bob~3",
                                                             "al/ice": "al_ice"}
    for name in ("carl", "carl~2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.py").write_text("x = 1\n")
    (tmp_path / "carl.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    students = [entry.student for entry in find_entries(tmp_path).entries]
    assert sorted(students) == ["carl", "carl~2", "carl~3"] and len(set(students)) == 3


def test_two_students_whose_names_clean_to_one_keep_their_own_feedback(tmp_path):
    from grader.batch.entries import Entry
    from grader.outputs import write_outputs
    from grader.report import CheckResult, Report

    entries = [Entry("bob", tmp_path / "bob"), Entry("bob.", tmp_path / "bob.")]
    reports = {}
    for entry, score in zip(entries, (4.0, 1.0), strict=True):
        report = Report(assignment="mlp", student=entry.student)
        report.checks.append(CheckResult("shapes", "pass" if score == 4 else "fail", score, 4.0, "m"))
        reports[entry.student] = report
    write_outputs(load_spec("mlp"), tmp_path / "out", entries, reports, [], {})
    assert "**Score: 4 / 4**" in (tmp_path / "out" / "feedback" / "bob.md").read_text()
    assert "**Score: 1 / 4**" in (tmp_path / "out" / "feedback" / "bob~2.md").read_text()
    assert (tmp_path / "out" / "gradescope" / "bob~2" / "results.json").is_file()
