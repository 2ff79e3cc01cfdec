"""report.html's view of one similar pair: the two students' matched files side by side, the matches highlighted.

Public interface:

* :func:`side_by_side`: the view of a :class:`grader.batch.similarity.SimilarPair`, as Markup (no script, no
  network, nothing outside the page).
* :func:`visible`: a text with its bidirectional control characters shown as code points.
* :data:`SIDE_BY_SIDE_CSS`: its style rules, to be added once to the page's ``<style>`` (every rule's class
  starts with ``sim-``, so nothing else on the page is touched).

Each matched span has a colour, the same on both sides, and a number, shown on its first line on both sides and in
the list of spans above the files. Everything from the students (file names, code, names) is escaped: code holding
``</pre><script>`` shows as that text; and a bidirectional control character (U+202A to U+202E, U+2066 to U+2069,
U+200E, U+200F, U+061C), which would make code display in another order than it runs ("Trojan Source"), shows as
its code point (``⟨U+202E⟩``).
"""
from __future__ import annotations

from markupsafe import Markup

from grader.batch.similarity import SimilarPair, Span
from grader.i18n import _
from grader.outputs.html_text import markup

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

COLOURS = ("#ffe08a", "#a8e6cf", "#b9d7ff", "#ffc4d6", "#d9c8ff", "#c8f0a0", "#ffd3a8", "#a8e8ec")
SIDE_BY_SIDE_CSS = """
.sim-head { margin: .3em 0; }
.sim-spans { margin: .3em 0 .6em; padding-left: 1.4em; font-size: .9em; }
.sim-cols { display: flex; gap: .8em; align-items: flex-start; }
.sim-side { flex: 1 1 0; min-width: 0; max-height: 75vh; overflow: auto; border: 1px solid #ddd; border-radius: 4px; }
.sim-side h4 { margin: 0; padding: .25em .5em; background: #f4f4f4; position: sticky; top: 0; z-index: 1; }
.sim-name { padding: .2em .5em; font-weight: 600; border-top: 1px solid #ddd; background: #fafafa; }
table.sim-code { border-collapse: collapse; margin: 0; width: 100%; font: 12px/1.35 ui-monospace, monospace; }
table.sim-code td { border: 0; padding: 0 .4em; vertical-align: top; }
table.sim-code td.sim-n { color: #888; text-align: right; user-select: none; width: 3.5em; }
table.sim-code td.sim-k { width: 1.6em; font-weight: 700; text-align: center; user-select: none; }
table.sim-code td.sim-t { white-space: pre; }
.sim-key { display: inline-block; min-width: 1.4em; text-align: center; border-radius: 3px; font-weight: 700; }
""" + "".join(f".sim-c{i} {{ background: {colour}; }}\n" for i, colour in enumerate(COLOURS))


def visible(text: str) -> str:
    """``text`` with each bidirectional control character shown as its code point (``⟨U+202E⟩``)."""
    if not BIDI_CONTROLS.intersection(text):
        return text
    return "".join(f"\u27e8U+{ord(c):04X}\u27e9" if c in BIDI_CONTROLS else c for c in text)


def _colour(index: int) -> str:
    return f"sim-c{index % len(COLOURS)}"


def _lines_of(spans: list[Span], side: str, files: dict[str, str]) -> dict[str, dict[int, list[int]]]:
    """file -> line -> the numbers of the spans covering it on ``side`` ("a" or "b"), within the kept text."""
    found: dict[str, dict[int, list[int]]] = {}
    for number, span in enumerate(spans):
        name, (first, last) = (span.a_file, span.a_lines) if side == "a" else (span.b_file, span.b_lines)
        lines = found.setdefault(name, {})
        for line in range(max(first, 1), min(last, files.get(name, "").count("\n") + 1) + 1):
            lines.setdefault(line, []).append(number)
    return found


def _file(name: str, text: str, lines: dict[int, list[int]], starts: dict[int, int]) -> Markup:
    """One file's table of lines: number, the span starting there (if any), the code; matched lines coloured."""
    rows = []
    for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):  # as tokenize numbers them
        spans = lines.get(number, [])
        key = starts.get(number)  # a line where a span starts has its colour, whatever span ends there
        colour = Markup(' class="{}" title="{}"').format(_colour(spans[0] if key is None else key), _(
            "match {numbers}", numbers=", ".join(str(s + 1) for s in spans))) if spans else Markup("")
        rows.append(Markup('<tr{}><td class="sim-n">{}</td><td class="sim-k">{}</td><td class="sim-t">{}</td></tr>')
                    .format(colour, number, "" if key is None else key + 1, visible(line.rstrip("\r"))))
    return Markup('<div class="sim-name">{}</div><table class="sim-code">{}</table>').format(
        visible(name), Markup("").join(rows))


def _side(student: str, files: dict[str, str], spans: list[Span], side: str) -> Markup:
    lines = _lines_of(spans, side, files)
    parts = []
    for name, text in files.items():
        starts: dict[int, int] = {}
        for number, span in enumerate(spans):
            if (span.a_file if side == "a" else span.b_file) == name:
                starts.setdefault((span.a_lines if side == "a" else span.b_lines)[0], number)
        parts.append(_file(name, text, lines.get(name, {}), starts))
    return Markup('<div class="sim-side"><h4>{}</h4>{}</div>').format(visible(student), Markup("").join(parts))


def _span_list(pair: SimilarPair) -> Markup:
    items = []
    for number, span in enumerate(pair.spans):
        kept = span.a_file in pair.files_a and span.b_file in pair.files_b
        text = markup(_("{a_file} lines {a_first}&ndash;{a_last} &harr; {b_file} lines {b_first}&ndash;{b_last} "
                       "({tokens} tokens)"), a_file=visible(span.a_file), a_first=span.a_lines[0],
                     a_last=span.a_lines[1], b_file=visible(span.b_file), b_first=span.b_lines[0],
                     b_last=span.b_lines[1], tokens=span.tokens)
        items.append(Markup('<li><span class="sim-key {}">{}</span> {}{}</li>').format(
            _colour(number), number + 1, text, "" if kept else " " + _("(file not kept)")))
    return Markup('<ol class="sim-spans">{}</ol>').format(Markup("").join(items))


def side_by_side(pair: SimilarPair) -> Markup:
    """The two students' matched files side by side, each matched span highlighted in its own colour on both sides
    and numbered on its first line, under a line giving the shares each way and a list of the spans. The page
    needs :data:`SIDE_BY_SIDE_CSS` once in its ``<style>``; the markup holds no script and loads nothing."""
    a, b = visible(pair.a), visible(pair.b)
    shares = markup(_("{share_a} of {a}&rsquo;s fingerprints are in {b}&rsquo;s code, {share_b} of {b}&rsquo;s in "
                     "{a}&rsquo;s; {tokens_a} and {tokens_b} tokens in {spans} matched spans."),
                   share_a=format(pair.share_a, ".0%"), share_b=format(pair.share_b, ".0%"), a=a, b=b, tokens_a=pair.tokens_a,
                   tokens_b=pair.tokens_b, spans=len(pair.spans))
    group = Markup(" ") + markup(_("One of {n} near-identical submissions: {names}."), n=len(pair.group),
                                names=", ".join(map(visible, pair.group))) if pair.group else ""
    head = Markup('<p class="sim-head"><b>{}</b> &harr; <b>{}</b>: {}{}</p>').format(a, b, shares, group)
    columns = Markup('<div class="sim-cols">{}{}</div>').format(_side(pair.a, pair.files_a, pair.spans, "a"),
                                                                _side(pair.b, pair.files_b, pair.spans, "b"))
    return Markup('<div class="sim">{}{}{}</div>').format(head, _span_list(pair), columns)

