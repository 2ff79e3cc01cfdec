"""What the class verbs print about grading results: the summary of ``grader grade`` and what the gradebook's rules
did (regrades, late penalties, overrides), and a student's final grade for scripts (language-independent keys).

Public interface: :func:`grade_summary`, :func:`rules_summary`, :func:`final_json` (used by :mod:`grader.commands`).
"""
from __future__ import annotations

import json

import click

from grader.i18n import N_, _

# How many submissions had each outcome, in the grade summary (the keys are the gradebook's status codes).
OUTCOMES = {"passed": N_("{n} passed"), "failed": N_("{n} failed"), "error": N_("{n} error")}


def final_json(final) -> dict:
    """A student's final grade for scripts: the numbers and the rule, language-independent keys."""
    return {"raw_score": final.raw, "adjusted_score": final.adjusted, "late_penalty": final.penalty,
            "late_percent": final.late.percent if final.late else 0.0,
            "late_rule": final.late.rule if final.late else "",
            "overrides": [{"check": a.override.check, "before": a.before, "after": a.after, "by": a.override.by,
                           "reason": a.override.reason} for a in final.applied]}


def grade_summary(spec, result, as_json: bool) -> None:
    """What `grader grade` prints: warnings on stderr, then a JSON document or the readable summary."""
    from grader.outputs.gradebook import status_of

    for warning in result.warnings:  # on stderr, with --json too: a script's output stays one document
        click.echo(_("warning: {warning}", warning=warning), err=True)
    if as_json:
        click.echo(json.dumps({"assignment": spec.name, "out": str(result.out), "graded_now": result.graded_now,
                               "reused": result.reused, "students": [
                                   {"student": e.student, "score": result.finals[e.student].final,
                                    "max_score": result.reports[e.student].max_score,
                                    "status": status_of(result.reports[e.student]),
                                    **final_json(result.finals[e.student]),
                                    "regrade": {"before": c.before, "after": c.after, "cause": c.cause}
                                    if (c := result.changes.get(e.student)) else None,
                                    "flags": result.flags.get(e.student, [])} for e in result.entries
                                   if e.student in result.reports],
                               "missing": [s for s, _why in result.missing], "untimed": result.untimed,
                               "warnings": result.warnings}, indent=2))
        return
    statuses = [status_of(r) for r in result.reports.values()]
    counts = [_(OUTCOMES[s], n=statuses.count(s)) for s in OUTCOMES]
    counts += [_("{n} missing", n=len(result.missing))] if result.missing else []
    click.echo(_("{assignment}: {n} submissions ({graded} graded now, {reused} unchanged since the last run): "
                 "{counts}", assignment=spec.name, n=len(result.entries), graded=result.graded_now,
                 reused=result.reused, counts=", ".join(counts)))
    flagged = sorted(s for s, f in result.flags.items() if f)
    if flagged:
        click.echo(_("flagged: {students}", students=", ".join(flagged)))
    rules_summary(result)
    click.echo(_("wrote {out}/gradebook.csv, report.html, feedback/, gradescope/", out=result.out))


def rules_summary(result) -> None:
    """The lines on what the gradebook's rules did: regrades that changed a score, penalties, overrides."""
    changed = [f"{s} {c.before:g} -> {c.after:g} ({c.delta:+g}, {_(c.cause)})" for s, c in sorted(result.changes.items())
               if c.at >= result.started]
    if changed:
        click.echo(_("regraded with a new score: {changes}", changes=", ".join(changed)))
    late = sorted(s for s, f in result.finals.items() if f.penalty)
    if late:
        click.echo(_("late penalty: {students}", students=", ".join(f"{s} -{result.finals[s].penalty:g}" for s in late)))
    overridden = sorted(s for s, f in result.finals.items() if f.applied)
    if overridden:
        click.echo(_("overrides in force: {students}", students=", ".join(overridden)))


