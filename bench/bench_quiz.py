"""Building a quiz for a class: the course's bank (10 templates) for 300 students, in all formats, in one run.

    python bench/bench_quiz.py [--students 300] [--pool 20] [--repeats 3] [--quick]

Prints the time of ``grader.quizbank.build`` (Moodle XML, GIFT, Canvas QTI, the practice page, the key) against the
goal of at most 5 s, and, as a baseline in the same run, the time to draw the same variants alone (the answers
computed by torch), so the share the exports take shows.

``--quick``: 20 students, 2 variants per template, one run of each (the test suite runs it: tests/test_bench.py).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from grader.quizbank import build  # noqa: E402
from grader.quizbank.bank import _answer, load_bank, pool_variants, student_variants  # noqa: E402
from grader.spec import assignments_root  # noqa: E402

GOAL_S = 5.0


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _answer.cache_clear()  # each run computes its answers afresh
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=300, help="roster size (default: %(default)s)")
    parser.add_argument("--pool", type=int, default=20, help="variants per template for the LMS (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best counts (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="20 students, 2 variants per template, one run of each "
                        "(a smoke run: the test suite's mode)")
    args = parser.parse_args()
    if args.quick:
        args.students, args.pool, args.repeats = 20, 2, 1
    bank = load_bank(assignments_root() / "quiz-bank" / "cnn.toml")
    students = [f"s{i:05d}" for i in range(args.students)]

    def draw_only():
        for template in bank.templates:
            pool_variants(bank, template, args.pool)
        for student in students:
            student_variants(bank, student)

    with tempfile.TemporaryDirectory() as out:
        whole = best(lambda: build(bank, students, out, args.pool), args.repeats)
    drawing = best(draw_only, args.repeats)
    print(f"{len(bank.templates)} templates, {args.students} students, {args.pool} variants per template for the LMS")
    print(f"drawing the variants (torch answers)  {drawing:6.2f} s   (baseline)")
    print(f"build, all formats                    {whole:6.2f} s   = {whole / drawing:.2f}x the baseline "
          f"(goal: at most {GOAL_S:g} s: {'met' if whole <= GOAL_S else 'not met'})")


if __name__ == "__main__":
    main()
