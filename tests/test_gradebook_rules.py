"""End to end on a graded class, through the installed ``grader`` command: deadlines from the course file, times
from a CSV and Canvas's late mark, overrides (one and a CSV), regrades with history, a moved deadline recomputed
without running a check, and all of it in the gradebook, the feedback, report.html and the LMS exports."""
from __future__ import annotations

import csv
import io
import shutil

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

SIMPLE = (ROOT / "reference" / "simple_cnn.py").read_text()
COURSE = """
timezone = "Asia/Seoul"
[late]
percent_per_day = 10
grace_minutes = 15
max_percent = 50
[assignments.simple-cnn]
due = 2026-10-07T23:59:00
last_accepted = 2026-10-12T23:59:00
[assignments.simple-cnn.extensions]
cat = 2026-10-09T23:59:00
"""
TIMES = """student,submitted_at
ann,2026-10-07T23:00:00
ben,2026-10-09T10:00:00
cat,2026-10-09T10:00:00
dan,2026-10-13T10:00:00
"""


def _book(out) -> dict[str, dict[str, str]]:
    return {r["student"]: r for r in csv.DictReader(io.StringIO((out / "gradebook.csv").read_text()))}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("rules")
    course, subs, out = root / "course", root / "subs", root / "grades"
    course.mkdir()
    shutil.copytree(ROOT / "assignments" / "simple-cnn", course / "simple-cnn")
    (course / "course.toml").write_text(COURSE)
    subs.mkdir()
    for name in ("ann", "ben", "cat", "dan"):
        (subs / f"{name}.py").write_text(SIMPLE.replace("nn.Linear(100, 10)", "nn.Linear(100, 12)")
                                         if name == "ben" else SIMPLE)
    (subs / "leeeve_LATE_4242_9999_model.py").write_text(SIMPLE)  # Canvas's name for a late file
    (root / "times.csv").write_text(TIMES)
    done = run_cli("--course", course, "grade", subs, "-a", "simple-cnn", "--out", out, "--no-progress",
                   "--submitted-at", root / "times.csv")
    assert done.returncode == 1, done.stderr  # ben fails a check
    return root, course, subs, out


def test_the_late_rule_in_the_gradebook(graded):
    root, course, subs, out = graded
    book = _book(out)
    assert (book["ann"]["score"], book["ann"]["late_penalty"]) == ("10", "0")
    assert book["ann"]["late_rule"].startswith("on time: submitted 2026-10-07T23:00+09:00 (from times.csv")
    ben = book["ben"]
    raw = float(ben["raw_score"])
    assert raw < 10 and float(ben["late_penalty"]) == pytest.approx(-round(raw * 0.2, 3))
    assert float(ben["score"]) == pytest.approx(raw - round(raw * 0.2, 3))
    assert "1 day 10 h 1 min after the due date 2026-10-07T23:59+09:00: 10% per started day x 2 days" in ben["late_rule"]
    assert book["cat"]["score"] == "10" and "(an extension)" in book["cat"]["late_rule"]
    assert book["dan"]["score"] == "0" and "not accepted" in book["dan"]["late_rule"]
    canvas = book["leeeve_LATE_4242_9999_model"]
    assert canvas["score"] == "9" and "marks it late but gives no time" in canvas["late_rule"]
    feedback = (out / "feedback" / "ben.md").read_text()
    assert f"**Score: {ben['score']} / 10**" in feedback and "- Late: submitted 2026-10-09T10:00+09:00" in feedback


def test_overrides_one_and_many_and_the_history(graded):
    root, course, subs, out = graded
    ben_raw = float(_book(out)["ben"]["raw_score"])
    done = run_cli("--course", course, "override", "ben", "shapes", "--points", "4", "--reason",
                   "the fc2 row of the table had a typo", "--by", "kim", "--out", out)
    assert done.returncode == 0 and "kept: ben shapes -> 4" in done.stdout and "no check ran" in done.stdout
    ben = _book(out)["ben"]
    assert ben["raw_score"] == f"{ben_raw:g}" and ben["shapes"] == "4"
    assert ben["override"].startswith("shapes ") and "-> 4 by kim on " in ben["override"]
    feedback = (out / "feedback" / "ben.md").read_text()
    assert "- Adjusted by the instructor (kim): shapes" in feedback and "the fc2 row of the table had a typo" in feedback
    assert "-> 4 (adjusted) / 4 |" in feedback
    html = (out / "report.html").read_text()
    assert "adjusted by the instructor: shapes" in html and "the fc2 row of the table had a typo" in html
    requests = root / "overrides.csv"
    requests.write_text("student,check,points,reason\nann,,9,\"copied the loop from a friend, agreed\"\n"
                        "ben,shapes,remove,typo fixed instead\n")
    done = run_cli("--course", course, "override", "--csv", requests, "--out", out, "--json")
    assert done.returncode == 0, done.stderr
    book = _book(out)
    assert book["ann"]["score"] == "9" and book["ben"]["shapes"] != "4" and book["ben"]["override"] == ""
    history = run_cli("--course", course, "history", "ben", "--out", out)
    assert history.returncode == 0
    assert "override #1 shapes -> 4 by kim" in history.stdout and "removed" in history.stdout
    assert "typo fixed instead" in history.stdout and "late rule: submitted 2026-10-09T10:00+09:00" in history.stdout
    partial = root / "partial.csv"  # a bad row anywhere: nothing of the file is kept
    partial.write_text("student,check,points,reason\ncat,shapes,3,hand check\ndan,shapes,remove,nothing there\n")
    before = (out / "gradebook.csv").read_bytes()
    refused = run_cli("--course", course, "override", "--csv", partial, "--out", out)
    assert refused.returncode == 2 and "row 2: dan has no override of shapes to remove" in refused.stderr
    assert (out / "gradebook.csv").read_bytes() == before
    assert "override" not in run_cli("--course", course, "history", "cat", "--out", out).stdout
    for bad, message in ((["zed", "--points", "1", "--reason", "x"], "no student 'zed'"),
                         (["ben", "conv9", "--points", "1", "--reason", "x"], "'conv9' is not a check"),
                         (["ben", "shapes", "--points", "5", "--reason", "x"], "give 0 to 4"),
                         (["ben", "shapes", "--points", "1"], "needs a reason"),
                         (["Ben", "shapes", "--points", "1", "--reason", "x"], "did you mean ben?")):
        refused = run_cli("--course", course, "override", *bad, "--out", out)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


def test_moving_the_deadline_recomputes_without_a_check_and_a_regrade_keeps_history(graded):
    root, course, subs, out = graded
    (course / "course.toml").write_text(COURSE.replace("due = 2026-10-07T23:59:00", "due = 2026-10-10T23:59:00"))
    done = run_cli("--course", course, "recompute", "--out", out)
    assert done.returncode == 0 and "no check ran" in done.stdout
    book = _book(out)
    assert book["ben"]["late_penalty"] == "0" and book["ben"]["score"] == book["ben"]["raw_score"]
    again = run_cli("--course", course, "grade", subs, "-a", "simple-cnn", "--out", out, "--no-progress", "--json")
    assert '"graded_now": 0' in again.stdout  # the rules are not part of what decides a check
    spec = course / "simple-cnn" / "spec.toml"  # a fixed check: the shapes row of fc2 now wants 12 classes
    spec.write_text(spec.read_text() + "\n[late]\nmax_percent = 30\n")
    assert '"graded_now": 0' in run_cli("--course", course, "grade", subs, "-a", "simple-cnn", "--out", out,
                                        "--no-progress", "--json").stdout
    (subs / "ben.py").write_text(SIMPLE)  # ben resubmits a fixed model
    regraded = run_cli("--course", course, "grade", subs, "-a", "simple-cnn", "--out", out, "--no-progress")
    assert "1 graded now" in regraded.stdout and "regraded with a new score: ben " in regraded.stdout
    assert "resubmitted" in regraded.stdout
    history = run_cli("--course", course, "history", "ben", "--out", out, "--json")
    import json

    doc = json.loads(history.stdout)
    assert doc["current"]["score"] == 10 and doc["earlier"][-1]["cause"] == "resubmitted"
    assert doc["earlier"][-1]["score"] < 10 and len(doc["override_log"]) == 1
    assert "regraded on " in (out / "feedback" / "ben.md").read_text()
    assert "(resubmitted)" in (out / "report.html").read_text()
    assert "the submission time kept for ben is of an earlier submission" in regraded.stderr
    assert "no submission time known" in _book(out)["ben"]["late_rule"]  # the old time is not the new files'



def test_the_lms_exports_carry_the_final_score(graded):
    root, course, subs, out = graded
    done = run_cli("export", out, "--to", "canvas")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((out / "lms" / "canvas-gradebook.csv").read_text())))
    canvas = {r["SIS Login ID"]: r for r in rows if r["SIS Login ID"]}
    book = _book(out)
    title = [c for c in rows[0] if c not in ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")][0]
    assert all(canvas[s][title] == book[s]["score"] for s in book)
    assert canvas["dan"][title] == "0" and canvas["ann"][title] == "9"  # past the last accepted time; overridden


@pytest.fixture(scope="module")
def similar_class(tmp_path_factory):
    """The real-shaped mycnn class of tests/corpus/similarity (15 students, 4 copies), graded as a class."""
    from tests.corpus.similarity.make_class import write_class

    root = tmp_path_factory.mktemp("similar")
    write_class(root / "subs")
    done = run_cli("grade", root / "subs", "-a", "mycnn", "--out", root / "grades", "--no-progress", "--json",
                   timeout=900)
    assert done.returncode in (0, 1), done.stderr
    return root / "grades"


def test_a_graded_class_flags_exactly_its_copies_with_the_files_side_by_side(similar_class):
    from tests.corpus.similarity.make_class import COPIES

    book = _book(similar_class)
    flagged = {(s, other) for s, row in book.items() for flag in row["flags"].split("; ")
               if flag.startswith("similar source to ") for other in [flag.split()[3]]}
    assert {tuple(sorted(p)) for p in flagged} == {tuple(sorted(p)) for p in COPIES}
    assert all((b, a) in flagged for a, b in flagged)  # each side of a pair is flagged, with both shares
    html = (similar_class / "report.html").read_text()
    assert html.count('<div class="sim">') == len(COPIES) and "Similar source code" in html
    assert "Item analysis" in html


def test_report_html_with_every_section_renders_in_headless_chromium(graded, similar_class, tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.test_batch import _chromium

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for out in (graded[3], similar_class):
            page.goto((out / "report.html").as_uri())
            shot = tmp_path / f"{out.parent.name}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
        assert page.locator(".sim").count() == 4 and page.locator(".sim").first.is_visible()
        highlighted = page.eval_on_selector_all(".sim-code tr[class]", "rows => rows.length")
        assert highlighted > 0  # the matched lines are marked on both sides
        page.goto((graded[3] / "report.html").as_uri())
        adjust = page.locator("#students td.adjust").all_inner_texts()
        assert any("late:" in text for text in adjust) and any("adjusted by the instructor" in t for t in adjust)
        browser.close()
    assert errors == []
