"""A student's final score from their report: the instructor's overrides, then the late rule.

The order is fixed and said in every output: the checks' points as graded (``raw``), then each active override (a
check's points replaced, or the whole score replaced), then the late penalty, a percent of that adjusted score.
An override is attached to the student (and the check), not to one result: it stays through regrades until it is
removed. To waive a late penalty, grant an extension (the rules, :mod:`grader.late`), not an override.

Public interface: :class:`Override`, :class:`Applied`, :class:`FinalGrade`, :func:`final_grade`,
:func:`override_text`, :data:`WHOLE_SCORE`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from grader.i18n import _
from grader.late import LateResult
from grader.report import Report

WHOLE_SCORE = ""  # an override's check when it replaces the whole score


@dataclass(frozen=True)
class Override:
    """The instructor's adjustment: ``points`` for ``check`` (WHOLE_SCORE: the total), who made it, when
    (seconds since the epoch) and why; ``removed_at`` set once removed (kept, for the history)."""

    student: str
    check: str
    points: float
    reason: str
    by: str
    at: float
    id: int = 0
    removed_at: float | None = None
    removed_by: str = ""
    removed_reason: str = ""

    @property
    def active(self) -> bool:
        return self.removed_at is None

    @property
    def target(self) -> str:
        return self.check or _("the score")


@dataclass(frozen=True)
class Applied:
    """One override as applied: the points it replaced and those it set."""

    override: Override
    before: float
    after: float


@dataclass(frozen=True)
class FinalGrade:
    """What a student gets: ``raw`` (the checks), ``adjusted`` (after overrides), ``penalty`` (points the late
    rule took), ``final``; ``checks`` holds each check's points after its override."""

    raw: float
    max_score: float
    adjusted: float
    final: float
    checks: dict[str, float] = field(default_factory=dict)
    applied: list[Applied] = field(default_factory=list)
    late: LateResult | None = None
    penalty: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.applied) or self.penalty != 0


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def override_text(applied: Applied) -> str:
    """One line for the gradebook and the feedback: ``conv2 1 -> 2 by kim on 2026-12-01: reason``."""
    o = applied.override
    return _("{target} {before:g} -> {after:g} by {by} on {day}: {reason}", target=o.target, before=applied.before,
             after=applied.after, by=o.by, day=_day(o.at), reason=o.reason)


def final_grade(report: Report | None, overrides: list[Override], late: LateResult | None,
                max_score: float | None = None) -> FinalGrade:
    """The final score of ``report`` (None: no submission, which only a whole-score override can grade) with the
    active ``overrides`` (check ones first, in order, then the whole-score one) and the ``late`` result."""
    checks = {c.name: c.score for c in report.checks} if report else {}
    raw = report.score if report else 0.0
    top = report.max_score if report else (max_score or 0.0)
    applied = []
    active = [o for o in overrides if o.active]
    for override in [o for o in active if o.check != WHOLE_SCORE]:
        before = checks.get(override.check, 0.0)
        checks[override.check] = override.points
        applied.append(Applied(override, before, override.points))
    adjusted = round(sum(checks.values()), 3)
    whole = [o for o in active if o.check == WHOLE_SCORE]
    if whole:
        applied.append(Applied(whole[-1], adjusted, whole[-1].points))
        adjusted = round(whole[-1].points, 3)
    penalty = 0.0
    if late is not None and late.percent > 0 and (report is not None or whole):
        penalty = round(adjusted * late.percent / 100, 3)
    return FinalGrade(raw=raw, max_score=top, adjusted=adjusted, final=round(adjusted - penalty, 3), checks=checks,
                      applied=applied, late=late, penalty=penalty)


@dataclass(frozen=True)
class ScoreChange:
    """The last regrade that changed a student's score (as graded, before overrides): from ``before`` to
    ``after``, why (resubmitted, spec, grader, limits or language changed, forced regrade: English msgids, shown translated) and when (seconds since the epoch)."""

    before: float
    after: float
    cause: str
    at: float

    @property
    def delta(self) -> float:
        return round(self.after - self.before, 3)

    def text(self) -> str:
        """``regraded on 2026-12-01 (resubmitted): 7 -> 9 (+2)``, in the current language."""
        return _("regraded on {day} ({cause}): {before:g} -> {after:g} ({delta:+g})", day=_day(self.at),
                 cause=_(self.cause), before=self.before, after=self.after, delta=self.delta)
