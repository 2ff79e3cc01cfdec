"""The ``shapes`` check's table rows: each row's status, the student's problems in words, and their typed causes.

Interface:
    aligned(spec, ctx) -> Alignment        the table aligned with the recorded layers, once per context
    row_status(spec, ctx) -> RowStatus     per row: its table line, its problems and their causes
    shape_changer(match) -> LayerRecord    the layer of a row that sets its shape

A cause (:class:`grader.report.Cause`) is set here, where a row is decided wrong, with the row's label as its
place; rows wrong only because of an earlier row (followers), or not reached by a failed forward, have none.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from grader.i18n import _, n_
from grader.inspection import messages
from grader.inspection.align import Alignment, align
from grader.inspection.context import ModelContext
from grader.inspection.messages import Finding
from grader.inspection.recorder import LayerRecord
from grader.report import Cause
from grader.spec import Spec

SHAPE_SETTERS = {"Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Flatten"}
NO_FINDING = Finding("", "")


@dataclass
class RowStatus:
    """The rows of the table as the shapes check shows them, and what is wrong with them.

    ``rows``: one dict per table row (label, expected, found, layer, source, ok, issues); ``problems``: every issue
    and the follower and not-reached summaries, in order; ``causes``: one per issue, in the same order;
    ``unreached``: the labels of the rows after the layer where forward() stopped."""

    alignment: Alignment
    rows: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    causes: list[Cause] = field(default_factory=list)
    unreached: list[str] = field(default_factory=list)


def aligned(spec: Spec, ctx: ModelContext) -> Alignment:
    """The alignment of the table with the recorded layers, computed once per context."""
    if ctx.alignment is None:
        ctx.alignment = align(spec.rows, ctx.records, open_end=bool(ctx.forward_error))
    return ctx.alignment


def _layer_issues(match, previous_out: LayerRecord | None, not_reached: bool) -> list[Finding]:
    """A row's missing layers and layers of the wrong kind, each with its cause."""
    found = []
    for kinds in (match.missing if not not_reached else []):
        present = [rec for _kinds, rec, _ok in match.layers if rec is not None]
        found.append(Finding("missing_layer", messages.missing_text(kinds, match.row.label,
                                                                    present[-1] if present else previous_out)))
    for kinds, rec in match.wrong_kind:
        text = _("Row '{row}' expects {expected}, found {kind} at {layer}.", row=match.row.label,
                 expected=messages.either(kinds), kind=rec.kind, layer=messages.layer_name(rec))
        if "LogSoftmax" in kinds and rec.kind == "Softmax":
            text += " " + _("End forward() with F.log_softmax(x, dim=1).")
        found.append(Finding("wrong_layer_kind", text))
    return found


def row_status(spec: Spec, ctx: ModelContext) -> RowStatus:
    """Every row of the table against the recording: its line, its issues (with their causes), the followers (rows
    wrong only because of an earlier one) and the rows forward() did not reach."""
    status = RowStatus(aligned(spec, ctx))
    first_bad, followers = None, []
    previous_expected = [ctx.batch, *spec.input_shape]
    previous_out: LayerRecord | None = None
    reached = max((i for i, m in enumerate(status.alignment.rows) if m.output is not None), default=-1)
    for index, match in enumerate(status.alignment.rows):
        expected = [ctx.batch if d == "B" else d for d in match.row.shape]
        out = match.output
        found = out.output_shape if out is not None else None
        not_reached = bool(ctx.forward_error) and index > reached
        issues = _layer_issues(match, previous_out, not_reached)
        follows = False
        if out is None:
            if not_reached:
                issues = []
                status.unreached.append(match.row.label)
            elif not issues:
                issues.append(Finding("missing_layer", _("Row '{row}' has no matching layer.", row=match.row.label)))
        elif found != expected:
            issue = _wrong_shape(match, out, expected, previous_expected, first_bad, ctx.batch)
            issues += [issue] if issue.text else []
            follows = not issue.text
            followers += [match.row.label] if follows else []
        ok = not issues and not follows and not (not_reached and out is None)
        if not ok and first_bad is None:
            first_bad = match.row.label
        status.rows.append(_row_line(match, out, found, ok, [i.text for i in issues], ctx.batch))
        status.problems.extend(i.text for i in issues)
        status.causes.extend(Cause(i.code, match.row.label) for i in issues)
        previous_expected = expected
        previous_out = out or previous_out
    status.problems.extend(_summaries(followers, status.unreached, first_bad))
    return status


def _row_line(match, out: LayerRecord | None, found, ok: bool, issues: list[str], batch: int) -> dict:
    names = " + ".join(rec.name for _kinds, rec, _ok in match.layers if rec is not None)
    return {"label": match.row.label, "expected": match.row.shape_text(), "found": messages.fmt_shape(found, batch),
            "layer": names, "source": out.source if out else "", "ok": ok, "issues": issues}


def _summaries(followers: list[str], unreached: list[str], first_bad: str | None) -> list[str]:
    """The lines on rows that differ only because of an earlier row, and on rows forward() did not reach."""
    lines = []
    if followers:
        lines.append(n_("Row {rows} differs only because of the rows above: fix row '{first}' first.",
                        "Rows {rows} differ only because of the rows above: fix row '{first}' first.",
                        len(followers), rows=", ".join(repr(f) for f in followers), first=first_bad))
    if unreached:
        lines.append(n_("Row {rows} was not reached: forward() stopped with an error (below).",
                        "Rows {rows} were not reached: forward() stopped with an error (below).",
                        len(unreached), rows=", ".join(repr(u) for u in unreached)))
    return lines


def _wrong_shape(match, out: LayerRecord, expected: list[int], previous_expected: list[int], first_bad: str | None,
                 batch: int) -> Finding:
    """Why a row has the wrong shape, with its cause; ``("", "")`` when it is wrong only because of an earlier row
    (``first_bad``)."""
    found = out.output_shape
    culprit = shape_changer(match) or out
    present = [rec for _kinds, rec, _ok in match.layers if rec is not None]
    setters = [rec for rec in present if rec.kind in SHAPE_SETTERS]
    if first_bad is None and len(setters) > 1 and setters[0].input_shape == previous_expected:
        return messages.chain_text(setters, match.row.label, expected, batch)
    if first_bad is None:
        first_in_row = present[0] if present else culprit
        return messages.shape_finding(culprit, expected, batch,
                                      previous_expected if culprit is first_in_row else None)
    if culprit.kind == "Linear" and len(previous_expected) == 2 \
            and culprit.config.get("in_features") not in (None, previous_expected[-1]):
        return _in_features(culprit, previous_expected[-1], expected, batch)
    own = messages.replay(setters, previous_expected) if setters else None
    if own is not None and own != expected and len(setters) == 1 and culprit.kind != "Flatten":
        # wrong in its own right: even from the table's input it would not give the row's shape
        alone = dataclasses.replace(culprit, input_shape=list(previous_expected), output_shape=own)
        code, details = messages.shape_details(alone, expected, batch, None)
        return Finding(code, _(
            "{layer} gives {found}; its input is already off, but even from the table's {table_input} it would give "
            "{own}, not {expected}. {details}", layer=messages.layer_name(culprit),
            found=messages.fmt_shape(found, batch), table_input=messages.fmt_shape(previous_expected, batch),
            own=messages.fmt_shape(own, batch), expected=messages.fmt_shape(expected, batch),
            details=" ".join(details) or messages.shape_head(alone, own, expected, batch)))
    if culprit.kind == "Flatten" and found and (found[0] != batch or len(found) == 1):
        return Finding("flatten_batch", messages.shape_head(culprit, found, expected, batch) + " "
                       + messages.flatten_rows_text(culprit, batch, expected))
    return NO_FINDING


def _in_features(culprit: LayerRecord, features: int, expected: list[int], batch: int) -> Finding:
    """A Linear whose in_features differs from the features per image of the table's row before it."""
    fields = {"layer": messages.layer_name(culprit), "in_features": culprit.config["in_features"],
              "out_features": culprit.config.get("out_features"), "features": features}
    if culprit.config.get("out_features") != expected[-1]:
        return Finding("in_features", _(
            "{layer} is Linear(in_features={in_features}, out_features={out_features}), but the table's row before "
            "it gives {features} features per image: set in_features={features}, and out_features={want} for the "
            "row's {shape}.", **fields, want=expected[-1], shape=messages.fmt_shape(expected, batch)))
    return Finding("in_features", _(
        "{layer} is Linear(in_features={in_features}, out_features={out_features}), but the table's row before it "
        "gives {features} features per image: set in_features={features}.", **fields))


def shape_changer(match) -> LayerRecord | None:
    """The layer of a row that sets its shape: the last layer of a kind that sets one (a Linear(512, 512) keeps
    its input's shape, yet its out_features decides the row's), else the last whose output differs from its input."""
    present = [rec for _kinds, rec, _ok in match.layers if rec is not None]
    setters = [rec for rec in present if rec.kind in SHAPE_SETTERS]
    if setters:
        return setters[-1]
    changers = [rec for rec in present if rec.input_shape != rec.output_shape]
    return changers[-1] if changers else None
