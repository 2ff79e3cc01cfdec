"""Unit layer: loading real-shaped code (odd names, %%writefile, magics), choosing the class, and the hints and
messages built for it. Student-like sources are written here and loaded in this process: no sandbox, no dataset."""
import dataclasses
import textwrap
import time

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook

from grader.inspection.align import align
from grader.inspection.budget import PhaseTimeout, phase_budget
from grader.inspection.choose import choose_class, constructor_problem, name_rank
from grader.inspection.hints import class_hints, stub_lines
from grader.inspection.load import is_magic_line, load_submission
from grader.inspection.messages import conv_fix, fmt_shape
from grader.inspection.recorder import record_forward
from grader.spec import load_spec
from tests.conftest import ROOT

MLP = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class {name}(nn.Module):{marker}
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 50)
        self.d1 = nn.Dropout(0.2)
        self.fc2 = nn.Linear(50, 50)
        self.d2 = nn.Dropout(0.2)
        self.fc3 = nn.Linear(50, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.d1(F.relu(self.fc1(x)))
        x = self.d2(F.relu(self.fc2(x)))
        return F.log_softmax(self.fc3(x), dim=1)
"""

CNN_STUB = """

class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = NotImplemented
        self.conv2 = NotImplemented
        self.fc1 = NotImplemented

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return self.fc1(x)
"""


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def choice_of(path, assignment, batch=4, **spec_changes):
    spec = load_spec(assignment)
    if spec_changes:
        spec = dataclasses.replace(spec, **spec_changes)
    return choose_class(spec, load_submission(path), batch)


def test_any_file_name_loads(tmp_path):
    for index, name in enumerate(["10_1_cnn_mnist.py", "lab1-mnist.py", "Lab 1.py"]):
        folder = tmp_path / str(index)
        folder.mkdir()
        write(folder, name, MLP.format(name="Net", marker=""))
        choice = choice_of(folder, "mlp")
        assert choice.chosen is not None and choice.chosen.name == "Net" and choice.chosen.rows == 7, name


def test_a_writefile_cell_is_the_module_it_writes(tmp_path):
    nb = new_notebook()
    nb.cells = [new_code_cell("!pip install -q torchinfo"),
                new_code_cell("%%writefile unit_wf_model.py\n" + MLP.format(name="Net", marker="")),
                new_code_cell("from unit_wf_model import Net\nmodel = Net()")]
    nbformat.write(nb, str(tmp_path / "colab.ipynb"))
    sub = load_submission(tmp_path / "colab.ipynb")
    assert not sub.errors, sub.errors
    assert sub.class_sites[("unit_wf_model", "Net")] == "colab.ipynb [cell 2]:8"
    assert any("writes unit_wf_model.py: loaded as the module unit_wf_model" in s.reason for s in sub.skipped)


def test_ipython_lines_are_not_python():
    for line in ("!pip install x", "%matplotlib inline", "files = !ls", "a, b = !cmd", "nn.Conv2d?", "?nn.Conv2d",
                 "  %time x = 1"):
        assert is_magic_line(line), line
    for line in ("x = 1", "if a != b:", "y = x % 2", "print('?')", "z = 'a?'"):
        assert not is_magic_line(line), line


def test_missing_imports_and_names_from_skipped_lines_are_notes(tmp_path):
    code = "import seaborn_not_here as sns\nfrom google_not_here.colab import drive\nimport argparse\n" \
           "args = argparse.ArgumentParser().parse_args([])\nuse_cuda = not args.no_cuda\n" + \
           MLP.format(name="Net", marker="")
    sub = load_submission(write(tmp_path, "unit_notes.py", code))
    assert not sub.errors, sub.errors
    reasons = [s.reason for s in sub.skipped]
    assert "imports seaborn_not_here, which is not installed where the grader runs; nothing graded needs it" in reasons
    assert any(r.startswith("imports google_not_here.colab") for r in reasons)
    assert "uses args, set at unit_notes.py line 4, which does not run" in reasons
    assert "use_cuda" in sub.skipped_names  # a later use of it is explained, as for any skipped name


def test_the_table_wins_over_a_name(tmp_path):
    # an MLP called Net (a name the vgg-like spec lists) beside a SimpleVGG that is the table
    vgg = (ROOT / "reference" / "vgg_like.py").read_text()
    write(tmp_path, "unit_lab.py", MLP.format(name="Net", marker="") + vgg.split('"""', 2)[2]
          .replace("class VGGLike(", "class SimpleVGG("))
    choice = choice_of(tmp_path, "vgg-like")
    assert choice.chosen.name == "SimpleVGG" and choice.chosen.rows == 16
    assert "its forward produces 16 of the table's 16 row shapes" in choice.why and "Net: 1 of 16 row shapes" in choice.why


def test_a_stub_of_the_assignment_is_graded_as_itself(tmp_path):
    # Net matches the (B, 10) rows only: those tell nothing, so the stubbed SimpleCNN is graded by its name
    write(tmp_path, "unit_stub.py", MLP.format(name="Net", marker="") + CNN_STUB)
    choice = choice_of(tmp_path, "simple-cnn")
    assert choice.chosen.name == "SimpleCNN", choice.why
    assert "still NotImplemented: conv1, conv2, fc1" in choice.chosen.problem
    lines = stub_lines(load_spec("simple-cnn"), choice.chosen.site, "SimpleCNN", ["conv1", "conv2", "fc1"])
    assert lines[0].startswith("conv1 is still NotImplemented (unit_stub.py line 26: self.conv1 = NotImplemented)")
    assert "nn.Conv2d(1, 20, kernel_size=K) with floor((28 - K + 2P) / S) + 1 = 26" in lines[0]
    assert "the table's row 'conv2'" in lines[1] and "nn.Linear(180, 100)" in lines[2]


def test_a_pin_and_a_marker_decide(tmp_path):
    write(tmp_path, "unit_pin.py", MLP.format(name="Net", marker="") + MLP.format(name="Other", marker="  # grader: model"))
    assert choice_of(tmp_path, "mlp").chosen.name == "Other"
    assert choice_of(tmp_path, "mlp", model_class="Net").chosen.name == "Net"
    missing = choice_of(tmp_path, "mlp", model_class="Absent")
    assert missing.chosen is None and "the class named Absent" in missing.why


def test_a_forward_the_meta_device_cannot_run_is_run_on_the_cpu(tmp_path):
    code = MLP.format(name="Net", marker="").replace("x = torch.flatten(x, 1)",
                                                     "x = torch.flatten(x, 1)\n        assert x.sum().item() >= 0")
    write(tmp_path, "unit_cpu.py", code)
    state = torch.get_rng_state()
    choice = choice_of(tmp_path, "mlp")
    assert choice.chosen.rows == 7 and not choice.chosen.problem
    assert torch.equal(torch.get_rng_state(), state)  # the choice leaves the generator as it found it


def test_constructor_problems_name_the_call(tmp_path):
    write(tmp_path, "unit_ctor.py", MLP.format(name="SimpleCNN", marker="").replace("def __init__(self):",
                                                                                      "def __init__(self, n):"))
    sub = load_submission(tmp_path)
    cls = vars(sub.modules["unit_ctor"])["SimpleCNN"]
    text = constructor_problem(load_spec("simple-cnn"), cls)
    assert "needs n" in text and "builds your class with no arguments, as SimpleCNN()" in text
    assert "def __init__(self, n):" in text
    cifar = constructor_problem(load_spec("cifar-vgg11"), cls)
    assert "SimpleCNN(model_code='VGG11', in_channels=3" in cifar


def test_typos_python_accepts_are_named(tmp_path):
    code = MLP.format(name="CNN1", marker="").replace("def __init__(self):", "def init(self):") \
        .replace("super().__init__()", "super(CNN, self).__init__()")
    sub = load_submission(write(tmp_path, "unit_typo.py", code))
    hints = class_hints(sub.class_sites[("unit_typo", "CNN1")], "CNN1")
    assert any("CNN1 defines init (unit_typo.py line 8: def init(self):), not __init__" in h for h in hints), hints
    code = MLP.format(name="CNN1", marker="").replace("super().__init__()", "super(CNN, self).__init__()")
    sub = load_submission(write(tmp_path, "unit_typo2.py", code))
    hints = class_hints(sub.class_sites[("unit_typo2", "CNN1")], "CNN1")
    assert hints == ["CNN1.__init__ calls super(CNN, self) (unit_typo2.py line 9: super(CNN, self).__init__()), "
                     "naming the class CNN, not CNN1: write super().__init__() (or super(CNN1, self).__init__())."]


def test_name_rank():
    spec = load_spec("vgg-like")  # VGGLike, VGG, CNN, Net, Model
    assert name_rank(spec, "VGG") == (1, 0) and name_rank(spec, "SimpleVGG") == (1, 1)
    assert name_rank(spec, "SimpleCNN") == (2, 1) and name_rank(spec, "Net") == (3, 0)
    assert name_rank(spec, "residual_block") is None


def test_conv_fix_names_the_parameter_to_change():
    assert conv_fix(28, 5, 1, 2, 24).startswith("change P: keeping K=5 and S=1, P = 0")
    assert conv_fix(28, 5, 1, 0, 26) == "change K: with S=1 and P=0, that takes K = I + 2P - S*(O-1) = 3"
    assert conv_fix(28, 3, 1, 0, 28).startswith("change P: keeping K=3 and S=1, P = 1")
    assert conv_fix(28, 3, 1, 1, 14).startswith("change S: keeping K=3 and P=1, S = 2")


def test_rows_per_image_are_written_as_multiples_of_b():
    assert fmt_shape([256, 512], 64) == "(4B, 512)" and fmt_shape([64, 512], 64) == "(B, 512)"
    assert fmt_shape([3, 512], 64) == "(3, 512)"


def test_a_relu_after_the_pool_matches_a_table_that_lists_it_before():
    import torch.nn as nn
    import torch.nn.functional as F

    class Course(nn.Module):  # the course notebook's order: relu(max_pool(conv(x)))
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 3)

        def forward(self, x):
            return F.relu(F.max_pool2d(self.conv1(x), 2))

    rows = load_spec("simple-cnn").rows[:2]  # conv1: Conv2d, ReLU; pool1: MaxPool2d
    records = record_forward(Course(), torch.zeros(2, 1, 28, 28), set(), {})[0]
    alignment = align(rows, records)
    assert not alignment.extras and all(not m.missing for m in alignment.rows)
    assert alignment.rows[0].output.output_shape == [2, 20, 26, 26]  # the ReLU, on the pool's far side


def test_a_stopped_forward_leaves_the_rest_of_the_table_unreached():
    import torch.nn as nn
    import torch.nn.functional as F

    class Stops(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 20, 3)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            return x.view(-1, 7)  # raises

    rows = load_spec("simple-cnn").rows
    records = record_forward(Stops(), torch.zeros(2, 1, 28, 28), set(), {})[0]
    alignment = align(rows, records, open_end=True)
    assert alignment.rows[0].output is records[-1] and not alignment.rows[0].missing
    assert all(m.output is None for m in alignment.rows[1:])


def test_budgets_nest_and_the_outer_one_wins():
    with pytest.raises(PhaseTimeout) as inner:
        with phase_budget("load", 5), phase_budget("candidate", 0.2):
            time.sleep(2)
    assert inner.value.phase == "candidate"
    began = time.monotonic()
    with pytest.raises(PhaseTimeout) as outer:
        with phase_budget("load", 0.3):
            with phase_budget("candidate", 5):
                time.sleep(2)
    assert outer.value.phase == "load" and time.monotonic() - began < 1.5
    with pytest.raises(PhaseTimeout) as rest:  # after an inner budget, the outer one keeps its own deadline
        with phase_budget("load", 0.5):
            with phase_budget("candidate", 5):
                pass
            time.sleep(2)
    assert rest.value.phase == "load"
