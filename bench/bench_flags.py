"""The class-level flag step's peak memory: sketches (this grader) against stacking every checkpoint (the baseline).

    python bench/bench_flags.py [--students 200] [--small 50] [--quick]

Writes ``--students`` mycnn checkpoints (independent random inits, two of them near-identical copies), computes each
one's sketch as grading does, then runs the flag step in a fresh process and reads that process's peak resident
memory (sampled every 5 ms) above what it held after its imports. The baseline, run the same way, is the previous flag step: every
checkpoint loaded, flattened and stacked as float64. A run with ``--small`` students shows the sketch step does not
grow with the class. Goal: at most 300 MB for 200 mycnn checkpoints.

``--quick``: 10 checkpoints and a smaller class of 4, the same code path (the test suite runs it: tests/test_bench.py).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL_MB = 300

MEASURE = r"""
import json, os, resource, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import torch
from grader.batch.integrity import class_flags
from grader.batch.entries import Entry
from grader.quiz.checkpoint import load_checkpoint_file
from grader.quiz.sketch import float_tensors
from grader.report import Report
from grader.spec import load_spec
folder, mode, count = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
names = sorted(p.name for p in folder.iterdir() if p.is_dir())[:count]
entries = [Entry(n, folder / n) for n in names]
reports = {n: Report.from_dict(json.loads((folder / n / "report.json").read_text())) for n in names}
def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
before, samples, running = rss_mb(), [], True
def sample():  # the step's own peak: the resident memory sampled every 5 ms above what the imports left
    while running:
        samples.append(rss_mb())
        time.sleep(0.005)
sampler = threading.Thread(target=sample)
sampler.start()
began = time.perf_counter()
if mode == "sketch":
    flags = class_flags(load_spec("mycnn"), entries, reports)
    flagged = sorted(s for s, f in flags.items() if any(x.kind == "near-identical weights" for x in f))
else:  # the previous flag step: every checkpoint's weights stacked as float64, all pairs at once
    vectors = []
    for e in entries:
        state = load_checkpoint_file(e.path / "best.pt").state_dict
        vectors.append(torch.cat([state[k].reshape(-1).float() for k in float_tensors(state)]))
    matrix = torch.stack(vectors).double()
    matrix = matrix / matrix.norm(dim=1, keepdim=True)
    cos = matrix @ matrix.T
    flagged = sorted(names[i] for i in range(len(names)) for j in range(len(names)) if i != j and cos[i, j] >= 0.999)
seconds = time.perf_counter() - began
running = False
sampler.join()
print(json.dumps({"extra_mb": max(samples + [rss_mb()]) - before, "seconds": seconds, "flagged": flagged}))
"""


def make_class(folder: Path, students: int) -> None:
    import torch

    from grader.quiz.sketch import sketch_state
    from grader.report import CheckpointDetails, CheckResult, Report
    from reference import get_network

    for i in range(students):
        torch.manual_seed(i)
        state = get_network("mycnn").build().state_dict()
        if i == 1:  # student 1 hands in student 0's weights plus a little noise
            torch.manual_seed(0)
            state = {k: v + 1e-4 * torch.randn_like(v) for k, v in get_network("mycnn").build().state_dict().items()}
        sub = folder / f"s{i:03d}"
        sub.mkdir()
        torch.save({"model": state, "epoch": 1}, sub / "best.pt")
        weights = sketch_state(state)
        details = CheckpointDetails("best.pt", f"file{i}", weights.signature, weights.weights_sha256, weights.sketch)
        report = Report("mycnn", sub.name, checks=[CheckResult("checkpoint", "pass", 2, 2, "ok",
                                                                 details=asdict(details))])
        (sub / "report.json").write_text(json.dumps(report.to_dict()))


def measure(folder: Path, mode: str, count: int) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(ROOT), str(folder), mode, str(count)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200, help="class size (default: %(default)s)")
    parser.add_argument("--small", type=int, default=50, help="the smaller class (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="10 checkpoints, a smaller class of 4 (a smoke run: the "
                        "test suite's mode)")
    args = parser.parse_args()
    if args.quick:
        args.students, args.small = 10, 4
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        make_class(folder, args.students)
        print(f"{args.students} mycnn checkpoints written and sketched in {time.perf_counter() - began:.1f} s")
        baseline = measure(folder, "stack", args.students)
        sketch = measure(folder, "sketch", args.students)
        small = measure(folder, "sketch", args.small)
    print(f"baseline, every checkpoint stacked as float64: {baseline['extra_mb']:7.0f} MB peak, "
          f"{baseline['seconds']:.1f} s, flagged {baseline['flagged']}")
    print(f"sketches, candidate pairs loaded:               {sketch['extra_mb']:7.0f} MB peak, "
          f"{sketch['seconds']:.1f} s, flagged {sketch['flagged']}  "
          f"= {sketch['extra_mb'] / max(baseline['extra_mb'], 1e-9):.3f}x the baseline's memory "
          f"(goal: at most {GOAL_MB} MB: {'met' if sketch['extra_mb'] <= GOAL_MB else 'NOT met'})")
    print(f"sketches, {args.small} students:                        {small['extra_mb']:7.0f} MB peak "
          f"(growth from {args.small} to {args.students} students: {sketch['extra_mb'] - small['extra_mb']:+.0f} MB)")
    assert sketch["flagged"] == baseline["flagged"], "the two flag steps must find the same pairs"


if __name__ == "__main__":
    main()
