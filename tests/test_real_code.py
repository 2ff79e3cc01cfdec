"""Real-shaped student work (tests/corpus/real, cases.toml): the right class graded, the verdict, and messages that
hold the student's own words and none of the grader's internals. Each case runs sandboxed, as `grader check` does."""
import re
import tomllib

import pytest

from grader.batch.job import check_in_box
from grader.i18n import use_language
from grader.report import details_of
from grader.spec import load_spec
from tests.conftest import CORPUS
from tests.lang_text import HANGUL, english_left, own_words

REAL = CORPUS / "real"
CASES = tomllib.loads((REAL / "cases.toml").read_text())["case"]
# Never in a student's report: Python's marker lines, torch.export's size symbols, the grader's or torch's paths.
NEVER = [re.compile(r"^\s*[\^~]{3,}\s*$", re.M), re.compile(r"\*s\d+\b|\bs\d{2,}\b"),
         re.compile(r"grader/(inspection|judge|batch)/"), re.compile(r"site-packages/torch")]


def report_text(report) -> str:
    return "\n".join([*(c.message for c in report.checks), *report.notes, report.fatal or "", report.judged or ""])


def case_id(case) -> str:
    return f"{case['file']}-{case['assignment']}"


ENGLISH: dict[str, object] = {}  # each case's English report, for the Korean run to be compared with


def english_report(case):
    if case_id(case) not in ENGLISH:
        ENGLISH[case_id(case)] = check_in_box(load_spec(case["assignment"]), REAL / case["file"])
    return ENGLISH[case_id(case)]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_real_shaped_work_is_graded_right(case):
    report = english_report(case)
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


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_real_shaped_work_gets_the_same_grade_in_korean_with_every_sentence_translated(case):
    english = english_report(case)
    with use_language("ko"):
        korean = check_in_box(load_spec(case["assignment"]), REAL / case["file"])
    assert korean.lang == "ko" and english.lang == "en"
    assert [(c.name, c.status, c.score, c.max_score) for c in korean.checks] == \
        [(c.name, c.status, c.score, c.max_score) for c in english.checks]
    assert [(c.name, [(k.code, k.where) for k in c.causes]) for c in korean.checks] == \
        [(c.name, [(k.code, k.where) for k in c.causes]) for c in english.checks]
    assert details_of(korean, "class").graded == details_of(english, "class").graded
    text = report_text(korean)
    own = own_words(REAL / case["file"])
    for message in filter(None, [*(c.message for c in korean.checks), *korean.notes, korean.fatal]):
        assert HANGUL.search(message) or not english_left(message, own), message
    assert english_left(text, own) == [], text
    for pattern in NEVER:
        assert not pattern.search(text), f"{pattern.pattern!r} in:\n{text}"
