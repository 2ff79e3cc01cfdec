"""Where the time of ``grader check`` goes, on a mycnn submission (shapes and parameters only).

    python bench/bench_check.py [--repeats 3]

Prints, best of N: a bare interpreter start, an interpreter importing torch, the whole ``grader check`` command,
and the part of it spent loading the student's code and running the checks (from the report's timings).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def best(cmd: list[str], repeats: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        began = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True).stdout
        times.append(time.perf_counter() - began)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best counts (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.py").write_text((ROOT / "reference" / "mycnn.py").read_text())
        bare, _ = best([sys.executable, "-c", "pass"], args.repeats)
        torch_start, _ = best([sys.executable, "-c", "import torch"], args.repeats)
        whole, out = best([sys.executable, "-m", "grader", "check", tmp, "-a", "mycnn", "--json"], args.repeats)
    timings = json.loads(out)["timings"]
    print(f"interpreter start           {bare:6.2f} s")
    print(f"interpreter + import torch  {torch_start:6.2f} s")
    print(f"grader check (whole)        {whole:6.2f} s   (goal: at most 5 s)")
    print(f"  loading student code      {timings['load_s']:6.2f} s")
    print(f"  model checks              {timings['checks_s']:6.2f} s")
    print(f"  rest: two interpreters, torch import in the child, report  {whole - timings['load_s'] - timings['checks_s']:.2f} s")


if __name__ == "__main__":
    main()
