"""Winnowing fingerprints of code: what the similarity flags compare (:mod:`grader.batch.similarity`).

Public interface:

* :func:`normalized_tokens`: a text's tokens as compared: every name one symbol, every number and string its kind
  (an f-string one string, on every Python), operators and keywords themselves, statement ends and indentation a
  symbol each; comments, layout and import statements dropped, a run of statements of one shape (a block of
  ``parser.add_argument(...)`` lines) kept once, and a long run of tokens repeating with a short period (a literal
  list of padding) cut short.
* :func:`kgram_hashes`, :func:`winnow`: the hash of every ``k`` consecutive tokens, and winnowing's choice
  among them (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document fingerprinting",
  SIGMOD 2003: the rightmost minimum of every ``window`` hashes).
* :class:`Fingerprints`, :func:`fingerprint`: one submission's fingerprints, each with its file, its lines and the
  tokens of its own (neither the starter's nor the network's) it covers, in flat arrays (their size is what the
  class's memory grows by), and notes on what was not compared.
* :func:`starter_hashes`: every k-gram hash of an assignment's starters and boilerplate, removed from every
  submission.

Bounds: at most :data:`MAX_TOKENS` tokens read from one submission (its files smallest first, so a file of padding
is the one cut), at most :data:`MAX_FINGERPRINTS` distinct fingerprints kept and :data:`MAX_REPEATS` places of
each; a bound reached is a note, never silent.

Hashes are the same in every process and on every machine (blake2b token values, a polynomial modulo 2**61 - 1):
never Python's salted ``hash``, so the same class gives the same flags on every run.
"""
from __future__ import annotations

import hashlib
import io
import keyword
import re
import tokenize
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.sources import SourceFile, read_sources
from grader.i18n import _

MAX_TOKENS = 300_000  # tokens read per submission: the time bound (a real one has 1,500 to 6,000)
MAX_FINGERPRINTS = 20_000  # distinct fingerprints kept per submission (a real one has 400 to 2,000)
MAX_REPEATS = 16  # places kept of one fingerprint in one submission (a pair is matched at these)
MAX_STATEMENT = 2_000  # tokens of one statement held to compare with the next (a longer one is never collapsed)
MAX_PERIOD, MAX_RUN = 8, 24  # tokens repeating with a period up to 8 for more than 24 tokens: padding, cut
MODULUS, BASE = (1 << 61) - 1, 1_000_003
STARTERS = ("starter.py", "starter.ipynb")
END, INDENT, DEDENT = ";", "INDENT", "DEDENT"  # never an operator's text
_SKIPPED = {"NL", "ENCODING", "ENDMARKER", "TYPE_COMMENT", "COMMENT"}
_KINDS = {"NUMBER": "0", "STRING": "S", "NEWLINE": END, "INDENT": INDENT, "DEDENT": DEDENT}
_FALLBACK = re.compile(r"[^\W\d]\w*|\d[\w.]*|'[^'\n]*'?|\"[^\"\n]*\"?|#[^\n]*|[^\s\w]")
_LEFT_OUT = ("__init__", "forward")  # a network's methods that hold its layer table


def _symbol(kind: str, text: str) -> str | None:
    """What the comparison sees of one token (None: nothing)."""
    if kind == "NAME":
        return text if keyword.iskeyword(text) else "N"
    if kind in _SKIPPED:
        return None
    if kind in _KINDS:
        return _KINDS[kind]
    if kind == "ERRORTOKEN":
        return "?" if text.strip() else None
    return text  # OP: the operator itself


def _fallback_symbol(text: str) -> str | None:
    if text[0] == "#":
        return None
    if text[0].isdigit():
        return "0"
    if text[0] in "'\"":
        return "S"
    if text[0].isalpha() or text[0] == "_":
        return _symbol("NAME", text)
    return text


def _string_parts() -> tuple[set[int], set[int]]:
    """The token types that open and close an f-string (or t-string) read in parts (Python 3.12 on): none before."""
    names = (("FSTRING_START", "TSTRING_START"), ("FSTRING_END", "TSTRING_END"))
    found = tuple({getattr(tokenize, name) for name in group if getattr(tokenize, name, None) is not None}
                  for group in names)
    return found[0], found[1]


def _symbols(text: str) -> Iterator[tuple[str, int, str | None]]:
    """(symbol, line, the name itself for a name, else "") of each token of ``text``; an f-string is one string
    whatever its parts. Where :mod:`tokenize` gives up (an unterminated string, a bad dedent, junk), the rest is
    read by a plain pattern, line by line, a statement's end at each (its tokens carry None: no structure is read
    from them), so any text yields tokens."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as an editor shows the lines; tokenize splits at \n
    starts, ends = _string_parts()
    last_line = code_line = depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            last_line = token.end[0]
            if token.type in starts or depth:  # an f-string's parts: one string, at its first line
                depth += (token.type in starts) - (token.type in ends)
                if token.type in starts and depth == 1:
                    yield "S", token.start[0], ""
                code_line = token.end[0]
                continue
            kind = tokenize.tok_name[token.type]
            symbol = _symbol(kind, token.string)
            if symbol is not None:  # a dedent is where its block ends, not at the next statement
                yield symbol, code_line if kind == "DEDENT" else token.start[0], token.string if kind == "NAME" else ""
                code_line = token.end[0] if kind != "DEDENT" else code_line
        return
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    for number, line in enumerate(text.split("\n")[last_line:], start=last_line + 1):  # as tokenize counts
        found = False
        for match in _FALLBACK.finditer(line):
            symbol = _fallback_symbol(match.group())
            if symbol is not None:
                found = True
                yield symbol, number, None
        if found:
            yield END, number, None


class _Counted:
    """At most ``limit`` items of ``items``; ``cut``: there were more."""

    def __init__(self, items: Iterable, limit: int):
        self.items, self.left, self.cut = iter(items), limit, False

    def __iter__(self) -> Iterator:
        for item in self.items:
            if self.left <= 0:
                self.cut = True
                return
            self.left -= 1
            yield item


def _statements(items: Iterable[tuple[str, int, str | None]]) -> Iterator[tuple[list, bool, bool]]:
    """(tokens, starts a statement, ends it) of each statement through its end, of each indent and dedent alone;
    a statement longer than :data:`MAX_STATEMENT` tokens comes in parts."""
    current: list = []
    fresh = True
    for item in items:
        if item[0] in (INDENT, DEDENT):
            if current:
                yield current, fresh, False
            yield [item], True, True
            current, fresh = [], True
            continue
        current.append(item)
        if item[0] == END or len(current) >= MAX_STATEMENT:
            yield current, fresh, item[0] == END
            current, fresh = [], item[0] == END
    if current:
        yield current, fresh, False


def _derives_module(tokens: list) -> bool:
    """Whether a class statement names a ``...Module`` base (``nn.Module``, ``LightningModule``) before its ``:``."""
    for symbol, _line, name in tokens:
        if symbol == ":":
            return False
        if name and name.endswith("Module"):
            return True
    return False


class _Structure:
    """The statements' tokens as compared: import statements dropped, a statement of the same shape as the one
    before it dropped, and each token marked when it lies in a network's ``__init__`` or ``forward`` (a class
    deriving from a Module: the layer table every correct solution writes alike), unless ``models``."""

    def __init__(self, models: bool):
        self.models = models
        self.level = 0
        self.previous: list[str] | None = None  # the shape of the statement before, at this level
        self.dropping = False  # in an import statement
        self.classes: list[int] = []  # the levels of the bodies of the network classes open
        self.region: int | None = None  # the level of the body of the left-out method being read
        self.opens: str | None = None  # "class" / "method": the header just read, whose body the next indent opens

    def block(self, symbol: str, line: int) -> tuple[str, int, bool]:
        marked = self.region is not None
        if symbol == INDENT:
            self.level += 1
            if self.opens == "class":
                self.classes.append(self.level)
            elif self.opens == "method":
                self.region = self.level
            marked = self.region is not None
        else:
            self.level -= 1
            if self.region is not None and self.level < self.region:
                self.region = None
            while self.classes and self.classes[-1] > self.level:
                self.classes.pop()
        self.opens, self.previous = None, None
        return symbol, line, marked

    def tokens(self, statements: Iterable[tuple[list, bool, bool]]) -> Iterator[tuple[str, int, bool]]:
        for tokens, starts, ends in statements:
            first = tokens[0][0]
            if first in (INDENT, DEDENT):
                yield self.block(first, tokens[0][1])
                continue
            self.opens = None
            if starts:
                self.dropping = first in ("import", "from")  # the modules a solution uses: anyone's
            if self.dropping:
                continue
            shape = [token[0] for token in tokens]
            if starts and ends and shape == self.previous:
                continue
            self.previous = shape if starts and ends else None
            if not self.models and starts:
                self._header(first, tokens)
            marked = self.region is not None or self.opens == "method"
            for symbol, line, _name in tokens:
                yield symbol, line, marked

    def _header(self, first: str, tokens: list) -> None:
        if first == "class" and _derives_module(tokens):
            self.opens = "class"
        elif first == "def" and self.region is None and self.classes and self.level == self.classes[-1] \
                and len(tokens) > 1 and tokens[1][2] in _LEFT_OUT:
            self.opens = "method"


def _unrepeated(items: Iterable[tuple[str, int, bool]]) -> Iterator[tuple[str, int, bool]]:
    """The items without the tail of a run repeating with a period of at most :data:`MAX_PERIOD` tokens for more
    than :data:`MAX_RUN` (``0, 0, 0, ...``): padding is a few tokens, never a budget spent."""
    history: list[str] = []
    runs = [0] * (MAX_PERIOD + 1)
    for item in items:
        symbol, long = item[0], False
        for period in range(1, min(len(history), MAX_PERIOD) + 1):
            if history[-period] == symbol:
                runs[period] += 1
                long = long or runs[period] > MAX_RUN
            else:
                runs[period] = 0
        history.append(symbol)
        if len(history) > 4 * MAX_PERIOD:
            del history[:-MAX_PERIOD]
        if not long:
            yield item


_VALUES: dict[str, int] = {}


def _value(symbol: str) -> int:
    """A symbol's 61-bit value, the same in every process (never Python's salted ``hash``)."""
    value = _VALUES.get(symbol)
    if value is None:
        value = int.from_bytes(hashlib.blake2b(symbol.encode("utf-8", "replace"), digest_size=8).digest()) % MODULUS
        if len(_VALUES) < 10_000:  # operators, keywords and kinds: a few hundred; junk is not kept
            _VALUES[symbol] = value
    return value


@dataclass
class _Tokens:
    """A text's tokens as compared: values, lines, marks (1: in a network's layer table); ``read`` of the budget,
    ``cut``: the text had more."""

    values: array
    lines: array
    marks: bytearray
    read: int
    cut: bool


def _tokens(text: str, limit: int, models: bool) -> _Tokens:
    counted = _Counted(_symbols(text), limit)
    values, lines, marks = array("q"), array("l"), bytearray()
    for symbol, line, mark in _unrepeated(_Structure(models).tokens(_statements(counted))):
        values.append(_value(symbol))
        lines.append(line)
        marks.append(mark)
    return _Tokens(values, lines, marks, limit - counted.left, counted.cut)


def normalized_tokens(text: str, limit: int = MAX_TOKENS) -> list[tuple[int, int, bool]]:
    """(value, line, in a network's layer table) of the tokens of ``text`` as compared (of at most ``limit``
    tokens read): a name is one symbol whatever it is, a number or string its kind, an operator or keyword itself,
    a statement's end and indentation a symbol each; comments, blank lines, layout and imports are not there, a
    statement of the shape of the one before it is dropped and a long run of a short period cut. The third field
    is True in the ``__init__`` and ``forward`` of a class deriving from a Module (``class MyCNN(nn.Module):``).
    Never raises, whatever the text."""
    tokens = _tokens(text, limit, False)
    return [(value, line, bool(mark)) for value, line, mark in zip(tokens.values, tokens.lines, tokens.marks,
                                                                    strict=True)]


def kgram_hashes(values, k: int) -> list[int]:
    """The hash of every run of ``k`` consecutive token values (a rolling polynomial modulo 2**61 - 1)."""
    if len(values) < k:
        return []
    top = pow(BASE, k - 1, MODULUS)
    current = 0
    for value in values[:k]:
        current = (current * BASE + value) % MODULUS
    hashes = [current]
    for i in range(k, len(values)):
        current = ((current - values[i - k] * top) * BASE + values[i]) % MODULUS
        hashes.append(current)
    return hashes


def winnow(hashes: list[int], window: int) -> list[int]:
    """Indexes of the hashes winnowing selects: the rightmost minimum of every ``window`` consecutive hashes (of
    all of them when there are fewer), each index once; so any match of ``window + k - 1`` tokens shares at least
    one fingerprint."""
    if len(hashes) <= window:
        return [min(range(len(hashes)), key=lambda i: (hashes[i], -i))] if hashes else []
    chosen: list[int] = []
    queue: list[int] = []  # indexes of increasing hashes: queue[head] is the window's rightmost minimum
    head = 0
    for i, value in enumerate(hashes):
        while len(queue) > head and hashes[queue[-1]] >= value:
            queue.pop()
        queue.append(i)
        if queue[head] <= i - window:
            head += 1
        if i >= window - 1 and (not chosen or chosen[-1] != queue[head]):
            chosen.append(queue[head])
        if head > 1024:  # keep the list short
            del queue[:head]
            head = 0
    return chosen


def _own_counts(hashes: list[int], starter: frozenset[int], marks: bytearray, kgram: int) -> list[int]:
    """For each token index t, how many tokens before t are the student's own: neither in a k-gram of the
    starter's (or the boilerplate's) nor in a network's layer table."""
    cover = [0] * (len(marks) + 1)
    for start, value in enumerate(hashes):
        if value in starter:
            cover[start] += 1
            cover[start + kgram] -= 1
    counts, depth, total = [0], 0, 0
    for index, mark in enumerate(marks):
        depth += cover[index]
        total += not depth and not mark
        counts.append(total)
    return counts


@dataclass
class Fingerprints:
    """One submission's fingerprints, the starter's removed: for each, its hash, its token position (files apart
    by more than any span's reach), its file (an index into ``names``), the lines its k-gram covers, and the span
    ``[own_starts, own_starts + own_lengths)`` of the student's own tokens it covers, in a count of those alone.
    ``notes``: what of the submission was not compared, and why (one line each)."""

    names: list[str] = field(default_factory=list)
    hashes: array = field(default_factory=lambda: array("q"))
    positions: array = field(default_factory=lambda: array("q"))
    files: array = field(default_factory=lambda: array("l"))
    first_lines: array = field(default_factory=lambda: array("l"))
    last_lines: array = field(default_factory=lambda: array("l"))
    own_starts: array = field(default_factory=lambda: array("q"))
    own_lengths: array = field(default_factory=lambda: array("H"))
    notes: list[str] = field(default_factory=list)

    def nbytes(self) -> int:
        """The bytes the fingerprint arrays hold."""
        return sum(a.itemsize * len(a) for a in (self.hashes, self.positions, self.files, self.first_lines,
                                                  self.last_lines, self.own_starts, self.own_lengths))

    def distinct(self) -> set[int]:
        return set(self.hashes)


class _Builder:
    """A submission's fingerprints, file by file, within the bounds."""

    def __init__(self, names: list[str], kgram: int, window: int, starter: frozenset[int], models: bool):
        self.found = Fingerprints(names=names)
        self.kgram, self.window, self.starter, self.models = kgram, window, starter, models
        self.places: dict[int, int] = {}  # hash -> its places kept
        self.tokens_left, self.offset, self.own_offset = MAX_TOKENS, 0, 0

    def add(self, index: int, text: str) -> bool:
        """Fingerprints file ``index``; False once a bound is reached (noted): the rest is not compared."""
        name = self.found.names[index]
        if self.tokens_left <= 0:
            self.found.notes.append(_("{name} and the rest: not compared (over a submission's {max} tokens)",
                                      name=name, max=format(MAX_TOKENS, ",")))
            return False
        tokens = _tokens(text, self.tokens_left, self.models)
        self.tokens_left -= tokens.read
        if tokens.cut:
            self.found.notes.append(_("{name}: only its first {read} tokens compared (a submission's limit is {max})",
                                      name=name, read=format(tokens.read, ","), max=format(MAX_TOKENS, ",")))
        hashes = kgram_hashes(tokens.values, self.kgram)
        own = _own_counts(hashes, self.starter, tokens.marks, self.kgram)
        whole = self._keep(index, hashes, tokens, own)
        self.offset += len(tokens.values) + 4 * (self.kgram + self.window)
        self.own_offset += own[-1]
        return whole and not tokens.cut

    def _keep(self, index: int, hashes: list[int], tokens: _Tokens, own: list[int]) -> bool:
        found, k = self.found, self.kgram
        for i in winnow(hashes, self.window):
            value, mine = hashes[i], own[i + k] - own[i]
            if value in self.starter or tokens.marks[i] or tokens.marks[i + k - 1]:
                continue
            places = self.places.get(value, 0)
            if places >= MAX_REPEATS:
                continue
            if not places and len(self.places) >= MAX_FINGERPRINTS:
                found.notes.append(_("{name} (from line {line}) and the rest: not compared (over a submission's {max} "
                                     "distinct fingerprints)", name=found.names[index], line=tokens.lines[i],
                                     max=format(MAX_FINGERPRINTS, ",")))
                return False
            self.places[value] = places + 1
            found.hashes.append(value)
            found.positions.append(self.offset + i)
            found.files.append(index)
            found.first_lines.append(tokens.lines[i])
            found.last_lines.append(tokens.lines[i + k - 1])
            found.own_starts.append(self.own_offset + own[i])
            found.own_lengths.append(mine)
        return True


def fingerprint(files: list[SourceFile], kgram: int, window: int, starter: frozenset[int] = frozenset(),
                models: bool = False) -> Fingerprints:
    """The winnowed fingerprints of a submission's ``files``, without any hash in ``starter`` (every k-gram hash of
    the starter's code, see :func:`starter_hashes`), none covering only the starter's tokens and, unless
    ``models``, none that starts or ends in a network's ``__init__`` or ``forward`` (its layer table). The files are
    read smallest first (a file of padding is the one a bound cuts), each bound reached is a line of ``notes``."""
    builder = _Builder([unit.name for unit in files], kgram, window, starter, models)
    for index in sorted(range(len(files)), key=lambda i: (len(files[i].text), i)):
        if not builder.add(index, files[index].text):
            break
    return builder.found


def starter_hashes(folder: str | Path, kgram: int, boilerplate: tuple[str, ...] = (),
                   notes: list[str] | None = None) -> frozenset[int]:
    """Every k-gram hash of the starters in ``folder`` (``starter.py``, ``starter.ipynb``, beside an assignment's
    spec) and of the ``boilerplate`` files (paths relative to ``folder``: files, folders or .zip): the code every
    student was given, never evidence of copying. Empty when there are none; a line in ``notes`` when there is
    neither a starter nor boilerplate, or a boilerplate path is missing or not all read."""
    folder = Path(folder)
    paths = [folder / name for name in STARTERS if (folder / name).is_file()]
    notes = notes if notes is not None else []
    if not paths and not boilerplate:
        notes.append(_("no starter ({py} or {ipynb}) beside the spec in {folder}: no starter code was removed (a "
                       "starter under another name goes in [similarity] boilerplate)", py=STARTERS[0],
                       ipynb=STARTERS[1], folder=folder))
    for name in boilerplate:
        if (folder / name).exists():
            paths.append(folder / name)
        else:
            notes.append(_("boilerplate {name}: not found in {folder}, not removed", name=name, folder=folder))
    hashes: set[int] = set()
    for path in paths:
        sources = read_sources(path)
        notes += [_("boilerplate {name}: {note}", name=path.name, note=line) for line in sources.skipped]
        for unit in sources.files:
            tokens = _tokens(unit.text, MAX_TOKENS, True)
            notes += [_("boilerplate {name}: only its first {read} tokens removed", name=unit.name,
                        read=format(tokens.read, ","))] if tokens.cut else []
            hashes.update(kgram_hashes(tokens.values, kgram))
    return frozenset(hashes)
