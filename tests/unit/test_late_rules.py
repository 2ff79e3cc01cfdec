"""Unit layer: the deadline rules (spec and course file), the submission-time sources, overrides and the store."""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from grader.adjust import WHOLE_SCORE, Override, final_grade
from grader.batch.cache import submission_key
from grader.batch.entries import BatchError, Entry
from grader.batch.store import Store
from grader.batch.times import find_times, read_moodle_times, read_submitted_at, times_from_dict, times_to_dict
from grader.late import Extension, LateError, LatePolicy, SubmissionTimes, late_policy, late_result
from grader.report import CheckResult, Report
from grader.spec import SpecError, parse_spec_text

SEOUL = "+09:00"
SPEC = (Path(__file__).resolve().parents[2] / "assignments" / "simple-cnn" / "spec.toml").read_text()


def _course(tmp_path: Path, course: str, spec_late: str = "") -> Path:
    """A course folder with course.toml and one assignment; the spec.toml's path."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "course.toml").write_text(course)
    folder = tmp_path / "simple-cnn"
    folder.mkdir()
    (folder / "spec.toml").write_text(SPEC + spec_late)
    return folder / "spec.toml"


def _at(text: str) -> SubmissionTimes:
    return SubmissionTimes(datetime.fromisoformat(text), None, None, "times.csv")


COURSE = """
timezone = "Asia/Seoul"
[late]
percent_per_day = 10
grace_minutes = 15
max_percent = 40
[assignments.simple-cnn]
due = 2026-10-07T23:59:00
last_accepted = 2026-10-12
[assignments.simple-cnn.extensions]
cat = 2026-10-09T23:59:00
dan = { due = 2026-10-20T12:00:00, last_accepted = 2026-10-21T12:00:00 }
"""


def test_the_course_file_and_the_spec_make_one_policy(tmp_path):
    spec_path = _course(tmp_path, COURSE, "\n[late]\nmax_percent = 30\n")
    policy = late_policy("simple-cnn", spec_path, {"max_percent": 30.0})
    assert policy.due == datetime.fromisoformat("2026-10-07T23:59:00" + SEOUL)
    assert policy.last_accepted == datetime.fromisoformat("2026-10-12T23:59:59" + SEOUL)  # a date alone: 23:59:59
    assert (policy.percent_per_day, policy.grace_minutes, policy.max_percent) == (10, 15, 30)  # the spec wins
    assert policy.extensions["dan"].last_accepted == datetime.fromisoformat("2026-10-21T12:00:00" + SEOUL)
    assert "course.toml [late]" in policy.source and "spec.toml [late]" in policy.source
    assert late_policy("other", spec_path, {}) is not None  # the course's [late] alone is a rule without a due date
    assert late_result(late_policy("other", spec_path, {}), _at("2026-10-09T10:00:00+09:00")) is None


def test_days_hours_grace_cap_last_accepted_and_extensions(tmp_path):
    policy = late_policy("simple-cnn", _course(tmp_path, COURSE), None)
    on_time = late_result(policy, _at("2026-10-07T23:00:00+09:00"), "ann")
    assert on_time.percent == 0 and on_time.rule.startswith("on time")
    assert late_result(policy, _at("2026-10-08T00:10:00+09:00"), "ann").percent == 0  # grace
    two_days = late_result(policy, _at("2026-10-09T10:00:00+09:00"), "ben")
    assert two_days.percent == 20 and "10% per started day x 2 days = 20% off" in two_days.rule
    assert late_result(policy, _at("2026-10-09T10:00:00+09:00"), "cat").percent == 0  # cat's extension
    capped = late_result(policy, _at("2026-10-12T23:00:00+09:00"), "ben")
    assert capped.percent == 40 and "x 5 days, capped at 40% = 40% off" in capped.rule
    refused = late_result(policy, _at("2026-10-13T00:00:00+09:00"), "ben")
    assert refused.percent == 100 and not refused.accepted and "not accepted" in refused.rule
    assert late_result(policy, _at("2026-10-13T00:00:00+09:00"), "dan").percent == 0  # dan's own dates
    hourly = LatePolicy(due=policy.due, percent_per_hour=2, max_percent=100)
    assert late_result(hourly, _at("2026-10-08T02:30:00+09:00")).percent == 6  # 2 h 31 min: 3 started hours
    utc = late_result(policy, _at("2026-10-07T15:30:00+00:00"), "ann")  # 00:30 in Seoul: late by 31 minutes
    assert utc.percent == 10


def test_unknown_times_take_nothing_but_a_late_mark_takes_one_period():
    policy = LatePolicy(due=datetime.fromisoformat("2026-10-07T23:59:00+09:00"), percent_per_day=10)
    unknown = late_result(policy, None, "ann")
    assert unknown.percent == 0 and unknown.minutes_late is None and "no submission time known" in unknown.rule
    marked = late_result(policy, SubmissionTimes(None, None, None, "Canvas's file name (LATE)", marked_late=True))
    assert marked.percent == 10 and "gives no time" in marked.rule
    mtime = late_result(policy, SubmissionTimes(datetime.fromisoformat("2026-10-09T00:00:00+09:00"), None, None,
                                                "the files' modification time", fallback=True))
    assert mtime.percent == 20 and "a fallback, not the time it was submitted" in mtime.rule


@pytest.mark.parametrize("late, message", [
    ("percent_per_day = 150", "must be a percent"),
    ("percent_per_day = 5\npercent_per_hour = 1", "not both"),
    ('due = "next friday"', "is not a date and time"),
    ('timezone = "Mars/Olympus"', "is not a time zone name"),
    ("dew = 2026-10-07T23:59:00", "unknown key 'dew'"),
    ("extensions = { ann = 5 }", "is not a date and time"),
])
def test_bad_late_tables_are_refused_with_the_key(late, message):
    with pytest.raises(SpecError, match=message):
        parse_spec_text(SPEC + f"\n[late]\n{late}\n", "simple-cnn")


def test_a_due_date_without_a_zone_needs_one(tmp_path):
    spec_path = _course(tmp_path, "[assignments.simple-cnn]\ndue = 2026-10-07T23:59:00\n")
    with pytest.raises(LateError, match="has no time zone"):
        late_policy("simple-cnn", spec_path, None)
    with pytest.raises(LateError, match="before the due date"):
        late_policy("simple-cnn", _course(tmp_path / "b", 'timezone = "UTC"\n[assignments.simple-cnn]\n'
                                          "due = 2026-10-07T23:59:00\nlast_accepted = 2026-10-01\n"), None)


def test_moving_the_late_table_keeps_the_grading_key(tmp_path):
    spec_path = _course(tmp_path, "")
    submission = tmp_path / "ann.py"
    submission.write_text("x = 1\n")
    before = submission_key(spec_path, submission, "ann")
    spec_path.write_text(SPEC + '\n[late]\ndue = 2026-10-07T23:59:00+09:00\npercent_per_day = 10\n')
    assert submission_key(spec_path, submission, "ann") == before
    spec_path.write_text("timeout = 61\n" + SPEC)
    assert submission_key(spec_path, submission, "ann") != before  # a table that decides a check re-keys


def test_time_sources_csv_moodle_canvas_and_mtime(tmp_path):
    zone = late_policy("simple-cnn", _course(tmp_path, COURSE), None).zone
    csv_path = tmp_path / "times.csv"
    csv_path.write_text("Student,Submitted_At\nAnn,2026-10-07T23:00:00\nzed,2026-10-01T00:00:00+00:00\n")
    table = read_submitted_at(csv_path, zone)
    assert table["ann"].submitted == datetime.fromisoformat("2026-10-07T23:00:00+09:00")
    sheet = tmp_path / "worksheet.csv"
    sheet.write_text("\ufeffIdentifier,Full name,Status,Grade,Last modified (submission),Feedback comments\n"
                     "Participant 123456,김민지,Submitted,,\"Thursday, 8 October 2026, 1:05 AM\",\n"
                     "Participant 123457,John Smith,No submission,,-,\n", encoding="utf-8")
    moodle = read_moodle_times(sheet, zone)
    assert moodle["123456"].submitted == datetime.fromisoformat("2026-10-08T01:05:00+09:00")
    assert "123457" not in moodle and "read in Asia/Seoul" in moodle["123456"].source
    subs = tmp_path / "subs"
    subs.mkdir()
    files = {"ann.py": "ann", "김민지_123456_assignsubmission_file_": "123456",
             "smithjohn_LATE_4242_9999_model.py": "4242", "old.py": "old"}
    entries = []
    for name, student in files.items():
        path = subs / name
        path.mkdir() if "." not in name else path.write_text("x = 1\n")
        entries.append(Entry(student, path))
    os.utime(subs / "old.py", (1_790_000_000, 1_790_000_000))
    found = find_times(entries, submitted_at=csv_path, worksheet=sheet, zone=zone)
    assert set(found.times) == {"ann", "123456", "4242"} and found.unmatched == ["zed"]
    assert found.times["4242"].marked_late and found.times["4242"].submitted is None
    with_mtime = find_times(entries, from_mtime=True, zone=zone)
    assert with_mtime.times["old"].fallback and with_mtime.times["old"].submitted.timestamp() == 1_790_000_000
    assert times_from_dict(times_to_dict(found.times["123456"])) == found.times["123456"]


def test_bad_time_files_name_the_line(tmp_path):
    bad = tmp_path / "times.csv"
    bad.write_text("student,submitted_at\nann,yesterday\n")
    with pytest.raises(BatchError, match="line 2"):
        read_submitted_at(bad, None)
    bad.write_text("name,when\nann,2026-10-07\n")
    with pytest.raises(BatchError, match="needs an id column"):
        read_submitted_at(bad, None)
    sheet = tmp_path / "w.csv"
    sheet.write_text("Identifier,Last modified (submission)\nParticipant 1,mardi 8 octobre 2026\n")
    with pytest.raises(BatchError, match="without a time zone"):
        read_moodle_times(sheet, None)
    with pytest.raises(BatchError, match="English format"):
        read_moodle_times(sheet, ZoneInfo("Asia/Seoul"))


def _report(*scores: tuple[str, float, float]) -> Report:
    return Report("simple-cnn", "ann", [CheckResult(n, "pass" if s == m else "fail", s, m, "") for n, s, m in scores])


def test_overrides_then_the_late_rule():
    report = _report(("class", 1, 1), ("shapes", 2, 4), ("params", 1, 2))
    late = late_result(LatePolicy(due=datetime.fromisoformat("2026-10-07T23:59:00+09:00"), percent_per_day=10),
                       _at("2026-10-08T10:00:00+09:00"))
    shapes = Override("ann", "shapes", 4, "typo in the table", "kim", 1_790_000_000)
    final = final_grade(report, [shapes], late)
    assert (final.raw, final.adjusted, final.penalty, final.final) == (4, 6, 0.6, 5.4)
    assert final.checks["shapes"] == 4 and final.applied[0].before == 2
    whole = Override("ann", WHOLE_SCORE, 3, "graded by hand", "kim", 1_790_000_100)
    assert final_grade(report, [shapes, whole], None).final == 3
    removed = Override("ann", "shapes", 4, "x", "kim", 1, removed_at=2.0)
    assert final_grade(report, [removed], None).final == 4  # a removed override applies no more
    assert final_grade(None, [whole], None, 7).final == 3  # a missing student graded by hand


def test_store_keeps_history_and_every_override(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.put("ann", "k1", "ann.py", _report(("class", 1, 1)), files="f1")
    store.put("ann", "k2", "ann.py", _report(("class", 0, 1)), files="f1")
    store.put("ann", "k3", "ann.py", _report(("class", 1, 1)), files="f2")
    store.put("ann", "k3", "ann.py", _report(("class", 1, 1)), files="f2")
    assert [g.cause for g in store.history("ann")] == ["spec, grader, limits or language changed", "resubmitted", "forced regrade"]
    first = store.add_override(Override("ann", "class", 1, "one", "kim", 10.0))
    second = store.add_override(Override("ann", "class", 0.5, "two", "lee", 20.0))
    assert second.id > first.id and [o.reason for o in store.overrides("ann", active_only=True)] == ["two"]
    replaced = store.overrides("ann")[0]
    assert replaced.removed_by == "lee" and replaced.removed_reason == "replaced by a newer override"
    assert store.remove_override("ann", "class", "kim", "settled", 30.0)[0].reason == "two"
    assert store.overrides("ann", active_only=True) == [] and len(store.overrides("ann")) == 2
    store.close()
    legacy = tmp_path / "old.sqlite"
    import sqlite3

    db = sqlite3.connect(legacy)
    db.execute("CREATE TABLE results (student TEXT PRIMARY KEY, key TEXT NOT NULL, entry TEXT NOT NULL, "
               "report TEXT NOT NULL, graded_at REAL NOT NULL)")
    db.commit()
    db.close()
    Store(legacy).put("ann", "k", "ann.py", _report(("class", 1, 1)), files="f")  # an older results.sqlite works


def test_extensions_ignore_case_move_the_window_and_waive_a_canvas_mark(tmp_path):
    policy = late_policy("simple-cnn", _course(tmp_path, COURSE.replace("cat =", "Cat =")), None)
    assert late_result(policy, _at("2026-10-09T10:00:00+09:00"), "cat").percent == 0  # "Cat" is cat
    # cat's extension moves the window (last_accepted 5 days after due): 10 h past it is late, not refused
    moved = late_result(policy, _at("2026-10-14T10:00:00+09:00"), "cat")
    assert moved.accepted and moved.percent == 40
    mark = SubmissionTimes(None, None, None, "Canvas's file name (LATE)", marked_late=True)
    assert late_result(policy, mark, "cat").percent == 0 and late_result(policy, mark, "ben").percent == 10
    early = COURSE.replace("cat = 2026-10-09T23:59:00", "cat = 2026-10-01T23:59:00")  # or a deadline moved past it
    earlier = late_policy("simple-cnn", _course(tmp_path / "early", early), None)
    assert late_result(earlier, _at("2026-10-07T23:00:00+09:00"), "cat").percent == 0  # never less time


def test_a_spec_switches_units_and_a_misnamed_course_table_is_refused(tmp_path):
    spec_path = _course(tmp_path, COURSE)
    hourly = late_policy("simple-cnn", spec_path, {"percent_per_hour": 2.0})
    assert (hourly.percent_per_day, hourly.percent_per_hour) == (0.0, 2.0)
    typo = COURSE.replace("[assignments.simple-cnn]", "[assignments.simple_cnn]").replace(
        "[assignments.simple-cnn.extensions]", "[assignments.simple_cnn.extensions]")
    with pytest.raises(LateError, match=r"no \[assignments.simple-cnn\] table, but \[assignments.simple_cnn\]"):
        late_policy("simple-cnn", _course(tmp_path / "typo", typo), None)


def test_lateness_is_counted_in_utc_across_a_daylight_saving_change():
    from zoneinfo import ZoneInfo

    york = ZoneInfo("America/New_York")
    policy = LatePolicy(due=datetime(2026, 10, 31, 23, 59, tzinfo=york), percent_per_hour=1, max_percent=100)
    late = late_result(policy, SubmissionTimes(datetime(2026, 11, 1, 23, 30, tzinfo=york), None, None, "x"))
    assert late.minutes_late == 24 * 60 + 31 and late.percent == 25  # the night had 25 hours


def test_gradescope_metadata_names_the_submitters_for_extensions(tmp_path):
    from grader.late import gradescope_times

    path = tmp_path / "submission_metadata.json"
    path.write_text('{"created_at": "2026-10-09T10:00:00+09:00", "assignment": {"due_date": '
                    '"2026-10-07T23:59:00+09:00"}, "users": [{"sid": "Cat", "email": "cat@uni.edu"}]}')
    times = gradescope_times(path)
    assert times.who == ("Cat", "cat@uni.edu")
    policy = LatePolicy(percent_per_day=10, extensions={"cat": Extension(datetime.fromisoformat("2026-10-09T23:59:00+09:00"))})
    student = next(who for who in times.who if policy.extension_for(who))
    assert late_result(policy, times, student).percent == 0 and late_result(policy, times, "").percent == 20


def test_a_weaker_source_never_replaces_a_stronger_time_of_the_same_files():
    from grader.batch.times import RANKS, TimesFound, merge_times

    stored = {"ann": times_to_dict(_at("2026-10-07T23:00:00+09:00"), RANKS["csv"], "f1")}
    mtime = TimesFound({"ann": SubmissionTimes(datetime.fromisoformat("2026-11-01T00:00:00+00:00"), None, None,
                                               "mtime", fallback=True)}, ranks={"ann": RANKS["mtime"]})
    assert merge_times(stored, mtime, {"ann": "f1"}) == {}  # the CSV's time stays
    assert merge_times(stored, mtime, {"ann": "f2"})["ann"]["fallback"]  # other files: the old time is not theirs


def test_a_missing_student_graded_by_hand_gets_a_feedback_file(tmp_path):
    from grader.outputs import write_outputs
    from grader.spec import load_spec

    whole = Override("zoe", WHOLE_SCORE, 7, "paper submission, graded by hand", "kim", 1_790_000_000)
    final = final_grade(None, [whole], None, 10)
    write_outputs(load_spec("simple-cnn"), tmp_path, [], {}, [("zoe", "Zoe Z"), ("yan", "Yan Y")], {},
                  finals={"zoe": final, "yan": final_grade(None, [], None, 10)})
    text = (tmp_path / "feedback" / "zoe.md").read_text()
    assert "**Score: 7 / 10** (no submission was graded)" in text and "paper submission, graded by hand" in text
    assert not (tmp_path / "feedback" / "yan.md").exists()
    book = (tmp_path / "gradebook.csv").read_text()
    assert "zoe,Zoe Z,7,10,0,\"the score 0 -> 7 by kim on 2026-09-21: paper submission, graded by hand\"" in book


def test_a_times_csv_may_name_students_by_their_roster_email_and_repeat_them(tmp_path):
    csv_path = tmp_path / "attempts.csv"
    csv_path.write_text("email,submitted_at\nann@uni.edu,2026-10-07T22:00:00+09:00\nann@uni.edu,2026-10-08T09:00:00+09:00\n")
    entry = Entry("20230001", tmp_path / "20230001.py", "Ann", email="ann@uni.edu")
    found = find_times([entry], submitted_at=csv_path)
    times = found.times["20230001"]
    assert times.submitted == datetime.fromisoformat("2026-10-08T09:00:00+09:00")  # the latest attempt counts
    assert "the latest of its 2 rows" in times.source and found.unmatched == []


def test_the_gradescope_zip_carries_the_course_file_beside_the_spec(tmp_path):
    from grader.platforms.bundles import _spec_files
    from grader.spec import load_spec

    spec_path = _course(tmp_path, COURSE)
    files = _spec_files(load_spec(spec_path))
    assert files["assignments/course.toml"] == COURSE.encode() and "assignments/simple-cnn/spec.toml" in files
    unpacked = tmp_path / "job" / "assignments"  # as the job unpacks it: the rules are found beside the spec
    for name, data in files.items():
        (tmp_path / "job" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "job" / name).write_bytes(data)
    policy = late_policy("simple-cnn", unpacked / "simple-cnn" / "spec.toml", None)
    assert policy is not None and policy.due == datetime.fromisoformat("2026-10-07T23:59:00+09:00")


def test_instructor_csvs_read_their_header_names_stripped(tmp_path):
    spaced = tmp_path / "times.csv"
    spaced.write_text("student , submitted_at \nann,2026-10-07T23:00:00+09:00\n")  # as a spreadsheet may save it
    assert read_submitted_at(spaced, None)["ann"].submitted == datetime.fromisoformat("2026-10-07T23:00:00+09:00")
    from grader.instructor import read_override_csv

    overrides = tmp_path / "overrides.csv"
    overrides.write_text("Student, Points ,Reason\nann,3,hand check\n")
    assert read_override_csv(overrides)[0].points == 3
