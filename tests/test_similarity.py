"""Class-level source-similarity flags (grader.batch.similarity) on a real-shaped mycnn class
(tests/corpus/similarity/make_class.py): copies are flagged, independent solutions and the starter are not, and
hostile submissions neither crash the step nor make it unbounded."""
import dataclasses
import html.parser
import json
import os
import random
import re
import subprocess
import sys
import time
import zipfile

import pytest

from grader.batch.entries import Entry
from grader.batch.fingerprints import BASE, MODULUS, kgram_hashes, winnow
from grader.batch.similarity import MAX_VIEW_CHARS, SimilarPair, compare_class, similarity_flags
from grader.batch.sources import MAX_BYTES, read_sources
from grader.outputs.similarity_view import COLOURS, SIDE_BY_SIDE_CSS, side_by_side
from grader.spec import load_spec
from tests.conftest import CORPUS, ROOT
from tests.corpus.similarity.make_class import (
    CONDITIONS,
    COPIES,
    SEQUENTIAL,
    STARTER,
    as_notebook,
    fill,
    renamed_and_reordered,
    with_lines_inserted,
    write_class,
)

SIMILAR = CORPUS / "similarity"


@pytest.fixture(scope="module")
def spec():
    return load_spec("mycnn")


@pytest.fixture(scope="module")
def klass(tmp_path_factory, spec):
    """The real-shaped class and its pairs."""
    entries = [Entry(student, path) for student, path in write_class(tmp_path_factory.mktemp("sim") / "class")]
    return entries, compare_class(spec, entries)


def pair_of(pairs, one: str, other: str) -> SimilarPair | None:
    return next((p for p in pairs if {p.a, p.b} == {one, other}), None)


def test_kgram_hashes_and_winnowing_match_their_definitions():
    rng = random.Random(1)
    for _ in range(300):
        values = [rng.randrange(MODULUS) for _ in range(rng.randrange(0, 60))]
        k = rng.randrange(1, 12)
        expected = [sum(v * pow(BASE, k - 1 - j, MODULUS) for j, v in enumerate(values[i:i + k])) % MODULUS
                    for i in range(len(values) - k + 1)]
        assert kgram_hashes(values, k) == expected
        hashes = [rng.randrange(8) for _ in range(rng.randrange(0, 3000))]  # few values: ties everywhere
        window = rng.randrange(1, 9)
        chosen: list[int] = []
        for start in range(max(len(hashes) - window + 1, 1) if hashes else 0):
            span = range(start, min(start + window, len(hashes)))
            pick = min(span, key=lambda i: (hashes[i], -i))  # the window's minimum, the rightmost of equals
            if not chosen or chosen[-1] != pick:
                chosen.append(pick)
        assert winnow(hashes, window) == chosen, (hashes, window)


def test_exactly_the_copies_are_flagged_in_a_real_shaped_class(klass):
    entries, pairs = klass
    assert len(entries) == 15
    assert {(p.a, p.b) for p in pairs} == COPIES  # and no other pair: 11 independent solutions, 4 copies


def test_a_renamed_and_reordered_copy_is_flagged_with_its_moved_functions(klass):
    entries, pairs = klass
    pair = pair_of(pairs, "copy_renamed", "own_argparse")
    assert pair is not None and pair.a == "copy_renamed"
    copy, original = pair.files_a["copy_renamed.py"].splitlines(), pair.files_b["own_argparse.py"].splitlines()
    # its evaluate() (second function of the copy) is the original's test() (third definition), renamed
    evaluate = next(i for i, line in enumerate(copy, 1) if line.startswith("def evaluate("))
    test = next(i for i, line in enumerate(original, 1) if line.startswith("def test("))
    span = next(s for s in pair.spans if s.a_lines[0] <= evaluate + 1 <= s.a_lines[1])
    assert span.b_lines[0] <= test + 1 <= span.b_lines[1], span
    assert span.a_lines[1] - span.a_lines[0] >= 10  # the whole function, not a line of it


def test_a_mechanical_rename_and_reorder_of_a_solution_is_flagged(tmp_path, spec, klass):
    entries, _ = klass
    original = (SIMILAR / "own_class_trainer.py").read_text()
    copy = renamed_and_reordered(original)
    assert "Trainer" not in copy and "train_one_epoch" not in copy and copy != original
    (tmp_path / "renamed.py").write_text(copy)
    others = [e for e in entries if e.student != "copy_reworded"]  # the hand-made copy of the same file
    pairs = compare_class(spec, others + [Entry("renamed", tmp_path / "renamed.py")])
    pair = pair_of(pairs, "renamed", "own_class_trainer")
    assert pair is not None and min(pair.share_a, pair.share_b) >= 0.8, pair
    assert {(p.a, p.b) for p in pairs} == (COPIES - {("copy_reworded", "own_class_trainer")}) | {(pair.a, pair.b)}


def test_a_copy_edited_every_other_statement_renamed_and_reordered_is_still_flagged(tmp_path, spec, klass):
    entries, _ = klass
    original = (SIMILAR / "own_argparse.py").read_text()
    copy = renamed_and_reordered(with_lines_inserted(original, 2))
    assert copy.count("log_value(") > 40
    (tmp_path / "edited.py").write_text(copy)
    others = [e for e in entries if e.student != "copy_renamed"]
    pair = pair_of(compare_class(spec, others + [Entry("edited", tmp_path / "edited.py")]), "edited", "own_argparse")
    assert pair is not None and max(pair.share_a, pair.share_b) >= 0.5, pair


def test_independent_solutions_of_the_same_table_are_not_flagged(klass):
    entries, pairs = klass
    students = [e.student for e in entries]
    # the reference solution, and correct solutions with their own training loops, written differently
    independent = ["reference", "starter_reference"] + [s for s in students if s.startswith("own_")]
    for one in independent:
        for other in independent:
            if one < other:
                found = pair_of(pairs, one, other)
                assert found is None, found
    flagged = {s for p in pairs for s in (p.a, p.b)}
    assert "reference" not in flagged and "own_minimal" not in flagged and "own_notebook" not in flagged


def longhand_vgg() -> str:
    """A VGG-16 written out layer by layer, as tutorials write it (over 700 tokens: longer than min_tokens)."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    init, forward, channels, conv, pool = [], [], 3, 0, 0
    for item in cfg:
        if item == "M":
            pool += 1
            init.append(f"        self.pool{pool} = nn.MaxPool2d(2, 2)")
            forward.append(f"        x = self.pool{pool}(x)")
        else:
            conv += 1
            init += [f"        self.conv{conv} = nn.Conv2d({channels}, {item}, kernel_size=3, padding=1)",
                     f"        self.bn{conv} = nn.BatchNorm2d({item})"]
            forward.append(f"        x = F.relu(self.bn{conv}(self.conv{conv}(x)))")
            channels = item
    return ("class VGG16(nn.Module):\n    def __init__(self, num_classes=10):\n        super().__init__()\n"
            + "\n".join(init) + "\n        self.fc = nn.Linear(512, num_classes)\n\n    def forward(self, x):\n"
            + "\n".join(forward) + "\n        x = torch.flatten(x, 1)\n        return self.fc(x)\n")


def test_a_long_layer_table_written_alike_is_no_evidence_unless_networks_are_compared(tmp_path, spec):
    network = longhand_vgg()
    for name in ("own_minimal.py", "own_class_trainer.py"):  # independent loops, the same network pasted in
        (tmp_path / name).write_text((SIMILAR / name).read_text() + "\n\n" + network)
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())]
    assert compare_class(spec, entries) == []
    # a repeated line is one fingerprint however often it comes, so the network is a small share of the
    # fingerprints even when compared: a lower min_share, on both runs, shows what leaving it out does
    lower = {**spec.similarity, "min_share": 0.1}
    assert compare_class(dataclasses.replace(spec, similarity=lower), entries) == []
    models = dataclasses.replace(spec, similarity={**lower, "compare_models": True})
    assert [(p.a, p.b) for p in compare_class(models, entries)] == [("own_class_trainer", "own_minimal")]


def test_the_starter_alone_is_not_flagged_but_would_be_without_its_removal(tmp_path, spec):
    starter = (STARTER / "starter.py").read_text()
    same = fill(starter, SEQUENTIAL, CONDITIONS[0])  # two students who wrote only the same table into the starter
    (tmp_path / "ann.py").write_text(same)
    (tmp_path / "ben.py").write_text(same)
    (tmp_path / "cid.py").write_text(starter)  # and two who handed in the starter untouched
    (tmp_path / "dee.ipynb").write_text((STARTER / "starter.ipynb").read_text())
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())]
    assert compare_class(spec, entries) == []
    elsewhere = tmp_path / "no-starter" / "spec.toml"  # the same spec with no starter beside it
    without = compare_class(dataclasses.replace(spec, path=elsewhere), entries)
    assert ("ann", "ben") in {(p.a, p.b) for p in without}


def test_a_notebook_copy_of_a_py_solution_is_flagged_with_spans_in_its_cells(klass, tmp_path, spec):
    _, pairs = klass
    pair = pair_of(pairs, "copy_nb", "own_functional")
    assert pair is not None and all(re.fullmatch(r"copy_nb\.ipynb \[cell \d+\]", s.a_file) for s in pair.spans)
    original = (SIMILAR / "own_argparse.py").read_text()
    (tmp_path / "nb.ipynb").write_text(as_notebook(original))
    (tmp_path / "py.py").write_text(original)
    found = compare_class(spec, [Entry("nb", tmp_path / "nb.ipynb"), Entry("py", tmp_path / "py.py")])
    assert len(found) == 1 and found[0].share_a > 0.9 and found[0].share_b > 0.9
    cells = {name: text.split("\n") for name, text in found[0].files_a.items()}
    source = original.split("\n")
    for span in found[0].spans:  # each span maps to the same lines of code in the cell and in the file
        first, last = span.a_lines
        in_cell = [line.strip() for line in cells[span.a_file][first - 1:last]]
        in_file = [line.strip() for line in source[span.b_lines[0] - 1:span.b_lines[1]]]
        assert in_cell == in_file, span


def test_the_thresholds_come_from_the_spec(klass, spec):
    entries, pairs = klass
    pair = pair_of(pairs, "copy_helpers", "own_helpers")
    stricter = {**spec.similarity, "min_tokens": min(pair.tokens_a, pair.tokens_b) + 1}
    assert pair_of(compare_class(dataclasses.replace(spec, similarity=stricter), entries), "copy_helpers",
                   "own_helpers") is None
    share = {**spec.similarity, "min_share": max(pair.share_a, pair.share_b) + 0.01}
    assert pair_of(compare_class(dataclasses.replace(spec, similarity=share), entries), "copy_helpers",
                   "own_helpers") is None


def test_a_pair_survives_json_and_its_flags_name_the_shares_each_way(klass):
    _, pairs = klass
    for pair in pairs:
        again = SimilarPair.from_dict(json.loads(json.dumps(pair.to_dict())))
        assert again == pair and side_by_side(again) == side_by_side(pair)
    flags = similarity_flags(pairs)
    pair = pair_of(pairs, "copy_nb", "own_functional")
    mine = [f for f in flags["own_functional"] if "copy_nb" in f]
    assert [f.kind for f in mine] == ["similar source"]
    assert mine[0] == f"similar source to copy_nb ({pair.share_b:.0%} of yours, {pair.share_a:.0%} of theirs)"
    assert set(flags) == {s for p in pairs for s in (p.a, p.b)}


def test_the_same_class_gives_the_same_pairs_in_every_process(klass, tmp_path):
    entries, pairs = klass
    script = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
              "from grader.batch.entries import Entry; from grader.batch.similarity import compare_class;"
              "from grader.spec import load_spec;"
              "entries = [Entry(p.stem if p.is_file() else p.name, p) for p in sorted(Path(sys.argv[2]).iterdir())];"
              "print(json.dumps([p.to_dict() for p in compare_class(load_spec('mycnn'), entries)]))")
    folder = entries[0].path.parent
    outputs = [subprocess.run([sys.executable, "-c", script, str(ROOT), str(folder)], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    assert outputs[0] == outputs[1] and json.loads(outputs[0]) == [p.to_dict() for p in pairs]


def test_a_notebooks_code_is_read_cell_by_cell_with_its_magics_blanked_and_its_lines_kept():
    path = CORPUS / "real" / "colab_magics_mlp.ipynb"
    cells = {number: "".join(cell["source"]) for number, cell in enumerate(json.loads(path.read_text())["cells"], 1)
             if cell["cell_type"] == "code"}
    sources = read_sources(path)
    kept = {unit.name: unit.text for unit in sources.files}
    bash = [n for n, text in cells.items() if text.startswith("%%bash")]
    assert bash and all(f"colab_magics_mlp.ipynb [cell {n}]" not in kept for n in bash)  # not Python: left out
    assert any("a cell magic that is not Python" in line for line in sources.skipped)
    for number, text in cells.items():
        unit = kept.get(f"colab_magics_mlp.ipynb [cell {number}]")
        if unit is None:
            continue
        assert len(unit.split("\n")) == len(text.split("\n"))  # the student's own line numbers
        for theirs, ours in zip(text.split("\n"), unit.split("\n"), strict=True):
            magic = theirs.lstrip().startswith(("!", "%")) or "= !" in theirs or theirs.rstrip().endswith("?")
            assert ours == ("" if magic else theirs), (number, theirs)


def hostile_class(folder):
    """Submissions that do not tokenize, are not JSON, are huge, deep or zip bombs, beside an honest pair."""
    rng = random.Random(0)
    (folder / "junk.py").write_bytes(rng.randbytes(2 << 20))
    (folder / "huge.py").write_text("x = foo(bar, 'baz') + 1  # again\n" * 400_000)  # 13 MB
    (folder / "deep.py").write_text("x = " + "(" * 100_000 + ")" * 100_000 + "\n"
                                    + "".join(" " * i + "if x:\n" for i in range(2000)))
    (folder / "syntax.py").write_text("def f(:\n  return )\n  bad dedent\nx = '''never closed\n" + "y = 2\n" * 500)
    (folder / "notjson.ipynb").write_text("{ not json " * 1000)
    (folder / "nested.ipynb").write_text("[" * 200_000 + "]" * 200_000)
    (folder / "cells.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": f"x{i} = {i}\n"}
                                                              for i in range(50_000)]}))
    with zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("bomb/model.py", "w") as member:
            for _ in range(512):  # 512 MB of one character, about 500 KB compressed
                member.write(b"#" * (1 << 20))
    (folder / "linked").mkdir()
    os.symlink("/etc/passwd", folder / "linked" / "model.py")
    os.mkfifo(folder / "linked" / "train.py")  # opening it would block the grader
    for name in ("own_argparse.py", "copy_renamed.py"):
        (folder / name).write_text((SIMILAR / name).read_text())
    for name in ("junk.py", "huge.py", "deep.py"):  # and the same again: two students, one hostile file
        (folder / f"again_{name}").write_bytes((folder / name).read_bytes())


def test_hostile_submissions_neither_crash_nor_run_unbounded(tmp_path, spec):
    hostile_class(tmp_path)
    for path in sorted(tmp_path.iterdir()):
        began = time.perf_counter()
        sources = read_sources(path)
        assert time.perf_counter() - began < 5, path.name
        assert sum(len(unit.text.encode()) for unit in sources.files) <= MAX_BYTES * 4, path.name  # 'replace' widens
    assert read_sources(tmp_path / "linked").files == []
    assert "not a notebook" in read_sources(tmp_path / "notjson.ipynb").skipped[0]
    assert any(f"read {MAX_BYTES} of its {512 << 20} bytes" in s for s in read_sources(tmp_path / "bomb.zip").skipped)
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())]
    began = time.perf_counter()
    pairs = compare_class(spec, entries)
    assert time.perf_counter() - began < 60
    # the honest pair is still found, and junk handed in twice is a pair too (the same tokens); one line repeated
    # 400,000 times, or one bracket 100,000 times, is a handful of fingerprints matched at their first places only
    # (MAX_POSITIONS): too few tokens for a pair, and no time spent on the rest
    assert {(p.a, p.b) for p in pairs} == {("copy_renamed", "own_argparse"), ("again_junk", "junk")}
    assert all(sum(map(len, p.files_a.values())) <= MAX_VIEW_CHARS for p in pairs)


class _Rows(html.parser.HTMLParser):
    """Per side of the view: (span number shown, row classes) of each code row, and every tag seen."""

    def __init__(self):
        super().__init__()
        self.sides, self.tags, self.cell = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "div" and attrs.get("class") == "sim-side":
            self.sides.append([])
        elif tag == "tr" and self.sides:
            self.sides[-1].append(["", attrs.get("class") or ""])
        elif tag == "td":
            self.cell = attrs.get("class")

    def handle_data(self, data):
        if self.cell == "sim-k" and self.sides and self.sides[-1]:
            self.sides[-1][-1][0] += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.cell = None


def test_the_side_by_side_view_colours_each_span_alike_on_both_sides(klass):
    _, pairs = klass
    pair = pair_of(pairs, "copy_renamed", "own_argparse")
    rows = _Rows()
    rows.feed(str(side_by_side(pair)))
    assert len(rows.sides) == 2
    for number in range(1, len(pair.spans) + 1):
        colour = f"sim-c{(number - 1) % len(COLOURS)}"
        for side in rows.sides:  # the span's first line carries its number and its colour, on each side
            assert [cls for key, cls in side if key == str(number)] == [colour], (number, side)
    assert sum(1 for _, cls in rows.sides[0] if cls) >= sum(s.a_lines[1] - s.a_lines[0] for s in pair.spans) // 2


def test_the_side_by_side_view_escapes_everything_from_the_students(tmp_path, spec):
    evil = "</pre></td></table><script>alert(1)</script><img src=x onerror=alert(2)>"
    code = (SIMILAR / "own_argparse.py").read_text().replace("# Training settings", f"# {evil}")
    code = code.replace("'PyTorch MNIST Example'", repr(evil))
    for student in ("<b>eve<i>", "mal"):
        (tmp_path / student).mkdir()
        (tmp_path / student / f"{evil.replace('/', '|')}.py").write_text(code)
    pairs = compare_class(spec, [Entry(p.name, p) for p in sorted(tmp_path.iterdir())])
    assert len(pairs) == 1
    view = str(side_by_side(pairs[0]))
    rows = _Rows()
    rows.feed(view)
    assert not {"script", "img", "i"} & set(rows.tags), set(rows.tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in view and "&lt;b&gt;eve&lt;i&gt;" in view
    for text in (view, SIDE_BY_SIDE_CSS):  # self-contained: nothing is loaded from anywhere
        assert not re.search(r"https?:|<link|@import|url\(", text), text[:200]
