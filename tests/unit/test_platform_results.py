"""The platforms' result documents from reports (schemas in tests/schemas), the late rule, and their spec tables."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from grader.late import LateError, LatePolicy, SubmissionTimes, gradescope_times, late_result
from grader.outputs.platform_results import (
    PRAIRIELEARN_MAX_BYTES,
    classroom_results,
    gradescope_results,
    prairielearn_results,
)
from grader.report import CheckResult, Report, fatal_report
from grader.spec import SpecError, load_spec, parse_spec_text
from tests.platform_stands import validate

POLICY = LatePolicy(percent_per_day=10.0, grace_minutes=15.0, max_percent=25.0)
DUE = datetime.fromisoformat("2026-12-01T23:59:00+09:00")


def _times(submitted: str) -> SubmissionTimes:
    return SubmissionTimes(datetime.fromisoformat(submitted), DUE, None, "the test")


def test_late_rule_arithmetic():
    on_time = late_result(POLICY, _times("2026-12-01T23:00:00+09:00"))
    assert on_time.percent == 0 and on_time.rule.startswith("on time: submitted 2026-12-01T23:00+09:00")
    graced = late_result(POLICY, _times("2026-12-02T00:10:00+09:00"))
    assert graced.percent == 0 and "within the 15-minute grace period" in graced.rule
    one = late_result(POLICY, _times("2026-12-02T10:00:00+09:00"))
    assert one.percent == 10 and "x 1 day = 10% off" in one.rule
    capped = late_result(POLICY, _times("2026-12-05T00:00:00+00:00"))  # 3 days 9 h late (a UTC time)
    assert capped.percent == 25 and "capped at 25%" in capped.rule
    assert late_result(None, _times("2026-12-09T00:00:00+09:00")) is None  # no rule in the spec


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
    with pytest.raises(SpecError, match="late.percent_per_day must be a percent"):
        parse_spec_text(base + "\n[late]\npercent_per_day = 150\n", "x")
    spec = parse_spec_text(base + "\n[late]\npercent_per_day = 5\n", "x")
    assert spec.late == {"percent_per_day": 5.0}


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


def test_grace_excuses_the_first_minutes_only():
    assert late_result(POLICY, _times("2026-12-03T00:09:00+09:00")).percent == 20  # 1 day 10 min: 2 started days


def test_an_extension_moves_the_due_date(tmp_path):
    path = tmp_path / "submission_metadata.json"
    path.write_text(json.dumps({"created_at": "2026-12-04T10:00:00+09:00",
                                "assignment": {"due_date": "2026-12-01T23:59:00+09:00", "late_due_date": None},
                                "users": [{"name": "A", "assignment": {"due_date": "2026-12-05T23:59:00+09:00",
                                                                       "late_due_date": None}}]}))
    times = gradescope_times(path)
    assert times.due == datetime.fromisoformat("2026-12-05T23:59:00+09:00") and "extension" in times.source
    assert late_result(POLICY, times).percent == 0


def _passing(spec) -> Report:
    checks = [CheckResult(n, "pass", spec.points[n], spec.points[n], "ok") for n in spec.model_checks()]
    checks += [CheckResult(n, "pass", spec.quiz["points"][n], spec.quiz["points"][n], "ok") for n in
               ("curves", "checkpoint", "optimizer", "epoch")]
    checks.append(CheckResult("reeval", "pass", 3, 3, "ok", details={"epoch": 2, "loss": 0.3, "accuracy": 91.234,
                                                                      "preprocessing": "none"}))
    return Report("mycnn", "s", checks=checks)


def test_leaderboard_and_the_score_line():
    spec = load_spec("mycnn")
    doc = gradescope_results(spec, _passing(spec))
    assert doc["leaderboard"] == [{"name": "validation accuracy", "value": 91.23, "order": "desc"}]
    assert "**Score: 19 / 19 (passed)**" in doc["output"]
    hidden = parse_spec_text(spec.path.read_text() + '\n[gradescope]\nvisibility = { reeval = "hidden" }\n', "x")
    doc = gradescope_results(hidden, _passing(spec))
    assert "leaderboard" not in doc and "Score:" not in doc["output"]
    assert next(t for t in doc["tests"] if t["name"] == "reeval")["visibility"] == "hidden"


def test_an_in_process_report_posts_no_points():
    spec = load_spec("mycnn")
    report = _passing(spec)
    report.judged = "in-process: the model could not be exported"
    doc = gradescope_results(spec, report)
    validate(doc, "gradescope-results")
    assert doc["score"] == 0 and all(t["score"] == 0 for t in doc["tests"]) and "leaderboard" not in doc
    assert "no points are posted" in doc["output"] and doc["extra_data"]["judged"].startswith("in-process")
    assert prairielearn_results(report)["score"] == 0
    gh = classroom_results(report)
    validate(gh, "classroom-result")
    assert gh["status"] == "error" and sum(t["score"] for t in gh["tests"]) == 0


def test_a_boxs_report_must_fit_the_spec():
    from grader.batch.job import _readable

    spec = load_spec("mycnn")
    honest = _passing(spec).to_dict()
    assert _readable(spec, "s", honest) is not None
    invented = json.loads(json.dumps(honest))
    invented["checks"].append({"name": "bonus", "status": "pass", "score": 1000, "max_score": 0, "message": ""})
    over = json.loads(json.dumps(honest))
    over["checks"][0]["score"] = 50
    raised = json.loads(json.dumps(honest))
    raised["checks"][1]["max_score"] = raised["checks"][1]["score"] = 400
    twice = json.loads(json.dumps(honest))
    twice["checks"].append(twice["checks"][0])
    assert [_readable(spec, "s", doc) for doc in (invented, over, raised, twice)] == [None] * 4


def test_moodle_grades_on_the_worksheets_scale():
    from grader.platforms.moodle import _grade

    assert _grade(9.5, 19, "100.00") == "50.00" and _grade(9.5, 19, "100,00") == "50,00"
    assert _grade(19, 19, "1,000.00") == "1000.00" and _grade(3, 4, "-") == "3.00"


def test_platform_runner_refuses_to_run_code_as_root(monkeypatch, tmp_path):
    from grader.config import Config
    from grader.platforms import run
    from grader.sandbox import process

    monkeypatch.setattr(process, "root_kept", lambda: "uid 65534 cannot read this Python (/root)")
    (tmp_path / "model.py").write_text("raise SystemExit('this must never run')\n")
    config = Config(assignments=None, cache_dir=tmp_path, data_dir=None, cifar_dir=None, isolation="process", cores=1)
    report, _ = run.grade_submission(load_spec("mycnn"), tmp_path, config)
    assert report.fatal.startswith("not graded: your code would run with the grader's own rights here (uid 65534")


def test_bundles_refuse_what_a_platform_cannot_run(tmp_path):
    from grader.platforms.bundles import BundleError, bundle

    with pytest.raises(BundleError, match="cifar10, which the platform's job cannot download"):
        bundle("gradescope", load_spec("cifar-vgg11"), tmp_path / "w.whl", tmp_path / "out")
