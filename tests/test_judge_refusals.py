"""The judge runs only what a course's network computes: hidden weights and foreign operators are refused.

Each attack is a real submission observed as the sandbox would (:func:`grader.pipeline.observe_submission`) and
judged as the clean process does (:func:`grader.judge.judge.judge`); the forged graphs are written as a hostile
child would write them, by editing the observation it sends.
"""
import copy
import io

import pytest
import torch

from grader.judge.graph import GraphModel
from grader.judge.judge import judge
from grader.judge.ops import MAX_CONSTANT_ELEMENTS, RefusedGraph
from grader.pipeline import Observation, observe_submission
from grader.report import own_flags
from grader.spec import load_spec
from tests.conftest import ROOT

ALICE = (ROOT / "examples" / "demo-class" / "alice" / "mycnn.py").read_text()

# A classmate's weights, handed in renamed as a data file and loaded into plain tensor attributes: a second network
# that does the predicting while the table's layers run for show.
HIDDEN = ALICE.replace('''        self.fc2 = nn.Linear(128, 10)
''', '''        self.fc2 = nn.Linear(128, 10)
        state = torch.load(__file__.replace("mycnn.py", "notes.bin"), weights_only=True)
        self.h1, self.h1b = state["conv1.weight"], state["conv1.bias"]
        self.h2 = state["fc2.weight"]
''').replace('''        return F.log_softmax(self.fc2(x), dim=1)''', '''        shown = self.fc2(x)
        h = F.conv2d(x0, self.h1, self.h1b).mean((2, 3))
        h = F.linear(h[:, :10].repeat(1, 13)[:, :128], self.h2)
        return F.log_softmax(shown * 0 + h, dim=1)''').replace("    def forward(self, x):\n",
                                                            "    def forward(self, x):\n        x0 = x\n")

# The same trick with the weights as a buffer of the model itself: in best.pt, but no layer's.
ROOT_BUFFER = ALICE.replace('''        self.fc2 = nn.Linear(128, 10)
''', '''        self.fc2 = nn.Linear(128, 10)
        self.register_buffer("extra", torch.randn(10, 128))
''').replace("self.fc2(x)", "(self.fc2(x) + F.linear(x, self.extra))")

NORMALIZE = ALICE.replace('''        self.fc2 = nn.Linear(128, 10)
''', '''        self.fc2 = nn.Linear(128, 10)
        self.mean, self.std = torch.tensor(0.1307), torch.tensor(0.3081)
''').replace("    def forward(self, x):\n", "    def forward(self, x):\n        x = (x - self.mean) / self.std\n")


def _observe(tmp_path, source: str, extra=None):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "mycnn.py").write_text(source)
    for name, data in (extra or {}).items():
        (folder / name).write_bytes(data)
    spec = load_spec("mycnn")
    obs, weights = observe_submission(spec, folder, "eve")
    assert isinstance(obs, Observation) and obs.graph is not None, obs
    return spec, folder, obs, weights


def _state_bytes() -> bytes:
    torch.manual_seed(1)
    state = {"conv1.weight": torch.randn(32, 1, 3, 3), "conv1.bias": torch.randn(32), "fc2.weight": torch.randn(10, 128)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def test_a_hidden_network_of_plain_tensors_is_refused_and_flagged(tmp_path):
    spec, folder, obs, weights = _observe(tmp_path, HIDDEN, {"notes.bin": _state_bytes()})
    report = judge(spec, folder, obs, weights)
    klass = next(c for c in report.checks if c.name == "class")
    assert klass.status != "pass"
    assert "not the parameters of its layers" in klass.message
    assert "the grader will not run it" in klass.message
    assert "h1 (32, 1, 3, 3): a tensor held as a plain attribute" in klass.message and "aten.conv2d" in klass.message
    assert "mycnn.py:" in klass.message  # the student's own line that reads it
    assert report.score == 0 or all(c.status != "pass" for c in report.checks if c.name in ("shapes", "params"))
    assert {f.kind for f in own_flags(report)} >= {"hidden weights"}
    assert any("h1" in name for name in report.refused["hidden weights"])


def test_a_buffer_that_belongs_to_no_layer_is_refused(tmp_path):
    spec, folder, obs, weights = _observe(tmp_path, ROOT_BUFFER)
    report = judge(spec, folder, obs, weights)
    assert "extra (10, 128): a buffer that belongs to no layer" in next(c for c in report.checks
                                                                        if c.name == "class").message
    assert "hidden weights" in report.refused


def test_normalization_constants_are_allowed(tmp_path):
    spec, folder, obs, weights = _observe(tmp_path, NORMALIZE)
    report = judge(spec, folder, obs, weights)
    assert not report.refused
    assert all(c.status == "pass" for c in report.checks if c.name in ("class", "shapes", "params")), report.checks


def _forged(obs: Observation, target: str) -> Observation:
    """The observation with its first relu replaced by ``target``, as a hostile child would send it."""
    forged = copy.deepcopy(obs)
    node = next(n for n in forged.graph["nodes"] if n.get("target") == "aten.relu.default")
    node["target"] = target
    return forged


@pytest.mark.parametrize("target", ["aten._sparse_coo_tensor_with_dims_and_tensors.default", "aten._to_dense.default",
                                    "aten.set_.source_Tensor", "aten.as_strided.default", "aten.einsum.default",
                                    "aten.convolution.default", "aten.unfold.default", "aten.index_put_.default"])
def test_an_operator_outside_the_allow_list_is_refused_with_the_student_line(tmp_path, target):
    spec, folder, obs, weights = _observe(tmp_path, ALICE)
    report = judge(spec, folder, _forged(obs, target), weights)
    message = next(c for c in report.checks if c.name == "class").message
    op = target.split(".")[1]
    assert f"aten.{op} (your line mycnn.py:" in message and "does not run" in message
    assert report.refused == {"refused operator": [f"aten.{op}"]}
    assert report.score < report.max_score


def test_the_honest_graph_uses_only_allowed_operators(tmp_path):
    spec, folder, obs, weights = _observe(tmp_path, ALICE)
    report = judge(spec, folder, obs, weights)
    assert not report.refused
    assert all(c.status == "pass" for c in report.checks if c.name in spec.model_checks()), report.checks


def test_constants_past_the_cap_are_refused():
    header_tensors = {"c": torch.zeros(MAX_CONSTANT_ELEMENTS + 1)}
    header = {"nodes": [{"op": "placeholder", "name": "c", "weight": "c"}, {"op": "placeholder", "name": "x"},
                        {"op": "call", "name": "y", "target": "aten.add.Tensor", "args": [{"node": "x"}, {"node": "c"}]},
                        {"op": "output", "args": [{"node": "y"}]}], "tensor_kinds": {"c": "constant"}}
    with pytest.raises(RefusedGraph, match="c \\(65,\\): a tensor held as a plain attribute"):
        GraphModel(header, header_tensors)
    GraphModel({**header, "nodes": header["nodes"]}, {"c": torch.zeros(MAX_CONSTANT_ELEMENTS)})
