"""The shapes check's pieces: its table, its first line, the extra layers the table does not name, and its causes.

:func:`grader.inspection.checks.check_shapes` puts them together; the params and batch checks ask :func:`stubbed`.
"""
from __future__ import annotations

from rich.cells import cell_len

from grader.i18n import _
from grader.inspection import messages
from grader.inspection.align import Alignment
from grader.inspection.context import ModelContext
from grader.inspection.hints import stub_rows
from grader.inspection.recorder import BENIGN_KINDS, LayerRecord
from grader.inspection.rows import RowStatus
from grader.report import Cause
from grader.spec import Spec


def stubbed(ctx: ModelContext) -> bool:
    """A built model with NotImplemented layers whose forward stopped: only the shapes check has news for it."""
    return bool(ctx.stubs and ctx.forward_error)


def pad(text: str, width: int) -> str:
    """``text`` left-aligned in ``width`` terminal columns (a Korean syllable takes two)."""
    return text + " " * max(0, width - cell_len(text))


OUTPUT_NORMALIZERS = ("LogSoftmax", "Softmax")


def extra_layers(spec: Spec, alignment: Alignment) -> tuple[list[tuple[LayerRecord, str]], list[str]]:
    """The recorded layers no row names: (those that cost a row, each with its line; the notes on the harmless)."""
    extras: list[tuple[LayerRecord, str]] = []
    warnings: list[str] = []
    for rec, after in alignment.extras:
        inside = after >= 0 and any(layer is not None and layer.index > rec.index
                                    for _kind, layer, _row in alignment.rows[after].layers)
        where = (_("inside row '{row}'", row=spec.rows[after].label) if inside else
                 _("after row '{row}'", row=spec.rows[after].label) if after >= 0 else _("before the first row"))
        fields = {"layer": messages.layer_name(rec), "kind": rec.kind, "where": where}
        text = _("{layer}: {kind} {where} is not in the table", **fields)
        if rec.kind in ("ReLU", "LeakyReLU") and after == len(spec.rows) - 1:
            text = _("{layer}: {kind} {where} is not in the table (a ReLU on the final outputs clips every negative "
                     "score to 0)", **fields)
        if rec.kind in OUTPUT_NORMALIZERS and after == len(spec.rows) - 1 and rec.input_shape == rec.output_shape:
            # Whether the outputs may be (log-)probabilities is the 'output' check's decision, not the table's.
            warnings.append(_("{text}: an output normalization after the last row, which the 'output' check judges.",
                              text=text))
        elif rec.kind in BENIGN_KINDS:
            warnings.append(text + ".")
        else:
            extras.append((rec, text + "."))
    return extras, warnings


def upstream_row(rows: list[dict]) -> str | None:
    """The first row whose shape is wrong although it was reached: the one a failed forward follows from."""
    nothing = messages.fmt_shape(None)  # the text of a row no layer reached
    return next((r["label"] for r in rows if not r["ok"] and r["found"] != nothing), None)


def shape_causes(spec: Spec, ctx: ModelContext, status: RowStatus, extras: list[LayerRecord]) -> list[Cause]:
    """The shapes check's causes: each NotImplemented stub (at its row), else each row's issues, the failed
    forward when no wrong row explains it (at the first row not reached), and each extra layer (at its name)."""
    if stubbed(ctx):
        rows = stub_rows(spec, ctx.stubs)
        return [Cause("not_implemented", rows.get(name, name)) for name in ctx.stubs]
    causes = list(status.causes)
    if ctx.forward_error and upstream_row(status.rows) is None:
        layer = str((ctx.failed_layer or {}).get("name", ""))
        started = bool(ctx.records or layer)  # a forward that stopped before its first layer has no row to name
        where = (status.unreached[0] if status.unreached else layer) if started else ""
        causes.append(Cause(ctx.forward_cause or "forward_error", where))
    return causes + [Cause("extra_layer", rec.name) for rec in extras]


def shape_table(rows: list[dict]) -> list[str]:
    """The shapes check's table: a heading line, then each row with its expected and found shapes."""
    row, expected, found, layer = _("row"), _("expected"), _("found"), _("layer")
    lines = [f"{pad(row, 10)} {pad(expected, 18)} {pad(found, 18)} {layer}"]
    for r in rows:
        lines.append(f"{pad(r['label'], 10)} {pad(r['expected'], 18)} {pad(r['found'], 18)} {r['layer']}"
                     f"{'' if r['ok'] else '   <-- '}")
    return lines


def forward_error_text(ctx: ModelContext, rows: list[dict]) -> str:
    """Where the forward stopped, the row it follows from, the class's hints and the error itself."""
    first_bad = upstream_row(rows)
    stopped = (_("Your forward() stopped with an error after the last layer shown.") if ctx.records
               else _("Your forward() stopped with an error before its first layer."))
    upstream = (" " + _("It follows from the problem in row '{row}' above: fix that first.", row=first_bad)
                if first_bad else "")
    return "\n" + stopped + upstream + "\n" + "".join(f"{hint}\n" for hint in ctx.hints) + ctx.forward_error


def shapes_head(ctx: ModelContext, total: int, good: int, extras: int, failed: bool) -> str:
    """The shapes check's first line: how many rows match, and what that is worth."""
    counted = max(0, good - extras)
    where = _("recorded at batch {batch}, written B", batch=ctx.batch) if failed else \
        _("recorded at batch {batch}", batch=ctx.batch)
    fields = {"good": good, "total": total, "where": where, "counted": counted, "extras": extras}
    if not failed:
        return _("All {total} rows match the table ({where}).", **fields)
    if extras > 1:
        return _("{good} of {total} rows match the table ({where}); each of the {extras} extra layers not in the "
                 "table takes one off: {counted} of {total} rows count, {counted}/{total} of the points.", **fields)
    if extras:
        return _("{good} of {total} rows match the table ({where}); the extra layer not in the table takes one off: "
                 "{counted} of {total} rows count, {counted}/{total} of the points.", **fields)
    return _("{good} of {total} rows match the table ({where}): {good}/{total} of the points.", **fields)
