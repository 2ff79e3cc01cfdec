"""OUT/results.sqlite: the batch's results, one row per student, and what the gradebook's rules need.

Tables: ``results`` (the current report of each student), ``history`` (every report a regrade replaced, with why),
``overrides`` (the instructor's adjustments, with who, when and why; a removed one is kept, marked removed),
``times`` (each student's submission time and where it came from), ``quiz_scores``, and ``meta`` (the assignment,
and the class record the outputs are rebuilt from: entries, missing students, flags, similar pairs).

WAL mode and one transaction per result, so a run killed at any moment keeps every result it finished.

The causes a ``history`` row records (:data:`REGRADE_CAUSES`) and the reason an override replaced by a newer one is
removed with (:data:`REPLACED`) are stored in English, as codes are: whoever shows one translates it with ``_()``.
"""
from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from grader.adjust import Override
from grader.i18n import N_
from grader.report import Report

RESUBMITTED = N_("resubmitted")  # other files
KEY_CHANGED = N_("spec, grader, limits or language changed")  # the same files, another key
FORCED = N_("forced regrade")  # the same files and key
# A history row's cause, one of these (the last: rows written before reports had a language).
REGRADE_CAUSES = (RESUBMITTED, KEY_CHANGED, FORCED, N_("spec, grader or limits changed"))
REPLACED = N_("replaced by a newer override")  # the removed_reason of an override another replaced


@dataclass(frozen=True)
class QuizScore:
    """A student's total on one quiz (``grader quiz grade``); ``status`` is answered or missing."""

    score: float
    max_score: float
    status: str


@dataclass(frozen=True)
class Graded:
    """A result a regrade replaced: the report, when it was graded, when and why it was replaced."""

    student: str
    report: Report
    graded_at: float
    replaced_at: float
    cause: str


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
        self.db.execute("CREATE TABLE IF NOT EXISTS history (student TEXT NOT NULL, key TEXT NOT NULL, "
                        "files TEXT NOT NULL, entry TEXT NOT NULL, report TEXT NOT NULL, graded_at REAL NOT NULL, "
                        "replaced_at REAL NOT NULL, cause TEXT NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS overrides (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                        "student TEXT NOT NULL, check_name TEXT NOT NULL, points REAL NOT NULL, reason TEXT NOT NULL, "
                        "by TEXT NOT NULL, at REAL NOT NULL, removed_at REAL, removed_by TEXT NOT NULL DEFAULT '', "
                        "removed_reason TEXT NOT NULL DEFAULT '')")
        self.db.execute("CREATE TABLE IF NOT EXISTS times (student TEXT PRIMARY KEY, data TEXT NOT NULL)")
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
        if "files" not in columns:  # a results.sqlite from before regrade history
            self.db.execute("ALTER TABLE results ADD COLUMN files TEXT NOT NULL DEFAULT ''")
        self.db.commit()

    def key_of(self, student: str) -> str | None:
        row = self.db.execute("SELECT key FROM results WHERE student = ?", (student,)).fetchone()
        return row[0] if row else None

    def put(self, student: str, key: str, entry: str, report: Report, files: str = "") -> None:
        """Store ``report`` as ``student``'s current result; the one it replaces goes to the history, with its
        cause (:data:`REGRADE_CAUSES`): resubmitted (other files), spec, grader, limits or language changed (same
        files, another key), forced (the same)."""
        with self.db:
            old = self.db.execute("SELECT key, files, entry, report, graded_at FROM results WHERE student = ?",
                                  (student,)).fetchone()
            now = time.time()
            if old is not None:
                cause = (RESUBMITTED if files and old[1] and files != old[1] else
                         KEY_CHANGED if key != old[0] else FORCED)
                self.db.execute("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                (student, old[0], old[1], old[2], old[3], old[4], now, cause))
            self.db.execute("INSERT OR REPLACE INTO results (student, key, entry, report, graded_at, files) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (student, key, entry, json.dumps(report.to_dict()), now, files))

    def files(self) -> dict[str, str]:
        """Each student's current result's files key (grader.batch.cache.files_key; "" for an older row)."""
        return dict(self.db.execute("SELECT student, files FROM results").fetchall())

    def forget_times(self) -> None:
        """Drop every stored submission time."""
        with self.db:
            self.db.execute("DELETE FROM times")

    def graded_at(self) -> dict[str, float]:
        """When each student's current result was graded (seconds since the epoch)."""
        return dict(self.db.execute("SELECT student, graded_at FROM results").fetchall())

    def history(self, student: str | None = None) -> list[Graded]:
        """The results regrades replaced, oldest first (of ``student``, or everyone's)."""
        rows = self.db.execute("SELECT student, report, graded_at, replaced_at, cause FROM history "
                               + ("WHERE student = ? " if student is not None else "") + "ORDER BY replaced_at, rowid",
                               (student,) if student is not None else ()).fetchall()
        return [Graded(s, Report.from_dict(json.loads(r)), g, at, cause) for s, r, g, at, cause in rows]

    def add_override(self, override: Override) -> Override:
        """Keep ``override`` (its id is set here); an active override of the same student and check is removed
        first, so at most one is active per student and check."""
        return self.apply_overrides([override])[0]

    def remove_override(self, student: str, check: str, by: str, reason: str, at: float) -> list[Override]:
        """Mark ``student``'s active override of ``check`` ("" the total) removed; the overrides removed."""
        return self.apply_overrides([Override(student, check, 0.0, reason, by, at, removed_at=at)])

    def apply_overrides(self, changes: list[Override]) -> list[Override]:
        """Apply ``changes`` in one transaction, in order: an override with ``removed_at`` set removes the active one
        of its student and check (its reason and author are the removal's), any other is kept. Returns, per change,
        the override kept (with its id) or the one removed."""
        done = []
        with self.db:
            for change in changes:
                active = [o for o in self.overrides(change.student, active_only=True) if o.check == change.check]
                self.db.execute("UPDATE overrides SET removed_at = ?, removed_by = ?, removed_reason = ? WHERE "
                                "student = ? AND check_name = ? AND removed_at IS NULL",
                                (change.at, change.by, change.reason if change.removed_at is not None
                                 else REPLACED, change.student, change.check))
                if change.removed_at is not None:
                    done.extend(active[-1:])
                    continue
                cursor = self.db.execute("INSERT INTO overrides (student, check_name, points, reason, by, at) "
                                         "VALUES (?, ?, ?, ?, ?, ?)", (change.student, change.check, change.points,
                                                                       change.reason, change.by, change.at))
                done.append(dataclasses.replace(change, id=int(cursor.lastrowid or 0)))
        return done

    def overrides(self, student: str | None = None, active_only: bool = False) -> list[Override]:
        """The overrides (of ``student``, or everyone's), oldest first; ``active_only``: not removed."""
        query = "SELECT id, student, check_name, points, reason, by, at, removed_at, removed_by, removed_reason " \
                "FROM overrides"
        where, values = [], []
        if student is not None:
            where.append("student = ?")
            values.append(student)
        if active_only:
            where.append("removed_at IS NULL")
        query += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY at, id"
        return [Override(student=s, check=c, points=p, reason=r, by=b, at=a, id=i, removed_at=ra, removed_by=rb,
                         removed_reason=rr)
                for i, s, c, p, r, b, a, ra, rb, rr in self.db.execute(query, values).fetchall()]

    def put_times(self, times: dict[str, dict]) -> None:
        """Keep each student's submission times (a :func:`grader.batch.times.times_to_dict` record), replacing theirs."""
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO times VALUES (?, ?)",
                                [(s, json.dumps(t, sort_keys=True)) for s, t in times.items()])

    def times(self) -> dict[str, dict]:
        """{student: submission times record} as :meth:`put_times` kept them."""
        return {s: json.loads(d) for s, d in self.db.execute("SELECT student, data FROM times").fetchall()}

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
