"""grader check: student-like submissions from tests/corpus, run for real in the child process."""
import json

import pytest

from grader.batch.job import check_in_box
from grader.sandbox.limits import Limits
from grader.spec import list_assignments, load_spec
from tests.conftest import CORPUS, ROOT, run_cli

REFERENCE_FILES = {"mlp": "mlp.py", "simple-cnn": "simple_cnn.py", "vgg-like": "vgg_like.py", "mycnn": "mycnn.py",
                   "lenet-320": "lenet_320.py", "cnn-5x5": "cnn_5x5.py"}


def statuses(report):
    return {c.name: c.status for c in report.checks}


def messages(report):
    return "\n".join(c.message for c in report.checks)


CIFAR_ASSIGNMENTS = ["cifar-cnn1"] + [f"cifar-vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "-bn")]


def test_every_assignment_has_a_reference_and_a_valid_spec():
    assert list_assignments() == sorted(list(REFERENCE_FILES) + CIFAR_ASSIGNMENTS)  # CIFAR-10: tests/test_cifar.py
    for name in list_assignments():
        assert load_spec(name).reference == name


MODEL_CHECKS = {"class", "shapes", "params", "batch", "output", "determinism"}


def model_statuses(report):
    return {c.name: c.status for c in report.checks if c.name in MODEL_CHECKS}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE_FILES))
def test_reference_passes_its_own_spec(name, tmp_path):
    (tmp_path / "solution.py").write_text((ROOT / "reference" / REFERENCE_FILES[name]).read_text())
    spec = load_spec(name)
    report = check_in_box(spec, tmp_path)
    assert model_statuses(report) == {c: "pass" for c in MODEL_CHECKS}, messages(report)
    if spec.quiz.get("enabled"):  # code alone: the quiz asks for best.pt and curves (tests/test_quiz.py)
        assert not report.passed and "No best.pt" in messages(report)
    else:
        assert report.passed and report.score == report.max_score > 0


@pytest.mark.slow
def test_an_output_normalization_after_the_last_row_is_the_output_checks_business(tmp_path):
    # The lab's MLP ends with log_softmax, so students end their CNNs with it too: shapes notes it, output judges it.
    case = CORPUS / "pass_log_softmax_cnn5x5.py"
    report = check_in_box(load_spec("cnn-5x5"), case)
    assert report.judged == "graph" and report.passed, messages(report)
    shapes = next(c for c in report.checks if c.name == "shapes")
    assert "Note: F.log_softmax (pass_log_softmax_cnn5x5.py line 20" in shapes.message
    assert "an output normalization after the last row, which the 'output' check judges" in shapes.message
    (tmp_path / "softmax_cnn.py").write_text(case.read_text().replace("F.log_softmax", "F.softmax"))
    report = check_in_box(load_spec("cnn-5x5"), tmp_path / "softmax_cnn.py")
    assert statuses(report)["shapes"] == "pass" and statuses(report)["output"] == "fail", messages(report)
    assert "Remove the softmax" in next(c for c in report.checks if c.name == "output").message


@pytest.mark.slow
@pytest.mark.parametrize("case,assignment", [
    ("pass_functional_lenet.py", "lenet-320"),
    ("pass_sequential_cnn5x5.py", "cnn-5x5"),
    ("pass_modulelist_mlp.py", "mlp"),
    ("pass_cfg_vgglike.py", "vgg-like"),
    ("pass_notebook_mycnn.ipynb", "mycnn"),
    ("pass_relu_logits_cnn5x5.py", "cnn-5x5"),
    ("pass_relu_before_pool_lenet.py", "lenet-320"),
    ("pass_log_softmax_cnn5x5.py", "cnn-5x5"),
])
def test_passing_submissions(case, assignment):
    report = check_in_box(load_spec(assignment), CORPUS / case)
    assert model_statuses(report) == {c: "pass" for c in MODEL_CHECKS}, messages(report) + "\n" + report.fatal


def test_notebook_training_download_and_magics_never_run():
    report = check_in_box(load_spec("mycnn"), CORPUS / "pass_notebook_mycnn.ipynb")
    notes = "\n".join(report.notes)
    assert "!pip install" in notes and "for epoch in range" in notes and "datasets.MNIST" in notes
    assert "model class: MyCNN" in notes


def test_relu_on_logits_is_named_as_a_note():
    report = check_in_box(load_spec("cnn-5x5"), CORPUS / "pass_relu_logits_cnn5x5.py")
    shapes = next(c for c in report.checks if c.name == "shapes")
    assert "ReLU after row 'fc'" in shapes.message and "line 15" in shapes.message


@pytest.mark.parametrize("case,assignment,failed,needles", [
    ("fail_wrong_kernel_simplecnn.py", "simple-cnn", "shapes",
     ["conv1 (fail_wrong_kernel_simplecnn.py line 9", "floor((28 - 5 + 2*0) / 1) + 1 = 24", "needs 26", "= 3)"]),
    ("fail_missing_pool_simplecnn.py", "simple-cnn", "shapes", ["Missing MaxPool2d in row 'pool1'"]),
    ("fail_batch_size_mycnn.py", "mycnn", "batch",
     ["line 22: x = x.view(batch_size, -1)", "(3, 64, 12, 12) into (64, 432)", "x.view(x.size(0), -1)"]),
    ("fail_in_features_lenet.py", "lenet-320", "shapes",
     ["fc (fail_in_features_lenet.py line 11", "20 x 4 x 4 = 320, not 100", "Set in_features=320",
      'File "fail_in_features_lenet.py", line 18, in forward\n    x = self.fc(x)']),
    ("fail_missing_relu_mycnn.py", "mycnn", "shapes", ["Missing ReLU in row 'conv1'", "line 9"]),
    ("fail_extra_layer_mlp.py", "mlp", "shapes", ["Extra layer: fc_extra (fail_extra_layer_mlp.py line 11"]),
    ("fail_tanh_typo_mlp.py", "mlp", "class", ["did you mean torch.nn.Tanh?", "fail_tanh_typo_mlp.py\", line 7"]),
    ("fail_syntax_mycnn.py", "mycnn", "class", ["line 7", "SyntaxError", "never closed"]),
    ("fail_not_implemented_mycnn.py", "mycnn", "class", ["Not implemented yet"]),
])
def test_failing_submissions_name_the_layer(case, assignment, failed, needles):
    report = check_in_box(load_spec(assignment), CORPUS / case)
    assert not report.passed
    assert statuses(report)[failed] == "fail"
    text = next(c.message for c in report.checks if c.name == failed)
    for needle in needles:
        assert needle in text, f"{needle!r} not in:\n{text}"
    assert "grader/" not in text  # the student's traceback, not the grader's internals
    # every model that builds is judged from its exported graph, a forward that fails in a Linear included
    assert report.judged == "graph", report.judged


@pytest.mark.parametrize("case,assignment,layer", [
    ("fail_wrong_kernel_simplecnn.py", "simple-cnn", "fc1"),
    ("fail_missing_pool_simplecnn.py", "simple-cnn", "fc1"),
    ("fail_in_features_lenet.py", "lenet-320", "fc"),
])
def test_a_forward_that_fails_in_a_linear_is_judged_like_the_live_model(tmp_path, case, assignment, layer):
    # exported with that Linear standing in; the judge runs the layer itself and fails where the model fails
    from grader.judge.judge import judge
    from grader.pipeline import Observation, check_submission, observe_submission

    spec = load_spec(assignment)
    observation, weights = observe_submission(spec, CORPUS / case)
    assert isinstance(observation, Observation) and observation.graph["stand_in"] == layer
    judged = judge(spec, CORPUS / case, observation, weights)
    live_copy = tmp_path / ("live_" + case)  # another module name: this process already loaded the case
    live_copy.write_text((CORPUS / case).read_text())
    live = check_submission(spec, live_copy)
    assert [(c.name, c.status, c.score) for c in judged.checks] == [(c.name, c.status, c.score) for c in live.checks]
    for mine, theirs in zip(judged.checks, live.checks, strict=True):  # the same words but the caret line
        expected = "\n".join(line for line in theirs.message.splitlines() if set(line.strip()) != {"^"})
        assert mine.message == expected.replace("live_" + case, case)


@pytest.mark.slow
def test_infinite_loop_at_import_is_stopped():
    report = check_in_box(load_spec("mycnn"), CORPUS / "fail_infinite_loop_mycnn.py", limits=Limits(wall_s=6))
    assert "did not finish within 6 s" in report.fatal
    assert not report.passed and report.timings["wall_s"] < 15
    assert {c.status for c in report.checks} == {"error"}


def test_printed_fake_result_is_only_student_output(tmp_path):
    fake = json.dumps({"assignment": "mycnn", "student": "x", "checks": [], "score": 10, "max_score": 10})
    # a class body runs at import: everything it prints or writes to fd 1 and 2 is the student's output only
    (tmp_path / "model.py").write_text(
        f"import os, sys\nclass Net:\n    print({fake!r})\n    sys.stdout.flush()\n"
        f"    os.write(1, b'PASS everything\\n')\n    os.write(2, {fake!r}.encode())\n")
    report = check_in_box(load_spec("mycnn"), tmp_path)
    assert not report.passed and statuses(report)["class"] == "fail"
    assert fake in report.output and "PASS everything" in report.output


def test_sys_exit_at_import_does_not_end_the_check(tmp_path):
    (tmp_path / "model.py").write_text((ROOT / "reference" / "mycnn.py").read_text() + "\nimport sys\nSTOP = sys.exit(3)\n")
    report = check_in_box(load_spec("mycnn"), tmp_path)
    assert set(model_statuses(report).values()) == {"pass"}  # sys.exit is a call: that statement never runs


HANGS = {  # where the endless loop is -> (the phase that runs out, the line the message must name)
    "class body": ("class MyCNN(nn.Module):\n    steps = 0\n    while True:\n        steps += 1\n",
                   "loading your code and building the class took over 2 s", "model.py line 5 (in MyCNN): while True:"),
    "__init__": ("class MyCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                 "        self.fc = nn.Linear(784, 10)\n        while self.fc is not None:\n            pass\n",
                 "loading your code and building the class took over 2 s",
                 "model.py line 7 (in __init__): while self.fc is not None:"),
    "forward": ("class MyCNN(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                "        self.fc = nn.Linear(784, 10)\n\n    def forward(self, x):\n        while x is not None:\n"
                "            pass\n",
                "running your model for the model checks took over 3 s", "model.py line 9 (in forward): while x is not None:"),
}


@pytest.mark.slow
@pytest.mark.parametrize("where", sorted(HANGS))
@pytest.mark.parametrize("isolation", ["full", "process"])
def test_a_hang_is_stopped_by_its_phase_budget_naming_the_line(tmp_path, where, isolation):
    from grader.sandbox.limits import Limits

    code, phase, line = HANGS[where]
    (tmp_path / "model.py").write_text("import torch.nn as nn\n\n" + code)
    spec_file = tmp_path / "spec" / "spec.toml"
    spec_file.parent.mkdir()
    spec_file.write_text((ROOT / "assignments" / "mycnn" / "spec.toml").read_text().replace(
        "\n[points]", "\nload_timeout = 2\nchecks_timeout = 3\n\n[points]", 1))
    spec = load_spec(spec_file)
    assert spec.timeout == 300 and spec.budgets() == {"load": 2.0, "checks": 3.0}
    report = check_in_box(spec, tmp_path / "model.py", limits=Limits(wall_s=spec.timeout, isolation=isolation))
    assert phase in report.fatal and line in report.fatal, report.fatal
    assert "Each phase has its own limit" in report.fatal
    assert report.timings["wall_s"] < 60  # not the 300 s the quiz is given
    assert report.score == 0 and {c.status for c in report.checks} == {"error"}



@pytest.mark.slow
def test_new_assignment_is_a_folder(tmp_path, monkeypatch):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "spec.toml").write_text('title = "Tiny"\ninput_shape = [1, 28, 28]\nclasses = ["Tiny"]\n'
                                      'output = "logits"\nparams_total = 7850\n'
                                      'rows = [{ label = "flat", layers = ["Flatten"], shape = ["B", 784] },\n'
                                      '        { label = "fc", layers = ["Linear"], shape = ["B", 10], params = 7850 }]\n')
    (tmp_path / "sub.py").write_text("import torch.nn as nn\nclass Tiny(nn.Module):\n    def __init__(self):\n"
                                     "        super().__init__()\n        self.fc = nn.Linear(784, 10)\n"
                                     "    def forward(self, x):\n        return self.fc(x.flatten(1))\n")
    monkeypatch.setenv("GRADER_ASSIGNMENTS", str(tmp_path))
    done = run_cli("check", tmp_path / "sub.py", "--assignment", "tiny", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["score"] == doc["max_score"] and {c["status"] for c in doc["checks"]} == {"pass"}


@pytest.mark.slow
def test_cli_check_json_and_exit_codes():
    done = run_cli("check", CORPUS / "fail_batch_size_mycnn.py", "--assignment", "mycnn", "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    assert set(doc) >= {"assignment", "student", "score", "max_score", "checks"}
    assert all(set(c) >= {"name", "status", "score", "max_score", "message"} for c in doc["checks"])
    assert {c["name"]: c["status"] for c in doc["checks"]}["batch"] == "fail"
    text = run_cli("check", CORPUS / "pass_functional_lenet.py", "-a", "lenet-320")
    assert text.returncode == 0 and "all required checks pass" in text.stdout


def test_cli_usage_errors_exit_2(tmp_path):
    unknown = run_cli("check", CORPUS / "pass_modulelist_mlp.py", "--assignment", "nope")
    assert unknown.returncode == 2 and "valid names" in unknown.stderr and "mycnn" in unknown.stderr
    missing = run_cli("check", tmp_path / "absent", "--assignment", "mlp")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_cli_list():
    done = run_cli("list")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list_assignments()  # one line per assignment, in order
    assert next(line for line in lines if line.startswith("mycnn ")).split(None, 1)[1] == load_spec("mycnn").title


def test_cell_tags_override_the_rule(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    model = (ROOT / "reference" / "mlp.py").read_text().replace("nn.Linear(50, 10)", "nn.Linear(50, N_CLASSES)")
    notebook = new_notebook(cells=[
        new_code_cell("def count():\n    return 10\nN_CLASSES = count()", metadata={"tags": ["grader:run"]}),
        new_code_cell("class Net:\n    this is not python", metadata={"tags": ["grader:skip"]}),
        new_code_cell(model),
    ])
    nbformat.write(notebook, tmp_path / "lab.ipynb")
    report = check_in_box(load_spec("mlp"), tmp_path / "lab.ipynb")
    assert report.passed, messages(report)
    assert any("grader:skip" in note for note in report.notes)


def test_class_found_without_a_candidate_name(tmp_path):
    source = (ROOT / "reference" / "mlp.py").read_text().replace("class Net(", "class Helper(nn.Module):\n    pass\n\n\nclass MyOwnMLP(")
    (tmp_path / "mine.py").write_text(source)
    report = check_in_box(load_spec("mlp"), tmp_path)
    assert report.passed, messages(report)
    picked = next(c.message for c in report.checks if c.name == "class")
    assert "MyOwnMLP" in picked and "its forward produces 7 of the table's 7 row shapes" in picked and "Helper: 0 of 7 row shapes" in picked
