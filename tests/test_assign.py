"""Starters generated from the reference: no drift, unfinished parts read 'not implemented yet', filled ones pass."""
import json
import os
import shutil

import pytest

from grader.authoring.starters import generate, render_ipynb, render_py, strip_solutions
from grader.batch.job import check_in_box
from grader.spec import list_assignments, load_spec
from tests.conftest import ROOT, run_cli

NAMES = [n for n in list_assignments() if load_spec(n).reference]
MODEL_CHECKS = {"class", "shapes", "params", "batch", "output", "determinism"}


def test_starters_in_git_equal_a_fresh_generation():
    for name in NAMES:
        assert generate(load_spec(name), check=True) == [], f"run 'grader assign {name}'"
    done = run_cli("assign", "--all", "--check")
    assert done.returncode == 0 and "up to date" in done.stdout


def test_check_mode_reports_drift(tmp_path, monkeypatch):
    folder = tmp_path / "mlp"
    shutil.copytree(ROOT / "assignments" / "mlp", folder)
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path))
    (folder / "starter.py").write_text((folder / "starter.py").read_text() + "\n# edited by hand\n")
    done = run_cli("assign", "mlp", "--check")
    assert done.returncode == 1 and "differs" in done.stdout
    assert run_cli("assign", "mlp").returncode == 0
    assert run_cli("assign", "mlp", "--check").returncode == 0  # regenerating is idempotent


def test_solution_regions():
    source = "a = 1\n    ### BEGIN SOLUTION\n    x = 2\n    ### END SOLUTION\n### BEGIN SOLUTION: y = ...\ny = 3\n### END SOLUTION\n"
    assert strip_solutions(source) == "a = 1\n    raise NotImplementedError  # your code here\ny = ...\n"
    assert strip_solutions(source, fill=True) == "a = 1\n    x = 2\ny = 3\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_untouched_starter_reads_not_implemented(name):
    report = check_in_box(load_spec(name), ROOT / "assignments" / name / "starter.py")
    cls = next(c for c in report.checks if c.name == "class")
    assert cls.status == "fail" and cls.message.count("Not implemented yet") == 1
    assert "Traceback" not in cls.message and "starter.py line" in cls.message
    assert not report.fatal


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_filled_starter_passes(name, tmp_path):
    (tmp_path / "starter.py").write_text(render_py(load_spec(name), fill=True))
    report = check_in_box(load_spec(name), tmp_path)
    statuses = {c.name: c.status for c in report.checks}
    assert {k: v for k, v in statuses.items() if k in MODEL_CHECKS} == {k: "pass" for k in MODEL_CHECKS}, \
        "\n".join(c.message for c in report.checks)


@pytest.mark.slow
def test_filled_notebook_runs_and_passes_the_quiz(tmp_path, mnist_dir):
    import nbformat
    from nbclient import NotebookClient

    spec = load_spec("mycnn")
    notebook = nbformat.reads(render_ipynb(spec, fill=True), as_version=4)
    env = {"MNIST_DIR": str(mnist_dir), "OUT_DIR": str(tmp_path), "EPOCHS": "2", "TRAIN_LIMIT": "1000",
           "MPLBACKEND": "Agg"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nbformat.write(notebook, tmp_path / "week4.ipynb")
    # The starter's last cell self-checks in the kernel: grader.check on the live class, then check_files.
    last = notebook.cells[-1]
    assert "grader.check(MyCNN" in last.source and "grader.check_files(OUT_DIR" in last.source
    shown = [o["data"] for o in last.outputs if o.get("output_type") in ("display_data", "execute_result")]
    assert len(shown) == 2, last.outputs
    live, files = (d["text/html"] for d in shown)
    assert "all required checks pass" in live and "<code>shapes</code>" in live and "<code>reeval</code>" not in live
    assert "all required checks pass" in files and "<code>reeval</code>" in files
    assert "score 9/9: all required checks pass" in shown[1]["text/plain"]  # the text form, as in a terminal
    for name in ("curves.json", "val_loss.png", "val_acc.png", "best.pt"):
        assert (tmp_path / name).is_file(), name
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert len(curves["val_loss"]) == 2
    report = check_in_box(spec, tmp_path)
    assert report.passed, "\n".join(f"{c.name}: {c.message}" for c in report.checks)
    assert {c.name for c in report.checks} >= {"reeval", "epoch", "checkpoint", "curves"}
