"""Class-level source-similarity flags (grader.batch.similarity) on a real-shaped mycnn class
(tests/corpus/similarity/make_class.py): copies are flagged, independent solutions and the starter are not, and
hostile submissions neither crash the step nor make it unbounded."""
import dataclasses
import html.parser
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tokenize
import zipfile

import pytest

from grader.batch.entries import Entry
from grader.batch.fingerprints import BASE, MAX_TOKENS, MODULUS, kgram_hashes, normalized_tokens, winnow
from grader.batch.similarity import (
    MAX_VIEW_CHARS,
    SimilarPair,
    common_cutoff,
    compare_class,
    compare_class_with_notes,
    similarity_flags,
)
from grader.batch.sources import MAX_BYTES, read_sources
from grader.outputs.similarity_view import COLOURS, SIDE_BY_SIDE_CSS, side_by_side
from grader.spec import load_spec
from tests.conftest import CORPUS, ROOT
from tests.corpus.similarity.make_class import (
    CONDITIONS,
    COPIES,
    MODULES,
    SEQUENTIAL,
    STARTER,
    TUTORIAL,
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
    assert len(entries) == 18
    assert {(p.a, p.b) for p in pairs} == COPIES  # and no other pair: 14 independent solutions, 4 copies


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
    # the reference solution, correct solutions with their own training loops, written differently, and three
    # students who each followed the pytorch/examples MNIST script (its argparse block, its train/test skeleton)
    independent = ["reference", "starter_reference"] + [s for s in students if s.startswith(("own_", "tutorial_"))]
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
    assert mine[0] == (f"similar source to copy_nb ({pair.share_b:.0%} of yours is in theirs, {pair.share_a:.0%} of "
                       "theirs is in yours)")
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
    assert any("a cell magic that is not Python" in line for line in sources.not_python)
    assert sources.skipped == []  # not Python is not code left uncompared: no note for the instructor
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


# --- what a review found (docs/grading.md "Source similarity"): each test fails on the code before its fix

PADDING = "_PAD = [" + "0, " * 26_000 + "]\n"  # a 78 KB literal list: 52,000 tokens, before the code


def padded_copy(folder, shape: str, code: str):
    """``code`` behind padding: a literal list at the top of the file, a padding file sorting first in the folder,
    or a notebook whose first cell's output is an 8.4 MB plot."""
    if shape == "top":
        (folder / "padded.py").write_text(PADDING + code)
        return folder / "padded.py"
    if shape == "folder":
        (folder / "padded").mkdir()
        (folder / "padded" / "_aa_constants.py").write_text(PADDING)
        (folder / "padded" / "lab.py").write_text(code)
        return folder / "padded"
    notebook = json.loads(as_notebook(code))
    notebook["cells"][1]["outputs"] = [{"output_type": "display_data", "metadata": {},
                                        "data": {"image/png": "iVBORw0KGgo" + "A" * 8_400_000}}]
    (folder / "padded.ipynb").write_text(json.dumps(notebook))
    return folder / "padded.ipynb"


@pytest.mark.parametrize("shape", ["top", "folder", "notebook"])
def test_padding_cannot_push_a_copy_out_of_the_comparison(tmp_path, spec, klass, shape):
    entries, _ = klass
    code = renamed_and_reordered((SIMILAR / "own_argparse.py").read_text())
    path = padded_copy(tmp_path, shape, code)
    others = [e for e in entries if e.student != "copy_renamed"]  # the committed copy of the same file
    found = compare_class_with_notes(spec, others + [Entry("padded", path)])
    pair = pair_of(found.pairs, "padded", "own_argparse")
    assert pair is not None and min(pair.share_a, pair.share_b) > 0.9, pair
    assert "padded" not in found.notes  # nothing of it went uncompared: the padding is a few tokens, the plot dropped


def test_code_left_uncompared_is_a_note_for_the_instructor(tmp_path, spec, klass):
    entries, _ = klass
    copy = renamed_and_reordered((SIMILAR / "own_argparse.py").read_text())
    functions = "".join(f"def helper_{i}(x):\n    return x * {i} + 1\n\n\n" for i in range(MAX_TOKENS // 12))
    (tmp_path / "long.py").write_text(functions + copy)  # 300,000 tokens of code (one shape, never padding) first
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    (tmp_path / "lab.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "x = 1"')  # cut short
    others = [e for e in entries if e.student != "copy_renamed"]
    found = compare_class_with_notes(spec, others + [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())])
    assert set(found.notes) == {"long", "broken", "lab"}, found.notes
    assert found.notes["long"] == [f"source not fully compared: long.py: only its first {MAX_TOKENS:,} tokens "
                                   f"compared (a submission's limit is {MAX_TOKENS:,})"]
    assert found.notes["broken"] == ["source not fully compared: broken.zip: not a readable zip file (BadZipFile)"]
    assert found.notes["lab"] == ["source not fully compared: lab.ipynb: not a notebook (not JSON of one)"]
    assert found.class_notes == []  # mycnn has its starters beside the spec
    assert pair_of(found.pairs, "long", "own_argparse") is None  # the copy after the limit: not seen, but noted


def test_imports_and_a_block_of_statements_of_one_shape_are_no_evidence():
    def values(text):
        return [value for value, _, _ in normalized_tokens(text)]

    imports = "import argparse\nimport torch.nn as nn\nfrom torch import (\n    optim,\n    nn,\n)\n"
    assert values(imports + "x = 1\n") == values("x = 1\n") == values("x = 1\n" + imports)
    options = "".join(f"    parser.add_argument('--{name}', type=int, default={i}, help='{name} (default: {i})')\n"
                      for i, name in enumerate(["batch-size", "epochs", "seed", "log-interval", "workers"]))
    main = "def main():\n    parser = argparse.ArgumentParser()\n{}    return parser.parse_args()\n"
    assert values(main.format(options)) == values(main.format(options.split("\n")[0] + "\n"))


def followed(tutorial: str, name: str, extra: str) -> str:
    """The tutorial handed in with the course's network name and the student's own curve-writing code."""
    return tutorial.replace("Net", name).replace("    main()\n", "    main()\n" + extra)


ANN_EXTRA = '''
    history = {"val_loss": [], "val_accuracy": []}
    for epoch_loss, epoch_accuracy in zip([0.1, 0.05], [97.0, 98.0]):
        history["val_loss"].append(epoch_loss)
        history["val_accuracy"].append(epoch_accuracy)
    with open("curves.json", "w") as handle:
        json.dump(history, handle, indent=2)
'''
BEN_EXTRA = '''
    import json as js
    out = open("curves.json", "w")
    js.dump(dict(val_loss=[l / 10 for l in range(5, 0, -1)], val_accuracy=[90 + a for a in range(5)]), out)
    out.close()
'''


def test_a_tutorial_listed_as_boilerplate_is_removed_like_the_starter(tmp_path, spec):
    tutorial = TUTORIAL.read_text()
    (tmp_path / "ann.py").write_text(followed(tutorial, "MyCNN", ANN_EXTRA))
    (tmp_path / "ben.py").write_text(followed(tutorial, "Model", BEN_EXTRA))
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())]
    assert [(p.a, p.b) for p in compare_class(spec, entries)] == [("ann", "ben")]  # the tutorial, handed in twice
    folder = tmp_path.parent / f"{tmp_path.name}-assignment"  # an assignment's folder, its starters and the tutorial
    (folder / "tutorial").mkdir(parents=True)
    for name in ("starter.py", "starter.ipynb"):
        shutil.copy(STARTER / name, folder / name)
    shutil.copy(TUTORIAL, folder / "tutorial" / "mnist_example.py")
    listed = dataclasses.replace(spec, path=folder / "spec.toml",
                                 similarity={**spec.similarity, "boilerplate": ["tutorial/mnist_example.py"]})
    found = compare_class_with_notes(listed, entries)
    assert found.pairs == [] and found.class_notes == []


def test_a_solution_handed_in_by_many_is_flagged_as_one_group(tmp_path, spec, klass):
    entries, _ = klass
    original = (SIMILAR / "own_argparse.py").read_text()
    ring = []
    for i in range(11):  # a leaked solution: eleven more, renamed, reordered, re-commented, as notebooks too
        code = renamed_and_reordered(original) if i % 2 else original.replace("# Training settings", f"# {i}")
        path = tmp_path / (f"ring_{i:02d}.ipynb" if i % 3 == 0 else f"ring_{i:02d}.py")
        path.write_text(as_notebook(code) if i % 3 == 0 else code)
        ring.append(Entry(path.stem, path))
    pairs = compare_class(spec, entries + ring)
    group = {"own_argparse", "copy_renamed"} | {e.student for e in ring}  # 13 hold each fingerprint: "common"
    links = [p for p in pairs if p.group]
    assert links and all(set(p.group) == group for p in links) and len(links) == len(group) - 1
    flags = similarity_flags(pairs)
    for student in group:
        assert flags[student] == [f"similar source: one of 13 near-identical submissions, with "
                                  f"{', '.join(sorted(group - {student})[:5])} and 7 others"], flags[student]
    assert {(p.a, p.b) for p in pairs if not p.group} == COPIES - {("copy_renamed", "own_argparse")}


def test_the_common_cutoff_grows_with_the_class_and_never_falls_below_max_common():
    assert common_cutoff(15, 10) == 10 and common_cutoff(200, 10) == 10 and common_cutoff(500, 10) == 25
    assert common_cutoff(1000, 60) == 60


KERAS_STYLE = '''"""Lab 4: a model that trains itself, Keras style."""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Dropout(0.25))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                                  nn.Linear(128, 10), nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.head(self.features(x))

    def run_epoch(self, loader, optimizer=None):
        training = optimizer is not None
        self.train(training)
        total, hits, seen = 0.0, 0, 0
        with torch.set_grad_enabled(training):
            for images, labels in loader:
                scores = self(images)
                loss = F.nll_loss(scores, labels)
                if training:
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                total += loss.item() * labels.size(0)
                hits += (scores.argmax(1) == labels).sum().item()
                seen += labels.size(0)
        return total / seen, 100.0 * hits / seen

    def fit(self, train_loader, val_loader, epochs=5, lr=1e-3, path="best.pt"):
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        history = {"val_loss": [], "val_accuracy": []}
        for epoch in range(epochs):
            train_loss, train_acc = self.run_epoch(train_loader, optimizer)
            val_loss, val_acc = self.run_epoch(val_loader)
            if not history["val_loss"] or val_loss < min(history["val_loss"]):
                torch.save({"model": self.state_dict(), "epoch": epoch + 1}, path)
            history["val_loss"].append(val_loss)
            history["val_accuracy"].append(val_acc)
            print(f"{epoch + 1}: train {train_loss:.3f} {train_acc:.1f}% | val {val_loss:.3f} {val_acc:.1f}%")
        return history

    @staticmethod
    def loaders(root="data", batch_size=128):
        tf = transforms.ToTensor()
        train = datasets.MNIST(root, train=True, download=True, transform=tf)
        val = datasets.MNIST(root, train=False, download=True, transform=tf)
        return DataLoader(train, batch_size=batch_size, shuffle=True), DataLoader(val, batch_size=1000)


if __name__ == "__main__":
    model = MyCNN()
    curves = model.fit(*MyCNN.loaders())
    with open("curves.json", "w") as f:
        json.dump(curves, f)
'''


def wrapped(script: str) -> str:
    """A script with no functions wrapped in one method of a Module class, its imports left at the top."""
    lines = script.split("\n")
    imports = [line for line in lines if line.startswith(("import ", "from "))]
    body = [line for line in lines if not line.startswith(("import ", "from "))]
    return "\n".join(imports) + "\n\n\nclass Lab(nn.Module):\n    def run(self):\n" + "\n".join(
        "        " + line if line.strip() else "" for line in body) + "\n\n\nLab().run()\n"


def test_a_network_class_with_its_own_training_methods_is_compared(tmp_path, spec):
    (tmp_path / "keras.py").write_text(KERAS_STYLE)
    (tmp_path / "keras_copy.py").write_text(renamed_and_reordered(KERAS_STYLE))
    script = (SIMILAR / "own_minimal.py").read_text()
    (tmp_path / "lab.py").write_text(wrapped(script))
    (tmp_path / "lab_copy.py").write_text(renamed_and_reordered(wrapped(script)))
    pairs = compare_class(spec, [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())])
    assert {(p.a, p.b) for p in pairs} == {("keras", "keras_copy"), ("lab", "lab_copy")}, pairs
    spans = pair_of(pairs, "keras", "keras_copy").spans
    init = KERAS_STYLE.split("\n").index("    def run_epoch(self, loader, optimizer=None):") + 1
    assert min(s.a_lines[0] for s in spans) >= init  # __init__ and forward (the layer table) are still left out


def test_a_submission_that_is_itself_a_link_is_compared(tmp_path, spec):
    store = tmp_path / "store"
    (store / "bob").mkdir(parents=True)
    shutil.copy(SIMILAR / "copy_renamed.py", store / "alice.py")
    shutil.copy(SIMILAR / "own_argparse.py", store / "bob" / "own_argparse.py")
    os.symlink("/etc/passwd", store / "bob" / "passwd.py")  # a link inside a submission: never followed
    links = tmp_path / "submissions"  # as an instructor builds SUBMISSIONS with ln -s
    links.mkdir()
    os.symlink(store / "alice.py", links / "alice.py")
    os.symlink(store / "bob", links / "bob")
    pairs = compare_class(spec, [Entry(p.stem, p) for p in sorted(links.iterdir())])
    assert [(p.a, p.b) for p in pairs] == [("alice", "bob")] and list(pairs[0].files_b) == ["own_argparse.py"]


def test_lone_carriage_returns_end_lines_as_an_editor_shows_them(tmp_path, spec):
    copy = (SIMILAR / "copy_renamed.py").read_text()
    (tmp_path / "mac.py").write_bytes(copy.replace("\n", "\r").encode())  # classic Mac OS line ends
    (tmp_path / "dos.py").write_bytes(copy.replace("\n", "\r\n").encode())
    shutil.copy(SIMILAR / "own_argparse.py", tmp_path / "own_argparse.py")
    (tmp_path / "unix").mkdir()
    shutil.copy(SIMILAR / "copy_renamed.py", tmp_path / "unix" / "copy_renamed.py")
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir()) if p.is_file()]
    unix = pair_of(compare_class(spec, [Entry("unix", tmp_path / "unix"), entries[-1]]), "unix", "own_argparse")
    for name in ("mac", "dos"):
        pair = pair_of(compare_class(spec, [e for e in entries if e.student in (name, "own_argparse")]), name,
                       "own_argparse")
        assert pair is not None and [s.a_lines for s in pair.spans] == [s.a_lines for s in unix.spans], name
        assert pair.files_a[f"{name}.py"] == copy  # the view shows the lines as they are numbered


def test_a_starter_under_another_name_is_noted_and_removed_when_listed(tmp_path, spec):
    starter = (STARTER / "starter.py").read_text()
    same = fill(starter, SEQUENTIAL, CONDITIONS[0])  # two students who wrote only the same table into it
    (tmp_path / "ann.py").write_text(same)
    (tmp_path / "ben.py").write_text(same)
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())]
    folder = tmp_path.parent / f"{tmp_path.name}-lab4"
    folder.mkdir()
    (folder / "lab4_template.py").write_text(starter)  # the course's starter, not called starter.py
    moved = dataclasses.replace(spec, path=folder / "spec.toml")
    found = compare_class_with_notes(moved, entries)
    assert [(p.a, p.b) for p in found.pairs] == [("ann", "ben")]
    assert found.class_notes == [f"no starter (starter.py or starter.ipynb) beside the spec in {folder}: no starter "
                                 "code was removed (a starter under another name goes in [similarity] boilerplate)"]
    listed = dataclasses.replace(moved, similarity={**spec.similarity, "boilerplate": ["lab4_template.py", "x.py"]})
    found = compare_class_with_notes(listed, entries)
    assert found.pairs == [] and found.class_notes == [f"boilerplate x.py: not found in {folder}, not removed"]


def routine_edits(text: str, style: int) -> str:
    """The starter's loop with what many students add on their own: a device, a StepLR, a running loss, a print."""
    text = text.replace("def train(model, train_loader, optimizer):",
                        "def train(model, train_loader, optimizer, device):")
    text = text.replace("def validate(model, val_loader):", "def validate(model, val_loader, device):")
    for loader, indent in (("train_loader", "    "), ("val_loader", "        ")):
        text = text.replace(f"{indent}for data, target in {loader}:\n", f"{indent}for data, target in {loader}:\n"
                            f"{indent}    data, target = data.to(device), target.to(device)\n")
    text = text.replace("    model = MyCNN()\n", '    device = torch.device("cuda" if torch.cuda.is_available() '
                        'else "cpu")\n    model = MyCNN().to(device)\n')
    text = text.replace("train(model, train_loader, optimizer)", "train_loss = train(model, train_loader, optimizer, "
                        "device)").replace("validate(model, val_loader)", "validate(model, val_loader, device)")
    text = text.replace("    model.train()\n    for data", "    model.train()\n    running_loss = 0.0\n    for data")
    text = text.replace("        optimizer.step()\n", "        optimizer.step()\n        running_loss += loss.item()\n"
                        "    return running_loss / len(train_loader)\n", 1)
    text = text.replace("    val_losses, val_accuracies = [], []\n", "    scheduler = torch.optim.lr_scheduler.StepLR("
                        "optimizer, step_size=1, gamma=0.7)\n    val_losses, val_accuracies = [], []\n")
    text = text.replace("        save_curves(val_losses, val_accuracies)\n",
                        "        save_curves(val_losses, val_accuracies)\n        scheduler.step()\n")
    shout = ('        print(f"epoch {epoch}: loss {loss:.4f}, accuracy {accuracy:.2f}%")\n' if style else
             '        print("Epoch", epoch, "val loss", loss, "val acc", accuracy)\n')
    return text.replace("        val_accuracies.append(accuracy)\n", "        val_accuracies.append(accuracy)\n" + shout)


def test_routine_edits_next_to_the_starter_are_not_counted_as_shared_code(tmp_path, spec):
    starter = (STARTER / "starter.py").read_text()
    gina = routine_edits(fill(starter, SEQUENTIAL, CONDITIONS[0]), 1)
    hank = routine_edits(fill(starter, MODULES, CONDITIONS[2]), 0)
    assert gina.count("device") >= 8 and "StepLR" in hank and "running_loss" in hank
    (tmp_path / "gina.py").write_text(gina)
    (tmp_path / "hank.py").write_text(hank)
    entries = [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())]
    assert compare_class(spec, entries) == []
    everything = dataclasses.replace(spec, similarity={**spec.similarity, "min_tokens": 0})
    pair = compare_class(everything, entries)[0]  # their edits alike, but the starter around them is not theirs
    assert pair.share_a > 0.5 and max(pair.tokens_a, pair.tokens_b) < 100, pair


def test_an_f_string_is_one_string_on_every_python(monkeypatch):
    """Python 3.12 tokenizes an f-string in parts (its expressions as code): the same symbols as before."""
    text = 'label = f"epoch {epoch}: {loss:.4f}"\n'
    on_311 = [value for value, _, _ in normalized_tokens('label = "epoch"\n')]
    types = {"FSTRING_START": 1001, "FSTRING_MIDDLE": 1002, "FSTRING_END": 1003}
    for name, number in types.items():
        monkeypatch.setattr(tokenize, name, number, raising=False)
        monkeypatch.setitem(tokenize.tok_name, number, name)
    Token = tokenize.TokenInfo

    def generate_tokens(readline):  # what 3.12's tokenize yields for ``text``
        parts = [(tokenize.NAME, "label"), (tokenize.OP, "="), (1001, 'f"'), (1002, "epoch "), (tokenize.OP, "{"),
                 (tokenize.NAME, "epoch"), (tokenize.OP, "}"), (1002, ": "), (tokenize.OP, "{"),
                 (tokenize.NAME, "loss"), (tokenize.OP, ":"), (1002, ".4f"), (tokenize.OP, "}"), (1003, '"'),
                 (tokenize.NEWLINE, "\n"), (tokenize.ENDMARKER, "")]
        return iter(Token(kind, string, (1, 0), (1, 1), text) for kind, string in parts)

    monkeypatch.setattr(tokenize, "generate_tokens", generate_tokens)
    assert [value for value, _, _ in normalized_tokens(text)] == on_311


def test_a_framing_pair_says_which_side_is_in_which(tmp_path, spec):
    small = (SIMILAR / "own_class_trainer.py").read_text()
    (tmp_path / "framed.py").write_text(small)
    (tmp_path / "framer.py").write_text(small + "\n\n" + (SIMILAR / "own_helpers" / "utils.py").read_text()
                                        + "\n\n" + (SIMILAR / "own_minimal.py").read_text())
    pairs = compare_class(spec, [Entry(p.stem, p) for p in sorted(tmp_path.iterdir())])
    assert len(pairs) == 1 and pairs[0].share_a > 0.95 and pairs[0].share_b < 0.6, pairs
    flags = similarity_flags(pairs)
    assert flags["framed"] == [f"similar source to framer ({pairs[0].share_a:.0%} of yours is in theirs, "
                               f"{pairs[0].share_b:.0%} of theirs is in yours)"]
    assert flags["framer"] == [f"similar source to framed ({pairs[0].share_b:.0%} of yours is in theirs, "
                               f"{pairs[0].share_a:.0%} of theirs is in yours)"]


def test_the_view_shows_bidirectional_controls_instead_of_obeying_them(tmp_path, spec):
    trojan = '    access = "user\u202e \u2066# admin only\u2069 \u2066"  # \u200fdone\n'  # CVE-2021-42574's shape
    code = (SIMILAR / "own_argparse.py").read_text().replace("    # Training settings\n", trojan)
    for student in ("eve", "mal\u202e"):
        (tmp_path / student).mkdir()
        (tmp_path / student / "lab\u2067.py").write_text(code)
    pairs = compare_class(spec, [Entry(p.name, p) for p in sorted(tmp_path.iterdir())])
    view = str(side_by_side(pairs[0]))
    assert not re.search("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", view)
    assert "\u27e8U+202E\u27e9 \u27e8U+2066\u27e9# admin only\u27e8U+2069\u27e9" in view
    assert "mal\u27e8U+202E\u27e9" in view and "lab\u27e8U+2067\u27e9.py" in view and "\u27e8U+200F\u27e9done" in view
