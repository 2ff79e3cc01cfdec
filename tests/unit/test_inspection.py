"""Unit layer: the recorder, the alignment of a table with the records, and the messages built from them.

Tiny models built here, recorded in this process: no sandbox, no training, no dataset.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.inspection.align import align
from grader.inspection.messages import crash_text, missing_text, shape_problem
from grader.inspection.recorder import record_forward
from grader.spec import Row


class Small(nn.Module):
    def __init__(self, kernel=3, relu=True, extra=False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, kernel)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 13 * 13, 10)
        self.relu, self.extra = relu, extra

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x) if self.relu else x
        x = self.pool(x)
        x = torch.flatten(x, 1)
        if self.extra:
            x = torch.sigmoid(x)
        return self.fc(x)


ROWS = (Row("conv1", (("Conv2d",), ("ReLU",)), ("B", 4, 26, 26), 40),
        Row("pool", (("MaxPool2d",),), ("B", 4, 13, 13)),
        Row("flatten", (("Flatten",),), ("B", 676)),
        Row("fc", (("Linear",),), ("B", 10), 6770))


def records_of(model, batch=2):
    records, output, exc, in_flight = record_forward(model, torch.zeros(batch, 1, 28, 28), set(), {})
    return records, output, exc, in_flight


def test_the_recorder_names_kinds_shapes_and_parameters():
    records, output, exc, _ = records_of(Small())
    assert exc is None and list(output.shape) == [2, 10]
    assert [(r.kind, r.name, r.output_shape, r.params) for r in records] == [
        ("Conv2d", "conv1", [2, 4, 26, 26], 40), ("ReLU", "F.relu", [2, 4, 26, 26], 0),
        ("MaxPool2d", "pool", [2, 4, 13, 13], 0), ("Flatten", "torch.flatten", [2, 676], 0),
        ("Linear", "fc", [2, 10], 6770)]
    assert records[0].config["kernel_size"] == [3, 3] and records[0].config["padding"] == [0, 0]


def test_align_matches_rows_and_reports_missing_and_extra_layers():
    exact = align(ROWS, records_of(Small())[0])
    assert [len(m.layers) for m in exact.rows] == [2, 1, 1, 1] and not exact.extras
    assert all(ok for m in exact.rows for _, _, ok in m.layers)

    no_relu = align(ROWS, records_of(Small(relu=False))[0])
    assert no_relu.rows[0].missing == [("ReLU",)] and not no_relu.extras

    extra = align(ROWS, records_of(Small(extra=True))[0])
    assert [(rec.kind, after) for rec, after in extra.extras] == [("Sigmoid", 2)]  # after row 'flatten'


def test_align_lets_a_pool_and_an_activation_swap_within_a_row():
    rows = (Row("block", (("Conv2d",), ("ReLU",), ("MaxPool2d",)), ("B", 4, 13, 13)),)

    class PoolFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool = nn.Conv2d(1, 4, 3), nn.MaxPool2d(2)

        def forward(self, x):
            return F.relu(self.pool(self.conv(x)))

    alignment = align(rows, records_of(PoolFirst())[0])
    assert not alignment.rows[0].missing and not alignment.extras


def test_a_wrong_kernel_is_explained_with_the_students_numbers():
    records = records_of(Small(kernel=5))[0]
    message = shape_problem(records[0], [2, 4, 26, 26], 2, [2, 1, 28, 28])
    assert "conv1 gives (B, 4, 24, 24), the table needs (B, 4, 26, 26)." in message
    assert "O = floor((I - K + 2P) / S) + 1 = floor((28 - 5 + 2*0) / 1) + 1 = 24" in message
    assert "K = I + 2P - S*(O-1) = 3" in message


def test_a_linear_fed_the_wrong_size_says_which_in_features_to_set():
    class Lenet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 20, 5), nn.Linear(100, 10)

        def forward(self, x):
            return self.fc(F.max_pool2d(self.conv(x), 2).view(x.size(0), -1))

    records, _, exc, in_flight = records_of(Lenet())
    assert exc is not None and in_flight["name"] == "fc"
    text = crash_text(exc, "", in_flight, records, 2, {})
    assert "fc is Linear(in_features=100, out_features=10)" in text
    assert "produces 2880 features per image" in text and "Set in_features=2880" in text
    assert "20 x 12 x 12 = 2880" in text


def test_a_missing_layer_names_the_row_and_where():
    records = records_of(Small(relu=False))[0]
    assert missing_text(("ReLU",), "conv1", records[0]) == "Missing ReLU in row 'conv1', after conv1."
