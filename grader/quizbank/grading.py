"""Grading quiz responses exported from an LMS or a form against the key ``grader quiz build`` wrote.

A responses CSV has a ``student`` column (the roster id the key was built for) and one column per template id
holding the student's number. A response within the question's tolerance of the answer earns its points. The
feedback names the student's number, the right one and the worked arithmetic with their own parameters.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from grader.outputs.gradebook import safe_name, spreadsheet_safe


class QuizGradeError(ValueError):
    """The key or the responses cannot be used; the message says which file and why."""


@dataclass
class QuestionResult:
    template: str
    text: str
    response: str
    answer: float
    points: float
    max_points: float
    working: str

    @property
    def correct(self) -> bool:
        return self.points == self.max_points


@dataclass
class StudentResult:
    student: str
    questions: list[QuestionResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(q.points for q in self.questions), 3)

    @property
    def max_score(self) -> float:
        return round(sum(q.max_points for q in self.questions), 3)


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ".")) if text and text.strip() else None
    except ValueError:
        return None


def grade_responses(key_path: str | Path, responses_path: str | Path) -> tuple[list[StudentResult], list[str]]:
    """(a result per student who responded, the key's students with no response)."""
    try:
        key = json.loads(Path(key_path).read_text(encoding="utf-8"))["students"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuizGradeError(f"{key_path}: not a key written by 'grader quiz build' ({exc})") from None
    try:
        with open(responses_path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise QuizGradeError(f"cannot read {responses_path}: {exc.strerror}") from None
    if not rows or "student" not in rows[0]:
        raise QuizGradeError(f"{responses_path}: needs a 'student' column and one column per question id")
    results = []
    for row in rows:
        student = (row.get("student") or "").strip()
        if student not in key:
            raise QuizGradeError(f"{responses_path}: student {student!r} is not in the key: build the quiz with the "
                                 "roster they are on")
        result = StudentResult(student)
        for question in key[student]:
            response = (row.get(question["template"]) or "").strip()
            value = _number(response)
            right = value is not None and abs(value - question["answer"]) <= question["tolerance"] + 1e-12
            result.questions.append(QuestionResult(question["template"], question["text"], response,
                                                   question["answer"], question["points"] if right else 0.0,
                                                   question["points"], question["working"]))
        results.append(result)
    answered = {r.student for r in results}
    return results, [s for s in key if s not in answered]


def feedback_markdown(result: StudentResult) -> str:
    """The student's feedback: each question, their number, the right one and the working with their numbers."""
    lines = [f"# Quiz: {result.student}", "", f"**Score: {result.score:g} / {result.max_score:g}**", ""]
    for q in result.questions:
        mark = "right" if q.correct else "wrong"
        given = q.response if q.response else "no answer"
        lines += [f"## {q.template}: {mark}", "", q.text, "",
                  f"Your answer: {given}. The answer: {q.answer:g}.", "", f"Working: {q.working}.", ""]
    return "\n".join(lines)


def write_quiz_grades(results: list[StudentResult], missing: list[str], out: str | Path) -> Path:
    """OUT/quiz-grades.csv (a column per question, the total) and OUT/quiz-feedback/<student>.md."""
    out = Path(out)
    (out / "quiz-feedback").mkdir(parents=True, exist_ok=True)
    templates = [q.template for q in results[0].questions] if results else []
    with open(out / "quiz-grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["student", *templates, "score", "max_score", "status"])
        for r in results:
            writer.writerow([spreadsheet_safe(r.student), *[f"{q.points:g}" for q in r.questions], f"{r.score:g}",
                             f"{r.max_score:g}", "answered"])
            (out / "quiz-feedback" / f"{safe_name(r.student)}.md").write_text(feedback_markdown(r), encoding="utf-8")
        for student in missing:
            writer.writerow([spreadsheet_safe(student), *["" for _ in templates], "0", "", "missing"])
    return out / "quiz-grades.csv"
