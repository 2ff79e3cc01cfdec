"""report.html: one self-contained page for the instructor (no network, no external files).

A sortable, filterable table of students (by failed check, by flag, by text), the score histogram, and per
student the submitted validation curves with the checkpoint's recomputed point drawn on them. Charts are inline
SVG built here; the page's only script is the table's sorting and filtering.
"""
from __future__ import annotations

from markupsafe import Markup, escape

from grader.adjust import FinalGrade, ScoreChange, final_grade, override_text
from grader.i18n import _, current_language
from grader.i18n.fonts import CSS_FONT_STACK
from grader.outputs.gradebook import (
    change_text,
    check_names,
    check_word,
    max_points,
    safe_name,
    status_of,
    status_word,
)
from grader.outputs.html_text import environment
from grader.outputs.item_analysis import item_analysis
from grader.outputs.similarity_view import SIDE_BY_SIDE_CSS, side_by_side
from grader.report import FLAG_KINDS, CurvesDetails, Flag, ReevalDetails, Report, details_of, own_flags
from grader.spec import Spec

TEMPLATE = "report.html.j2"


def _scale(values, low, high, size, pad, invert=False):
    span = (high - low) or 1.0
    return [pad + (size - 2 * pad) * ((high - v) if invert else (v - low)) / span for v in values]


def _point_title(epoch: int, value: float) -> Markup:
    return escape(_("epoch {epoch}: {value}", epoch=epoch, value=format(value, ".4f")))


def line_chart(title: str, values: list[float], mark: tuple[int, float] | None, mark_label: str,
               best: int | None) -> Markup:
    """An SVG line chart of one curve (x = epoch from 1), the curve's best epoch ringed, ``mark`` drawn as a cross."""
    width, height, pad = 300, 170, 34
    if not values:
        return Markup('<p class="chart">{}</p>').format(_("{title}: no values", title=title))
    ys = list(values) + ([mark[1]] if mark else [])
    low, high = min(ys), max(ys)
    epochs = list(range(1, len(values) + 1))
    xs = _scale(epochs, 1, max(len(values), 2), width, pad)
    py = _scale(values, low, high, height, pad, invert=True)
    axis = escape(_("epoch 1..{n}", n=len(values)))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2}" y="14" text-anchor="middle" class="t">{escape(title)}</text>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" class="axis"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" class="axis"/>',
             f'<text x="{pad - 4}" y="{pad + 4}" text-anchor="end" class="l">{high:.4g}</text>',
             f'<text x="{pad - 4}" y="{height - pad}" text-anchor="end" class="l">{low:.4g}</text>',
             f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" class="l">{axis}</text>',
             '<polyline class="curve" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, py, strict=True)) + '"/>']
    parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="pt"><title>{_point_title(e, v)}</title></circle>'
              for x, y, e, v in zip(xs, py, epochs, values, strict=True)]
    if best is not None and 1 <= best <= len(values):
        lowest = escape(_("lowest loss: epoch {epoch}", epoch=best))
        parts.append(f'<circle cx="{xs[best - 1]:.1f}" cy="{py[best - 1]:.1f}" r="6" class="best">'
                     f'<title>{lowest}</title></circle>')
    if mark is not None and 1 <= mark[0] <= len(values):
        x = xs[mark[0] - 1]
        y = _scale([mark[1]], low, high, height, pad, invert=True)[0]
        parts.append(f'<path d="M{x - 5:.1f},{y - 5:.1f}L{x + 5:.1f},{y + 5:.1f}M{x - 5:.1f},{y + 5:.1f}'
                     f'L{x + 5:.1f},{y - 5:.1f}" class="mark"><title>{escape(mark_label)}</title></path>')
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(scores: list[float], max_score: float, bins: int = 10) -> Markup:
    """An SVG histogram of the class's scores in ``bins`` equal bins from 0 to ``max_score``."""
    width, height, pad = 520, 180, 30
    counts = [0] * bins
    for score in scores:
        counts[min(bins - 1, int(bins * score / max_score)) if max_score else 0] += 1
    top = max(counts + [1])
    bar = (width - 2 * pad) / bins
    label = escape(_("score histogram"))
    parts = [f'<svg id="histogram" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">']
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        lo, hi = max_score * i / bins, max_score * (i + 1) / bins
        parts.append(f'<rect x="{pad + i * bar + 1:.1f}" y="{height - pad - h:.1f}" width="{bar - 2:.1f}" '
                     f'height="{h:.1f}" class="bar"><title>{lo:g}-{hi:g}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{pad + (i + 0.5) * bar:.1f}" y="{height - pad - h - 3:.1f}" '
                         f'text-anchor="middle" class="l">{count}</text>')
    parts.append(f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" class="axis"/>')
    parts.append(f'<text x="{pad}" y="{height - 10}" class="l">0</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 10}" text-anchor="end" class="l">{max_score:g}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _charts(report: Report) -> list[Markup]:
    curves: CurvesDetails | None = details_of(report, "curves")
    if curves is None:
        return []
    point: ReevalDetails | None = details_of(report, "reeval")
    label = _("best.pt re-evaluated ({preprocessing}): loss {loss}, {accuracy}%", preprocessing=point.preprocessing,
              loss=format(point.loss, ".4f"), accuracy=format(point.accuracy, ".2f")) if point else ""
    epoch = point.epoch if point else None
    loss_mark = (epoch, point.loss) if point and isinstance(epoch, int) else None
    acc_mark = (epoch, point.accuracy) if point and isinstance(epoch, int) else None
    return [line_chart(_("validation loss"), curves.val_loss, loss_mark, label, curves.best_epoch),
            line_chart(_("validation accuracy (%)"), curves.val_accuracy, acc_mark, label, curves.best_epoch)]


def _adjustments(final: FinalGrade, change: ScoreChange | None) -> list[str]:
    """The lines that explain a row's score beyond its checks: overrides, the late rule, the last regrade."""
    lines = [_("adjusted by the instructor: {override}", override=override_text(a)) for a in final.applied]
    if final.late is not None and (final.penalty or final.late.minutes_late is None or final.late.minutes_late > 0):
        lines.append(_("late: {rule} (-{points} points)", rule=final.late.rule, points=format(final.penalty, "g"))
                     if final.penalty else _("late: {rule}", rule=final.late.rule))
    if change is not None:
        lines.append(change_text(change))
    return lines


def _pair_view(pair: dict) -> Markup:
    """One similar-source pair (its stored record) as the two files side by side, the matches highlighted."""
    from grader.batch.similarity import SimilarPair

    return side_by_side(SimilarPair.from_dict(pair))


def render_html(spec: Spec, entries, reports: dict[str, Report], missing, flags: dict[str, list[Flag]],
                anchors: dict[str, str] | None = None, *, finals: dict[str, FinalGrade] | None = None,
                changes: dict[str, ScoreChange] | None = None, pairs: list[dict] | None = None) -> str:
    """The whole report.html as a string (``anchors``: each student's unique output name, as the feedback files';
    ``finals``, ``changes``, ``pairs``: as :func:`grader.outputs.write_outputs` takes them)."""
    names = check_names(spec)
    finals, changes = finals or {}, changes or {}
    top = max_points(spec)
    rows = []
    for entry in entries:
        report = reports.get(entry.student)
        if report is None:
            continue
        final = finals.get(entry.student) or final_grade(report, [], None)
        by_name = {c.name: c for c in report.checks}
        student_flags = flags.get(entry.student, []) + own_flags(report)
        anchor = (anchors or {}).get(entry.student) or safe_name(entry.student)
        rows.append({"student": entry.student, "name": entry.name, "anchor": anchor,
                     "score": final.final, "raw": final.raw, "max_score": report.max_score, "status": status_of(report),
                     "checks": [by_name.get(n) for n in names], "final": final,
                     "adjustments": _adjustments(final, changes.get(entry.student)),
                     "failed": [c.name for c in report.checks if c.status in ("fail", "error")],
                     "flags": student_flags, "kinds": [k for k in FLAG_KINDS if any(f.kind == k for f in student_flags)],
                     "report": report, "charts": _charts(report)})
    for student, name in missing:
        final = finals.get(student) or final_grade(None, [], None, top)
        rows.append({"student": student, "name": name, "anchor": safe_name(student), "score": final.final,
                     "raw": 0.0, "max_score": None, "status": "missing", "checks": [None] * len(names),
                     "final": final, "adjustments": _adjustments(final, None), "failed": [],
                     "flags": [Flag("no submission")], "kinds": ["no submission"], "report": None, "charts": []})
    rows.sort(key=lambda r: r["student"])
    max_score = max([r["max_score"] for r in rows if r["max_score"]] or [1.0])
    counts = {s: sum(r["status"] == s for r in rows) for s in ("passed", "failed", "error", "missing")}
    return environment().get_template(TEMPLATE).render(
        spec=spec, names=names, rows=rows, counts=counts, max_score=max_score, pairs=pairs or [], pair_view=_pair_view,
        lang=current_language(), font_stack=Markup(CSS_FONT_STACK), status_word=status_word, check_word=check_word,
        flag_word=_,
        pair_css=Markup(SIDE_BY_SIDE_CSS) if pairs else "",
        adjusted=sum(bool(r["adjustments"]) for r in rows),
        items=item_analysis(spec, {e.student: reports[e.student] for e in entries if e.student in reports},
                            missing=len(missing)),
        histogram=histogram([r["score"] for r in rows], max_score),
        kinds=[k for k in FLAG_KINDS if any(k in r["kinds"] for r in rows)])
