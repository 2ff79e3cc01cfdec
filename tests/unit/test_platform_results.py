"""The platforms' result documents from reports (schemas in tests/schemas), the late rule, and their spec tables."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from grader.late import LateError, SubmissionTimes, gradescope_times, late_result
from grader.outputs.platform_results import (
    PRAIRIELEARN_MAX_BYTES,
    classroom_results,
    gradescope_results,
    prairielearn_results,
)
from grader.report import CheckResult, Report, fatal_report
from grader.spec import SpecError, load_spec, parse_spec_text
from tests.platform_stands import validate

POLICY = {"percent_per_day": 10.0, "grace_minutes": 15.0, "max_percent": 25.0}
DUE = datetime.fromisoformat("2026-12-01T23:59:00+09:00")


def _times(submitted: str) -> SubmissionTimes:
    return SubmissionTimes(datetime.fromisoformat(submitted), DUE, None, "the test")


def test_late_rule_arithmetic():
    assert late_result(POLICY, _times("2026-12-01T23:00:00+09:00")) is None
    graced = late_result(POLICY, _times("2026-12-02T00:10:00+09:00"))
    assert graced.percent == 0 and "within the 15-minute grace period" in graced.rule
    one = late_result(POLICY, _times("2026-12-02T10:00:00+09:00"))
    assert one.percent == 10 and "x 1 day = 10% off" in one.rule
    capped = late_result(POLICY, _times("2026-12-05T00:00:00+00:00"))  # 3 days 9 h late (a UTC time)
    assert capped.percent == 25 and "capped at 25%" in capped.rule
    assert late_result({}, _times("2026-12-09T00:00:00+09:00")) is None  # no rule in the spec


def test_gradescope_metadata(tmp_path):
    path = tmp_path / "submission_metadata.json"
    path.write_text(json.dumps({"created_at": "2026-12-02T10:00:00.123456-08:00",
                                "assignment": {"due_date": "2026-12-01T23:59:00.000000-08:00", "late_due_date": None}}))
    times = gradescope_times(path)
    assert times.late_due is None and (times.submitted - times.due).total_seconds() == 10 * 3600 + 60 + 0.123456
    path.write_text(json.dumps({"created_at": "2026-12-02 10:00", "assignment": {}}))
    with pytest.raises(LateError, match="no time zone"):
        gradescope_times(path)
    path.write_text("[]")
    with pytest.raises(LateError, match="not Gradescope's submission metadata"):
        gradescope_times(path)


def test_spec_tables_are_checked():
    base = load_spec("mycnn").path.read_text()
    with pytest.raises(SpecError, match="gradescope.visibility.reeval' must be one of"):
        parse_spec_text(base + '\n[gradescope]\nvisibility = { reeval = "later" }\n', "x")
    with pytest.raises(SpecError, match="unknown field 'gradescope.visibility.reevall'"):
        parse_spec_text(base + '\n[gradescope]\nvisibility = { reevall = "hidden" }\n', "x")
    with pytest.raises(SpecError, match="late.percent_per_day' must be a percent"):
        parse_spec_text(base + "\n[late]\npercent_per_day = 150\n", "x")
    spec = parse_spec_text(base + "\n[late]\npercent_per_day = 5\n", "x")
    assert spec.late == {"percent_per_day": 5.0, "grace_minutes": 0.0, "max_percent": 100.0}


def _report() -> Report:
    return Report("mycnn", "s", checks=[
        CheckResult("shapes", "fail", 1.5, 4, "conv2: expected (B, 64, 24, 24), found (B, 64, 22, 22)\n```evil```"),
        CheckResult("epoch", "skip", 0, 2, "no epoch", required=False), CheckResult("class", "pass", 1, 1, "ok")],
        isolation_level="process", output="x" * 50)


def test_documents_follow_their_schemas():
    spec = load_spec("mycnn")
    report = _report()
    late = late_result(POLICY, _times("2026-12-02T10:00:00+09:00"))
    doc = gradescope_results(spec, report, execution_time=12.4, penalty=late)
    validate(doc, "gradescope-results")
    assert doc["score"] == pytest.approx(2.25) and doc["tests"][-1]["score"] == pytest.approx(-0.25)
    assert [t["status"] for t in doc["tests"]] == ["failed", "passed", "passed", "failed"]
    assert "````" in doc["tests"][0]["output"]  # the student's backticks cannot close the fence
    validate(gradescope_results(spec, fatal_report(spec, "s", "killed")), "gradescope-results")
    pl = prairielearn_results(report)
    validate(pl, "prairielearn-results")
    assert pl["score"] == pytest.approx(2.5 / 7)
    gh = classroom_results(report)
    validate(gh, "classroom-result")
    assert gh["status"] == "fail" and [t["status"] for t in gh["tests"]] == ["fail", "pass", "pass"]


def test_prairielearn_document_stays_under_its_limit():
    report = Report("mycnn", "s", checks=[CheckResult(f"c{i}", "fail", 0, 1, "y" * 300_000) for i in range(8)],
                    output="z" * 4000)
    image = [{"label": "big", "url": "data:image/png;base64," + "A" * 990_000}]
    doc = prairielearn_results(report, image)
    validate(doc, "prairielearn-results")
    assert len(json.dumps(doc).encode()) <= PRAIRIELEARN_MAX_BYTES and doc["images"] == []
    small = [{"label": "curves", "url": "data:image/png;base64," + "A" * 900_000}]
    kept = prairielearn_results(report, small)  # shorter messages make room for the picture
    assert kept["images"] == small and len(kept["tests"][0]["output"]) == 2000
