"""Every benchmark keeps running: each in its quick mode, as a smoke run (the figures live in docs/benchmarks.md)."""
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run_quick(bench: str, *args, timeout: int = 600) -> str:
    """The output of ``bench/<bench>.py --quick ARGS``, which must exit 0."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / f"{bench}.py"), "--quick", *map(str, args)],
                         capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def ratio(line_start: str, out: str) -> float:
    """The first ``N.NNx`` ratio on the line of ``out`` that starts with ``line_start`` (the line must be there)."""
    line = next((ln for ln in out.splitlines() if ln.lstrip().startswith(line_start)), None)
    assert line is not None, f"no line starting {line_start!r} in:\n{out}"
    found = re.search(r"(\d+\.\d+)x", line)
    assert found is not None, line
    return float(found.group(1))


@pytest.mark.slow
def test_bench_select_quick():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_select.py"), "--quick"], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 of 4 cases graded against the right class (100%)" in run.stdout, run.stdout
    assert "the choice adds at most" in run.stdout and "by name alone" in run.stdout


@pytest.mark.slow
def test_bench_batch_quick():
    out = run_quick("bench_batch")
    assert "built a class of 5 submissions" in out, out
    assert ratio("speedup:", out) > 0
    assert "scores: identical both ways" in out, out  # the pool and a fresh process per submission agree


@pytest.mark.slow
def test_bench_check_quick():
    out = run_quick("bench_check")
    assert ratio("grader check (whole)", out) > 0
    assert re.search(r"^  judge stage +\d+\.\d\d s$", out, re.M), out


@pytest.mark.slow
def test_bench_cluster_quick():
    out = run_quick("bench_cluster")
    assert "code-only class, 6 submissions (simple-cnn):" in out, out
    assert "quiz class, 2 submissions (mycnn-demo):" in out, out
    assert out.count("x the local pool") == 2 and out.count("x the 2-worker time") == 2, out
    assert ratio("Dask, 2 workers", out) > 0


@pytest.mark.slow
def test_bench_export_quick():
    out = run_quick("bench_export")
    share = re.search(r"^exported: (\d+) of (\d+) built models \((\d+)%, goal 95%\)", out, re.M)
    assert share is not None, out
    assert int(share.group(2)) == 6 and share.group(1) == share.group(2), out  # two of each group, all exported


@pytest.mark.slow
def test_bench_flags_quick():
    out = run_quick("bench_flags")
    assert "10 mycnn checkpoints written" in out, out
    assert ratio("sketches, candidate pairs loaded:", out) > 0
    # both flag steps find the planted pair (the bench also asserts that they agree)
    assert out.count("flagged ['s000', 's001']") == 2, out


@pytest.mark.slow
def test_bench_similarity_quick():
    out = run_quick("bench_similarity")
    assert "60 mycnn submissions written" in out, out
    assert ratio("class, 60 submissions:", out) > 0  # the compare time against the baseline's, scaled
    assert ratio("memory, 60 submissions:", out) > 0  # the peak against the fingerprints' bytes
    assert re.search(r"^flagged: 3 of the 3 planted pairs, 0 others \[\]$", out, re.M), out
    assert re.search(r"^groups: 1, of 12 members \(planted: one of 12\)$", out, re.M), out  # a leaked solution


@pytest.mark.slow
def test_bench_judge_quick(mnist_dir):
    out = run_quick("bench_judge", "--data-dir", mnist_dir)
    assert "re-evaluation of mycnn on 1000 images" in out, out
    assert ratio("judge validate(exported graph)", out) > 0
    same = re.search(r"same numbers: loss (\S+) vs (\S+), accuracy (\S+)% vs (\S+)%", out)
    assert same is not None and same.group(1) == same.group(2) and same.group(3) == same.group(4), out
    assert "added to a check in grader grade" in out, out


@pytest.mark.slow
def test_bench_quiz_quick():
    out = run_quick("bench_quiz")
    assert "10 templates, 20 students, 2 variants per template" in out, out
    assert ratio("build, all formats", out) > 0


@pytest.mark.slow
def test_bench_reference_quick(mnist_dir):
    out = run_quick("bench_reference", "--data-dir", mnist_dir)
    assert "training on 640 images, validating on 1000" in out, out
    for model in ("mycnn", "mlp"):
        for loop in ("train", "validate, model itself", "validate"):
            assert re.search(rf"^{model} +{re.escape(loop)} +\d+ +\d+ +\d+\.\d\dx$", out, re.M), (model, loop, out)


@pytest.mark.slow
def test_bench_rss_quick():
    out = run_quick("bench_rss")
    assert re.search(r"^honest  class, 4 copies of alice: +parent peak +\d+ MB", out, re.M), out
    assert re.search(r"^hostile class, 4 hostile submissions: parent peak +\d+ MB", out, re.M), out
    assert ratio("ratio hostile / honest:", out) > 0
    for student in ("s00-flood", "s01-bomb", "s02-curves", "s03-deep"):  # every hostile submission has a row
        assert re.search(rf"^  {student} +\S", out, re.M), (student, out)
    # the flood is stopped at the channel's limit, whatever else the grader does with the rest
    assert re.search(r"^  s00-flood +fatal: .*result pipe", out, re.M), out


@pytest.mark.slow
def test_bench_gradescope_quick():
    out = run_quick("bench_gradescope")
    assert re.search(r"^baseline \(no limits\) +wall +\d+\.\d s +peak +\d+ MB +OOM kills 0 +score 19\.0", out, re.M), out
    assert re.search(r"^Gradescope \(768 MB, 1 CPU\) +wall .* score 19\.0 +exit 0$", out, re.M), out
    assert ratio("ratio wall limited / baseline:", out) > 0 and ratio("peak / limit:", out) < 1
    assert "fits: yes" in out
