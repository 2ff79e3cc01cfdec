"""Align a layer table's rows with the recorded layer sequence.

A table row lists the layers it groups (``["Conv2d", "Conv2d", "ReLU"]``). The rows' layers, in order, are
aligned to the recorded layers by edit distance: a match costs nothing, a missing or extra layer costs one,
an extra layer that neither changes the shape nor holds parameters (an activation, a dropout) costs little, so
the alignment prefers to explain a difference with them. The result says, per expected layer, which recorded
layer stands for it (or that it is missing), and which recorded layers are extra.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from grader.inspection.recorder import BENIGN_KINDS, LayerRecord
from grader.spec import Row

MISS, EXTRA, EXTRA_BENIGN, SUBSTITUTE, NEAR = 1.0, 1.0, 0.3, 1.5, 0.5
# A layer of the wrong kind that stands where the table's kind does (F.softmax for log_softmax): one mistake, told
# as "expects LogSoftmax, found Softmax", not as a missing layer beside an extra one.
NEAR_KINDS = {("LogSoftmax", "Softmax")}
# max pooling commutes with monotone activations: relu(max_pool(x)) == max_pool(relu(x)), so a row may list them
# in either order
POOLS = {"MaxPool2d"}
MONOTONE = {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "GELU", "SiLU"}
MAX_SWAPS = 6


@dataclass
class RowMatch:
    """How one table row lines up with the recording."""

    row: Row
    layers: list[tuple[tuple[str, ...], LayerRecord | None, bool]] = field(default_factory=list)
    # each: (accepted kinds, the recorded layer standing for it or None when missing, kinds match)

    @property
    def output(self) -> LayerRecord | None:
        """The recorded layer whose output is the row's output: the last present layer of the row."""
        present = [rec for _, rec, _ in self.layers if rec is not None]
        return present[-1] if present else None

    @property
    def missing(self) -> list[tuple[str, ...]]:
        return [kinds for kinds, rec, _ in self.layers if rec is None]

    @property
    def wrong_kind(self) -> list[tuple[tuple[str, ...], LayerRecord]]:
        return [(kinds, rec) for kinds, rec, ok in self.layers if rec is not None and not ok]


@dataclass
class Alignment:
    rows: list[RowMatch]
    extras: list[tuple[LayerRecord, int]]  # (extra layer, index of the row it follows, -1 before the first)
    cost: float = 0.0


def _benign(rec: LayerRecord) -> bool:
    return rec.kind in BENIGN_KINDS and rec.params == 0 and rec.input_shape == rec.output_shape


def _swappable(kinds_a: tuple[str, ...], kinds_b: tuple[str, ...]) -> bool:
    a, b = set(kinds_a), set(kinds_b)
    return (a <= POOLS and b <= MONOTONE) or (a <= MONOTONE and b <= POOLS)


def _table_pairs(rows) -> set[tuple[str, str]]:
    """Adjacent (kind, kind) pairs of the table read as one sequence of layers, across row boundaries."""
    flat = [kinds for row in rows for kinds in row.layers]
    return {(a, b) for first, second in zip(flat, flat[1:], strict=False) for a in first for b in second}


def _swap_records(records: list[LayerRecord], j: int) -> list[LayerRecord]:
    """``records`` with the pool and the activation at j, j+1 exchanged; the activation takes the shape it would
    have on the other side of the pool, so the pair computes the same thing in the table's order."""
    first, second = records[j], records[j + 1]
    if first.kind in POOLS:  # pool, act -> act, pool
        act = replace(second, input_shape=first.input_shape, output_shape=first.input_shape)
        pool = replace(first)
        return [*records[:j], act, pool, *records[j + 2:]]
    act = replace(first, input_shape=second.output_shape, output_shape=second.output_shape)  # act, pool -> pool, act
    return [*records[:j], second, act, *records[j + 2:]]


def align(rows: tuple[Row, ...] | list[Row], records: list[LayerRecord], open_end: bool = False) -> Alignment:
    """The best alignment of the table to ``records``, letting a max pool and a monotone activation swap (within
    a row, and across rows: ``F.relu(F.max_pool2d(conv(x), 2))`` for a table that lists ReLU, then the pool).

    ``open_end``: the forward stopped early, so ``records`` cover only the start of the table; the rows after
    the last recorded layer cost nothing and come back with no layers (not reached, rather than missing).
    Swaps are tried one at a time, each kept when it lowers the cost (they are independent in practice).
    """
    row_spots = [(r, i) for r, row in enumerate(rows) for i in range(len(row.layers) - 1)
                 if _swappable(row.layers[i], row.layers[i + 1])][:MAX_SWAPS]
    pairs = _table_pairs(rows)
    record_spots = [j for j in range(len(records) - 1)
                    if (records[j].kind in POOLS and records[j + 1].kind in MONOTONE
                        and (records[j + 1].kind, records[j].kind) in pairs
                        and (records[j].kind, records[j + 1].kind) not in pairs)][:MAX_SWAPS]
    variant, recs = list(rows), list(records)
    best = _align(variant, recs, open_end)
    for r, i in row_spots:
        layers = list(variant[r].layers)
        layers[i], layers[i + 1] = layers[i + 1], layers[i]
        trial = [*variant[:r], Row(variant[r].label, tuple(layers), variant[r].shape, variant[r].params),
                 *variant[r + 1:]]
        candidate = _align(trial, recs, open_end)
        if candidate.cost < best.cost:
            best, variant = candidate, trial
    for j in record_spots:
        trial_records = _swap_records(recs, j)
        candidate = _align(variant, trial_records, open_end)
        if candidate.cost < best.cost:
            best, recs = candidate, trial_records
    return best


def _align(rows: list[Row], records: list[LayerRecord], open_end: bool = False) -> Alignment:
    """Edit-distance alignment of the table's layers (in row order) to ``records`` (see module docstring)."""
    expected = [(r, kinds) for r, row in enumerate(rows) for kinds in row.layers]
    n, m = len(expected), len(records)
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    move = [[""] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0], move[i][0] = cost[i - 1][0] + MISS, "miss"
    for j in range(1, m + 1):
        extra = EXTRA_BENIGN if _benign(records[j - 1]) else EXTRA
        cost[0][j], move[0][j] = cost[0][j - 1] + extra, "extra"
    for i in range(1, n + 1):
        kinds = expected[i - 1][1]
        for j in range(1, m + 1):
            rec = records[j - 1]
            diag = cost[i - 1][j - 1] + (0.0 if rec.kind in kinds else NEAR
                                         if any((k, rec.kind) in NEAR_KINDS for k in kinds) else SUBSTITUTE)
            miss = cost[i - 1][j] + MISS
            extra = cost[i][j - 1] + (EXTRA_BENIGN if _benign(rec) else EXTRA)
            best = min(diag, miss, extra)
            cost[i][j] = best
            move[i][j] = "diag" if best == diag else ("miss" if best == miss else "extra")
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    if open_end:  # the table's tail after the last record is free: end where the records are best explained
        i = min(range(n + 1), key=lambda k: (cost[k][m], -k))
        pairs = [(k, None) for k in range(n - 1, i - 1, -1)]
    total = cost[i][m]
    while i > 0 or j > 0:
        step = move[i][j]
        if step == "diag":
            pairs.append((i - 1, j - 1)); i -= 1; j -= 1
        elif step == "miss":
            pairs.append((i - 1, None)); i -= 1
        else:
            pairs.append((None, j - 1)); j -= 1
    pairs.reverse()

    matches = [RowMatch(row) for row in rows]
    extras: list[tuple[LayerRecord, int]] = []
    last_row = -1
    for e, rec_index in pairs:
        if e is None:
            assert rec_index is not None  # an "extra" step always consumes a record
            extras.append((records[rec_index], last_row))
            continue
        row_index, kinds = expected[e]
        last_row = row_index
        found = records[rec_index] if rec_index is not None else None
        matches[row_index].layers.append((kinds, found, found is not None and found.kind in kinds))
    return Alignment(matches, extras, total)
