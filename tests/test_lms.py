"""The quiz's round trip: responses graded with partial credit, joined to a graded class's gradebook as a column,
and the gradebook exported for Canvas and Moodle, matched through the LMS's own roster (a missing student and an
unknown one)."""
import csv
import json
import shutil

import pytest

from grader.grading import grade
from grader.quizbank import build
from grader.quizbank.bank import load_bank
from grader.spec import assignments_root, load_spec
from tests.conftest import ROOT, run_cli

SIMPLE = (ROOT / "reference" / "simple_cnn.py").read_text()
BROKEN = SIMPLE.replace("nn.Linear(100, 10)", "nn.Linear(100, 12)")
BANK = assignments_root() / "quiz-bank" / "cnn.toml"


def _csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _responses(key: dict, path, answers: dict[str, callable]) -> None:
    """A responses CSV: each student's answer to each question from ``answers[student](question)``."""
    templates = [q["template"] for q in next(iter(key.values()))]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *templates])
        for student, answer in answers.items():
            writer.writerow([student, *[answer(q) for q in key[student]]])


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A graded class (ann passes, ben fails, cy is on the roster without a submission) and a quiz they took."""
    root = tmp_path_factory.mktemp("course")
    subs = root / "subs"
    subs.mkdir()
    (subs / "ann.py").write_text(SIMPLE)
    (subs / "ben.py").write_text(BROKEN)
    roster = root / "roster.csv"
    roster.write_text("id,name,email\nann,Ann Ames,ann@uni.edu\nben,Ben Bo,ben@uni.edu\ncy,Cy Lee,cy@uni.edu\n"
                      "dee,Dee Du,dee@uni.edu\n")
    build(load_bank(BANK), ["ann", "ben", "cy", "dee"], root / "quiz", 3)
    key = json.loads((root / "quiz" / "key.json").read_text())["students"]

    def slip(question):  # off by twice the tolerance: half the points where the template gives partial credit
        return str(question["answer"] + 2 * max(question["tolerance"], 0.001))

    _responses(key, root / "responses.csv", {"ann": lambda q: str(q["answer"]), "ben": slip,
                                             "cy": lambda q: str(q["answer"])})
    return root, key


def test_partial_credit_and_the_quiz_column_whatever_the_order(course, tmp_path):
    root, key = course
    first, second = tmp_path / "graded-first", tmp_path / "quiz-first"
    spec = load_spec("simple-cnn")
    grade(spec, root / "subs", first, roster=root / "roster.csv", workers=2, progress=False, log=lambda m: None)
    done = run_cli("quiz", "grade", root / "responses.csv", "--key", root / "quiz" / "key.json", "--out",
                   tmp_path / "q", "--gradebook", first, "--name", "Quiz 1")
    assert done.returncode == 1 and "column 'quiz: Quiz 1'" in done.stdout, done.stderr

    quiz = {r["student"]: r for r in csv.DictReader(open(tmp_path / "q" / "quiz-grades.csv"))}
    partial = [q["template"] for q in key["ben"] if q["partial"]]
    assert partial == ["softmax", "cross-entropy"]
    assert all(quiz["ben"][t] == "0.5" for t in partial)  # a rounding slip within the partial tolerance
    assert all(quiz["ben"][q["template"]] == "0" for q in key["ben"] if not q["partial"])
    assert quiz["ben"]["score"] == "1" and quiz["ann"]["score"] == quiz["ann"]["max_score"] == "10"
    feedback = (tmp_path / "q" / "quiz-feedback" / "ben.md").read_text()
    assert "## softmax: partly right (0.5 of 1 points)" in feedback and "(full points within 0.001)" in feedback

    book = {r["student"]: r for r in csv.DictReader(open(first / "gradebook.csv"))}
    assert list(book["ann"])[-4:] == ["quiz: Quiz 1", "status", "reason", "flags"]
    assert book["ann"]["quiz: Quiz 1"] == "10" and book["ann"]["status"] == "passed"
    assert book["ben"]["quiz: Quiz 1"] == "1" and book["ben"]["status"] == "failed"
    assert book["cy"]["quiz: Quiz 1"] == "10" and book["cy"]["status"] == "missing"  # took the quiz, no code
    assert book["dee"]["quiz: Quiz 1"] == "0"  # given the quiz, no response

    # The other order: the quiz joined before the class was graded gives the same bytes.
    run_cli("quiz", "grade", root / "responses.csv", "--key", root / "quiz" / "key.json", "--out", tmp_path / "q2",
            "--gradebook", second, "--name", "Quiz 1")
    assert not (second / "gradebook.csv").exists()
    grade(spec, root / "subs", second, roster=root / "roster.csv", workers=2, progress=False, log=lambda m: None)
    assert (second / "gradebook.csv").read_bytes() == (first / "gradebook.csv").read_bytes()

    # Graded again, the quiz replaces its own column; a second quiz adds one.
    shutil.copy(first / "gradebook.csv", tmp_path / "before.csv")
    run_cli("quiz", "grade", root / "responses.csv", "--key", root / "quiz" / "key.json", "--out", tmp_path / "q3",
            "--gradebook", first, "--name", "Quiz 1")
    assert (first / "gradebook.csv").read_bytes() == (tmp_path / "before.csv").read_bytes()
    run_cli("quiz", "grade", root / "responses.csv", "--key", root / "quiz" / "key.json", "--out", tmp_path / "q4",
            "--gradebook", first, "--name", "Quiz 2")
    assert _csv(first / "gradebook.csv")[0][-5:] == ["quiz: Quiz 1", "quiz: Quiz 2", "status", "reason", "flags"]


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    root, _ = course
    out = tmp_path_factory.mktemp("graded")
    grade(load_spec("simple-cnn"), root / "subs", out, roster=root / "roster.csv", workers=2, progress=False,
          log=lambda m: None)
    done = run_cli("quiz", "grade", root / "responses.csv", "--key", root / "quiz" / "key.json", "--out",
                   out / "quiz", "--gradebook", out)
    assert done.returncode == 1, done.stderr
    return out


def test_canvas_export_uses_the_canvas_ids_and_lists_missing_and_unknown(graded, tmp_path):
    spec = load_spec("simple-cnn")
    canvas_roster = tmp_path / "canvas-export.csv"
    with open(canvas_roster, "w", newline="") as handle:  # as Canvas exports it (the title has a comma)
        csv.writer(handle).writerows([
            ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{spec.title} (4412)", "Current Score"],
            ["    Points Possible", "", "", "", "", "10", ""],
            ["Ames, Ann", "101", "S-1", "ann@uni.edu", "Lab A", "", ""],
            ["Bo, Ben", "102", "S-2", "ben", "Lab B", "", ""],
            ["Lee, Cy", "103", "S-3", "cy@uni.edu", "Lab A", "", ""],
            ["Zed, Zoe", "104", "S-4", "zoe@uni.edu", "Lab B", "", ""],
            ["Student, Test", "105", "", "", "", "", ""]])
    done = run_cli("export", graded, "--to", "canvas", "--lms-roster", canvas_roster, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["missing"] == ["Zed, Zoe"] and summary["unknown"] == ["dee"]
    header, points, *rows = _csv(graded / "lms" / "canvas-gradebook.csv")
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"{spec.title} (4412)",
                      "CNN arithmetic"]  # the existing Canvas assignment is updated; the quiz becomes a new one
    top = book_row(graded, "ann")["max_score"]
    assert points == ["    Points Possible", "", "", "", "", top, "10"]
    by_id = {row[1]: row for row in rows}
    assert by_id["101"][:5] == ["Ames, Ann", "101", "S-1", "ann@uni.edu", "Lab A"] and by_id["101"][5:] == [top, "10"]
    assert by_id["102"][5:] == [book_score(graded, "ben"), "1"]
    assert by_id["103"][5:] == ["0", "10"]  # no submission scores 0; the quiz counts
    assert by_id["104"][5:] == ["", ""]  # missing here: Canvas leaves empty cells unchanged
    assert "105" not in by_id  # Canvas's test student

    text = run_cli("export", graded, "--to", "canvas", "--lms-roster", canvas_roster)
    assert "on the LMS roster but not in the gradebook (exported with empty grades): Zed, Zoe" in text.stdout
    assert "in the gradebook but not on the LMS roster (not exported): dee" in text.stdout


def book_row(graded, student):
    return {r["student"]: r for r in csv.DictReader(open(graded / "gradebook.csv"))}[student]


def book_score(graded, student):
    return book_row(graded, student)["score"]


def test_moodle_export_matches_by_email_or_id_number(graded, tmp_path):
    moodle_roster = tmp_path / "participants.csv"
    moodle_roster.write_text("First name,Last name,ID number,Institution,Department,Email address\n"
                             "Ann,Ames,ann,Uni,CS,ann@uni.edu\nBen,Bo,,Uni,CS,ben@uni.edu\n"
                             "Zoe,Zed,zoe,Uni,CS,zoe@uni.edu\n")
    out = tmp_path / "moodle.csv"
    done = run_cli("export", graded, "--to", "moodle", "--lms-roster", moodle_roster, "--file", out, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["missing"] == ["Zoe"] and summary["unknown"] == ["cy", "dee"]
    header, *rows = _csv(out)
    assert header == ["First name", "Last name", "ID number", "Email address", load_spec("simple-cnn").title,
                      "CNN arithmetic"]
    by_email = {row[3]: row for row in rows}
    assert by_email["ann@uni.edu"][4:] == [book_row(graded, "ann")["max_score"], "10"]
    assert by_email["ben@uni.edu"][4:] == [book_score(graded, "ben"), "1"]  # matched by the email's local part
    assert by_email["zoe@uni.edu"][4:] == ["", ""]


def test_export_without_an_lms_roster_and_its_errors(graded, tmp_path):
    done = run_cli("export", graded, "--to", "moodle")
    assert done.returncode == 0 and "no --lms-roster" in done.stdout, done.stderr
    header, *rows = _csv(graded / "lms" / "moodle-grades.csv")
    assert header[0] == "ID number" and sorted(r[0] for r in rows) == ["ann", "ben", "cy", "dee"]
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run_cli("export", empty, "--to", "canvas")
    assert missing.returncode == 2 and "run 'grader grade" in missing.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("who,what\nx,y\n")
    bad = run_cli("export", graded, "--to", "canvas", "--lms-roster", wrong)
    assert bad.returncode == 2 and "not a Canvas roster" in bad.stderr and "SIS Login ID" in bad.stderr
    help_text = run_cli("export", "--help")
    assert help_text.returncode == 0 and "grader export grades/ --to canvas" in help_text.stdout


def test_a_bad_partial_credit_names_the_template(tmp_path):
    from grader.quizbank.bank import BankError

    bank = tmp_path / "bank.toml"
    bank.write_text('[[template]]\nid = "x"\nkind = "conv_params"\ntext = "?"\npartial = [{ tolerance = 1, credit = 2 }]\n'
                    '[template.params]\nin_channels = 1\nout_channels = 2\nkernel = 3\n')
    with pytest.raises(BankError, match=r"template\[0\]: partial\[0\] must be .*credit = <between 0 and 1>"):
        load_bank(bank)
