"""grader grade: a hostile class completes with a reason per student; resume after SIGKILL; outputs; integrity."""
import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict

import pytest
import torch

from grader.batch.entries import find_entries
from grader.batch.integrity import class_flags
from grader.grading import grade
from grader.outputs.platform_results import gradescope_json
from grader.report import CheckpointDetails, CheckResult, CurvesDetails, Report
from grader.sandbox.limits import Limits
from grader.spec import load_spec
from tests.conftest import ROOT, run_cli

SIMPLE = (ROOT / "reference" / "simple_cnn.py").read_text()
INIT = "        super().__init__()\n"


def student(code_in_init: str = "", replace: tuple[str, str] | None = None) -> str:
    """The reference SimpleCNN with ``code_in_init`` run first in its __init__ (and one optional text swap)."""
    source = SIMPLE.replace(INIT, INIT + code_in_init, 1)
    return source.replace(*replace) if replace else source


def indent(code: str) -> str:
    return "".join(f"        {line}\n" for line in code.strip().splitlines())


def rows(out):
    with open(out / "gradebook.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A simple-cnn class in which most students attack or break the grader; graded once for the module."""
    root = tmp_path_factory.mktemp("hostile")
    subs, out = root / "submissions", root / "out"
    subs.mkdir()
    victim = root / "victim.txt"
    victim.write_text("untouched")
    cases = {
        "honest": "",
        "infinite_loop": "while True:\n    pass",
        "memory_bomb": "hog = []\nwhile True:\n    hog.append(bytearray(64 * 1024 * 1024))",
        "fork_bomb": "import os\nwhile True:\n    os.fork()",
        "network": "import socket\nsocket.create_connection(('93.184.216.34', 80), timeout=5)",
        "os_system": f"import os\nos.system('touch {root}/pwned; echo hacked > {victim}')",
        "sys_exit": "import sys\nsys.exit(0)",
        "os_exit": "import os\nos._exit(0)",
        "writes_outside": f"open({str(victim)!r}, 'w').write('overwritten')",
        "writes_gradebook": f"open({str(out / 'gradebook.csv')!r}, 'w').write('student,score\\nwrites_gradebook,999')",
        # junk on every pipe it holds: the box's result channel among them
        "pipe_writer": "import os, stat\nfor fd in range(3, 64):\n    try:\n        if stat.S_ISFIFO(os.fstat(fd).st_mode):"
                       "\n            os.write(fd, b'junk')\n    except OSError:\n        pass",
    }
    for name, code in cases.items():
        (subs / f"{name}.py").write_text(student(indent(code)))
    fake = ('{"assignment": "simple-cnn", "student": "fake_result", "score": 10, "max_score": 10, "passed": true, '
            '"checks": [], "notes": [], "output": "", "timings": {}, "fatal": ""}')
    (subs / "fake_result.py").write_text(student(f"        print({fake!r})\n",
                                                 ("nn.Linear(100, 10)", "nn.Linear(100, 11)")))
    (subs / "corrupt.zip").write_bytes(b"PK\x03\x04" + os.urandom(300))
    folder = root / "zipped"
    folder.mkdir()
    (folder / "net.py").write_text(SIMPLE)
    with zipfile.ZipFile(subs / "zipped.zip", "w") as archive:
        archive.write(folder / "net.py", "zipped/net.py")
    began = time.monotonic()
    result = grade(load_spec("simple-cnn"), subs, out, workers=2, limits=Limits(wall_s=12, memory_mb=1024),
                   progress=False, log=lambda m: None)
    return result, out, root, victim, time.monotonic() - began


@pytest.mark.slow
def test_hostile_class_completes_with_a_reason_per_student(hostile):
    result, out, root, victim, seconds = hostile
    book = rows(out)
    assert len(book) == 14 and len(result.reports) == 14
    assert book["honest"]["status"] == "passed" and book["zipped"]["status"] == "passed"
    assert book["infinite_loop"]["status"] == "error" and "did not finish within 12 s" in book["infinite_loop"]["reason"]
    assert book["memory_bomb"]["status"] != "passed" and "MemoryError" in book["memory_bomb"]["reason"]
    assert book["fork_bomb"]["status"] != "passed" and "BlockingIOError" in book["fork_bomb"]["reason"]
    assert "Network is unreachable" in book["network"]["reason"]
    assert "SystemExit" in book["sys_exit"]["reason"]
    assert book["os_exit"]["status"] == "error" and "without a result" in book["os_exit"]["reason"]
    assert "No such file or directory" in book["writes_outside"]["reason"]  # absent from its view
    assert "No such file or directory" in book["writes_gradebook"]["reason"]
    assert book["corrupt"]["status"] == "error" and "not a usable zip" in book["corrupt"]["reason"]
    # os.system ran a shell, which could neither write the victim file nor create one. What the code tried is no
    # flag (its own process could hide it); what the box saw is: junk on its result channel.
    assert victim.read_text() == "untouched" and not (root / "pwned").exists()
    # Printing a result document forges nothing: the real (failing) report is used, the print kept as output.
    fake = result.reports["fake_result"]
    assert not fake.passed and fake.score < fake.max_score and '"passed": true' in fake.output
    assert "tampered" in book["pipe_writer"]["reason"] and "sandbox: wrote to the grader's own result pipe" in \
        book["pipe_writer"]["flags"]
    flagged = {name: book[name]["flags"] for name in book if book[name]["flags"]}
    assert set(flagged) == {"pipe_writer", "corrupt"}, flagged
    # the source similarity could not read the corrupt zip: said, never skipped silently
    assert flagged["corrupt"] == "source not fully compared: corrupt.zip: not a readable zip file (BadZipFile)"
    for name in ("honest", "network", "fork_bomb"):
        assert result.reports[name].isolation == [], result.reports[name].isolation


def test_outputs_of_the_hostile_class(hostile):
    result, out, *_ = hostile
    feedback = (out / "feedback" / "memory_bomb.md").read_text()
    assert feedback.startswith("# simple-cnn: memory_bomb") and "MemoryError" in feedback
    doc = json.loads((out / "gradescope" / "honest" / "results.json").read_text())
    assert doc["score"] == 10 and {t["name"] for t in doc["tests"]} >= {"class", "shapes", "params"}
    assert all(set(t) == {"name", "score", "max_score", "status", "output", "output_format", "visibility"}
               for t in doc["tests"])
    assert all(t["status"] == "passed" for t in doc["tests"])
    html = (out / "report.html").read_text()
    assert html.count('<tr data-failed=') == 14 and "<script>" in html and "http" not in html.split("<script>")[1]


@pytest.mark.slow
def test_unchanged_class_regrades_nothing_and_a_resubmission_only_itself(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    for name in ("ann", "ben", "cat"):
        (subs / f"{name}.py").write_text(SIMPLE)
    spec = load_spec("simple-cnn")
    first = grade(spec, subs, out, workers=2, progress=False, log=lambda m: None)
    assert first.graded_now == 3
    again = grade(spec, subs, out, workers=2, progress=False, log=lambda m: None)
    assert again.graded_now == 0 and again.reused == 3
    (subs / "ben.py").write_text(student(replace=("nn.Linear(100, 10)", "nn.Linear(100, 12)")))
    third = grade(spec, subs, out, workers=2, progress=False, log=lambda m: None)
    assert third.graded_now == 1 and rows(out)["ben"]["status"] == "failed" and rows(out)["ann"]["status"] == "passed"


@pytest.mark.slow
def test_a_submission_the_parent_cannot_copy_is_its_own_error_row(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "fifo").mkdir(parents=True)
    (subs / "fifo" / "model.py").write_text(SIMPLE)
    os.mkfifo(subs / "fifo" / "pipe")  # a special file: copying the folder into the sandbox fails in the parent
    (subs / "ann.py").write_text(SIMPLE)
    result = grade(load_spec("simple-cnn"), subs, out, workers=2, progress=False, log=lambda m: None)
    assert result.graded_now == 2
    table = rows(out)
    assert table["ann"]["status"] == "passed" and table["fifo"]["status"] == "error", table
    assert "pipe is a special file" in (out / "feedback" / "fifo.md").read_text()
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_outputs(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    for index in range(8):
        code = SIMPLE if index % 3 else student(replace=("kernel_size=3)\n        self.fc1", "kernel_size=2)\n        self.fc1"))
        (subs / f"s{index}.py").write_text(code)
    (subs / "slow.py").write_text(student(indent("import time\ntime.sleep(3)")))
    args = [sys.executable, "-m", "grader", "grade", subs, "-a", "simple-cnn", "--workers", "2", "--no-progress"]
    whole = subprocess.run([*map(str, args), "--out", str(tmp_path / "whole")], capture_output=True, text=True,
                           timeout=300)
    assert whole.returncode == 1, whole.stderr
    killed_out = tmp_path / "killed"
    proc = subprocess.Popen([*map(str, args), "--out", str(killed_out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    stored = 0
    while time.monotonic() < deadline and stored < 3:
        time.sleep(0.05)
        try:
            with sqlite3.connect(killed_out / "results.sqlite") as db:
                stored = db.execute("SELECT count(*) FROM results").fetchone()[0]
        except sqlite3.Error:
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= stored < 9, "the run should be killed part-way"
    assert not (killed_out / "gradebook.csv").exists()
    resumed = subprocess.run([*map(str, args), "--out", str(killed_out)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 1, resumed.stderr
    graded_now = int(resumed.stdout.split(" graded now")[0].rsplit("(", 1)[1])
    assert 1 <= graded_now <= 9 - stored, resumed.stdout
    with sqlite3.connect(killed_out / "results.sqlite") as db:
        assert db.execute("SELECT count(*), count(DISTINCT student) FROM results").fetchone() == (9, 9)
    for name in ("gradebook.csv", "feedback/s1.md", "feedback/slow.md", "gradescope/s0/results.json", "report.html"):
        assert (killed_out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_largest_submissions_are_graded_first(tmp_path, monkeypatch):
    import grader.grading

    subs = tmp_path / "subs"
    for name, size in (("a", 10), ("b", 5000), ("c", 100)):
        (subs / name).mkdir(parents=True)
        (subs / name / "model.py").write_text("#" * size)
    (subs / "d.py").write_text("#" * 1000)
    started = []
    monkeypatch.setattr(grader.grading, "run_pool", lambda spec, todo, *rest: started.extend(e.student for e, _ in todo) or 0)
    grade(load_spec("simple-cnn"), subs, tmp_path / "out", workers=2, progress=False, log=lambda m: None)
    assert started == ["b", "d", "c", "a"]  # a long re-evaluation started last would leave a core idle at the end


def test_roster_matches_entries_and_lists_the_missing(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "smith_12345_assignsubmission_file").mkdir()
    (subs / "jones@uni.edu.ipynb").write_text("{}")
    (subs / "stranger.py").write_text("")
    (subs / "notes.txt").write_text("")
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,ID,Email\nAnna Smith,12345,smith@uni.edu\nBo Jones,67890,jones@uni.edu\n"
                      "Cy Lee,11111,lee@uni.edu\n")
    found = find_entries(subs, roster)
    by_path = {e.path.name: e for e in found.entries}
    assert by_path["smith_12345_assignsubmission_file"].student == "12345"
    assert by_path["smith_12345_assignsubmission_file"].name == "Anna Smith"
    assert by_path["stranger.py"].flags == ["not on the roster"]
    assert by_path["jones@uni.edu.ipynb"].student == "67890" and by_path["jones@uni.edu.ipynb"].name == "Bo Jones"
    assert found.missing == [("11111", "Cy Lee")]  # Bo Jones handed in (matched by email), Cy Lee did not
    assert found.ignored == ["notes.txt"]
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what\n")
    result = run_cli("grade", subs, "-a", "simple-cnn", "--out", tmp_path / "o", "--roster", bad)
    assert result.returncode == 2 and "no id column" in result.stderr


def test_roster_email_matches(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "jones.py").write_text(SIMPLE)
    roster = tmp_path / "roster.csv"
    roster.write_text("email,name\njones@uni.edu,Bo Jones\nlee@uni.edu,Cy Lee\n")
    result = grade(load_spec("simple-cnn"), subs, tmp_path / "out", roster=roster, progress=False, log=lambda m: None)
    book = rows(tmp_path / "out")
    assert book["jones@uni.edu"]["status"] == "passed" and book["jones@uni.edu"]["name"] == "Bo Jones"
    assert book["lee@uni.edu"]["status"] == "missing" and not result.all_passed


def _report_with_checkpoint(student_id: str, path: str, sha: str, curves=None, state=None) -> Report:
    """A report whose checkpoint check holds what grading computes: the file's hash and the weights' sketch."""
    from grader.quiz.sketch import sketch_state

    weights = sketch_state(state) if state is not None else None
    details = CheckpointDetails(path, sha, *((weights.signature, weights.weights_sha256, weights.sketch)
                                             if weights else ()))
    report = Report("mycnn", student_id)
    report.checks.append(CheckResult("checkpoint", "pass", 2, 2, "ok", details=asdict(details)))
    if curves:
        details = asdict(CurvesDetails(curves[0], curves[1], "curves.json", 1))
        report.checks.append(CheckResult("curves", "pass", 1, 1, "ok", details=details))
    return report


def test_integrity_flags_identical_near_identical_and_curves(tmp_path):
    torch.manual_seed(0)
    base = {"w": torch.randn(1000, 50), "b": torch.randn(50)}
    near = {k: v + 1e-3 * torch.randn_like(v) for k, v in base.items()}
    other = {k: torch.randn_like(v) for k, v in base.items()}
    entries, states = [], {}
    from grader.batch.entries import Entry

    for name, state, epoch in (("a", base, 1), ("b", base, 1), ("c", near, 1), ("d", other, 1), ("e", base, 2)):
        states[name] = state
        folder = tmp_path / name
        folder.mkdir()
        torch.save({"model": state, "epoch": epoch}, folder / "best.pt")  # e: a's weights, re-saved
        entries.append(Entry(name, folder))
    sha = {"a": "x", "b": "x", "c": "y", "d": "z", "e": "v"}
    curves = {"a": ([0.5, 0.4], [80.0, 85.0]), "b": ([0.5, 0.4], [80.0, 85.0]), "c": ([0.6, 0.3], [70.0, 90.0]),
              "d": ([0.7, 0.2], [60.0, 95.0]), "e": ([0.8, 0.1], [50.0, 97.0])}
    reports = {n: _report_with_checkpoint(n, "best.pt", sha[n], curves[n], states[n]) for n in sha}
    flags = class_flags(load_spec("mycnn"), entries, reports)
    assert "identical checkpoint as b" in flags["a"] and "identical curves as b" in flags["a"]
    assert any(f.startswith("near-identical weights") and "c (" in f for f in flags["a"])
    assert any("a (" in f and "b (" in f for f in flags["c"] if f.startswith("near-identical"))
    assert flags["d"] == []
    assert "identical weights (in a different file) as a, b" in flags["e"]
    assert "identical weights (in a different file) as e" in flags["a"] and "identical checkpoint as b" in flags["a"]
    assert not any("e (" in f for f in flags["a"] if f.startswith("near-identical"))  # equal is not "near"


def test_gradescope_status_of_an_optional_skip():
    report = Report("mycnn", "x", checks=[CheckResult("epoch", "skip", 0, 2, "no epoch", required=False),
                                          CheckResult("reeval", "fail", 0, 3, "bad")])
    doc = json.loads(gradescope_json(load_spec("mycnn"), report))
    assert [t["status"] for t in doc["tests"]] == ["passed", "failed"] and doc["score"] == 0


@pytest.fixture(scope="module")
def quiz_class(honest, tmp_path_factory):
    """A small mycnn class: honest, a copy of honest's files, and one that saved best.pt after every epoch."""
    sub, per_epoch, _ = honest
    root = tmp_path_factory.mktemp("quizclass")
    subs = root / "subs"
    subs.mkdir()
    shutil.copytree(sub, subs / "honest")
    shutil.copytree(sub, subs / "copier")
    shutil.copytree(sub, subs / "every_epoch")
    shutil.copy(per_epoch[3], subs / "every_epoch" / "best.pt")
    result = grade(load_spec("mycnn"), subs, root / "out", workers=2, progress=False, log=lambda m: None)
    return result, root / "out"


@pytest.mark.slow
def test_quiz_class_grades_and_flags(quiz_class):
    result, out = quiz_class
    book = rows(out)
    assert book["honest"]["status"] == "passed" and book["copier"]["status"] == "passed"
    assert book["every_epoch"]["status"] == "failed" and book["every_epoch"]["epoch"] == "0"
    assert "identical checkpoint as honest" in book["copier"]["flags"]
    assert "identical curves as every_epoch, honest" in book["copier"]["flags"]
    html = (out / "report.html").read_text()
    assert html.count('class="mark"') >= 4  # the re-evaluated point on both charts of each student


def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None and os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
    if path is None:
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")
    return path


@pytest.mark.slow
def test_report_html_renders_sorts_and_filters_in_headless_chromium(quiz_class, hostile, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for out in (quiz_class[1], hostile[1]):
            page.goto((out / "report.html").as_uri())
            shot = tmp_path / f"{out.parent.name}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # The hostile class's page is loaded: sort by score, then filter.
        page.click("#students th:nth-child(3)")
        scores = [float(v) for v in page.eval_on_selector_all(
            "#students tbody tr", "rows => rows.map(r => r.cells[2].dataset.value)")]
        assert scores == sorted(scores)
        page.click("#students th:nth-child(3)")
        scores = [float(v) for v in page.eval_on_selector_all(
            "#students tbody tr", "rows => rows.map(r => r.cells[2].dataset.value)")]
        assert scores == sorted(scores, reverse=True)
        page.select_option("#filter-flag", "sandbox")
        visible = page.eval_on_selector_all("#students tbody tr:not([hidden])", "rows => rows.map(r => r.cells[0].dataset.value)")
        assert visible == ["pipe_writer"], visible
        page.select_option("#filter-flag", "")
        page.select_option("#filter-check", "shapes")
        visible = page.eval_on_selector_all("#students tbody tr:not([hidden])", "rows => rows.map(r => r.cells[0].dataset.value)")
        assert "fake_result" in visible and "honest" not in visible
        assert page.inner_text("#shown").endswith("of 14 shown")
        browser.close()
    assert errors == []


@pytest.mark.slow
def test_cpu_limit_and_working_folder_size_give_their_reasons(tmp_path):
    from grader.batch.job import check_in_box

    spec = load_spec("simple-cnn")
    spin = tmp_path / "spin.py"
    spin.write_text(student(indent("while True:\n    pass")))
    report = check_in_box(spec, spin, limits=Limits(wall_s=60, cpu_s=2))
    assert "more than 2 s of CPU time" in report.fatal and report.timings["wall_s"] < 30
    big = tmp_path / "big"
    big.mkdir()
    (big / "model.py").write_text(SIMPLE)
    (big / "dataset.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    report = check_in_box(spec, big, limits=Limits(wall_s=60, disk_mb=1))
    assert "does not fit the 1 MB working folder" in report.fatal
