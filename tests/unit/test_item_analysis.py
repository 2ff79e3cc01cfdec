"""Unit layer: typed causes on failing checks, and report.html's item analysis built from real reports.

Every report here comes from checking real code in this process (grader.pipeline.check_submission): the corpus's
broken submissions and small variants of a SimpleCNN written below, so the causes are the real checks' own.
"""
import ast
import re
from pathlib import Path

import pytest

from grader.outputs.item_analysis import item_analysis, render_items
from grader.pipeline import check_submission
from grader.report import CAUSES, FAILING, Cause, CheckResult, Report, check_types, fatal_report, to_json
from grader.spec import load_spec
from tests.conftest import CORPUS, ROOT

SIMPLE_CNN = '''import torch
import torch.nn as nn
import torch.nn.functional as F

HOSTILE = "<img src=x onerror=alert(1)>"


class SimpleCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 3)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = {conv2}
        self.conv3 = nn.Conv2d(50, 20, 3)
        self.fc1 = nn.Linear(180, 100)
        self.fc2 = nn.Linear(100, 10)
        {extra}

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        {use}
        return F.log_softmax(self.fc2(x), dim=1)
'''
HOSTILE = "<img src=x onerror=alert(1)>"
# student -> (conv2, an extra layer and its use): three write conv2's padding three ways
VARIANTS = {
    "ann": ("nn.Conv2d(20, 50, 3, padding=1)", "", ""),
    "ben": ("nn.Conv2d(20, 50, kernel_size=3, padding=2)", "", ""),
    "cy": ("nn.Conv2d(in_channels=20, out_channels=50, kernel_size=(3, 3), stride=1, padding=(1, 1))", "", ""),
    "dan": ("nn.Conv2d(20, 50, 5)", "", ""),  # conv2's kernel size: another cause in the same row
    "eve": ("nn.Conv2d(20, 50, 3)", "", ""),  # right
    "fay": ("nn.Conv2d(20, 50, 3, bias=False)", "", ""),  # right shapes, 50 parameters short
    "gil": ("nn.Conv2d(20, 50, 3)", "self.add_module(HOSTILE, nn.Linear(100, 100))", "x = getattr(self, HOSTILE)(x)"),
}


def _write(folder: Path, student: str) -> Path:
    conv2, extra, use = VARIANTS[student]
    path = folder / student / "model.py"
    path.parent.mkdir(parents=True)
    path.write_text(SIMPLE_CNN.format(conv2=conv2, extra=extra, use=use))
    return path.parent


@pytest.fixture(scope="module")
def simple_class(tmp_path_factory):
    """Eight SimpleCNN students, checked for real: the seven variants and the corpus's missing pool."""
    spec = load_spec("simple-cnn")
    folder = tmp_path_factory.mktemp("class")
    reports = {student: check_submission(spec, _write(folder, student), student) for student in VARIANTS}
    reports["hal"] = check_submission(spec, CORPUS / "fail_missing_pool_simplecnn.py", "hal")
    return spec, reports


def _causes(report: Report, check: str) -> list[tuple[str, str]]:
    return [(c.code, c.where) for c in next(c for c in report.checks if c.name == check).causes]


def test_conv2_padding_written_three_ways_groups_into_one_cause_and_a_kernel_size_does_not(simple_class):
    spec, reports = simple_class
    texts = {next(c.message for c in reports[s].checks if c.name == "shapes") for s in ("ann", "ben", "cy")}
    assert len(texts) == 3  # three different messages...
    assert all(_causes(reports[s], "shapes") == [("padding", "conv2")] for s in ("ann", "ben", "cy"))  # one cause
    assert _causes(reports["dan"], "shapes") == [("kernel_size", "conv2")]
    shapes = next(item for item in item_analysis(spec, reports, missing=2) if item.check == "shapes")
    assert [(c.code, c.where, c.students) for c in shapes.causes] == [
        ("padding", "conv2", 3), ("missing_layer", "pool1", 1), ("kernel_size", "conv2", 1),
        ("extra_layer", HOSTILE, 1)]  # most common first, then in table order
    # 3 of the 8 graded students; other causes fail shapes too, so the headline says the whole
    assert shapes.headline == "38% failed conv2's padding (75% failed shapes in all)"
    assert (shapes.students, shapes.missing, shapes.passed, shapes.failed) == (8, 2, 2, 6)
    assert shapes.pass_rate == 0.25 and shapes.pass_rate_text == "25%"


def test_the_score_distribution_counts_each_score_from_zero_to_the_maximum(simple_class):
    spec, reports = simple_class
    items = {item.check: item for item in item_analysis(spec, reports)}
    assert list(items) == ["class", "shapes", "params", "batch", "output", "determinism"]
    assert [(bar.text, bar.students) for bar in items["class"].distribution] == [("0", 0), ("1", 8)]
    # shapes (4 points, 9 rows): conv2 wrong stops 7 rows; the missing pool 8; the extra layer costs one row
    assert [(bar.low, bar.students) for bar in items["shapes"].distribution] == [
        (0.0, 0), (0.444, 1), (0.889, 4), (3.556, 1), (4.0, 2)]
    params = items["params"]
    # dan's 5x5 and fay's missing biases miss conv2's count; they and gil's extra Linear miss the total
    assert [(c.code, c.where, c.students) for c in params.causes] == [("param_total", "", 3), ("param_count", "conv2", 2)]
    assert params.headline == "38% failed params: total parameter count"  # the three who fail params, all of it
    assert items["class"].headline == "100% passed class"


def test_the_distribution_bins_many_distinct_scores():
    from grader.outputs.item_analysis import distribution

    bars = distribution([i / 10 for i in range(41)], 4.0)
    assert len(bars) == 10 and sum(bar.students for bar in bars) == 41
    assert (bars[0].low, bars[0].high, bars[-1].students) == (0.0, 0.4, 5)  # the last bin holds the maximum


def test_hostile_layer_names_are_escaped_in_the_rendered_html(simple_class):
    spec, reports = simple_class
    assert (("extra_layer", HOSTILE) in _causes(reports["gil"], "shapes"))
    html = render_items(item_analysis(spec, reports, missing=2))
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "38% failed conv2&#39;s padding" in html and "2 with no submission not counted" in html
    assert html.count("<rect ") == sum(len(item.distribution) for item in item_analysis(spec, reports))


def test_report_html_includes_the_section_only_when_given_items(simple_class):
    from grader.outputs.html_text import environment

    spec, reports = simple_class
    page = environment().get_template("report.html.j2")
    context = {"spec": spec, "rows": [], "counts": {}, "names": [], "kinds": [], "max_score": 10, "histogram": ""}
    assert "Item analysis" not in page.render(**context)
    html = page.render(**context, items=item_analysis(spec, reports))
    assert "Item analysis" in html and "38% failed conv2&#39;s padding" in html and HOSTILE not in html


# Each corpus case: every failing check -> its causes, exactly (a failing check with no cause would show here).
CORPUS_CAUSES = {
    ("fail_wrong_kernel_simplecnn.py", "simple-cnn"): {"shapes": [("kernel_size", "conv1")],
                                                       "params": [("param_count", "conv1"), ("param_total", "")]},
    ("fail_missing_pool_simplecnn.py", "simple-cnn"): {"shapes": [("missing_layer", "pool1")]},
    ("fail_in_features_lenet.py", "lenet-320"): {"shapes": [("in_features", "fc")], "params": [("param_total", "")]},
    ("fail_extra_layer_mlp.py", "mlp"): {"shapes": [("extra_layer", "fc_extra")], "params": [("param_total", "")]},
    ("fail_missing_relu_mycnn.py", "mycnn"): {"shapes": [("missing_layer", "conv1")],
                                              "curves": [("curves_missing", "")],
                                              "checkpoint": [("checkpoint_missing", "")]},
    ("fail_batch_size_mycnn.py", "mycnn"): {"batch": [("batch_fixed", "flatten")], "curves": [("curves_missing", "")],
                                            "checkpoint": [("checkpoint_missing", "")]},
    ("fail_syntax_mycnn.py", "mycnn"): {"class": [("load_error", "")], "curves": [("curves_missing", "")],
                                        "checkpoint": [("checkpoint_missing", "")]},
    ("fail_tanh_typo_mlp.py", "mlp"): {"class": [("constructor_error", "")]},
    ("real/simplecnn_num_classes.py", "simple-cnn"): {"class": [("constructor_args", "")]},
    ("real/lenet_padding_slip.py", "lenet-320"): {"shapes": [("padding", "conv1")]},
    ("real/04_vgg_pad1.py", "vgg-like"): {"shapes": [("padding", "block1"), ("padding", "block2")]},
    ("real/cnn5x5_same_pad.py", "cnn-5x5"): {"shapes": [("padding", "layer1")],
                                             "params": [("param_count", "fc"), ("param_total", "")]},
    ("real/simplecnn_flatten_all.py", "simple-cnn"): {"shapes": [("flatten_batch", "flatten")]},
    ("real/01-mlp softmax.py", "mlp"): {"shapes": [("wrong_layer_kind", "output")],
                                        "output": [("output_probabilities", "")]},
    ("real/mlp_foward.py", "mlp"): {"shapes": [("no_forward", "")]},
    ("real/mlp_def_init_typo.py", "mlp"): {"shapes": [("forward_error", "fc1")], "params": [("param_total", "")]},
    ("real/course_lab_as_given.ipynb", "simple-cnn"): {"shapes": [("not_implemented", row) for row in (
        "conv1", "conv2", "conv3", "fc1", "fc2")]},
    ("pass_functional_lenet.py", "lenet-320"): {},
    ("pass_sequential_cnn5x5.py", "cnn-5x5"): {},
}


@pytest.mark.parametrize("case", CORPUS_CAUSES, ids=lambda case: f"{case[0]}-{case[1]}")
def test_each_failing_check_of_the_corpus_sets_its_causes(case):
    report = check_submission(load_spec(case[1]), CORPUS / case[0])
    failing = {c.name: [(x.code, x.where) for x in c.causes] for c in report.checks if c.status in FAILING}
    assert failing == CORPUS_CAUSES[case]
    assert all(not c.causes for c in report.checks if c.status not in FAILING)
    assert all(cause.code in CAUSES for c in report.checks for cause in c.causes)


def test_a_submission_with_no_code_or_no_class_says_so_by_its_cause(tmp_path):
    spec = load_spec("simple-cnn")
    (tmp_path / "empty").mkdir()
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "model.py").write_text("x = 1\n")
    assert _causes(check_submission(spec, tmp_path / "empty"), "class") == [("no_code_file", "")]
    assert _causes(check_submission(spec, tmp_path / "plain"), "class") == [("no_model_class", "")]


def test_quiz_causes_for_unreadable_files(tmp_path):
    from grader.inspection.load import load_submission
    from grader.quiz.checks import run_quiz_checks

    spec = load_spec("mycnn")
    (tmp_path / "best.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "curves.json").write_text('{"val_loss": [0.5, 0.4], "val_accuracy": [90.0]}')  # lengths differ
    results = {c.name: c for c in run_quiz_checks(spec, load_submission(tmp_path), None, "MyCNN")}
    assert [(c.code, c.where) for c in results["checkpoint"].causes] == [("checkpoint_unloadable", "")]
    assert [c.code for c in results["curves"].causes] == ["curves_invalid"]


def test_a_fatal_report_gives_every_check_its_cause_and_the_verdict_names_it():
    from grader.batch import verdict
    from grader.sandbox.limits import Limits
    from grader.sandbox.outcome import Outcome

    spec = load_spec("mycnn")
    report = fatal_report(spec, "s", "your code did not finish", "timeout")
    assert all(c.status == "error" and c.causes == [Cause("timeout")] for c in report.checks)
    assert item_analysis(spec, {"s": report})[0].headline == "100% failed class: time limit"
    limits = Limits(wall_s=7, cpu_s=20, file_size_mb=3, isolation="process")
    assert verdict.failure(Outcome("full", timed_out=True), limits, "observe")[0] == "timeout"
    assert verdict.failure(Outcome("full", frames=[], signal=11), limits, "judge")[0] == "crashed"
    assert verdict.failure(Outcome("full", frames=[b"{}"]), limits, "observe") is None


def test_causes_travel_in_json_old_reports_read_and_a_box_cannot_forge_them(simple_class):
    import json

    _, reports = simple_class
    data = json.loads(to_json(reports["ann"]))
    shapes = next(c for c in data["checks"] if c["name"] == "shapes")
    assert shapes["causes"] == [{"code": "padding", "where": "conv2"}]
    assert Report.from_dict(data).checks == reports["ann"].checks
    old = {"assignment": "simple-cnn", "student": "old", "checks": [
        {"name": "shapes", "status": "fail", "score": 0.0, "max_score": 4.0, "message": "m"}]}
    assert check_types(Report.from_dict(old)).checks[0].causes == []  # stored before causes existed
    with pytest.raises(ValueError, match="unknown cause code"):
        Report.from_dict({**old, "checks": [{**old["checks"][0], "causes": [{"code": "made_up"}]}]})
    for causes in ([{"code": "padding", "where": 3}], "padding"):
        with pytest.raises(TypeError):
            check_types(Report.from_dict({**old, "checks": [{**old["checks"][0], "causes": causes}]}))
    passing = CheckResult("shapes", "pass", 4.0, 4.0, "fine", causes=[Cause("padding", "conv2")])
    with pytest.raises(TypeError, match="checks.causes"):
        check_types(Report("simple-cnn", "x", checks=[passing]))


# Where the grader's code writes a cause code: Cause(code), Finding(code, ...), cause=code, _failed(..., code),
# fatal_report(..., code), and verdict.failure's (code, text) returns.
CAUSE_CALLS = {"Cause": 0, "Finding": 0, "_failed": 3, "fatal_report": 3}


def _written_codes(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            at = CAUSE_CALLS.get(name)
            if at is not None and len(node.args) > at and isinstance(node.args[at], ast.Constant):
                found.add(node.args[at].value)
            found |= {k.value.value for k in node.keywords if k.arg == "cause" and isinstance(k.value, ast.Constant)}
        if isinstance(node, ast.FunctionDef) and node.name == "failure":
            found |= {r.value.elts[0].value for r in ast.walk(node) if isinstance(r, ast.Return)
                      and isinstance(r.value, ast.Tuple) and isinstance(r.value.elts[0], ast.Constant)}
    return found - {""}


def test_every_cause_code_the_grader_writes_is_a_known_one_and_documented():
    written = set()
    for path in (ROOT / "grader").rglob("*.py"):
        written |= _written_codes(ast.parse(path.read_text()))
    assert {"padding", "kernel_size", "stride", "timeout", "missing_layer", "reeval_mismatch"} <= written
    assert written - set(CAUSES) == set()
    section = (ROOT / "docs" / "grading.md").read_text().split("\n## Item analysis", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, re.M)
    assert sorted(documented) == sorted(CAUSES) and len(documented) == len(set(documented))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in CAUSES)  # stable, language-independent codes


def test_headlines_say_ties_skips_and_checks_nobody_ran():
    from grader.outputs.item_analysis import CauseCount, ItemRecord

    def record(**values):
        base = dict(check="shapes", max_score=4.0, students=3, missing=0, passed=0, failed=3, errors=0, skipped=0,
                    absent=0, unexplained=0, causes=(), distribution=())
        return ItemRecord(**{**base, **values})

    tied = record(causes=(CauseCount("stride", "conv1", 1, 1 / 3), CauseCount("padding", "conv2", 1, 1 / 3),
                          CauseCount("kernel_size", "conv3", 1, 1 / 3)))
    assert tied.headline == "33% failed conv1's stride (tied with 2 other causes; 100% failed shapes in all)"
    skipped = record(check="optimizer", failed=1, skipped=2, causes=(CauseCount("timeout", "", 1, 1 / 3),))
    assert skipped.headline == "33% failed optimizer: time limit, 67% skipped"
    assert record(failed=0, absent=3).headline == "shapes: not in any graded report (stored before the check existed)"
