"""The pipeline for one submission, in this process: load -> inspect model -> (quiz) -> report.

Runs student code: call it through ``grader.sandbox`` (a forked, limited child) unless the caller is that child.
"""
from __future__ import annotations

import time
from pathlib import Path

from grader.inspection.load import load_submission
from grader.report import Report
from grader.spec import Spec

MAX_SKIP_NOTES = 8


def check_submission(spec: Spec, path: str | Path, student: str | None = None) -> Report:
    """Run every check of ``spec`` on the submission at ``path`` and return the report."""
    import torch

    from grader.inspection.checks import run_model_checks

    torch.manual_seed(0)
    began = time.perf_counter()
    path = Path(path)
    report = Report(assignment=spec.name, student=student or path.stem)
    sub = load_submission(path)
    loaded = time.perf_counter()
    report.notes.append(f"code: {', '.join(sub.relative(f) for f in sub.code_files) or 'none'}")
    for skip in sub.skipped[:MAX_SKIP_NOTES]:
        report.notes.append(f"not run: {skip.file} line {skip.line} ({skip.reason})"
                            + (f": {skip.text}" if skip.text else ""))
    if len(sub.skipped) > MAX_SKIP_NOTES:
        report.notes.append(f"not run: {len(sub.skipped) - MAX_SKIP_NOTES} more top-level statements")
    for error in sub.errors:
        report.notes.append(f"error while loading {error.file} line {error.line}: {error.kind}: {error.message}")
    results, notes, ctx = run_model_checks(spec, sub)
    report.checks.extend(results)
    report.notes.extend(notes)
    if spec.quiz.get("enabled"):
        from grader.quiz.checks import run_quiz_checks

        report.checks.extend(run_quiz_checks(spec, sub, ctx.cls if ctx.model is not None else None,
                                             ctx.student_batch_size))
    report.timings = {"load_s": round(loaded - began, 3), "checks_s": round(time.perf_counter() - loaded, 3)}
    return report
