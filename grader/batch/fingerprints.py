"""Winnowing fingerprints of code: what the similarity flags compare (:mod:`grader.batch.similarity`).

Public interface:

* :func:`normalized_tokens`: a text's tokens as compared: every name one symbol, every number and string its kind,
  operators and keywords themselves, statement ends and indentation a symbol each; comments and layout dropped.
* :func:`kgram_hashes`, :func:`winnow`: the hash of every ``k`` consecutive tokens, and winnowing's choice
  among them (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document fingerprinting",
  SIGMOD 2003: the rightmost minimum of every ``window`` hashes).
* :class:`Fingerprints`, :func:`fingerprint`: one submission's fingerprints, each with its file and lines, in flat
  arrays (their size is what the class's memory grows by).
* :func:`starter_hashes`: every k-gram hash of an assignment's starters, removed from every submission.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grader.batch.sources import SourceFile, read_sources

MAX_TOKENS = 50_000  # tokens fingerprinted per submission (a real one has 1,500 to 6,000)
MODULUS, BASE = (1 << 61) - 1, 1_000_003
STARTERS = ("starter.py", "starter.ipynb")
_SKIPPED = {"NL", "ENCODING", "ENDMARKER", "TYPE_COMMENT", "FSTRING_MIDDLE", "FSTRING_END", "COMMENT"}
_KINDS = {"NUMBER": "0", "STRING": "S", "FSTRING_START": "S", "NEWLINE": ";", "INDENT": ">", "DEDENT": "<"}
_FALLBACK = re.compile(r"[^\W\d]\w*|\d[\w.]*|'[^'\n]*'?|\"[^\"\n]*\"?|#[^\n]*|[^\s\w]")


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


def _symbols(text: str) -> Iterator[tuple[str, int, str | None]]:
    """(symbol, line, the name itself for a name, else "") of each token of ``text``; where :mod:`tokenize` gives
    up (an unterminated string, a bad dedent, junk), the rest is read by a plain pattern, line by line (its tokens
    carry None: no structure is read from them), so any text yields tokens."""
    last_line = code_line = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = tokenize.tok_name[token.type]
            symbol = _symbol(kind, token.string)
            if symbol is not None:  # a dedent is where its block ends, not at the next statement
                yield symbol, code_line if kind == "DEDENT" else token.start[0], token.string if kind == "NAME" else ""
                code_line = token.end[0] if kind != "DEDENT" else code_line
            last_line = token.end[0]
        return
    except (tokenize.TokenError, SyntaxError, ValueError):
        pass
    for number, line in enumerate(text.split("\n")[last_line:], start=last_line + 1):  # as tokenize counts
        for match in _FALLBACK.finditer(line):
            symbol = _fallback_symbol(match.group())
            if symbol is not None:
                yield symbol, number, None


_VALUES: dict[str, int] = {}


def _value(symbol: str) -> int:
    """A symbol's 61-bit value, the same in every process (never Python's salted ``hash``)."""
    value = _VALUES.get(symbol)
    if value is None:
        value = int.from_bytes(hashlib.blake2b(symbol.encode("utf-8", "replace"), digest_size=8).digest()) % MODULUS
        if len(_VALUES) < 10_000:  # operators, keywords and kinds: a few hundred; junk is not kept
            _VALUES[symbol] = value
    return value


def _model_header(symbols: list[tuple[str, int, str | None]], start: int) -> int | None:
    """The index of the ``:`` ending the class statement at ``start`` when one of its bases is a ``...Module``
    (``nn.Module``, ``torch.nn.Module``, ``LightningModule``), else None."""
    for index in range(start + 1, min(start + 200, len(symbols))):
        symbol, _, name = symbols[index]
        if name and name.endswith("Module"):
            return next((i for i in range(index, min(start + 200, len(symbols))) if symbols[i][0] == ":"), None)
        if symbol in (":", ";") or name is None:
            return None
    return None


def _in_models(symbols: list[tuple[str, int, str | None]]) -> list[bool]:
    """For each token, whether it lies in a class deriving from a Module: a network, whose layer table every
    correct solution writes alike."""
    marks = [False] * len(symbols)
    index = 0
    while index < len(symbols):
        header = _model_header(symbols, index) if symbols[index][0] == "class" else None
        if header is None:
            index += 1
            continue
        end = header + 1
        if symbols[end:end + 2] and [s[0] for s in symbols[end:end + 2]] == [";", ">"]:  # a block: to its dedent
            inner, end = 0, end + 1
            while end < len(symbols) and not (symbols[end][0] == "<" and inner == 1):
                inner += (symbols[end][0] == ">") - (symbols[end][0] == "<")
                end += 1
        else:  # class A(nn.Module): pass
            while end < len(symbols) and symbols[end][0] != ";":
                end += 1
        marks[index:end + 1] = [True] * (min(end + 1, len(symbols)) - index)
        index = end + 1
    return marks


def normalized_tokens(text: str, limit: int = MAX_TOKENS) -> list[tuple[int, int, bool]]:
    """(value, line, in a network) of at most ``limit`` tokens of ``text``, as compared: a name is one symbol
    whatever it is, a number or string its kind, an operator or keyword itself, a statement's end and indentation
    a symbol each; comments, blank lines and layout are not there. The third field is True inside a class that
    derives from a Module (``class MyCNN(nn.Module):``). Never raises, whatever the text."""
    symbols: list[tuple[str, int, str | None]] = []
    for item in _symbols(text):
        if len(symbols) >= limit:
            break
        symbols.append(item)
    marks = _in_models(symbols)
    return [(_value(symbol), line, mark) for (symbol, line, _), mark in zip(symbols, marks, strict=True)]


def kgram_hashes(values: list[int], k: int) -> list[int]:
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


@dataclass
class Fingerprints:
    """One submission's fingerprints, the starter's removed: for each, its hash, its token position (files apart
    by more than any span's reach), its file (an index into ``names``) and the lines its k-gram covers."""

    names: list[str] = field(default_factory=list)
    hashes: array = field(default_factory=lambda: array("q"))
    positions: array = field(default_factory=lambda: array("q"))
    files: array = field(default_factory=lambda: array("l"))
    first_lines: array = field(default_factory=lambda: array("l"))
    last_lines: array = field(default_factory=lambda: array("l"))

    def nbytes(self) -> int:
        """The bytes the fingerprint arrays hold."""
        return sum(a.itemsize * len(a) for a in (self.hashes, self.positions, self.files, self.first_lines,
                                                  self.last_lines))

    def distinct(self) -> set[int]:
        return set(self.hashes)


def fingerprint(files: list[SourceFile], kgram: int, window: int, starter: frozenset[int] = frozenset(),
                models: bool = False) -> Fingerprints:
    """The winnowed fingerprints of a submission's ``files`` (at most :data:`MAX_TOKENS` tokens in all), without
    any hash in ``starter`` (every k-gram hash of the starter's code, see :func:`starter_hashes`) and, unless
    ``models``, none that starts or ends in a network's class (its layer table)."""
    found = Fingerprints()
    budget, offset = MAX_TOKENS, 0
    for unit in files:
        tokens = normalized_tokens(unit.text, budget)
        budget -= len(tokens)
        hashes = kgram_hashes([value for value, _, _ in tokens], kgram)
        index = len(found.names)
        found.names.append(unit.name)
        for i in winnow(hashes, window):
            if hashes[i] in starter or not models and (tokens[i][2] or tokens[i + kgram - 1][2]):
                continue
            found.hashes.append(hashes[i])
            found.positions.append(offset + i)
            found.files.append(index)
            found.first_lines.append(tokens[i][1])
            found.last_lines.append(tokens[i + kgram - 1][1])
        offset += len(tokens) + 4 * (kgram + window)
        if budget <= 0:
            break
    return found


def starter_hashes(folder: str | Path, kgram: int) -> frozenset[int]:
    """Every k-gram hash of the starters in ``folder`` (``starter.py``, ``starter.ipynb``, beside an assignment's
    spec): the code every student was given, never evidence of copying. Empty when there are none."""
    hashes: set[int] = set()
    for name in STARTERS:
        path = Path(folder) / name
        if path.is_file():
            for unit in read_sources(path).files:
                hashes.update(kgram_hashes([value for value, _, _ in normalized_tokens(unit.text)], kgram))
    return frozenset(hashes)
