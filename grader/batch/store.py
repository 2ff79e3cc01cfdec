"""OUT/results.sqlite: the batch's results, one row per student, and the quiz scores that join the gradebook.

WAL mode and one transaction per result, so a run killed at any moment keeps every result it finished.
"""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from grader.report import Report


@dataclass(frozen=True)
class QuizScore:
    """A student's total on one quiz (``grader quiz grade``); ``status`` is answered or missing."""

    score: float
    max_score: float
    status: str


class Store:
    """Results in ``OUT/results.sqlite``: reports by student, quiz scores by quiz and student, and a little meta
    (the assignment's name and title, for the LMS exports)."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS results (student TEXT PRIMARY KEY, key TEXT NOT NULL, "
                        "entry TEXT NOT NULL, report TEXT NOT NULL, graded_at REAL NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS quiz_scores (quiz TEXT NOT NULL, student TEXT NOT NULL, "
                        "score REAL NOT NULL, max_score REAL NOT NULL, status TEXT NOT NULL, "
                        "PRIMARY KEY (quiz, student))")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.commit()

    def key_of(self, student: str) -> str | None:
        row = self.db.execute("SELECT key FROM results WHERE student = ?", (student,)).fetchone()
        return row[0] if row else None

    def put(self, student: str, key: str, entry: str, report: Report) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)",
                            (student, key, entry, json.dumps(report.to_dict()), time.time()))

    def reports(self, students: list[str] | None = None) -> dict[str, Report]:
        """The stored reports of ``students`` (all when None)."""
        rows = self.db.execute("SELECT student, report FROM results").fetchall()
        wanted = None if students is None else set(students)
        return {s: Report.from_dict(json.loads(r)) for s, r in rows if wanted is None or s in wanted}

    def put_quiz(self, quiz: str, scores: dict[str, QuizScore]) -> None:
        """Replace every score of ``quiz`` with ``scores`` (a quiz graded again replaces its column)."""
        with self.db:
            self.db.execute("DELETE FROM quiz_scores WHERE quiz = ?", (quiz,))
            self.db.executemany("INSERT INTO quiz_scores VALUES (?, ?, ?, ?, ?)",
                                [(quiz, s, q.score, q.max_score, q.status) for s, q in scores.items()])

    def quizzes(self) -> dict[str, dict[str, QuizScore]]:
        """{quiz: {student: score}}, quizzes in name order."""
        found: dict[str, dict[str, QuizScore]] = {}
        for quiz, student, score, max_score, status in self.db.execute(
                "SELECT quiz, student, score, max_score, status FROM quiz_scores ORDER BY quiz, student"):
            found.setdefault(quiz, {})[student] = QuizScore(score, max_score, status)
        return found

    def set_meta(self, **values: str) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(values.items()))

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def close(self) -> None:
        self.db.close()
