"""Real-shaped student work (tests/corpus/real, cases.toml): the right class graded, the verdict, and messages that
hold the student's own words and none of the grader's internals. Each case runs sandboxed, as `grader check` does."""
import re
import tomllib

import pytest

from grader.batch.job import check_in_box
from grader.report import details_of
from grader.spec import load_spec
from tests.conftest import CORPUS

REAL = CORPUS / "real"
CASES = tomllib.loads((REAL / "cases.toml").read_text())["case"]
# Never in a student's report: Python's marker lines, torch.export's size symbols, the grader's or torch's paths.
NEVER = [re.compile(r"^\s*[\^~]{3,}\s*$", re.M), re.compile(r"\*s\d+\b|\bs\d{2,}\b"),
         re.compile(r"grader/(inspection|judge|batch)/"), re.compile(r"site-packages/torch")]


def report_text(report) -> str:
    return "\n".join([*(c.message for c in report.checks), *report.notes, report.fatal or "", report.judged or ""])


def case_id(case) -> str:
    return f"{case['file']}-{case['assignment']}"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_real_shaped_work_is_graded_right(case):
    report = check_in_box(load_spec(case["assignment"]), REAL / case["file"])
    text = report_text(report)
    chosen = details_of(report, "class")
    assert chosen is not None and chosen.graded == case["graded"], text
    if "verdict" in case:
        assert report.passed is (case["verdict"] == "pass"), text
    statuses = {c.name: c.status for c in report.checks}
    for name, status in case.get("statuses", {}).items():
        assert statuses[name] == status, f"{name}: {statuses[name]}\n{text}"
    for needle in case.get("contains", []):
        assert needle in text, f"{needle!r} not in:\n{text}"
    for needle in case.get("absent", []):
        assert needle not in text, f"{needle!r} in:\n{text}"
    for pattern in NEVER:
        assert not pattern.search(text), f"{pattern.pattern!r} in:\n{text}"


@pytest.mark.slow
def test_the_same_notebook_gets_the_same_grade_twice():
    spec = load_spec("vgg-like")
    first, second = (check_in_box(spec, REAL / "course_lab_vgg_no_last_pool.ipynb") for _ in range(2))
    assert [(c.name, c.status, c.score, c.message) for c in first.checks] == \
        [(c.name, c.status, c.score, c.message) for c in second.checks]
