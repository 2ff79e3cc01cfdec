"""What judging an exported graph costs, against the in-process path and the seed-style loop, in one run.

    python bench/bench_judge.py [--data-dir ../shared/data/mnist] [--repeats 3] [--images N] [--quick]

1. The quiz's re-evaluation of best.pt on the 10,000 validation images, three ways, same weights, same process:
   the seed-style ``validate()`` (torchvision + ToTensor + DataLoader), today's in-process path
   (:func:`grader.quiz.evaluate.validate` on the student's own module) and the judge's path (the same
   ``validate()`` on the graph rebuilt from the exported data). Goal: the judge's path no slower than the
   in-process one, about 3x the seed-style loop.
2. What the export adds to a ``grader check`` of mycnn (code only): in one fresh interpreter per repeat, the
   in-process checks (what a check did before the export) vs observe (load, build, export) plus judge; and, in
   another, the one-off import of ``torch._dynamo`` that ``torch.export`` needs, which a lone ``grader check`` pays
   and ``grader grade`` pays once for the class. Goal: at most 1 s more per check.

``--quick``: one run of each, the re-evaluation on the first 1,000 validation images (``--images``), the same code
path (the test suite runs it: tests/test_bench.py).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
import seed_style  # noqa: E402
from bench_reference import best_rate  # noqa: E402

from grader.data.mnist import load_mnist  # noqa: E402
from grader.inspection.export import export_model  # noqa: E402
from grader.judge.graph import load_graph  # noqa: E402
from grader.quiz.evaluate import validate  # noqa: E402

PARTS = r'''
import json, sys, time
import torch.export._trace  # paid once per grader process, before the fork; timed apart
from grader.judge.judge import judge
from grader.pipeline import check_submission, observe_submission
from grader.spec import load_spec
spec = load_spec("mycnn")
warm_in, warm_obs, timed_in, timed_obs = sys.argv[1:5]  # four copies: a module name loads once per interpreter
assert check_submission(spec, warm_in).score == 10 and observe_submission(spec, warm_obs)[1]  # warm-up
t = time.perf_counter(); report = check_submission(spec, timed_in); in_process = time.perf_counter() - t
t = time.perf_counter(); obs, weights = observe_submission(spec, timed_obs); observe = time.perf_counter() - t
t = time.perf_counter(); judged_report = judge(spec, timed_obs, obs, weights); judged = time.perf_counter() - t
assert report.score == judged_report.score == 10 and judged_report.judged == "graph"  # the model checks' 10 points
print(json.dumps({"in_process": in_process, "observe": observe, "judge": judged}))
'''
DYNAMO = r'''
import time, torch, grader.pipeline, grader.judge.judge
t = time.perf_counter(); import torch.export._trace; print(time.perf_counter() - t)
'''


def reevaluation(data_dir: str, repeats: int, images: int | None = None) -> None:
    from reference import get_network

    torch.manual_seed(0)
    model = get_network("mycnn").build().eval()
    exported = export_model(model, torch.zeros(2, 1, 28, 28), set(), {})
    graph = load_graph(exported.header(), exported.weights)
    val = load_mnist(False, data_dir).subset(images)  # the first ``images`` (all when None), as the seed-style side
    seed_val = seed_style.loader(data_dir, False, limit=images)
    n = len(val)
    seed = best_rate(lambda: seed_style.validate(model, seed_val), n, repeats)
    own = best_rate(lambda: validate(model, val), n, repeats)
    judged = best_rate(lambda: validate(graph, val), n, repeats)
    a, b = validate(model, val), validate(graph, val)
    print(f"re-evaluation of mycnn on {n} images, {torch.get_num_threads()} threads, best of {repeats}")
    print(f"  seed-style validate()            {seed:8.0f} img/s   (baseline)")
    print(f"  in-process validate(module)      {own:8.0f} img/s   {own / seed:.2f}x")
    print(f"  judge validate(exported graph)   {judged:8.0f} img/s   {judged / seed:.2f}x   "
          f"= {judged / own:.2f}x the in-process path (goal: no slower)")
    print(f"  same numbers: loss {a[0]:.6f} vs {b[0]:.6f}, accuracy {a[2]:.2f}% vs {b[2]:.2f}%")


def export_cost(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = (ROOT / "reference" / "mycnn.py").read_text()
        copies = []
        for name in ("warm_in", "warm_obs", "timed_in", "timed_obs"):
            (Path(tmp) / name).mkdir()
            (Path(tmp) / name / f"{name}.py").write_text(source)
            copies.append(str(Path(tmp) / name))
        runs = []
        for _ in range(repeats):
            out = subprocess.run([sys.executable, "-c", PARTS, *copies], capture_output=True,
                                 text=True, cwd=tmp, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        dynamo = min(float(subprocess.run([sys.executable, "-c", DYNAMO], capture_output=True, text=True, cwd=tmp,
                                          check=True).stdout.strip().splitlines()[-1]) for _ in range(repeats))
    part = {key: min(r[key] for r in runs) for key in runs[0]}
    now = part["observe"] + part["judge"]
    added = now - part["in_process"]
    print(f"\ngrader check of mycnn (code only), best of {repeats}")
    print(f"  in-process checks (before)       {part['in_process']:6.3f} s   (baseline)")
    print(f"  observe (load, build, export)    {part['observe']:6.3f} s")
    print(f"  judge (the model checks)         {part['judge']:6.3f} s")
    print(f"  observe + judge                  {now:6.3f} s   = {now / part['in_process']:.2f}x the baseline, "
          f"{added:+.3f} s")
    print(f"  import torch._dynamo (once)      {dynamo:6.3f} s")
    print(f"  added to a check in grader grade {added:+6.3f} s   (goal at most +1 s: "
          f"{'met' if added <= 1 else 'not met'})")
    print(f"  added to a lone grader check     {added + dynamo:+6.3f} s   (goal at most +1 s: "
          f"{'met' if added + dynamo <= 1 else 'not met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist", help="MNIST folder (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best counts (default: %(default)s)")
    parser.add_argument("--images", type=int, default=None, help="validation images of the re-evaluation "
                        "(default: all 10,000)")
    parser.add_argument("--quick", action="store_true", help="one run of each, 1,000 validation images (a smoke run: "
                        "the test suite's mode)")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.images = 1, 1000
    reevaluation(args.data_dir, args.repeats, args.images)
    export_cost(args.repeats)


if __name__ == "__main__":
    main()
