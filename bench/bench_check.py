"""Where the time of ``grader check`` goes, on a mycnn submission (shapes and parameters only).

    python bench/bench_check.py [--repeats 3] [--quick] [--python KIT_VENV/bin/python] [--isolation process]

``--python`` times the ``grader`` of another interpreter, for example a venv where the student kit's wheel is
installed (the goal, at most 3 s wall, is for that install). Prints, best of N, in one run: a bare interpreter
start, the same importing torch (the baseline: no check can start faster), importing the command line, the whole
``grader check`` command with its ratio to the baseline, and the parts of it the report times itself.
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
GOAL_S = 3.0


def best(cmd: list[str], repeats: int, cwd: str) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        began = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd).stdout
        times.append(time.perf_counter() - began)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best counts (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="one run of each (the test suite's mode)")
    parser.add_argument("--python", default=sys.executable, help="interpreter whose grader is timed "
                        "(default: this one)")
    parser.add_argument("--isolation", choices=["full", "process"], default=None,
                        help="isolation level of the check (default: the grader's own default)")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1
    python = args.python
    with tempfile.TemporaryDirectory() as tmp:  # run from a folder with no source tree beside it
        (Path(tmp) / "model.py").write_text((ROOT / "reference" / "mycnn.py").read_text())
        where = subprocess.run([python, "-c", "import grader; print(grader.__file__)"], capture_output=True,
                               text=True, cwd=tmp).stdout.strip()
        bare, _ = best([python, "-c", "pass"], args.repeats, tmp)
        torch_start, _ = best([python, "-c", "import torch"], args.repeats, tmp)
        cli_import, _ = best([python, "-c", "import grader.cli"], args.repeats, tmp)
        command = [python, "-m", "grader", "check", tmp, "-a", "mycnn", "--json", "--no-cache"]
        if args.isolation:
            command += ["--isolation", args.isolation]
        whole, out = best(command, args.repeats, tmp)
    report = json.loads(out)
    timings = report["timings"]
    # the observe stage (in the box that runs the student's code) times loading and exporting; the judge stage,
    # in a box of its own, times the checks it computes from the export
    inner = timings.get("load_s", 0.0) + timings.get("observe_s", timings.get("checks_s", 0.0)) \
        + timings.get("judge_s", 0.0)
    print(f"grader from                  {where}")
    print(f"isolation                    {report.get('isolation_level') or 'full'}")
    print(f"interpreter start            {bare:6.2f} s")
    print(f"interpreter + import torch   {torch_start:6.2f} s   (baseline)")
    print(f"interpreter + grader.cli     {cli_import:6.2f} s")
    print(f"grader check (whole)         {whole:6.2f} s   = {whole / torch_start:.2f}x the baseline "
          f"(goal: at most {GOAL_S:g} s: {'met' if whole <= GOAL_S else 'not met'})")
    print(f"  loading student code       {timings['load_s']:6.2f} s")
    print(f"  export (observe stage)     {timings.get('observe_s', timings.get('checks_s', 0.0)):6.2f} s")
    print(f"  judge stage                {timings.get('judge_s', 0.0):6.2f} s")
    print(f"  both boxes, wall           {timings.get('wall_s', 0.0):6.2f} s")
    print(f"  rest: start-up, torch import, sandbox set-up, report  {whole - inner:.2f} s")


if __name__ == "__main__":
    main()
