"""A hostile mycnn class against `grader grade`: no student raises its own score, reads a classmate's files, or
changes what the quiz reads. The grade of every exported model is computed by a process that runs no student code."""
import csv
import shutil

import pytest

from grader.grading import grade
from grader.sandbox.limits import Limits, full_isolation_available
from grader.spec import load_spec
from tests.conftest import ROOT

DEMO = ROOT / "examples" / "demo-class"
MARKER = "# ALICE-PRIVATE-MARKER 7f3a"
WRONG = '''import sys
import torch
import torch.nn as nn
import torch.nn.functional as F


class MyCNN(nn.Module):
{body}
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)
'''
PATCH_REGISTRY = '''
    _checks = sys.modules.get("grader.inspection.checks")
    for _name in list(getattr(_checks, "CHECKS", {})):
        _checks.CHECKS[_name] = (lambda n: lambda spec, ctx: sys.modules["grader.report"].CheckResult(
            n, "pass", spec.points[n], spec.points[n], "forged"))(_name)
    _quiz = sys.modules.get("grader.quiz.checks")
    if _quiz is not None:
        _quiz.run_quiz_checks = lambda spec, *a, **k: [sys.modules["grader.report"].CheckResult(
            n, "pass", float(p), float(p), "forged") for n, p in spec.quiz["points"].items()]
'''
PATCH_TORCH = '''
    nn.Module.register_forward_hook = lambda self, hook, *a, **k: None
    nn.Module.register_forward_pre_hook = lambda self, hook, *a, **k: None
    nn.Module.parameters = lambda self, recurse=True: iter([torch.zeros(1_199_882)])
'''
# Export fails on purpose (the forward refuses to be traced) so that the registry patch could act in-process.
REFUSE_EXPORT = PATCH_REGISTRY + '''
    def forward(self, x):
        if type(x).__name__ != "Tensor" or torch.compiler.is_compiling():
            raise RuntimeError("no tracing")
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)
'''


def _mycnn_with_init(code: str, subs) -> str:
    source = (DEMO / "alice" / "mycnn.py").read_text()
    head = "        super().__init__()\n"
    code = code.replace("SUBS", repr(str(subs)))
    return source.replace(head, head + "".join(f"        {line}\n" for line in code.strip().splitlines()), 1)


@pytest.fixture(scope="module")
def forgery(tmp_path_factory):
    root = tmp_path_factory.mktemp("forgery")
    subs, out = root / "submissions", root / "out"
    subs.mkdir()
    shutil.copytree(DEMO / "alice", subs / "alice")
    (subs / "alice" / "mycnn.py").write_text((DEMO / "alice" / "mycnn.py").read_text() + f"\n{MARKER}\n")
    shutil.copytree(DEMO / "bob", subs / "bob")
    shutil.copytree(DEMO / "alice", subs / '=HYPERLINK("x","y")')
    for name, body in (("plain_wrong", ""), ("forger", PATCH_REGISTRY), ("torch_patcher", PATCH_TORCH), ("fallback_forger", REFUSE_EXPORT)):
        (subs / name).mkdir()
        source = WRONG.format(body=body)
        if name == "fallback_forger":  # its own forward replaces the plain one
            source = source[:source.index("    def forward(self, x):\n        return")]
        (subs / name / "mycnn.py").write_text(source)
    (subs / "subclass").mkdir()
    (subs / "subclass" / "mycnn.py").write_text("from reference.mycnn import MyCNN as Base\n\n\n"
                                                "class MyCNN(Base):\n    pass\n")
    # Reads the classmates' folder, the output folder and alice's source, and prints what it found.
    snoop = ('import os\nfor place in ("/tmp", SUBS, SUBS + "/../out", os.path.expanduser("~")):\n'
             '    try:\n        print("LISTED", place, os.listdir(place))\n'
             '    except OSError as exc:\n        print("REFUSED", place, type(exc).__name__)\n'
             'try:\n    print(open(SUBS + "/alice/mycnn.py").read())\nexcept OSError as exc:\n'
             '    print("REFUSED alice", type(exc).__name__)')
    shutil.copytree(DEMO / "alice", subs / "snooper")
    (subs / "snooper" / "mycnn.py").write_text(_mycnn_with_init(snoop, subs))
    # Copies alice's best.pt and curves over its own, else ruins its own: the quiz reads the submitted bytes.
    copy = ('import os, shutil\nfor name in ("best.pt", "curves.json"):\n    try:\n'
            '        shutil.copy(os.path.join(SUBS, "alice", name), name)\n    except OSError:\n        pass\n'
            'for top, _, files in os.walk(os.getcwd()):\n    for name in files:\n'
            '        if name in ("best.pt", "curves.json"):\n'
            '            open(os.path.join(top, name), "wb").write(b"ruined")')
    shutil.copytree(DEMO / "alice", subs / "copier")
    (subs / "copier" / "mycnn.py").write_text(_mycnn_with_init(copy, subs))
    result = grade(load_spec("mycnn"), subs, out, workers=2, limits=Limits(wall_s=120), progress=False,
                   log=lambda m: None)
    return result, out


def _book(out):
    with open(out / "gradebook.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_honest_students_keep_full_marks_through_the_judge(forgery):
    result, _ = forgery
    for name in ("alice", "bob", '=HYPERLINK("x","y")'):
        report = result.reports[name]
        assert report.passed and report.score == report.max_score == 19, (name, report.fatal, report.checks)
        assert report.judged == "graph"


def test_patching_the_checks_or_torch_raises_no_score(forgery):
    result, _ = forgery
    for name in ("forger", "torch_patcher"):
        report = result.reports[name]
        assert report.judged == "graph", name
        status = {c.name: c.status for c in report.checks}
        assert status["shapes"] == "fail" and status["params"] == "fail", (name, status)
        assert report.score == result.reports["plain_wrong"].score < 5, (name, report.score)
        assert not any(c.message == "forged" for c in report.checks)


def test_a_forced_fallback_is_flagged_for_the_instructor(forgery):
    result, out = forgery
    report = result.reports["fallback_forger"]
    assert report.judged.startswith("in-process: export failed"), report.judged
    row = next(r for r in _book(out) if r["student"] == "fallback_forger")
    assert "graded in-process: export failed" in row["flags"]
    assert report.score > result.reports["plain_wrong"].score  # the weaker path could be forged: hence the flag
    assert not any("graded in-process" in r["flags"] for r in _book(out) if r["student"] in ("alice", "bob"))


def test_subclassing_the_reference_scores_nothing(forgery):
    result, _ = forgery
    assert result.reports["subclass"].score == 0


@pytest.mark.skipif(not full_isolation_available(), reason="the private file system view needs Linux namespaces")
def test_a_sandbox_sees_no_classmate_and_no_output(forgery):
    result, out = forgery
    report = result.reports["snooper"]
    assert report.isolation == [], report.isolation
    assert "REFUSED alice FileNotFoundError" in report.output
    subs = out.parent / "submissions"
    assert f"REFUSED {subs} FileNotFoundError" in report.output, report.output
    assert f"REFUSED {subs}/../out FileNotFoundError" in report.output, report.output
    assert MARKER not in report.output and MARKER not in (out / "feedback" / "snooper.md").read_text()
    listed_tmp = next(line for line in report.output.splitlines() if line.startswith("LISTED /tmp"))
    assert listed_tmp.count("cnn-grader-") == 1  # only its own job folder
    assert report.passed  # snooping changed nothing of its own (honest) grade


def test_the_quiz_reads_the_submitted_bytes_not_the_working_copy(forgery):
    result, _ = forgery
    report = result.reports["copier"]
    status = {c.name: c.status for c in report.checks}
    assert status["checkpoint"] == status["reeval"] == status["curves"] == "pass", status
    alice = {c.name: c.details for c in result.reports["alice"].checks}
    mine = {c.name: c.details for c in report.checks}
    assert mine["checkpoint"]["sha256"] == alice["checkpoint"]["sha256"]  # copier submitted alice's files itself


def test_a_changed_working_copy_is_flagged(forgery):
    result, out = forgery
    assert result.reports["copier"].changed_files == ["best.pt", "curves.json"]
    row = next(r for r in _book(out) if r["student"] == "copier")
    assert "working copy changed during the run: best.pt, curves.json" in row["flags"]
    assert "changed best.pt, curves.json in its working copy" in (out / "feedback" / "copier.md").read_text()
    for honest in ("alice", "bob", "snooper", "forger"):  # they changed nothing they submitted
        assert result.reports[honest].changed_files == [], honest
        assert "working copy" not in next(r for r in _book(out) if r["student"] == honest)["flags"]


@pytest.mark.slow
def test_the_process_level_flags_a_changed_working_copy_too(tmp_path):
    from grader.batch.job import check_in_box

    shutil.copytree(DEMO / "alice", tmp_path / "ruiner")
    ruin = ('import os\nfor top, _, files in os.walk(os.getcwd()):\n    for name in files:\n'
            '        if name in ("best.pt", "curves.json"):\n'
            '            open(os.path.join(top, name), "wb").write(b"ruined")')
    (tmp_path / "ruiner" / "mycnn.py").write_text(_mycnn_with_init(ruin, tmp_path))
    report = check_in_box(load_spec("mycnn"), tmp_path / "ruiner", limits=Limits(wall_s=120, isolation="process"))
    assert report.isolation_level == "process" and report.judged == "graph"
    assert report.changed_files == ["best.pt", "curves.json"]
    assert report.passed  # the quiz read the submitted bytes
    assert (tmp_path / "ruiner" / "best.pt").read_bytes() != b"ruined"  # and the submission itself is untouched


def test_a_formula_name_is_written_as_text(forgery):
    _, out = forgery
    text = (out / "gradebook.csv").read_text()
    assert "'=HYPERLINK(" in text and "\n=HYPERLINK" not in text and ',=HYPERLINK' not in text
    row = next(r for r in _book(out) if r["student"].endswith('HYPERLINK("x","y")'))
    assert row["student"].startswith("'=") and row["score"] == "19"
