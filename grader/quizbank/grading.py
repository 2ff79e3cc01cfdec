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

from grader.batch.store import QuizScore, Store
from grader.errors import GraderError
from grader.i18n import _
from grader.outputs.gradebook import add_quizzes, safe_name, spreadsheet_safe
from grader.quizbank.bank import Partial, credit_of


class QuizGradeError(GraderError, ValueError):
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
    tolerance: float = 0.0

    @property
    def correct(self) -> bool:
        return self.points == self.max_points

    @property
    def verdict(self) -> str:
        """right, partly right (with the share of the points) or wrong."""
        if self.correct:
            return _("right")
        if self.points > 0:
            return _("partly right ({points} of {max_points} points)", points=f"{self.points:g}",
                     max_points=f"{self.max_points:g}")
        return _("wrong")


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


def quiz_title(key_path: str | Path) -> str:
    """The bank's title recorded in a key (the quiz's default name in the gradebook)."""
    try:
        return str(json.loads(Path(key_path).read_text(encoding="utf-8"))["bank"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuizGradeError(_not_a_key(key_path, exc)) from None


def _not_a_key(key_path: str | Path, exc: Exception) -> str:
    return _("{path}: not a key written by {command} ({error})", path=key_path, command="'grader quiz build'",
             error=exc)


def grade_responses(key_path: str | Path, responses_path: str | Path) -> tuple[list[StudentResult], list[str]]:
    """(a result per student who responded, the key's students with no response)."""
    try:
        key = json.loads(Path(key_path).read_text(encoding="utf-8"))["students"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuizGradeError(_not_a_key(key_path, exc)) from None
    try:
        with open(responses_path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise QuizGradeError(_("cannot read {path}: {error}", path=responses_path, error=exc.strerror)) from None
    if not rows or "student" not in rows[0]:
        raise QuizGradeError(_("{path}: needs a {column} column and one column per question id", path=responses_path,
                               column="'student'"))
    results = []
    for row in rows:
        student = (row.get("student") or "").strip()
        if student not in key:
            raise QuizGradeError(_("{path}: student {student} is not in the key: build the quiz with the roster they "
                                   "are on", path=responses_path, student=repr(student)))
        result = StudentResult(student)
        for question in key[student]:
            response = (row.get(question["template"]) or "").strip()
            partial = [Partial(*tier) for tier in question.get("partial", [])]
            credit = credit_of(_number(response), question["answer"], question["tolerance"], partial)
            result.questions.append(QuestionResult(question["template"], question["text"], response,
                                                   question["answer"], round(question["points"] * credit, 4),
                                                   question["points"], question["working"], question["tolerance"]))
        results.append(result)
    answered = {r.student for r in results}
    return results, [s for s in key if s not in answered]


def feedback_markdown(result: StudentResult) -> str:
    """The student's feedback: each question, their number, the right one and the working with their numbers."""
    lines = ["# " + _("Quiz: {student}", student=result.student), "",
             "**" + _("Score: {score} / {max_score}", score=f"{result.score:g}", max_score=f"{result.max_score:g}")
             + "**", ""]
    for q in result.questions:
        lines += [f"## {q.template}: {q.verdict}", "", q.text, "", _answer_line(q), "",
                  _("Working: {working}.", working=q.working), ""]
    return "\n".join(lines)


def _answer_line(q: QuestionResult) -> str:
    """The student's number (or that they gave none) and the right one, with the full-credit tolerance."""
    answer, tolerance = f"{q.answer:g}", f"{q.tolerance:g}"
    if q.response and q.tolerance:
        return _("Your answer: {given}. The answer: {answer} (full points within {tolerance}).", given=q.response,
                 answer=answer, tolerance=tolerance)
    if q.response:
        return _("Your answer: {given}. The answer: {answer}.", given=q.response, answer=answer)
    if q.tolerance:
        return _("Your answer: no answer. The answer: {answer} (full points within {tolerance}).", answer=answer,
                 tolerance=tolerance)
    return _("Your answer: no answer. The answer: {answer}.", answer=answer)


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
            writer.writerow([spreadsheet_safe(student), *["" for _t in templates], "0", "", "missing"])
    return out / "quiz-grades.csv"


def join_gradebook(results: list[StudentResult], missing: list[str], grades: str | Path, quiz: str) -> Path:
    """Store the quiz's totals in ``grades``/results.sqlite (the OUT of ``grader grade``) as the gradebook column
    "quiz: <quiz>" (a student given the quiz who did not answer scores 0), and rewrite its gradebook.csv when it
    has one; ``grader grade`` keeps the column whenever it writes the gradebook again."""
    grades = Path(grades)
    grades.mkdir(parents=True, exist_ok=True)
    max_score = results[0].max_score if results else 0.0
    scores = {r.student: QuizScore(r.score, r.max_score, "answered") for r in results}
    scores.update({student: QuizScore(0.0, max_score, "missing") for student in missing})
    store = Store(grades / "results.sqlite")
    try:
        store.put_quiz(quiz, scores)
        quizzes = store.quizzes()
    finally:
        store.close()
    book = grades / "gradebook.csv"
    if book.exists():
        add_quizzes(book, quizzes)
    return book
