"""Batch grading throughput: the forked worker pool of ``grader grade`` vs one fresh Python process per submission.

    python bench/bench_batch.py [--students 50] [--workers 2] [--assignment mycnn|simple-cnn] [--quick]

Builds a mycnn class of at least 50 submissions (honest ones with a real best.pt and curves, forged ones whose
best.pt was saved every epoch, broken ones: wrong layers, a crash, a hard-coded batch size), then grades it
twice in this run, with the same number of submissions at a time:

* pool: the ``grader grade`` command itself, timed from its start to its exit: one interpreter and torch import,
  a fork per submission, the integrity flags and all the output files;
* fresh: ``python -m grader check SUB -a mycnn --json --no-cache`` per submission, a new process each.

Prints seconds per submission for both and the speedup, and checks that both gave every student the same score.
``--assignment simple-cnn`` grades a class without the quiz instead (code only: model checks).

The mycnn class is graded against ``examples/mycnn-demo`` (the Week 4 quiz with its accuracy floor lowered to 70%):
its checkpoints train on the 1,000 shipped images, as the demo class's do (about 83% correct), and the shipped
mycnn spec asks for 97%.

``--quick`` grades a class of 5 submissions (two honest, one forged, two broken), its best.pt files and curves taken
from the demo class's runs of the same two recipes (examples/demo-class alice and dave) instead of trained afresh:
the same grading path, both ways, in about a minute (the test suite runs it: tests/test_bench.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
# What ``-a`` is given for each class: the mycnn class's checkpoints are the demo's (about 83% correct), so it is
# graded against the demo's copy of the quiz, whose floor is 70% (the shipped mycnn asks for 97%).
SPECS = {"mycnn": str(ROOT / "examples" / "mycnn-demo"), "simple-cnn": "simple-cnn"}
QUICK_STUDENTS = 5


def demo_class() -> Path:
    """examples/demo-class, built first when it is not there yet (the README's first command makes it)."""
    demo = ROOT / "examples" / "demo-class"
    if not demo.exists():
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_demo_class.py")], check=True)
    return demo


def build_model_only_class(folder: Path, students: int) -> None:
    """A simple-cnn class (code only, no quiz): 60% right, 40% broken in four ways."""
    code = (ROOT / "reference" / "simple_cnn.py").read_text()
    broken = [code.replace("nn.Conv2d(20, 50, kernel_size=3)", "nn.Conv2d(20, 50, kernel_size=5)"),
              code.replace("self.fc2 = nn.Linear(100, 10)", "self.fc2 = nn.Linear(100, 10)\n        raise ValueError('oops')"),
              code.replace("torch.flatten(x, 1)", "x.view(64, -1)"),
              code.replace("return F.log_softmax(x, dim=1)", "return x")]
    for index in range(students):
        target = folder / "class" / f"student{index:03d}"
        target.mkdir(parents=True)
        (target / "model.py").write_text(code if index % 5 < 3 else broken[index % len(broken)])


DEMO_RUNS = {"honest": "alice", "forged": "dave"}  # the demo class's runs of the same two recipes


def build_class(folder: Path, students: int, reuse_demo: bool = False) -> None:
    """Honest 40%, forged 20%, broken 40% of ``students`` submissions, made from two real short trainings
    (``reuse_demo``: the demo class's two runs of the same recipes, examples/demo-class alice and dave)."""
    runs = folder / "_runs"
    if reuse_demo:
        for name, student in DEMO_RUNS.items():
            (runs / name).mkdir(parents=True)
            for artifact in ("best.pt", "curves.json", "val_loss.png", "val_acc.png"):
                shutil.copy(demo_class() / student / artifact, runs / name / artifact)
    else:
        from make_demo_class import shipped_training_subset, train_student

        from grader.data.mnist import load_mnist

        train, val = shipped_training_subset(), load_mnist(False)
        for name, kwargs in (("honest", {}), ("forged", {"epochs": 3, "late_lr": 0.05, "save_every_epoch": True})):
            (runs / name).mkdir(parents=True)
            train_student(runs / name, 7, train, val, **kwargs)
    code = (ROOT / "examples" / "students" / "alice" / "mycnn.py").read_text()
    broken = [code.replace("nn.Conv2d(32, 64, 3)", "nn.Conv2d(32, 64, 5)"),
              code.replace("self.fc1 = nn.Linear(9216, 128)", "self.fc1 = nn.Linear(9216, 128)\n        raise ValueError('oops')"),
              code.replace("torch.flatten(x, 1)", "x.view(64, -1)"),
              code.replace("F.log_softmax(self.fc2(x), dim=1)", "self.fc2(x)")]
    subs = folder / "class"
    for index in range(students):
        target = subs / f"student{index:03d}"
        target.mkdir(parents=True)
        kind = index % 5
        if kind in (0, 1):  # honest
            (target / "model.py").write_text(code)
            shutil.copytree(runs / "honest", target, dirs_exist_ok=True)
        elif kind == 2:  # forged
            (target / "model.py").write_text(code)
            shutil.copytree(runs / "forged", target, dirs_exist_ok=True)
        else:  # broken, half of them with a checkpoint beside
            (target / "model.py").write_text(broken[index % len(broken)])
            if kind == 3:
                shutil.copytree(runs / "honest", target, dirs_exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50, help="submissions in the class (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="submissions at once, both ways (default: %(default)s)")
    parser.add_argument("--assignment", choices=["mycnn", "simple-cnn"], default="mycnn",
                        help="mycnn: the quiz class (re-evaluates best.pt); simple-cnn: model checks only "
                             "(default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help=f"a class of {QUICK_STUDENTS} submissions made from "
                        "the demo class's runs, not trained afresh (a smoke run: the test suite's mode)")
    parser.add_argument("--build", metavar="DIR", help=argparse.SUPPRESS)  # internal: build the class only
    parser.add_argument("--reuse-demo", action="store_true", help=argparse.SUPPRESS)  # internal: --quick's build
    args = parser.parse_args()
    if args.quick:
        args.students = QUICK_STUDENTS
    if args.build:
        if args.assignment == "mycnn":
            build_class(Path(args.build), args.students, args.reuse_demo)
        else:
            build_model_only_class(Path(args.build), args.students)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        began = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build", str(tmp), "--students", str(args.students),
                        "--assignment", args.assignment] + (["--reuse-demo"] if args.quick else []), check=True)
        print(f"built a class of {args.students} submissions in {time.perf_counter() - began:.0f} s")
        subs = tmp / "class"

        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch, grader.inspection.checks, grader.quiz.checks"], check=True)
        startup = time.perf_counter() - began

        # The command an instructor runs, whole: its interpreter start and torch import (once), the pool, the
        # class-level integrity flags and every output file.
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "grader", "grade", str(subs), "-a", SPECS[args.assignment],
                               "--out", str(tmp / "out"), "--workers", str(args.workers), "--timeout", "300", "--json",
                               "--no-progress"], check=False, capture_output=True, text=True, cwd=tmp)
        pool = time.perf_counter() - began
        if done.returncode not in (0, 1):
            sys.exit(f"grader grade exited with {done.returncode}:\n{done.stderr}")
        pool_scores = {s["student"]: s["score"] for s in json.loads(done.stdout)["students"]}

        # Same cores per submission both ways: each fresh process gets its share, as each pool child does.
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.workers))}

        def fresh(path: Path) -> tuple[str, float]:
            out = subprocess.run([sys.executable, "-m", "grader", "check", str(path), "-a", SPECS[args.assignment],
                                  "--json", "--no-cache"], capture_output=True, text=True, cwd=tmp, env=env)
            return path.name, json.loads(out.stdout)["score"]

        began = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as executor:
            fresh_scores = dict(executor.map(fresh, sorted(subs.iterdir())))
        baseline = time.perf_counter() - began

    n = args.students
    print(f"one interpreter importing torch: {startup:.2f} s (paid once by the pool, once per submission fresh)")
    print(f"pool  (grader grade, {args.workers} at once):        {pool:7.1f} s  {pool / n:.2f} s/submission")
    print(f"fresh (python per submission, {args.workers} at once): {baseline:7.1f} s  {baseline / n:.2f} s/submission")
    print(f"speedup: {baseline / pool:.2f}x (goal: at least 2x)")
    differ = {s for s in pool_scores if pool_scores[s] != fresh_scores.get(s)}
    print("scores: identical both ways" if not differ else f"scores differ for: {sorted(differ)}")


if __name__ == "__main__":
    main()
