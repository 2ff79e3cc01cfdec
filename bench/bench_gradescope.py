"""One mycnn quiz submission graded as Gradescope's default container would: 768 MB of memory and one CPU.

    python bench/bench_gradescope.py [--quick] [--train N] [--memory-mb 768] [--cpus 1]

A MyCNN trained on N MNIST images (default 6,000; --quick 600) is handed in with its best.pt and curves, and
``grader autograder run gradescope`` grades it (the command run_autograder runs) at the process isolation level, as
in Gradescope's Docker (where this Python is not readable by uid 65534, its child keeps uid 0: see KEEP_ROOT),
twice in a row:

* baseline: in a memory and cpu cgroup with no limits (the cgroup only measures);
* Gradescope: in one whose memory is limited to --memory-mb and CPU time to --cpus CPUs (cgroup v1 quotas).

Prints the wall time and the peak memory of the whole process tree (the cgroup's ``memory.max_usage_in_bytes``,
page cache included) of each, the ratio of wall times limited / baseline, the peak against the limit, whether the
kernel's OOM killer struck, and the score each run wrote. "fits: yes" means the limited run was not OOM-killed and
wrote the same score as the baseline, which graded the submission to its end. Needs root (cgroups).
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMORY = Path("/sys/fs/cgroup/memory")
CPU = Path("/sys/fs/cgroup/cpu")
SPEC = 'extends = "mycnn"\n\n[quiz]\nmin_val_accuracy = 0.0\n'


def _submission(folder: Path, images: int) -> None:
    """MyCNN trained one epoch on ``images`` MNIST images: model.py, best.pt and the curves."""
    import torch

    from grader.data.mnist import load_mnist
    from grader.quiz.curves import write_curves
    from grader.quiz.evaluate import validate
    from reference import get_network
    from reference.checkpoint import save_checkpoint
    from reference.train import train_epoch

    data = os.environ.get("GRADER_TEST_MNIST", str(ROOT.parent / "shared" / "data" / "mnist"))
    torch.manual_seed(0)
    model = get_network("mycnn").build()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train_epoch(model, optimizer, load_mnist(True, data).subset(images), 64, torch.Generator().manual_seed(1))
    loss, _, accuracy = validate(model, load_mnist(False))
    folder.mkdir(parents=True)
    save_checkpoint(folder / "best.pt", model, optimizer, 1)
    write_curves(folder, [loss], [accuracy])
    shutil.copy(ROOT / "reference" / "mycnn.py", folder / "model.py")


def _cgroup(name: str, memory_mb: int | None, cpus: float | None) -> list[Path]:
    groups = [MEMORY / name, CPU / name]
    for group in groups:
        group.mkdir()
    if memory_mb is not None:
        (MEMORY / name / "memory.limit_in_bytes").write_text(str(memory_mb << 20))
    if cpus is not None:
        (CPU / name / "cpu.cfs_period_us").write_text("100000")
        (CPU / name / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
    return groups


def _oom_kills(group: Path) -> int:
    for line in (group / "memory.oom_control").read_text().splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return int((group / "memory.failcnt").read_text())  # an older kernel: how often the limit was hit


# Where uid 65534 cannot read this Python or the grader (a venv under /root, a clone in a private folder), the
# platform runner refuses to run code at the process level: the bench then lets the child keep uid 0, which changes
# who owns the files, not the memory or the time measured.
KEEP_ROOT = ("import sys; from grader.sandbox import process; process.root_kept = lambda: ''; "
             "from grader.cli import main; sys.argv[0] = 'grader'; main()")


def _run(name: str, course: Path, root: Path, memory_mb: int | None, cpus: float | None, keep_root: bool) -> dict:
    shutil.rmtree(root / "results", ignore_errors=True)
    groups = _cgroup(name, memory_mb, cpus)
    join = "; ".join(f"echo $$ > {g / 'cgroup.procs'}" for g in groups)
    start = f"{sys.executable} -c \"{KEEP_ROOT}\"" if keep_root else f"{sys.executable} -m grader"
    command = f"{join}; exec {start} --course {course} autograder run gradescope -a mycnn-bench --root {root}"
    env = {**os.environ, "GRADER_ISOLATION": "process"}
    env.pop("GRADER_ASSIGNMENTS", None)
    began = time.monotonic()
    done = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True)
    wall = time.monotonic() - began
    try:
        peak = int((MEMORY / name / "memory.max_usage_in_bytes").read_text()) >> 20
        kills = _oom_kills(MEMORY / name)
    finally:
        from grader.sandbox.cgroup import kill_cgroup

        for group in groups:
            kill_cgroup(group)  # a process of the student's may outlive the grader
            group.rmdir()
    results = root / "results" / "results.json"
    doc = json.loads(results.read_text()) if results.is_file() else {}
    return {"wall": wall, "peak": peak, "oom": kills, "score": doc.get("score"), "exit": done.returncode,
            "stderr": done.stderr[-2000:], "output": str(doc.get("output", ""))[:2000],
            "fatal": bool(doc.get("extra_data", {}).get("status") in (None, "error"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train on 600 images (a smoke run)")
    parser.add_argument("--train", type=int, default=None, help="training images  [default: 6000, --quick 600]")
    parser.add_argument("--memory-mb", type=int, default=768, help="the memory limit  [default: 768, Gradescope's]")
    parser.add_argument("--cpus", type=float, default=1.0, help="the CPU limit  [default: 1]")
    args = parser.parse_args()
    if os.geteuid() != 0 or not (MEMORY / "memory.limit_in_bytes").is_file() or not (CPU / "cpu.cfs_quota_us").is_file():
        print("needs root and the cgroup v1 memory and cpu controllers under /sys/fs/cgroup", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="bench-gradescope-"))
    work.chmod(0o755)  # the job's own files, readable by the uid its child runs as
    from grader.sandbox.process import root_kept

    kept = root_kept()
    if kept:
        print(f"the child keeps uid 0 ({kept}): the memory and time are the same")
    try:
        course = work / "assignments"
        (course / "mycnn-bench").mkdir(parents=True)
        (course / "mycnn-bench" / "spec.toml").write_text(SPEC)
        shutil.copytree(ROOT / "assignments" / "mycnn", course / "mycnn")
        _submission(work / "autograder" / "submission", args.train or (600 if args.quick else 6000))
        tag = f"cnn-grader-bench-{os.getpid()}"
        base = _run(f"{tag}-base", course, work / "autograder", None, None, bool(kept))
        limited = _run(f"{tag}-limited", course, work / "autograder", args.memory_mb, args.cpus, bool(kept))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for label, run in (("baseline (no limits)", base), (f"Gradescope ({args.memory_mb} MB, {args.cpus:g} CPU)",
                                                         limited)):
        print(f"{label:32} wall {run['wall']:6.1f} s  peak {run['peak']:5d} MB  OOM kills {run['oom']}  "
              f"score {run['score']}  exit {run['exit']}")
    print(f"ratio wall limited / baseline: {limited['wall'] / base['wall']:.2f}x")
    print(f"peak / limit: {limited['peak'] / args.memory_mb:.2f}x")
    # an unlimited run that could not grade measures nothing: it fits nothing either
    fits = not base["fatal"] and limited["oom"] == 0 and limited["score"] == base["score"]
    print(f"fits: {'yes' if fits else 'no'}")
    if not fits:
        for run in (base, limited):
            print(run["output"], run["stderr"], sep="\n", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
