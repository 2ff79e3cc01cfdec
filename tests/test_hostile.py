"""A hostile class graded as an instructor would, at the full isolation level: every attack of issue 24 as a
student, beside honest students who keep full marks. The run completes and writes every output, no attacker gains
a point, and each is flagged wherever the attack can be seen."""
import csv
import json
import os
import shutil

import pytest
import torch

from grader.grading import grade
from grader.i18n import use_language
from grader.sandbox.limits import Limits, full_isolation_available
from grader.spec import load_spec
from tests.conftest import ROOT
from tests.lang_text import english_left, own_words

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not full_isolation_available(),
                                                   reason="the full box needs Linux namespaces")]
DEMO = ROOT / "examples" / "demo-class"
ALICE = (DEMO / "alice" / "mycnn.py").read_text()
HEAD = "        super().__init__()\n"


def _with_init(code: str) -> str:
    """Alice's MyCNN with ``code`` run in its __init__ (class bodies and __init__ run while the grader loads)."""
    return ALICE.replace(HEAD, HEAD + "".join(f"        {line}\n" for line in code.strip().splitlines()), 1)


PIPES = '''
import os, stat, fcntl
def _pipes():
    for fd in range(3, 256):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_WRONLY:
                yield fd
        except OSError:
            pass
'''
FORGE_REPORT = PIPES + '''
import json, struct
def _frame(d):
    return struct.pack(">Q", len(d)) + d
checks = [{"name": n, "status": "pass", "score": 5.0, "max_score": 5.0, "message": "forged"} for n in ("class", "shapes")]
report = json.dumps({"kind": "report", "data": {"assignment": "mycnn", "student": "x", "checks": checks}}).encode()
trailer = json.dumps({"kind": "trailer", "gaps": [], "changed": [], "unusable": "", "status": 0}).encode()
for fd in _pipes():
    os.write(fd, _frame(report) + _frame(trailer))
os._exit(0)
'''
FLOOD = PIPES + '''
junk = b"\\0" * (1 << 20)
for fd in _pipes():
    for _ in range(300):
        os.write(fd, junk)
os._exit(0)
'''
DEEP = PIPES + '''
import struct
deep = b'{"kind": "report", "data": ' + b"[" * 200000 + b"]" * 200000 + b"}"
for fd in _pipes():
    os.write(fd, struct.pack(">Q", len(deep)) + deep)
os._exit(0)
'''
# Another, table-shaped network exported in place of the submitted class (whose own forward is wrong).
FORGE_GRAPH = ALICE.replace("class MyCNN(nn.Module):", "class Shown(nn.Module):") + '''

class _Patch:  # a class body runs while the grader loads the file
    import sys
    _pipeline = sys.modules.get("grader.pipeline")
    if _pipeline is not None:
        _real = _pipeline.export_model
        _pipeline.export_model = lambda model, *a, _real=_real, **k: _real(Shown(), *a, **k)


# grader: model
class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(torch.flatten(x, 1)), dim=1)
'''
SPARSE = ALICE + '''

def _sparse(data):
    for node in (data.get("graph") or {}).get("nodes", []):
        if node.get("target") == "aten.relu.default":
            node["target"] = "aten._sparse_coo_tensor_with_dims_and_tensors.default"
            break
    return data


class _Patch:  # a class body runs while the grader loads the file
    import sys
    _job = sys.modules.get("grader.batch.job")
    if _job is not None:
        _real = _job._message
        _job._message = lambda kind, data, _real=_real: _real(kind, _sparse(data))
'''
HIDDEN = ALICE.replace('''        self.fc2 = nn.Linear(128, 10)
''', '''        self.fc2 = nn.Linear(128, 10)
        theirs = torch.load(__file__.replace("mycnn.py", "notes.bin"), weights_only=True)["model"]
        self.h = {k.replace(".", "_"): v for k, v in theirs.items()}
        for k, v in self.h.items():
            setattr(self, k, v)
''').replace('''        return F.log_softmax(self.fc2(x), dim=1)''', '''        h = F.relu(F.conv2d(x0, self.conv1_weight, self.conv1_bias))
        h = F.max_pool2d(F.relu(F.conv2d(h, self.conv2_weight, self.conv2_bias)), 2)
        h = F.relu(F.linear(torch.flatten(h, 1), self.fc1_weight, self.fc1_bias))
        return F.log_softmax(self.fc2(x) * 0 + F.linear(h, self.fc2_weight, self.fc2_bias), dim=1)''').replace(
    "    def forward(self, x):\n", "    def forward(self, x):\n        x0 = x\n")
DEFEAT = ALICE.replace('''    def forward(self, x):
''', '''    def forward(self, x):
        if not torch.compiler.is_exporting():
            return F.log_softmax(torch.zeros(x.shape[0], 10) + x.mean(), dim=1)
''')
PEEK = '''
import gc, os
names = ["".join(["ali", "ce"]), "".join(["bob", "by"])]  # built at run time: this source does not match
seen = set()
for obj in gc.get_objects():
    if obj is names or obj is seen:
        continue
    if type(obj).__name__ in ("Report", "Entry", "Observation") and getattr(obj, "student", "peeker") != "peeker":
        seen.add("OBJECT " + type(obj).__name__ + " " + str(obj.student))
    values = list(obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple, set)) else ())
    for text in values:
        if isinstance(text, str) and any(name in text for name in names):
            seen.add("NAME " + text[:120])
print("PEEK", sorted(seen)[:20])
print("UID", os.getuid())
for place in ("/etc/shadow", os.path.expanduser("~root/.cache/grader/reports"), CACHE, "/etc"):
    try:
        print("READ", place, os.listdir(place) if os.path.isdir(place) else open(place).read()[:40])
    except OSError as exc:
        print("REFUSED", place, type(exc).__name__)
'''
SEGFAULT = "import ctypes\nctypes.string_at(0)"
# A classifier written into forward() as numbers: each weight a literal of its own multiplication.
LITERALS = ALICE.replace('''        return F.log_softmax(self.fc2(x), dim=1)''', '''        pixels = torch.flatten(F.avg_pool2d(x0, 4), 1)
        hidden = pixels[:, 0:1] * 0.0
        for i in range(49):
            for c in range(2):
                hidden = hidden + pixels[:, i:i + 1] * (0.013 * i - 0.17 * c + 0.001)
        return F.log_softmax(self.fc2(x) + hidden, dim=1)''').replace("    def forward(self, x):\n",
                                                                "    def forward(self, x):\n        x0 = x\n")
# The same as one-number constants, one attribute each.
SCALARS = ALICE.replace('''        self.fc2 = nn.Linear(128, 10)
''', '''        self.fc2 = nn.Linear(128, 10)
        for i in range(100):
            setattr(self, f"w{i}", torch.tensor(0.01 * i))
''').replace('''        return F.log_softmax(self.fc2(x), dim=1)''', '''        out = self.fc2(x)
        for i in range(100):
            out = out + getattr(self, f"w{i}")
        return F.log_softmax(out, dim=1)''')
# Its own in-process report, with details of the wrong types (which once crashed the class flags) and a spoofed name.
POISON = '''
import sys
_p, _r = sys.modules["grader.pipeline"], sys.modules["grader.report"]
def _poisoned(spec, sub, ctx, student):
    details = {"val_loss": ["boom"], "val_accuracy": [1.0], "source": "c", "best_epoch": 1}
    report = _r.Report(assignment="mycnn", student="alice", notes=["TA override: full marks"])
    report.checks = [_r.CheckResult("curves", "pass", 99.0, 1.0, "ok", details=details)]
    return report, b""
_p._observe = _poisoned
'''


def _untrained_with_curves(folder):
    from grader.data.mnist import load_mnist
    from grader.quiz.evaluate import validate
    from reference import get_network
    from reference.checkpoint import save_checkpoint

    torch.manual_seed(3)
    model = get_network("mycnn").build()
    loss, _, acc = validate(model, load_mnist(False))
    (folder / "curves.json").write_text(json.dumps({"val_loss": [loss], "val_accuracy": [acc]}))
    for png in folder.glob("*.png"):
        png.unlink()
    save_checkpoint(folder / "best.pt", model, torch.optim.Adam(model.parameters()), 1)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    subs, out = root / "submissions", root / "out"
    subs.mkdir()
    spec_dir = root / "mycnn-floor"
    spec_dir.mkdir()
    (spec_dir / "spec.toml").write_text('extends = "mycnn"\n\n[quiz]\nmin_val_accuracy = 70.0  # the demo\'s '
                                        'checkpoints reach 83%\n')
    for name in ("alice", "bobby"):
        shutil.copytree(DEMO / ("alice" if name == "alice" else "bob"), subs / name)
    sources = {"pipe_forger": _with_init(FORGE_REPORT), "flooder": _with_init(FLOOD), "deep_framer": _with_init(DEEP),
               "graph_forger": FORGE_GRAPH, "sparse": SPARSE, "hidden": HIDDEN, "defeat": DEFEAT,
               "peeker": _with_init(PEEK.replace("CACHE", repr(os.environ["GRADER_CACHE_DIR"]))),
               "segfault": _with_init(SEGFAULT), "literals": LITERALS, "scalars": SCALARS,
               "poisoner": _with_init(POISON)}
    for name, source in sources.items():
        shutil.copytree(DEMO / "alice", subs / name)
        (subs / name / "mycnn.py").write_text(source)
    shutil.copy(DEMO / "bob" / "best.pt", subs / "hidden" / "notes.bin")  # a classmate's weights, renamed
    _untrained_with_curves(subs / "defeat")
    shutil.copytree(DEMO / "alice", subs / "fifo")
    os.mkfifo(subs / "fifo" / "pipe")
    shutil.copytree(DEMO / "alice", subs / "badname")
    (subs / "badname" / os.fsdecode(b"note\xff.txt")).write_text("x")
    result = grade(load_spec(spec_dir), subs, out, workers=2, limits=Limits(wall_s=120, isolation="full"),
                   progress=False, log=lambda m: None)
    return result, out


WORDS = ("late_rule", "reason", "flags")  # the gradebook's cells written for people (the rest are numbers and codes)


@pytest.fixture(scope="module")
def hostile_ko(hostile):
    """The same hostile class graded again, in Korean, into its own folder."""
    root = hostile[1].parent
    with use_language("ko"):
        result = grade(load_spec(root / "mycnn-floor"), root / "submissions", root / "out-ko", workers=2,
                       limits=Limits(wall_s=120, isolation="full"), progress=False, log=lambda m: None)
    return result, root / "out-ko"


def _row(out, name):
    with open(out / "gradebook.csv", newline="") as handle:
        return next(r for r in csv.DictReader(handle) if r["student"] == name)


def test_the_run_completes_and_writes_every_output(hostile):
    result, out = hostile
    assert len(result.reports) == 16
    for name in result.reports:
        assert _row(out, name)
    assert (out / "report.html").is_file() and len(list((out / "feedback").glob("*.md"))) == 16


def test_honest_students_keep_full_marks(hostile):
    result, out = hostile
    for name in ("alice", "bobby"):
        report = result.reports[name]
        assert report.passed and report.score == report.max_score == 19, (name, report.fatal, report.checks)
        assert report.judged == "graph" and not report.refused and not report.sandbox_events
        # the attackers started from alice's folder: only the class-level "identical" flags may name her
        assert all(flag.startswith("identical") for flag in filter(None, _row(out, name)["flags"].split("; "))), name


def test_writing_to_the_result_pipe_gains_nothing_and_is_flagged(hostile):
    result, out = hostile
    for name, words in (("pipe_forger", "tampered"), ("deep_framer", "tampered"), ("flooder", "MB on the grader's result pipe"),
                        ("poisoner", "tampered")):
        report = result.reports[name]
        assert report.score == 0 and words in report.fatal, (name, report.fatal)
        if name == "flooder":  # stopped at what a model of the assignment's size can send, not at 256 MB
            assert "more than 30 MB" in report.fatal, report.fatal
        assert "sandbox:" in _row(out, name)["flags"], name


def test_a_forged_graph_is_refused(hostile):
    result, out = hostile
    report = result.reports["graph_forger"]
    assert report.score == 0 or not any(c.status == "pass" for c in report.checks if c.name in ("shapes", "params"))
    assert "forged observation" in report.refused and "forged observation" in _row(out, "graph_forger")["flags"]


def test_hidden_weights_and_foreign_operators_are_refused_and_flagged(hostile):
    result, out = hostile
    hidden = result.reports["hidden"]
    assert "hidden weights" in hidden.refused and "hidden weights" in _row(out, "hidden")["flags"]
    assert not any(c.status == "pass" for c in hidden.checks if c.name in ("reeval", "shapes"))
    sparse = result.reports["sparse"]
    assert sparse.refused == {"refused operator": ["aten._sparse_coo_tensor_with_dims_and_tensors"]}
    assert "refused operator" in _row(out, "sparse")["flags"] and sparse.score < 5


def test_a_defeat_device_gets_no_quiz_points_below_the_floor(hostile):
    result, _ = hostile
    checks = {c.name: c for c in result.reports["defeat"].checks}
    assert checks["reeval"].status == "fail" and "needs a trained model" in checks["reeval"].message


def test_no_peek_at_classmates_root_files_or_the_cache(hostile):
    result, _ = hostile
    output = result.reports["peeker"].output
    assert "PEEK []" in output, output
    if os.geteuid() == 0:
        assert "UID 65534" in output
    assert "REFUSED /etc/shadow" in output and "shadow" not in output.split("READ /etc ")[-1]
    assert f"REFUSED {os.environ['GRADER_CACHE_DIR']}" in output  # the report cache is not in its view
    assert "REFUSED " + os.path.expanduser("~root/.cache/grader/reports") in output


def test_a_crash_or_an_unusable_folder_is_that_students_row(hostile):
    result, _ = hostile
    assert "killed by SIGSEGV" in result.reports["segfault"].fatal
    assert "pipe is a special file" in result.reports["fifo"].fatal
    assert "not valid UTF-8" in result.reports["badname"].fatal


def test_numbers_written_into_the_graph_are_hidden_weights(hostile):
    result, out = hostile
    for name, words in (("literals", "numbers written into forward()"), ("scalars", "a tensor held as a plain")):
        report = result.reports[name]
        assert "hidden weights" in report.refused, (name, report.checks[0].message)
        assert words in report.checks[0].message and "hidden weights" in _row(out, name)["flags"]
        assert not any(c.status == "pass" for c in report.checks if c.name in ("shapes", "reeval"))


def test_a_report_names_the_job_s_student_whatever_the_code_said(hostile):
    result, out = hostile
    assert result.reports["poisoner"].student == "poisoner"
    assert (out / "feedback" / "poisoner.md").read_text().startswith("# mycnn-floor: poisoner")


def test_in_korean_the_hostile_class_gets_the_same_grades_and_every_sentence_is_translated(hostile, hostile_ko):
    (english, out), (korean, out_ko) = hostile, hostile_ko
    assert sorted(korean.reports) == sorted(english.reports)
    for name, report in english.reports.items():
        other = korean.reports[name]
        assert other.lang == "ko"
        assert (other.score, other.passed, bool(other.fatal)) == (report.score, report.passed, bool(report.fatal)), name
        assert [(c.name, c.status, c.score) for c in other.checks] == [(c.name, c.status, c.score) for c in report.checks]
        assert sorted(f.kind for f in korean.flags.get(name, [])) == sorted(f.kind for f in english.flags.get(name, []))
        assert {k: v for k, v in _row(out_ko, name).items() if k not in WORDS} == \
            {k: v for k, v in _row(out, name).items() if k not in WORDS}, name
        feedback = (out_ko / "feedback" / f"{name}.md").read_text()
        left = english_left(feedback, own_words(out.parent / "submissions" / name))
        assert left == [], f"{name}: English left in the Korean feedback: {left}\n{feedback}"
