"""Class-level flags for similar source code: token winnowing over each submission's code, the starter removed.

Public interface:

* :class:`Span`, :class:`SimilarPair`: what a flag carries (JSON-serialisable, ``to_dict`` / ``from_dict``): the
  two students, the share of each one's fingerprints found in the other's, the matched stretches (file and line
  range on each side) and the texts of the files holding them (bounded), so report.html can show them side by side
  (:mod:`grader.outputs.similarity_view`) from the store alone; ``group``: the members of a group of near-identical
  submissions the pair stands for (empty for a pair alone).
* :func:`compare_class`: every pair of the class above the spec's ``[similarity]`` thresholds, and the groups, in a
  stable order; the same as :func:`compare_fingerprints` on :func:`fingerprint_class` (the two steps apart, for the
  bench). :func:`compare_class_with_notes`: the same pairs in a :class:`ClassSimilarity`, with per-student notes on
  code that was not compared (``source not fully compared: ...``) and notes on the assignment (no starter found).
* :func:`similarity_flags`: those pairs as each student's flags (kind ``similar source``), never scored.

How: each unit of code (:mod:`grader.batch.sources`) is tokenized with :mod:`tokenize`; every name becomes one
symbol, every number and string its kind, comments, layout and imports are dropped (a copy that renames, re-comments
and reorders its functions keeps its fingerprints). Hashes of every ``kgram`` tokens are winnowed (Schleimer,
Wilkerson and Aiken, SIGMOD 2003: the rightmost minimum of each ``window``), and those of the assignment's starters
(``starter.py``, ``starter.ipynb`` beside the spec) and ``boilerplate`` files are removed. An inverted index
(fingerprint -> submissions) finds the pairs; a fingerprint held by more than :func:`common_cutoff` submissions
(``max_common``, or 5% of a larger class) is skipped (as MOSS does), so only the pairs sharing rare fingerprints are
ever looked at, and memory is the fingerprints and one row of counts. A group of near-identical submissions, whose
fingerprints are common only because so many hold them, is found apart: the fingerprints held by exactly the same
submissions are counted, and a set of submissions holding many such is checked member by member.
"""
from __future__ import annotations

import heapq
import math
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.batch.fingerprints import BASE, MAX_REPEATS, MODULUS, Fingerprints, fingerprint, starter_hashes
from grader.batch.sources import Sources, read_sources
from grader.i18n import _
from grader.report import Flag
from grader.spec import SIMILARITY_DEFAULTS, Spec

FLAG_KIND = "similar source"
MAX_POSITIONS = MAX_REPEATS  # places of one fingerprint in one submission paired up when matching spans
MAX_SPANS = 200  # spans a pair keeps (the longest)
MAX_POINTS = 10_000  # pairs of places of shared fingerprints chained for one pair of submissions
MAX_CHAINS = 1_000  # chains tiled for one pair (the longest): two copies of one huge file stay quick
MAX_VIEW_CHARS = 200_000  # characters of matched files a pair keeps per side, for the side-by-side view
MIN_SPAN_TOKENS = 20  # own tokens a span needs on both sides to count toward min_tokens (two lines or so)
COMMON_SHARE = 0.05  # a fingerprint held by more than this share of a class (and max_common) is an idiom
GROUP_SIZE = 3  # near-identical submissions flagged as one group from this many on (two are a pair)
GROUP_SHARE = 0.8  # each member of a group has this share of its fingerprints in the group's first, and back
GROUP_ROUNDS = 8  # first members tried in one set of submissions that hold many fingerprints only they hold
GROUP_NAMES = 5  # other members a group's flag names
MAX_NOTES = 5  # notes on code not compared, per student


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
    A's; ``tokens_a`` / ``tokens_b`` tokens of each side's own (not the starter's) lie in the matched ``spans``.
    ``files_a`` / ``files_b``: the text of each file holding a span (at most :data:`MAX_VIEW_CHARS` per side, a
    longer file cut short). ``group``: every member of the group of near-identical submissions the pair is one
    link of (A is the group's first), or empty for a pair alone."""

    a: str
    b: str
    share_a: float
    share_b: float
    tokens_a: int
    tokens_b: int
    spans: list[Span] = field(default_factory=list)
    files_a: dict[str, str] = field(default_factory=dict)
    files_b: dict[str, str] = field(default_factory=dict)
    group: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "share_a": self.share_a, "share_b": self.share_b, "tokens_a": self.tokens_a,
                "tokens_b": self.tokens_b, "spans": [s.to_dict() for s in self.spans], "files_a": dict(self.files_a),
                "files_b": dict(self.files_b), "group": list(self.group)}

    @classmethod
    def from_dict(cls, data: dict) -> SimilarPair:
        """The pair ``to_dict`` wrote; ValueError / KeyError / TypeError on data of another shape."""
        files = {side: {str(k): str(v) for k, v in dict(data[side]).items()} for side in ("files_a", "files_b")}
        return cls(str(data["a"]), str(data["b"]), float(data["share_a"]), float(data["share_b"]),
                   int(data["tokens_a"]), int(data["tokens_b"]), [Span.from_dict(s) for s in data["spans"]],
                   files["files_a"], files["files_b"], [str(s) for s in data.get("group", [])])


@dataclass(frozen=True)
class Settings:
    """The spec's ``[similarity]`` table (see docs/spec-format.md), its defaults under what the spec leaves out."""

    kgram: int
    window: int
    min_share: float
    min_tokens: int
    max_common: int
    compare_models: bool
    boilerplate: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: Spec) -> Settings:
        table = {**SIMILARITY_DEFAULTS, **spec.similarity}
        return cls(int(table["kgram"]), int(table["window"]), float(table["min_share"]), int(table["min_tokens"]),
                   int(table["max_common"]), bool(table["compare_models"]),
                   tuple(str(path) for path in table["boilerplate"]))


def common_cutoff(students: int, max_common: int) -> int:
    """The most submissions a fingerprint may be held by and still count (more: an idiom, skipped): ``max_common``,
    or :data:`COMMON_SHARE` of a class large enough for that to be more."""
    return max(max_common, math.ceil(COMMON_SHARE * students))


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


def _own(found: Fingerprints, indexes) -> int:
    """The student's own tokens (neither the starter's nor the network's) the fingerprints at ``indexes`` cover."""
    total, end = 0, -1
    for start, length in sorted((found.own_starts[i], found.own_lengths[i]) for i in indexes):
        stop = start + length
        total += max(0, stop - max(start, end))
        end = max(end, stop)
    return total


def _span(chain: _Chain, a: Fingerprints, b: Fingerprints) -> Span:
    first_a, first_b = chain.points[0][2], chain.points[0][3]
    index_a, index_b = [p[2] for p in chain.points], [p[3] for p in chain.points]
    return Span(a.names[a.files[first_a]], (min(a.first_lines[i] for i in index_a), max(a.last_lines[i] for i in index_a)),
                b.names[b.files[first_b]], (min(b.first_lines[i] for i in index_b), max(b.last_lines[i] for i in index_b)),
                _own(a, index_a))


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
    """(the matched spans, in A's order; the tokens of A's own and of B's covered by the spans of at least
    :data:`MIN_SPAN_TOKENS` on both sides: neither the starter's, the network's, nor a line or two alike by chance
    count) of two submissions' ``shared`` fingerprints."""
    chains = _tiles(_chains(a, b, shared, settings.kgram + settings.window), settings.kgram)
    long = [c for c in chains if min(_own(a, [p[2] for p in c.points]), _own(b, [p[3] for p in c.points]))
            >= MIN_SPAN_TOKENS]
    tokens_a = _own(a, [p[2] for c in long for p in c.points])
    tokens_b = _own(b, [p[3] for c in long for p in c.points])
    spans = [_span(c, a, b) for c in chains[:MAX_SPANS]]
    order = {name: i for i, name in enumerate(a.names)}
    return sorted(spans, key=lambda s: (order[s.a_file], s.a_lines, s.b_file, s.b_lines)), tokens_a, tokens_b


@dataclass
class ClassSimilarity:
    """A class's comparison: its ``pairs`` (:func:`compare_class`'s), ``notes``: student -> what of their code was
    not compared, one line each (``source not fully compared: ...``; a student with none is not a key), and
    ``class_notes``: what the instructor should know of the assignment's side (no starter beside the spec, a
    boilerplate path not found)."""

    pairs: list[SimilarPair]
    notes: dict[str, list[str]] = field(default_factory=dict)
    class_notes: list[str] = field(default_factory=list)


def _class_prints(spec: Spec, entries) -> tuple[list[Fingerprints], list[str]]:
    settings = Settings.of(spec)
    class_notes: list[str] = []
    starter = starter_hashes(Path(spec.path).parent, settings.kgram, settings.boilerplate, class_notes)
    prints = []
    for entry in entries:
        sources = read_sources(entry.path)
        found = fingerprint(sources.files, settings.kgram, settings.window, starter, settings.compare_models)
        found.notes[:0] = sources.skipped
        prints.append(found)
    return prints, class_notes


def fingerprint_class(spec: Spec, entries) -> list[Fingerprints]:
    """Each entry's fingerprints (in the entries' order), by the spec's ``[similarity]`` settings, the starters
    beside the spec and the boilerplate removed; each one's ``notes`` say what of it was not read or compared. One
    submission is read at a time; only the fingerprints are kept."""
    return _class_prints(spec, entries)[0]


def _held(prints: list[Fingerprints]) -> Counter[int]:
    """hash -> the number of submissions holding it."""
    held: Counter[int] = Counter()
    for found in prints:
        held.update(found.distinct())
    return held


def _rare(prints: list[Fingerprints], held: Counter[int], cutoff: int) -> tuple[dict[int, list[int]], list[int]]:
    """(hash -> the submissions holding it, for the hashes held by 2 to ``cutoff`` submissions; each submission's
    count of hashes held by at most ``cutoff``): the inverted index and the shares' bases."""
    index: dict[int, list[int]] = {}
    for number, found in enumerate(prints):
        for value in found.distinct():
            if 2 <= held[value] <= cutoff:
                index.setdefault(value, []).append(number)
    sizes = [sum(1 for value in found.distinct() if held[value] <= cutoff) for found in prints]
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


def _group_candidates(prints: list[Fingerprints], held: Counter[int], settings: Settings) -> list[list[int]]:
    """Sets of submissions (each sorted) holding many fingerprints that exactly they hold: at least
    ``min_tokens / (window + 1)`` (about half of what ``min_tokens`` tokens of code are winnowed to). A fingerprint
    common to the whole class is held by a different set of submissions than the next; a leaked solution's
    fingerprints are all held by the same ones."""
    holders: dict[int, int] = {}  # hash -> a digest of the submissions holding it, in order
    for number, found in enumerate(prints):
        for value in found.distinct():
            if held[value] >= GROUP_SIZE:
                holders[value] = (holders.get(value, 0) * BASE + number + 1) % MODULUS
    keys: Counter[tuple[int, int]] = Counter((digest, held[value]) for value, digest in holders.items())
    wanted = max(1, settings.min_tokens // (settings.window + 1))
    chosen = {key for key, count in keys.items() if count >= wanted}
    numbers: dict[tuple[int, int], int] = {}  # each chosen key -> its group's number
    representative: dict[int, int] = {}  # one hash of each chosen key -> its group's number
    for value, digest in holders.items():
        key = (digest, held[value])
        if key in chosen and key not in numbers:
            numbers[key] = representative[value] = len(numbers)
    groups: list[list[int]] = [[] for _key in numbers]
    for number, found in enumerate(prints):
        for value in found.distinct() & representative.keys():
            groups[representative[value]].append(number)
    return sorted(groups)


def _near_identical(members: tuple[int, ...], prints: list[Fingerprints], sets: dict[int, set[int]]) -> list[list[int]]:
    """The groups of at least :data:`GROUP_SIZE` among ``members`` whose fingerprints are nearly the same: each
    has :data:`GROUP_SHARE` of its fingerprints in its group's first member's, and the first as much in each (at
    most :data:`GROUP_ROUNDS` first members tried; ``sets``: the members' fingerprints, kept across calls)."""
    for number in members:
        if number not in sets:
            sets[number] = prints[number].distinct()
    found, left = [], list(members)
    for _round in range(GROUP_ROUNDS):
        if len(left) < GROUP_SIZE:
            break
        first, rest, group = left[0], list[int](), [left[0]]
        for number in left[1:]:
            shared = len(sets[first] & sets[number])
            alike = shared >= GROUP_SHARE * max(len(sets[first]), len(sets[number]), 1)
            (group if alike else rest).append(number)
        if len(group) >= GROUP_SIZE:
            found.append(group)
        left = rest
    return found


def _groups(prints: list[Fingerprints], held: Counter[int], settings: Settings) -> list[list[int]]:
    """The groups of near-identical submissions, each sorted, none sharing a member, in a stable order."""
    taken: set[int] = set()
    tried: set[tuple[int, ...]] = set()
    sets: dict[int, set[int]] = {}
    groups = []
    for candidate in _group_candidates(prints, held, settings):
        members = tuple(m for m in candidate if m not in taken)
        if len(members) < GROUP_SIZE or members in tried:
            continue
        tried.add(members)
        for group in _near_identical(members, prints, sets):
            groups.append(group)
            taken.update(group)
    return sorted(groups)


def _pair(entries, prints: list[Fingerprints], i: int, j: int, shared: set[int], bases: tuple[int, int],
          settings: Settings) -> SimilarPair | None:
    """The pair i, j when its spans cover ``min_tokens`` of each side's own tokens (shares over ``bases``)."""
    spans, tokens_a, tokens_b = matched(prints[i], prints[j], shared, settings)
    if min(tokens_a, tokens_b) < settings.min_tokens:
        return None
    return SimilarPair(entries[i].student, entries[j].student, round(len(shared) / max(bases[0], 1), 4),
                       round(len(shared) / max(bases[1], 1), 4), tokens_a, tokens_b, spans)


def _group_pairs(entries, prints: list[Fingerprints], groups: list[list[int]], settings: Settings) -> dict:
    """(first, member) -> the pair linking each member of each group to the group's first (its ``group``: all of
    them), over all the fingerprints they share; a member whose code covers too few tokens is left out."""
    found: dict[tuple[int, int], SimilarPair] = {}
    for group in groups:
        first, links = prints[group[0]].distinct(), {}
        for number in group[1:]:
            theirs = prints[number].distinct()
            pair = _pair(entries, prints, group[0], number, first & theirs, (len(first), len(theirs)), settings)
            if pair is not None:
                links[(group[0], number)] = pair
        members = [group[0]] + [j for _first, j in links]
        if len(members) >= GROUP_SIZE:
            for pair in links.values():
                pair.group = [entries[m].student for m in members]
            found.update(links)
    return found


def compare_class(spec: Spec, entries) -> list[SimilarPair]:
    """Every pair of ``entries`` whose code is alike by the spec's ``[similarity]`` thresholds: either side has at
    least ``min_share`` of its fingerprints (the starter's, the boilerplate's and the idioms' left out) in the
    other, and the matched spans cover at least ``min_tokens`` of each side's own tokens; and each group of
    near-identical submissions, as a pair from its first member to each other one. Ordered by the larger share,
    highest first, then by the entries' order; the same inputs give the same pairs."""
    return compare_class_with_notes(spec, entries).pairs


def compare_class_with_notes(spec: Spec, entries) -> ClassSimilarity:
    """:func:`compare_class`'s pairs, with the notes on what was not compared (see :class:`ClassSimilarity`)."""
    prints, class_notes = _class_prints(spec, entries)
    notes = {}
    for entry, found in zip(entries, prints, strict=True):
        if found.notes:
            lines = [_("source not fully compared: {note}", note=line) for line in found.notes[:MAX_NOTES]]
            more = len(found.notes) - MAX_NOTES
            notes[entry.student] = lines + ([_("source not fully compared: and {n} more", n=more)] if more > 0 else [])
    return ClassSimilarity(compare_fingerprints(spec, entries, prints), notes, class_notes)


def compare_fingerprints(spec: Spec, entries, prints: list[Fingerprints]) -> list[SimilarPair]:
    """:func:`compare_class` on the entries' fingerprints from :func:`fingerprint_class`."""
    settings = Settings.of(spec)
    held = _held(prints)
    index, sizes = _rare(prints, held, common_cutoff(len(prints), settings.max_common))
    found = _group_pairs(entries, prints, _groups(prints, held, settings), settings)
    grouped = {number: first for first, member in found for number in (first, member)}  # member -> its group's first
    for i, j, shared in _candidates(index, sizes, prints, settings):
        if grouped.get(i, -1 - i) != grouped.get(j, -1 - j):  # a group's own pairs are its links
            pair = _pair(entries, prints, i, j, shared, (sizes[i], sizes[j]), settings)
            if pair is not None:
                found[(i, j)] = pair
    pairs = sorted(found.items(), key=lambda item: (-max(item[1].share_a, item[1].share_b), item[0]))
    _attach_texts([(entries[i], entries[j], pair) for (i, j), pair in pairs])
    return [pair for _key, pair in pairs]


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
    """``similar source to bob (62% of yours is in theirs, 58% of theirs is in yours)``: which way each share goes,
    so a file framed in another (all of it in theirs, little of theirs in it) reads as such."""
    return _("similar source to {other} ({mine} of yours is in theirs, {theirs} of theirs is in yours)", other=other,
             mine=format(mine, ".0%"), theirs=format(theirs, ".0%"))


def group_text(student: str, group: list[str]) -> str:
    """``similar source: one of 12 near-identical submissions, with ann, bob, cid, dee, eve and 6 others``."""
    others = [member for member in group if member != student]
    named = ", ".join(others[:GROUP_NAMES])
    if len(others) > GROUP_NAMES:
        named = _("{names} and {n} others", names=named, n=len(others) - GROUP_NAMES)
    return _("similar source: one of {n} near-identical submissions, with {names}", n=len(group), names=named)


def similarity_flags(pairs: list[SimilarPair]) -> dict[str, list[Flag]]:
    """student -> a ``similar source`` flag per pair they are in (in the pairs' order), and one per group of
    near-identical submissions they are in (whatever the number of its pairs); a student in no pair is not a key.
    Flags are for the instructor to read the pair; they are never scored."""
    flags: dict[str, list[Flag]] = {}
    groups: set[tuple[str, ...]] = set()
    for pair in pairs:
        if pair.group:
            if tuple(pair.group) not in groups:
                groups.add(tuple(pair.group))
                for student in pair.group:
                    flags.setdefault(student, []).append(Flag(FLAG_KIND, group_text(student, pair.group)))
            continue
        flags.setdefault(pair.a, []).append(Flag(FLAG_KIND, flag_text(pair.b, pair.share_a, pair.share_b)))
        flags.setdefault(pair.b, []).append(Flag(FLAG_KIND, flag_text(pair.a, pair.share_b, pair.share_a)))
    return flags
