"""The source-similarity step at class size: its time against a smaller class scaled, its memory against its
fingerprints, and whether it finds the planted copies (and nothing else).

    python bench/bench_similarity.py [--students 500] [--small 50] [--quick]

Writes a mycnn class of ``--students`` submissions shaped like the real-shaped class of tests/corpus/similarity:
each student's own code (training loop, helpers, a main block) is generated from a grammar of the statements such
code is made of (random names, arities, literals, nesting, so independent students share only idioms), beside a
network in one of four styles or the course's starter with its table filled in; as .py files, notebooks and
folders. One student in twenty hands in a copy of another: renamed, reordered, one function added, sometimes as a
notebook; and eleven students hand in the same leaked solution (student 21's, renamed and reordered or not): a group
of 12, more than ``max_common`` holders of each of its fingerprints. Then, in this process:

* the compare time of the whole class against the first ``--small`` students', scaled by the class's size over
  the small one's (1.00x: linear; comparing all pairs would be about ``students / small`` x);
* the peak of Python memory during the step (tracemalloc) against the bytes of the class's fingerprints, for both
  classes (a constant ratio: the memory is the fingerprints, whatever the class size).

Goal: a class of 500 compared within 60 s on 2 cores, the planted pairs and the group found and nothing else.

``--quick``: 60 students and a smaller class of 20, the same code path (tests/test_bench.py runs it).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.batch.entries import Entry  # noqa: E402
from grader.batch.similarity import compare_class, compare_fingerprints, fingerprint_class  # noqa: E402
from grader.spec import load_spec  # noqa: E402
from tests.corpus.similarity.make_class import (  # noqa: E402
    CONDITIONS,
    FUNCTIONAL,
    MODULES,
    SEQUENTIAL,
    STARTER,
    as_notebook,
    fill,
    reference_solution,
    renamed_and_reordered,
)

GOAL_SECONDS = 60
LEAKED, RING = 21, range(22, 33)  # the student whose solution leaked, and the eleven who handed it in
WORDS = ("model net loader data target output loss optimizer epoch batch images labels logits preds acc total "
         "correct history best device scheduler step count mean std value result item grads weights").split()
CALLS = ("train evaluate validate run step log save load plot summarize accuracy predict update reset clip "
         "to view mean sum argmax item append backward zero_grad size len print range enumerate zip").split()


def _name(rng: random.Random) -> str:
    return rng.choice(WORDS) + ("_" + rng.choice(WORDS) if rng.random() < 0.4 else "")


def _argument(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.choice([0, 1, 2, 10, 64, 128, 1000, 0.5, 1e-3]))
    if kind == 1:
        return repr(rng.choice(["mean", "sum", "cpu", "best.pt", "curves.json", "val_loss"]))
    if kind == 2:
        return f"{rng.choice(WORDS)}={_name(rng)}"
    if kind == 3:
        return f"{_name(rng)}[{rng.randrange(3)}]"
    return _name(rng) + (f".{rng.choice(WORDS)}" if kind == 4 else "")


def _call(rng: random.Random) -> str:
    args = ", ".join(sorted((_argument(rng) for _ in range(rng.randrange(4))), key=lambda a: "=" in a))
    head = f"{_name(rng)}." if rng.random() < 0.5 else ""
    return f"{head}{rng.choice(CALLS)}({args})"


def _expression(rng: random.Random) -> str:
    parts = [_call(rng) if rng.random() < 0.5 else _argument(rng).split("=")[-1] for _ in range(rng.randrange(1, 4))]
    return f" {rng.choice('+-*/')} ".join(parts)


def _statements(rng: random.Random, depth: int, count: int) -> list[str]:
    """``count`` statements of training-loop code (blocks nest up to ``depth``), each a list of lines."""
    lines: list[str] = []
    for _ in range(count):
        kind = rng.randrange(9 if depth else 6)
        if kind == 0:
            lines.append(f"{_name(rng)} = {_expression(rng)}")
        elif kind == 1:
            lines.append(f"{_name(rng)} {rng.choice('+-*')}= {_expression(rng)}")
        elif kind == 2:
            lines.append(_call(rng))
        elif kind == 3:
            lines.append(f"{_name(rng)}.append({_expression(rng)})")
        elif kind == 4:
            lines.append(f'print(f"{rng.choice(WORDS)} {{{_name(rng)}:.{rng.randrange(2, 5)}f}}")')
        elif kind == 5:
            lines.append(f"{_name(rng)} = {{{_argument(rng)!r}: {_name(rng)}, 'n': {rng.randrange(100)}}}")
        else:
            header = rng.choice([f"for {_name(rng)}, ({_name(rng)}, {_name(rng)}) in enumerate({_name(rng)}):",
                                 f"if {_name(rng)} {rng.choice(['<', '>', '==', '<='])} {_expression(rng)}:",
                                 "with torch.no_grad():", f"for {_name(rng)} in range({rng.randrange(1, 20)}):"])
            lines += [header] + ["    " + line for line in _statements(rng, depth - 1, rng.randrange(1, 5))]
    return lines


def own_code(rng: random.Random) -> str:
    """A student's own code: imports, 6 to 14 functions, a main block."""
    functions = []
    for number in range(rng.randrange(6, 15)):
        params = ", ".join(_name(rng) for _ in range(rng.randrange(1, 5)))
        body = _statements(rng, 2, rng.randrange(3, 10)) + [f"return {_expression(rng)}"]
        functions.append(f"def {rng.choice(CALLS)}_{number}({params}):\n" + "\n".join("    " + b for b in body))
    main = "\n".join("    " + line for line in _statements(rng, 2, rng.randrange(4, 10)))
    imports = "import json\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
    return imports + "\n\n" + "\n\n\n".join(functions) + f"\n\n\nif __name__ == \"__main__\":\n{main}\n"


def network(rng: random.Random) -> str:
    """The student's network in one of four styles (the layer table: left out of the comparison)."""
    init, forward = rng.choice([SEQUENTIAL, FUNCTIONAL, MODULES, reference_solution()])
    name = rng.choice(["MyCNN", "Net", "CNN", "Model"])
    return f"class {name}(nn.Module):\n    def __init__(self):\n        super().__init__()\n{init}\n\n" \
           f"    def forward(self, x):\n{forward}\n"


def student_code(rng: random.Random) -> str:
    """One student's whole code: the starter with a filled table (two in five) or a network, then their own code."""
    if rng.random() < 0.4:
        starter = (STARTER / "starter.py").read_text().replace('if __name__ == "__main__":\n    main()\n', "")
        body = rng.choice([SEQUENTIAL, FUNCTIONAL, MODULES, reference_solution()])
        return fill(starter, body, rng.choice(CONDITIONS)) + "\n\n" + own_code(rng)
    return own_code(rng) + "\n\n" + network(rng)


def write_submission(folder: Path, student: str, code: str, shape: int) -> Path:
    """The code as a .py (shape 0), a notebook (1) or a folder of two files (2)."""
    if shape == 1:
        path = folder / f"{student}.ipynb"
        path.write_text(as_notebook(code))
    elif shape == 2:
        path = folder / student
        path.mkdir()
        cut = code.index("\ndef ", len(code) // 2) if "\ndef " in code[len(code) // 2:] else len(code)
        (path / "helpers.py").write_text(code[:cut])
        (path / "train.py").write_text(code[cut:])
    else:
        path = folder / f"{student}.py"
        path.write_text(code)
    return path


def make_class(folder: Path, students: int, seed: int = 0) -> tuple[list[Entry], set[tuple[str, str]]]:
    """The class's entries (sorted by name) and the planted (copy, original) pairs (the group's are not pairs)."""
    entries, planted, codes = [], set(), {}
    for i in range(students):
        rng = random.Random(seed * 1_000_003 + i)
        student = f"s{i:04d}"
        if i in RING:  # the leaked solution, handed in again
            leaked = codes[f"s{LEAKED:04d}"]
            codes[student] = renamed_and_reordered(leaked) if i % 2 else leaked
        elif i % 20 == 19:  # a copy of the student before: renamed, reordered, one function of its own
            original = f"s{i - 1:04d}"
            extra = own_code(rng).split("\n\n\n")[1]
            codes[student] = renamed_and_reordered(codes[original]) + "\n\n" + extra + "\n"
            planted.add((original, student))
        else:
            codes[student] = student_code(rng)
        shape = 0 if rng.random() < 0.6 else 1 if rng.random() < 0.6 else 2
        entries.append(Entry(student, write_submission(folder, student, codes[student], shape)))
    return entries, planted


def measure(spec, entries) -> dict:
    """Seconds to compare, the pairs found, then (a second run) the peak of traced memory and the fingerprints'."""
    began = time.perf_counter()
    pairs = compare_class(spec, entries)
    seconds = time.perf_counter() - began
    tracemalloc.start()
    prints = fingerprint_class(spec, entries)
    compare_fingerprints(spec, entries, prints)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"seconds": seconds, "pairs": {(p.a, p.b) for p in pairs if not p.group},
            "groups": {tuple(p.group) for p in pairs if p.group}, "peak": peak,
            "fingerprints": sum(p.nbytes() for p in prints), "count": sum(len(p.hashes) for p in prints)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=500, help="class size (default: %(default)s)")
    parser.add_argument("--small", type=int, default=50, help="the smaller class, the baseline (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="60 students, a smaller class of 20 (a smoke run: the "
                        "test suite's mode)")
    args = parser.parse_args()
    if args.quick:
        args.students, args.small = 60, 20
    spec = load_spec("mycnn")
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        entries, planted = make_class(Path(tmp), args.students)
        print(f"{args.students} mycnn submissions written in {time.perf_counter() - began:.1f} s "
              f"({len(planted)} planted copies)")
        small = measure(spec, entries[:args.small])
        full = measure(spec, entries)
    scaled = small["seconds"] * args.students / args.small
    print(f"baseline, {args.small} submissions:  {small['seconds']:6.2f} s, {small['count']} fingerprints")
    print(f"class, {args.students} submissions:    {full['seconds']:6.2f} s, {full['count']} fingerprints  "
          f"= {full['seconds'] / scaled:.2f}x the baseline's time scaled to {args.students} "
          f"(goal: within {GOAL_SECONDS} s: {'met' if full['seconds'] <= GOAL_SECONDS else 'NOT met'})")
    for label, run in ((f"memory, {args.small} submissions:", small), (f"memory, {args.students} submissions:", full)):
        print(f"{label:26} peak {run['peak'] / 2**20:6.1f} MB = {run['peak'] / run['fingerprints']:.2f}x the "
              f"fingerprints' {run['fingerprints'] / 2**20:.1f} MB")
    expected = {tuple(sorted(pair)) for pair in planted}
    found = {tuple(sorted(pair)) for pair in full["pairs"]}
    print(f"flagged: {len(found & expected)} of the {len(expected)} planted pairs, {len(found - expected)} others "
          f"{json.dumps(sorted(found - expected))}")
    ring = {f"s{i:04d}" for i in [LEAKED, *RING] if i < args.students}
    groups = [set(group) for group in full["groups"]]
    print(f"groups: {len(groups)}, of {', '.join(str(len(g)) for g in groups) or 'no'} members "
          f"(planted: one of {len(ring)})")
    assert found == expected, "the step must find the planted pairs and nothing else"
    assert groups == ([ring] if len(ring) >= 3 else []), "the step must find the planted group and no other"


if __name__ == "__main__":
    main()
