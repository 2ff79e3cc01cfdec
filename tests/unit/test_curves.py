"""Unit layer: reading the submitted validation curves from each kind of source."""
import json

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.quiz.curves import read_curves, read_png_curves, write_curves


def test_curves_json_and_its_plots_carry_the_same_data(tmp_path):
    doc = write_curves(tmp_path, [0.31, 0.12, 0.15], [90.5, 96.0, 95.2], seed=3)
    assert json.loads((tmp_path / "curves.json").read_text()) == doc and doc["seed"] == 3
    for plot in ("val_loss.png", "val_acc.png"):
        assert read_png_curves(tmp_path / plot) == {"val_loss": [0.31, 0.12, 0.15], "val_accuracy": [90.5, 96.0, 95.2]}
    curves = read_curves(sorted(tmp_path.iterdir()))
    assert (curves.kind, curves.best_epoch, curves.errors, curves.disagreements) == ("json", 2, [], [])


def test_a_csv_with_an_epoch_column_and_val_acc_is_read(tmp_path):
    (tmp_path / "curves.csv").write_text("epoch,val_loss,val_acc\n1,0.5,0.81\n2,0.4,0.85\n")
    curves = read_curves([tmp_path / "curves.csv"])
    assert curves.kind == "csv" and curves.val_loss == [0.5, 0.4] and curves.val_accuracy == [81.0, 85.0]
    assert curves.notes == ["accuracy was given as a fraction; read as percent"] and not curves.errors


def test_the_printed_log_of_an_executed_notebook_is_read(tmp_path):
    log = "".join(f"\nValidation set: Average loss: {loss:.4f}, Accuracy: {correct}/10000 ({correct // 100}%)\n"
                  for loss, correct in ((0.0912, 9712), (0.0483, 9846)))
    cell = new_code_cell("train()", outputs=[new_output("stream", name="stdout", text=log)])
    nbformat.write(new_notebook(cells=[cell]), str(tmp_path / "lab.ipynb"))
    curves = read_curves([tmp_path / "lab.ipynb"])
    assert curves.kind == "notebook" and curves.source == "the printed log of lab.ipynb"
    assert curves.val_loss == [0.0912, 0.0483] and curves.val_accuracy == [97.12, 98.46]


def test_broken_curves_are_errors_not_crashes(tmp_path):
    (tmp_path / "curves.json").write_text('{"val_loss": [0.5, NaN], "val_accuracy": [80, 81]}')
    assert read_curves([tmp_path / "curves.json"]).errors == ["the curves hold NaN or infinite values"]
    (tmp_path / "curves.json").write_text('{"val_loss": [0.5, "x"], "val_accuracy": [80, 81]}')
    assert read_curves([tmp_path / "curves.json"]).errors[0] == "curves.json holds values that are not numbers"
    (tmp_path / "curves.json").write_text('{"val_loss": [0.5, 0.4], "val_accuracy": [80]}')
    assert read_curves([tmp_path / "curves.json"]).errors == ["2 loss values but 1 accuracy values"]
    (tmp_path / "curves.json").write_text("{nope")
    broken = read_curves([tmp_path / "curves.json"])
    assert broken.errors[0] == "curves.json is not valid JSON" and broken.best_epoch == 0
    assert read_curves([tmp_path / "nothing.txt"]) is None


def test_log_lines_are_read_in_linear_steps():
    from grader.quiz.curves import log_values
    text = ("Test set: Average loss: 0.0512, Accuracy: 9838/10000 (98%)\nVal loss=0.07 Accuracy: 97.5%\n"
            "Train Epoch: 1 loss: 0.3\nTest loss: -, Accuracy: .\n"
            "Test set: Average loss: 0.04, Accuracy: 9900/10000 Test set: Average loss: 0.03, Accuracy: 9910/10000")
    assert log_values(text) == [(0.0512, 98.38), (0.07, 97.5), (0.04, 99.0), (0.03, 99.1)]
    # A long log that never says "Accuracy" (1,000 repetitions took 24 s with one two-gap pattern): nothing, at once.
    assert log_values("Val loss: 0.5 " * 3000 + "\n") == []


def test_curves_past_the_epoch_limit_or_the_size_limit_are_errors_not_memory(tmp_path):
    import json

    from grader.quiz.curves import MAX_EPOCHS, read_curves

    (tmp_path / "curves.json").write_text(json.dumps({"val_loss": [0.5] * (MAX_EPOCHS + 1),
                                                      "val_accuracy": [90.0] * (MAX_EPOCHS + 1)}))
    curves = read_curves([tmp_path / "curves.json"])
    assert curves.errors[0] == f"curves.json holds {MAX_EPOCHS + 1:,} epochs, over the limit of {MAX_EPOCHS:,}"
    (tmp_path / "curves.json").write_text(" " * (9 * 1024 * 1024) + "{}")
    curves = read_curves([tmp_path / "curves.json"])
    assert "over the 8 MB a curves file may take" in curves.errors[0]


def test_curves_past_the_epoch_cap_fail_alone_and_nothing_else_reads_them(tmp_path):
    """20,000 epochs (over the 10,000 cap) beside the demo's plots: the curves check fails and says why, and the
    checks that need curves skip; none of them crashes (which once read as the student's tampering)."""
    import json
    import shutil

    from grader.inspection.load import list_submission_files
    from grader.quiz.checks import run_quiz_checks
    from grader.spec import load_spec
    from tests.conftest import ROOT

    for plot in ("val_loss.png", "val_acc.png"):
        shutil.copy(ROOT / "examples" / "demo-class" / "alice" / plot, tmp_path / plot)
    (tmp_path / "curves.json").write_text(json.dumps({"val_loss": [0.5] * 20_000, "val_accuracy": [90.0] * 20_000}))
    (tmp_path / "model.py").write_text("x = 1\n")
    results = {r.name: r for r in run_quiz_checks(load_spec("mycnn"), list_submission_files(tmp_path), None, "MyCNN")}
    assert results["curves"].status == "fail"
    assert results["epoch"].status == "skip" and results["reeval"].status == "skip"
