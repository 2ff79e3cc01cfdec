"""Class-level flags for similar source code: token winnowing over each submission's code, the starter removed.

Public interface:

* :class:`Span`, :class:`SimilarPair`: what a flag carries (JSON-serialisable, ``to_dict`` / ``from_dict``): the
  two students, the share of each one's fingerprints found in the other's, the matched stretches (file and line
  range on each side) and the texts of the files holding them (bounded), so report.html can show them side by side
  (:mod:`grader.outputs.similarity_view`) from the store alone.
* :func:`compare_class`: every pair of the class above the spec's ``[similarity]`` thresholds, in a stable order;
  the same as :func:`compare_fingerprints` on :func:`fingerprint_class` (the two steps apart, for the bench).
* :func:`similarity_flags`: those pairs as each student's flags (kind ``similar source``), never scored.

How: each unit of code (:mod:`grader.batch.sources`) is tokenized with :mod:`tokenize`; every name becomes one
symbol, every number and string its kind, comments and layout are dropped (a copy that renames, re-comments and
reorders its functions keeps its fingerprints). Hashes of every ``kgram`` tokens are winnowed (Schleimer, Wilkerson
and Aiken, SIGMOD 2003: the rightmost minimum of each ``window``), and those of the assignment's starters
(``starter.py``, ``starter.ipynb`` beside the spec) are removed. An inverted index (fingerprint -> submissions)
finds the pairs; a fingerprint held by more than ``max_common`` submissions is skipped (as MOSS does), so only
the pairs sharing rare fingerprints are ever looked at, and memory is the fingerprints and one row of counts.
"""
from __future__ import annotations

import heapq
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.batch.fingerprints import Fingerprints, fingerprint, starter_hashes
from grader.batch.sources import Sources, read_sources
from grader.report import Flag
from grader.spec import SIMILARITY_DEFAULTS, Spec

FLAG_KIND = "similar source"
MAX_POSITIONS = 16  # places of one fingerprint in one submission paired up when matching spans
MAX_SPANS = 200  # spans a pair keeps (the longest)
MAX_POINTS = 10_000  # pairs of places of shared fingerprints chained for one pair of submissions
MAX_CHAINS = 1_000  # chains tiled for one pair (the longest): two copies of one huge file stay quick
MAX_VIEW_CHARS = 200_000  # characters of matched files a pair keeps per side, for the side-by-side view


@dataclass(frozen=True)
class Span:
    """One matched stretch: lines ``a_lines`` (first, last) of ``a_file`` match lines ``b_lines`` of ``b_file``,
    over ``tokens`` normalized tokens of A's side."""

    a_file: str
    a_lines: tuple[int, int]
    b_file: str
    b_lines: tuple[int, int]
    tokens: int

    def to_dict(self) -> dict:
        return {**asdict(self), "a_lines": list(self.a_lines), "b_lines": list(self.b_lines)}

    @classmethod
    def from_dict(cls, data: dict) -> Span:
        return cls(str(data["a_file"]), _line_pair(data["a_lines"]), str(data["b_file"]), _line_pair(data["b_lines"]),
                   int(data["tokens"]))


def _line_pair(value) -> tuple[int, int]:
    first, last = (int(v) for v in value)
    return first, last


@dataclass
class SimilarPair:
    """Two students whose code is alike: ``share_a`` of A's fingerprints are found in B's, ``share_b`` of B's in
    A's; ``tokens_a`` / ``tokens_b`` tokens of each side lie in the matched ``spans``. ``files_a`` / ``files_b``:
    the text of each file holding a span (at most :data:`MAX_VIEW_CHARS` per side, a longer file cut short)."""

    a: str
    b: str
    share_a: float
    share_b: float
    tokens_a: int
    tokens_b: int
    spans: list[Span] = field(default_factory=list)
    files_a: dict[str, str] = field(default_factory=dict)
    files_b: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "share_a": self.share_a, "share_b": self.share_b, "tokens_a": self.tokens_a,
                "tokens_b": self.tokens_b, "spans": [s.to_dict() for s in self.spans], "files_a": dict(self.files_a),
                "files_b": dict(self.files_b)}

    @classmethod
    def from_dict(cls, data: dict) -> SimilarPair:
        """The pair ``to_dict`` wrote; ValueError / KeyError / TypeError on data of another shape."""
        files = {side: {str(k): str(v) for k, v in dict(data[side]).items()} for side in ("files_a", "files_b")}
        return cls(str(data["a"]), str(data["b"]), float(data["share_a"]), float(data["share_b"]),
                   int(data["tokens_a"]), int(data["tokens_b"]), [Span.from_dict(s) for s in data["spans"]],
                   files["files_a"], files["files_b"])


@dataclass(frozen=True)
class Settings:
    """The spec's ``[similarity]`` table (see docs/spec-format.md), its defaults under what the spec leaves out."""

    kgram: int
    window: int
    min_share: float
    min_tokens: int
    max_common: int
    compare_models: bool

    @classmethod
    def of(cls, spec: Spec) -> Settings:
        table = {**SIMILARITY_DEFAULTS, **spec.similarity}
        return cls(int(table["kgram"]), int(table["window"]), float(table["min_share"]), int(table["min_tokens"]),
                   int(table["max_common"]), bool(table["compare_models"]))


@dataclass
class _Chain:
    """Matched fingerprints in a row on both sides: (position in A, position in B, index in A, index in B)."""

    points: list[tuple[int, int, int, int]]


def _places(found: Fingerprints, shared: set[int]) -> dict[int, list[int]]:
    """hash -> the indexes of its first :data:`MAX_POSITIONS` places in ``found``, for the shared hashes."""
    places: dict[int, list[int]] = {}
    for index, value in enumerate(found.hashes):
        if value in shared:
            where = places.setdefault(value, [])
            if len(where) < MAX_POSITIONS:
                where.append(index)
    return places


def _chains(a: Fingerprints, b: Fingerprints, shared: set[int], reach: int) -> list[_Chain]:
    """The shared fingerprints grouped into runs that follow each other, at most ``reach`` tokens apart, on both
    sides (a function moved elsewhere is its own run); a lone fingerprint is no run."""
    places_a, places_b = _places(a, shared), _places(b, shared)
    points = heapq.nsmallest(MAX_POINTS, ((a.positions[i], b.positions[j], i, j) for value in places_a
                                          for i in places_a[value] for j in places_b.get(value, ())))
    done: list[_Chain] = []
    live: list[_Chain] = []
    for point in points:
        best, best_skew = None, None
        for chain in live:
            step_a, step_b = point[0] - chain.points[-1][0], point[1] - chain.points[-1][1]
            if 0 < step_a <= reach and 0 < step_b <= reach and (best_skew is None or abs(step_a - step_b) < best_skew):
                best, best_skew = chain, abs(step_a - step_b)
        if best is None:
            best = _Chain([])
            live.append(best)
        best.points.append(point)
        still = [c for c in live if point[0] - c.points[-1][0] <= reach]
        done += [c for c in live if point[0] - c.points[-1][0] > reach]
        live = still
    return [chain for chain in done + live if len(chain.points) > 1]


def _covered(starts: list[int], kgram: int) -> int:
    """Tokens covered by k-grams starting at ``starts``."""
    total, end = 0, None
    for start in sorted(starts):
        if end is None or start >= end:
            total += kgram
        else:
            total += start + kgram - end
        end = start + kgram if end is None else max(end, start + kgram)
    return total


def _span(chain: _Chain, a: Fingerprints, b: Fingerprints, kgram: int) -> Span:
    first_a, first_b = chain.points[0][2], chain.points[0][3]
    index_a, index_b = [p[2] for p in chain.points], [p[3] for p in chain.points]
    return Span(a.names[a.files[first_a]], (min(a.first_lines[i] for i in index_a), max(a.last_lines[i] for i in index_a)),
                b.names[b.files[first_b]], (min(b.first_lines[i] for i in index_b), max(b.last_lines[i] for i in index_b)),
                _covered([p[0] for p in chain.points], kgram))


def _reach(chain: _Chain, side: int, kgram: int) -> tuple[int, int]:
    """The tokens [first, end) a chain covers on side 0 (A) or 1 (B)."""
    return chain.points[0][side], max(p[side] for p in chain.points) + kgram


def _tiles(chains: list[_Chain], kgram: int) -> list[_Chain]:
    """The chains, longest first, each kept unless it covers again more than ``kgram`` tokens of a longer kept one
    on either side: every stretch of code is matched once (a repeated line matching everywhere is dropped)."""
    kept: list[_Chain] = []
    reaches: list[tuple[tuple[int, int], tuple[int, int]]] = []
    longest = sorted(chains, key=lambda c: (-(c.points[-1][0] - c.points[0][0]), c.points[0][0], c.points[0][1]))
    for chain in longest[:MAX_CHAINS]:
        a, b = _reach(chain, 0, kgram), _reach(chain, 1, kgram)
        if all(min(a[1], ka[1]) - max(a[0], ka[0]) <= kgram and min(b[1], kb[1]) - max(b[0], kb[0]) <= kgram
               for ka, kb in reaches):
            kept.append(chain)
            reaches.append((a, b))
    return kept


def matched(a: Fingerprints, b: Fingerprints, shared: set[int], settings: Settings) -> tuple[list[Span], int, int]:
    """(the matched spans, in A's order; the tokens of A and of B they cover) of two submissions' ``shared``
    fingerprints."""
    chains = _tiles(_chains(a, b, shared, settings.kgram + settings.window), settings.kgram)
    tokens_a = _covered([p[0] for c in chains for p in c.points], settings.kgram)
    tokens_b = _covered([p[1] for c in chains for p in c.points], settings.kgram)
    spans = [_span(c, a, b, settings.kgram) for c in chains[:MAX_SPANS]]
    order = {name: i for i, name in enumerate(a.names)}
    return sorted(spans, key=lambda s: (order[s.a_file], s.a_lines, s.b_file, s.b_lines)), tokens_a, tokens_b


def fingerprint_class(spec: Spec, entries) -> list[Fingerprints]:
    """Each entry's fingerprints (in the entries' order), by the spec's ``[similarity]`` settings, the starters'
    beside the spec removed. One submission is read at a time; only the fingerprints are kept."""
    settings = Settings.of(spec)
    starter = starter_hashes(Path(spec.path).parent, settings.kgram)
    return [fingerprint(read_sources(entry.path).files, settings.kgram, settings.window, starter,
                        settings.compare_models) for entry in entries]


def _rare(prints: list[Fingerprints], max_common: int) -> tuple[dict[int, list[int]], list[int]]:
    """(hash -> the submissions holding it, for the hashes held by 2 to ``max_common`` submissions; each
    submission's count of hashes held by at most ``max_common``): the inverted index and the shares' bases."""
    held: Counter[int] = Counter()
    for found in prints:
        held.update(found.distinct())
    index: dict[int, list[int]] = {}
    for number, found in enumerate(prints):
        for value in found.distinct():
            if 2 <= held[value] <= max_common:
                index.setdefault(value, []).append(number)
    sizes = [sum(1 for value in found.distinct() if held[value] <= max_common) for found in prints]
    return index, sizes


def _candidates(index: dict[int, list[int]], sizes: list[int], prints: list[Fingerprints], settings: Settings):
    """(i, j, the rare hashes they share) for each pair i < j where either side shares ``min_share`` of its
    fingerprints, one submission's row of counts at a time."""
    for i, found in enumerate(prints):
        counts: Counter[int] = Counter()
        mine = [value for value in found.distinct() if value in index]
        for value in mine:
            counts.update(j for j in index[value] if j > i)
        for j in sorted(counts):
            if max(counts[j] / max(sizes[i], 1), counts[j] / max(sizes[j], 1)) >= settings.min_share:
                theirs = prints[j].distinct()
                yield i, j, {value for value in mine if value in theirs}


def compare_class(spec: Spec, entries) -> list[SimilarPair]:
    """Every pair of ``entries`` whose code is alike by the spec's ``[similarity]`` thresholds: either side has at
    least ``min_share`` of its fingerprints (the starter's and those of more than ``max_common`` submissions left
    out) in the other, and the matched spans cover at least ``min_tokens`` tokens on both sides. Ordered by the
    larger share, highest first, then by the entries' order; the same inputs give the same pairs."""
    return compare_fingerprints(spec, entries, fingerprint_class(spec, entries))


def compare_fingerprints(spec: Spec, entries, prints: list[Fingerprints]) -> list[SimilarPair]:
    """:func:`compare_class` on the entries' fingerprints from :func:`fingerprint_class`."""
    settings = Settings.of(spec)
    index, sizes = _rare(prints, settings.max_common)
    pairs = []
    for i, j, shared in _candidates(index, sizes, prints, settings):
        spans, tokens_a, tokens_b = matched(prints[i], prints[j], shared, settings)
        if min(tokens_a, tokens_b) >= settings.min_tokens:
            pairs.append((i, j, SimilarPair(entries[i].student, entries[j].student, round(len(shared) / sizes[i], 4),
                                            round(len(shared) / sizes[j], 4), tokens_a, tokens_b, spans)))
    pairs.sort(key=lambda p: (-max(p[2].share_a, p[2].share_b), p[0], p[1]))
    _attach_texts([(entries[i], entries[j], pair) for i, j, pair in pairs])
    return [pair for _, _, pair in pairs]


def _view_files(sources: Sources, names: list[str]) -> dict[str, str]:
    """The texts of the files ``names`` (in that order), at most :data:`MAX_VIEW_CHARS` in all: the last one kept
    may be cut short, the ones after it are left out."""
    texts = {unit.name: unit.text for unit in sources.files}
    kept, left = {}, MAX_VIEW_CHARS
    for name in names:
        if left <= 0:  # the rest is not kept: the view says so
            break
        kept[name] = texts.get(name, "")[:left]
        left -= len(kept[name])
    return kept


def _attach_texts(pairs) -> None:
    """Fill each pair's ``files_a`` / ``files_b`` from its submissions, read again (a few held at once)."""
    recent: OrderedDict[str, Sources] = OrderedDict()

    def sources_of(entry) -> Sources:
        if entry.student not in recent:
            recent[entry.student] = read_sources(entry.path)
            if len(recent) > 4:
                recent.popitem(last=False)
        return recent[entry.student]

    for entry_a, entry_b, pair in pairs:
        pair.files_a = _view_files(sources_of(entry_a), list(dict.fromkeys(s.a_file for s in pair.spans)))
        pair.files_b = _view_files(sources_of(entry_b), list(dict.fromkeys(s.b_file for s in pair.spans)))


def flag_text(other: str, mine: float, theirs: float) -> str:
    """``similar source to bob (62% of yours, 58% of theirs)``."""
    return f"{FLAG_KIND} to {other} ({mine:.0%} of yours, {theirs:.0%} of theirs)"


def similarity_flags(pairs: list[SimilarPair]) -> dict[str, list[Flag]]:
    """student -> a ``similar source`` flag per pair they are in (in the pairs' order); a student in no pair is
    not a key. Flags are for the instructor to read the pair; they are never scored."""
    flags: dict[str, list[Flag]] = {}
    for pair in pairs:
        flags.setdefault(pair.a, []).append(Flag(FLAG_KIND, flag_text(pair.b, pair.share_a, pair.share_b)))
        flags.setdefault(pair.b, []).append(Flag(FLAG_KIND, flag_text(pair.a, pair.share_b, pair.share_a)))
    return flags
