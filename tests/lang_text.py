"""What a Korean report may still hold in English: nothing but code, numbers, names and what the student wrote.

:func:`english_left` finds the runs of English words left in a text rendered in Korean once the student's own text
(their code lines, their exceptions' words) and code spans are taken out: a sentence the catalog misses shows up as
one. It is a test helper: the catalog's own completeness is tests/unit/test_i18n.py's."""
import json
import re

HANGUL = re.compile("[\uac00-\ud7a3]")
CODE = [re.compile(p) for p in (
    r"`[^`]*`",                      # code spans
    r"'[^'\n]*'|\"[^\"\n]*\"",       # quoted names and values
    r"[\w./-]+\.(py|ipynb|pt|json|csv|png|md|toml|html)\b",  # file names
    r"\b\w+(\.\w+)+\b",              # dotted names: nn.Conv2d, torch.load, self.conv1
    r"\b\w+\([^)]*\)",               # calls: Conv2d(1, 32, 5)
    r"https?://\S+",
    r"\b\w*(Error|Warning|Exception|Interrupt|Exit): [^\n]*",  # Python's and torch's own words (raised or warned)
)]
# Four English words in a row (short words too): what no Korean sentence of the catalog keeps.
RUN = re.compile(r"\b[A-Za-z][a-z']*(?:[ ,]+[A-Za-z][a-z']*){3,}\b")


def own_words(*paths) -> list[str]:
    """The student's own text: every stripped line of their files (a notebook's cell sources), for english_left."""
    lines = []
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            text = file.read_text(errors="replace") if file.suffix in (".py", ".ipynb", ".txt", ".md") else ""
            if file.suffix == ".ipynb":
                try:
                    cells = json.loads(text).get("cells", [])
                    text = "\n".join("".join(c.get("source", "")) for c in cells)
                except (ValueError, AttributeError):
                    pass
            lines += [line.strip() for line in text.splitlines() if len(line.strip()) > 3]
    return lines


def english_left(text: str, own: list[str] = ()) -> list[str]:
    """The English word runs left in ``text`` after removing ``own`` (the student's words) and code."""
    for words in sorted(own, key=len, reverse=True):
        if words:
            text = text.replace(words, " ")
    for pattern in CODE:
        text = pattern.sub(" ", text)
    return RUN.findall(text)
