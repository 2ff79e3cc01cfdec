"""Item analysis for report.html: per check, what the class did and did not understand.

Computed from the class's reports alone (nothing is re-run): each check's pass rate, its failing causes grouped by
their typed cause and place (:class:`grader.report.Cause`, never by the words of a message, so two students whose
conv2 has the wrong padding group together however their code and messages read), and its score distribution.

Interface:
    item_analysis(spec, reports, missing=0) -> list[ItemRecord]   one record per check, in report order
    ItemRecord.headline                                          "38% failed conv2's padding", made from the record
    render_items(items) -> Markup                                the section alone (item_analysis.html.j2)

report.html includes the same template with ``items=item_analysis(...)``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from markupsafe import Markup

from grader.i18n import _, n_
from grader.outputs.gradebook import check_names
from grader.outputs.html_text import environment
from grader.report import CAUSES, FAILING, Report
from grader.spec import QUIZ_CHECKS, Spec

TEMPLATE = "item_analysis.html.j2"
MAX_VALUE_BARS = 11  # up to this many distinct scores (0 and the maximum included), one bar each; else bins
BINS = 10


def percent(share: float) -> str:
    """``share`` (0..1) as a whole percentage, halves rounded up: 0.375 -> '38%'."""
    return f"{math.floor(100 * share + 0.5)}%"


@dataclass(frozen=True)
class CauseCount:
    """How many of the counted students failed a check with one typed cause at one place (each student once)."""

    code: str  # a code of grader.report.CAUSES
    where: str  # the table row, else the student's layer attribute, else "" (the submission as a whole)
    students: int
    share: float  # of the students counted

    @property
    def label(self) -> str:
        """The code's short label (``padding``, ``missing layer``), in the current language."""
        return _(CAUSES[self.code][0])

    @property
    def meaning(self) -> str:
        """What the code means, in a sentence, in the current language."""
        return _(CAUSES[self.code][1])

    @property
    def percent(self) -> str:
        """The share as a whole percentage ('38%')."""
        return percent(self.share)


@dataclass(frozen=True)
class ScoreBar:
    """How many students scored from ``low`` to ``high`` (one score when they are equal; a bin includes its low
    end, and the last bin its high end too)."""

    low: float
    high: float
    students: int

    @property
    def text(self) -> str:
        """'2' for one score, '1.2-1.6' for a bin."""
        return f"{self.low:g}" if self.low == self.high else f"{self.low:g}-{self.high:g}"


@dataclass(frozen=True)
class ItemRecord:
    """One check across the class: its statuses, its failing causes (most common first) and its scores.

    ``students`` counts the reports analysed (every graded student once); ``missing`` the students with no report,
    who are not counted anywhere; ``absent`` the reports without this check (stored before it existed).
    ``unexplained`` counts failing results that carry no cause (reports stored before causes were recorded)."""

    check: str
    max_score: float
    students: int
    missing: int
    passed: int
    failed: int
    errors: int
    skipped: int
    absent: int
    unexplained: int
    causes: tuple[CauseCount, ...]
    distribution: tuple[ScoreBar, ...]

    @property
    def pass_rate(self) -> float | None:
        """The share of the counted students whose check passed; None when no student is counted."""
        return self.passed / self.students if self.students else None

    @property
    def pass_rate_text(self) -> str:
        """The pass rate as a whole percentage, '-' when no student is counted."""
        return percent(self.pass_rate) if self.pass_rate is not None else "-"

    @property
    def top_cause(self) -> CauseCount | None:
        """The most common failing cause, or None when no failing result carries one."""
        return self.causes[0] if self.causes else None

    @property
    def peak(self) -> int:
        """The tallest bar of the distribution (at least 1, to scale the bars by)."""
        return max([bar.students for bar in self.distribution] + [1])

    @property
    def headline(self) -> str:
        """What the class did with this check, in one line, made from the counts: "38% failed conv2's padding"
        (the most common cause; "(75% failed shapes in all)" when other causes fail it too, and "tied with N other
        causes" when as common), "12% failed class: no model class" (a cause with no place), "20% failed epoch"
        (failures with no recorded cause), "25% passed batch", each with the share skipped, or that no student is
        counted or none ran the check."""
        if not self.students:
            return _("{check}: no graded submission", check=self.check)
        if self.absent == self.students:
            return _("{check}: not in any graded report (stored before the check existed)", check=self.check)
        failing = self.failed + self.errors
        top = self.top_cause
        if top is None:
            text = _("{percent} failed {check}", percent=percent(failing / self.students), check=self.check) \
                if failing else _("{percent} passed {check}", percent=self.pass_rate_text, check=self.check)
            return self._with_skipped(text)
        text = _("{percent} failed {where}'s {label}", percent=top.percent, where=top.where, label=top.label) \
            if top.where else _("{percent} failed {check}: {label}", percent=top.percent, check=self.check,
                                label=top.label)
        tied = sum(1 for cause in self.causes[1:] if cause.students == top.students)
        extra = [n_("tied with {n} other cause", "tied with {n} other causes", tied)] if tied else []
        if failing > top.students:
            extra.append(_("{percent} failed {check} in all", percent=percent(failing / self.students),
                           check=self.check))
        return self._with_skipped(text + (f" ({'; '.join(extra)})" if extra else ""))

    def _with_skipped(self, text: str) -> str:
        """The headline ``text`` with the share of skipped results, when some were."""
        if not self.skipped:
            return text
        return _("{headline}, {percent} skipped", headline=text, percent=percent(self.skipped / self.students))


def item_analysis(spec: Spec, reports: dict[str, Report], missing: int = 0) -> list[ItemRecord]:
    """One :class:`ItemRecord` per check of ``spec``, in :func:`grader.outputs.gradebook.check_names` order, from
    ``reports`` (student -> report: the graded students; each counts once). ``missing``: how many students have no
    report; they are excluded from every count and share, and the record says how many they are."""
    ordered = [reports[student] for student in sorted(reports)]
    rows = {row.label: index for index, row in enumerate(spec.rows)}
    return [_record(spec, name, ordered, missing, rows) for name in check_names(spec)]


def _max_score(spec: Spec, name: str) -> float:
    """The points of check ``name`` in ``spec``."""
    if name in QUIZ_CHECKS and spec.quiz.get("enabled"):
        return float(spec.quiz["points"][name])
    return float(spec.points.get(name, 1.0))


def _record(spec: Spec, name: str, reports: list[Report], missing: int, rows: dict[str, int]) -> ItemRecord:
    """The record of check ``name`` over ``reports``."""
    results = [next((c for c in report.checks if c.name == name), None) for report in reports]
    present = [result for result in results if result is not None]
    statuses = Counter(result.status for result in present)
    failing = [result for result in present if result.status in FAILING]
    grouped = Counter(cause for result in failing for cause in dict.fromkeys((c.code, c.where) for c in result.causes))
    students = len(reports)
    causes = tuple(CauseCount(code, where, count, count / students) for (code, where), count in sorted(
        grouped.items(), key=lambda item: (-item[1], rows.get(item[0][1], len(rows)), item[0])))
    max_score = _max_score(spec, name)
    return ItemRecord(name, max_score, students, missing, statuses["pass"], statuses["fail"], statuses["error"],
                      statuses["skip"], len(results) - len(present), sum(not r.causes for r in failing), causes,
                      distribution([result.score for result in present], max_score))


def distribution(scores: list[float], max_score: float) -> tuple[ScoreBar, ...]:
    """The counts of ``scores`` from 0 to ``max_score``: one bar per distinct score (0 and the maximum always
    among them) when there are at most :data:`MAX_VALUE_BARS`, else :data:`BINS` equal bins."""
    values = sorted({round(score, 3) for score in scores} | {0.0, round(max_score, 3)})
    if len(values) <= MAX_VALUE_BARS:
        counts = Counter(round(score, 3) for score in scores)
        return tuple(ScoreBar(value, value, counts[value]) for value in values)
    bins = [0] * BINS
    for score in scores:
        bins[min(BINS - 1, max(0, int(BINS * score / max_score)))] += 1
    return tuple(ScoreBar(round(max_score * i / BINS, 3), round(max_score * (i + 1) / BINS, 3), count)
                 for i, count in enumerate(bins))


def render_items(items: list[ItemRecord]) -> Markup:
    """The item-analysis section as HTML (the template report.html includes), every string escaped."""
    return Markup(environment().get_template(TEMPLATE).render(items=items))
