"""The Moodle round trip on a class laid out exactly as Moodle's "Download all submissions" writes it (Korean names,
a student with two files, an online-text folder beside a file folder), read back as Moodle's importers read it."""
from __future__ import annotations

import csv
import re
import shutil
import zipfile

import pytest

from grader.grading import grade
from grader.platforms.moodle import MoodleError, moodle_assignment
from grader.sandbox.limits import Limits
from grader.spec import load_spec
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow

SIMPLE = (ROOT / "reference" / "simple_cnn.py").read_text()
HEADER = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
          "Last modified (submission)", "Online text", "Last modified (grade)", "Feedback comments"]
PEOPLE = [("123456", "김민지", "minji@kaist.ac.kr"), ("123457", "John Smith", "john@kaist.ac.kr"),
          ("123458", "박서준", "seojun@kaist.ac.kr"), ("123459", "이하늘", "haneul@kaist.ac.kr")]


def _moodle_import_worksheet(path) -> dict[str, tuple[float | None, str]]:
    """Moodle's offline grading worksheet import: participant id -> (grade, feedback) of each row."""
    found = {}
    with open(path, newline="", encoding="utf-8-sig") as handle:  # Moodle's CSV reader drops a BOM
        for row in csv.DictReader(handle):
            match = re.fullmatch(r"Participant (\d+)", row["Identifier"])
            assert match, row["Identifier"]
            grade = row["Grade"].strip()
            if grade:
                assert float(grade) <= float(row["Maximum Grade"])
            found[match.group(1)] = (float(grade) if grade else None, row["Feedback comments"])
    return found


def _moodle_import_feedback_zip(path) -> dict[str, list[str]]:
    """assignfeedback_file's zip importer: each path part split at its first four underscores; the second piece is
    the participant id, the third and fourth a plugin (assignsubmission_file or assignfeedback_file)."""
    found: dict[str, list[str]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            info = parts[0].split("_", 4)
            assert len(info) >= 4 and info[1].isdigit(), name
            assert (info[2], info[3]) in (("assignsubmission", "file"), ("assignfeedback", "file")), name
            found.setdefault(info[1], []).append("/".join([info[4] if len(info) > 4 else "", *parts[1:]]).strip("/"))
            assert archive.read(name).decode("utf-8")
    return found


@pytest.fixture(scope="module")
def moodle_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("moodle")
    subs = root / "submissions"
    minji = subs / "김민지_123456_assignsubmission_file_"
    minji.mkdir(parents=True)
    (minji / "simple_cnn.py").write_text(SIMPLE)
    john = subs / "John Smith_123457_assignsubmission_file_"  # two files: the model and its training script
    john.mkdir()
    (john / "model.py").write_text(SIMPLE)
    (john / "train.py").write_text("from model import *\n\nif __name__ == '__main__':\n    print('training')\n")
    seojun = subs / "박서준_123458_assignsubmission_file_"
    seojun.mkdir()
    (seojun / "lab.py").write_text(SIMPLE.replace("nn.Conv2d(1, 20, kernel_size=3)", "nn.Conv2d(1, 20, kernel_size=5)"))
    text = subs / "박서준_123458_assignsubmission_onlinetext_"
    text.mkdir()
    (text / "onlinetext.html").write_text("<p>제출합니다</p>")
    out = root / "grades"
    spec = load_spec("simple-cnn")
    grade(spec, subs, out, workers=2, limits=Limits(wall_s=60), progress=False, log=lambda *_: None)
    worksheet = root / "Grades-Week3.csv"
    with open(worksheet, "w", newline="", encoding="utf-8-sig") as handle:  # as Excel re-saves it: with a BOM
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for pid, name, email in PEOPLE:
            writer.writerow([f"Participant {pid}", name, email, "Submitted for grading", "", "100.00", "Yes",
                             "Monday, 30 November 2026, 11:59 PM", "", "-", ""])
    return out, worksheet, spec


def test_round_trip_back_to_moodle(moodle_class, tmp_path):
    out, worksheet, spec = moodle_class
    done = moodle_assignment(out, worksheet, tmp_path / "lms")
    grades = _moodle_import_worksheet(done.worksheet)
    assert grades["123456"][0] == 100.0 and "Score 10 / 10 (passed)" in grades["123456"][1]
    assert grades["123457"][0] == 100.0
    assert 0 < grades["123458"][0] < 100 and "shapes" in grades["123458"][1]
    assert grades["123459"] == (None, "") and done.missing == ["이하늘"]
    assert done.graded == 3 and any("onlinetext" in u for u in done.unknown)
    assert done.worksheet.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM the downloaded copy had
    with open(done.worksheet, encoding="utf-8-sig") as handle:  # every other cell as downloaded
        rows = list(csv.DictReader(handle))
    assert [r["Full name"] for r in rows] == [p[1] for p in PEOPLE] and rows[0]["Last modified (grade)"] == "-"
    files = _moodle_import_feedback_zip(done.feedback_zip)
    assert files == {"123456": ["feedback.md"], "123457": ["feedback.md"], "123458": ["feedback.md"]}
    with zipfile.ZipFile(done.feedback_zip) as archive:
        names = archive.namelist()
        assert "김민지_123456_assignsubmission_file_/feedback.md" in names
        feedback = archive.read("박서준_123458_assignsubmission_file_/feedback.md").decode()
    assert "floor((28 - 5 + 2*0) / 1) + 1 = 24" in feedback
    again = moodle_assignment(out, worksheet, tmp_path / "again")
    assert again.worksheet.read_bytes() == done.worksheet.read_bytes()
    assert again.feedback_zip.read_bytes() == done.feedback_zip.read_bytes()


def test_moodle_cli_and_errors(moodle_class, tmp_path):
    out, worksheet, _ = moodle_class
    done = run_cli("export", out, "--to", "moodle-assignment", "--worksheet", worksheet, "--file", tmp_path / "m")
    assert done.returncode == 0 and "Upload grading worksheet" in done.stdout, done.stderr
    assert (tmp_path / "m" / "moodle-feedback.zip").is_file()
    missing = run_cli("export", out, "--to", "moodle-assignment")
    assert missing.returncode == 2 and "needs --worksheet" in missing.stderr
    other = tmp_path / "other.csv"
    other.write_text("Student,ID\nx,1\n")
    with pytest.raises(MoodleError, match="not a Moodle grading worksheet: it has no Identifier"):
        moodle_assignment(out, other, tmp_path / "x")


def test_moodle_submission_times_apply_the_late_rule_and_reach_the_worksheet(moodle_class, tmp_path):
    out, worksheet, spec = moodle_class
    subs = out.parent / "submissions"
    folder = tmp_path / "course" / "simple-cnn"
    shutil.copytree(spec.path.parent, folder)
    with open(folder / "spec.toml", "a") as handle:
        handle.write('\n[late]\ndue = 2026-11-30T23:00:00\ntimezone = "Asia/Seoul"\npercent_per_day = 10\n')
    late_spec = load_spec(folder / "spec.toml")
    result = grade(late_spec, subs, tmp_path / "grades", workers=2, limits=Limits(wall_s=60), progress=False,
                   log=lambda *_: None, worksheet=worksheet)  # every row: Monday, 30 November 2026, 11:59 PM
    final = result.finals["김민지_123456_assignsubmission_file_"]
    assert final.late is not None and final.late.percent == 10 and final.final == 9
    assert "Moodle's worksheet Grades-Week3.csv (Last modified (submission), read in Asia/Seoul)" in final.late.rule
    done = moodle_assignment(tmp_path / "grades", worksheet, tmp_path / "lms")
    grades = _moodle_import_worksheet(done.worksheet)
    assert grades["123456"][0] == 90.0 and "Late (-1 points)" in grades["123456"][1]
