"""Every benchmark keeps running: each in its quick mode, as a smoke run (the figures live in docs/benchmarks.md)."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_bench_select_quick():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_select.py"), "--quick"], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 of 4 cases graded against the right class (100%)" in run.stdout, run.stdout
    assert "the choice adds at most" in run.stdout and "by name alone" in run.stdout
