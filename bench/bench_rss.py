"""The grading parent's own peak memory, whatever the students submit: an honest class against a hostile one.

    python bench/bench_rss.py [--students 8] [--quick] [--kinds flood,bomb,curves,deep] [--epochs 3000000]
                              [--cap-mb 8192]

Two classes of the same size are graded against ``examples/mycnn-demo`` (the Week 4 quiz with the accuracy floor
the demo's checkpoints reach, 70%), each by ``grade()`` with 2 workers in a fresh process of its own, which prints
``getrusage(RUSAGE_SELF).ru_maxrss`` when it is done: the peak resident memory of the grading parent alone (its
children, the boxes and the fork server, are not counted).

* honest: copies of examples/demo-class/alice (MyCNN, best.pt, curves, plots), each re-evaluated;
* hostile: submissions that try to blow the parent up, the kinds in turn (``--kinds``), their MyCNN.__init__
  attacking before it builds anything:

  - ``flood``: writes 2 GB of junk to every writable pipe it holds (the result channel), then ``os._exit(0)``;
  - ``bomb``: a best.pt of about 190 KB that inflates to 190 MB (a zip-format torch checkpoint whose storage entry
    is deflate-compressed zeros: under the 200 MB grader/quiz/checkpoint.py lets any checkpoint unpack to, over
    what a mycnn checkpoint may). Read as a file (``bomb-file``, alice's code beside it), the judge refuses it in
    its own box. So the code carries it to the parent the one way a student can: it sends, instead of the model,
    the report that a model which cannot be exported gets (the in-process fallback), naming that best.pt with the
    sketch of alice's weights, so that the class-level near-identical-weights step, in the parent, loads it as one
    of a candidate pair;
  - ``curves``: a curves.json of ``--epochs`` (3 million) epochs, too large a file for the judge to read
    (``curves-file``, alice's code, best.pt and plots beside it); the code sends them in the curves details of such
    an in-process report: all 3 million, or as many as fit in the largest report the grader's code says it takes
    (``MAX_REPORT_BYTES`` in grader/batch/job.py, where there is one), with the same sketch and a copy of alice's
    best.pt (the bomb's partner in the candidate pair);
  - ``deep``: sends a frame of JSON nested 200,000 deep on the result pipe (as the data of a report message),
    then ``os._exit(0)``.

  The forged messages are made with the grader's own encoder (``grader.batch.job._message``: the grader is
  importable inside the box), so they are in whatever shape the channel's protocol has today.

  The first round of kinds carries the bomb and the curves to the parent, the second hands them in as files, and
  so on in turn.

Prints both peaks in MB, the ratio hostile / honest against the goal (at most 1.2x), and what the grader made of
each hostile submission. A grading run that goes over ``--cap-mb`` of resident memory is stopped (so that a
vulnerable grader cannot take the machine down) and its peak printed as "over" the cap. The classes are built in a
process of their own: Linux carries a process's peak resident memory over into the programs it starts, so the
process that starts the grading runs must stay small. Exits 1 when a class could not be graded to the end (the
grader failed, or the cap stopped it), never for the ratio.

``--quick``: 4 students a class (one of each kind), the same code path (the test suite runs it: tests/test_bench.py).
``--kinds`` grades only some of the hostile kinds (their cost one by one).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMO_SPEC = ROOT / "examples" / "mycnn-demo"
ALICE = ROOT / "examples" / "demo-class" / "alice"
KINDS = ("flood", "bomb", "curves", "deep")
CARRIED = ("bomb", "curves")  # sent to the parent in a forged in-process report; "-file": handed in as files only
GOAL = 1.2
BOMB_BYTES = 190 * 2**20  # inflated; grader/quiz/checkpoint.py's MAX_BYTES is 200 MB
FLOOD_MB = 2048
DEPTH = 200_000

RUNNER = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
try:  # the class flow moved out of the pool module
    from grader.grading import grade
except ImportError:
    from grader.batch.pool import grade
from grader.sandbox.limits import Limits
from grader.spec import load_spec
spec = load_spec(sys.argv[2])
began = time.perf_counter()
try:
    result = grade(spec, sys.argv[3], sys.argv[4], workers=2, limits=Limits(wall_s=spec.timeout), progress=False,
                   log=lambda m: None)
except Exception as exc:  # the grader itself failed: its peak so far, and where it failed
    import traceback
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    where = traceback.extract_tb(exc.__traceback__)[-1]
    print(json.dumps({"peak_kb": peak_kb, "seconds": time.perf_counter() - began, "students": {},
                      "error": f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"}))
    sys.exit(0)
seconds = time.perf_counter() - began
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # this process only: children are not counted
from grader.report import details_of
curves = {s: details_of(r, "curves") for s, r in result.reports.items()}
students = {s: {"score": r.score, "max": r.max_score, "fatal": r.fatal, "judged": r.judged,
                "events": r.sandbox_events, "epochs": len(curves[s].val_loss) if curves[s] else 0}
            for s, r in result.reports.items()}
print(json.dumps({"peak_kb": peak_kb, "seconds": seconds, "students": students, "error": ""}))
"""

HOSTILE = '''"""A hostile MyCNN (bench/bench_rss.py): its __init__ attacks the grader's own process first."""
import fcntl
import json
import os
import stat
import struct
from pathlib import Path

import torch.nn as nn
import torch.nn.functional as F

KIND = {kind!r}
FORGED = {forged!r}  # the report sent instead of the model (bomb, curves)


def _pipes():
    """The write ends of pipes this process holds."""
    found = []
    for fd in range(3, 256):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_WRONLY:
                found.append(fd)
        except OSError:
            pass
    return found


def _write(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _frame(payload):
    return struct.pack(">Q", len(payload)) + payload


def _message(data):
    """A report message's frames as the grader's own encoder makes them (the grader is importable in the box)."""
    try:
        from grader.batch import job
        parts = job._message("report", data)
    except Exception:
        parts = json.dumps({{"kind": "report", "data": data}}).encode()
    return [parts] if isinstance(parts, bytes) else list(parts)


def _report_limit():
    """The most a report's JSON may take on the channel, as the grader's code says (unbounded if it says nothing)."""
    try:
        from grader.batch import job
        return int(getattr(job, "MAX_REPORT_BYTES"))
    except Exception:
        return 1 << 62


def _attack():
    pipes = _pipes()
    if KIND == "flood":
        junk = b"\\xff" * (1 << 20)
        for fd in pipes:
            try:
                for _ in range({flood_mb}):
                    _write(fd, junk)
            except OSError:
                pass
    elif KIND == "deep":
        deep = b"[" * {depth} + b"]" * {depth}
        parts = _message({{}})  # a report's head frame where the protocol has one, the deep JSON as its data
        frames = parts[:-1] + [deep]
        for fd in pipes:
            _write(fd, b"".join(_frame(f) for f in frames))
    else:
        report = json.loads(FORGED)
        parts = _message(report)
        if KIND == "curves":
            doc = json.loads(Path(__file__).with_name("curves.json").read_text())
            details = next(c["details"] for c in report["checks"] if c["name"] == "curves")
            epochs = len(doc["val_loss"])
            while True:  # all the epochs, or as many as the largest report the grader takes holds
                details.update(val_loss=doc["val_loss"][:epochs], val_accuracy=doc["val_accuracy"][:epochs])
                parts = _message(report)
                if len(parts[-1]) <= _report_limit() or epochs < 2:
                    break
                epochs = int(epochs * _report_limit() / len(parts[-1]) * 0.99)
        payload = b"".join(_frame(f) for f in parts)
        for fd in pipes:
            _write(fd, payload)
    os._exit(0)


class MyCNN(nn.Module):
    def __init__(self):
        _attack()
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(9216, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(self.pool(x))
        x = self.fc1(x.flatten(1))
        return F.log_softmax(self.fc2(self.dropout2(F.relu(x))), dim=1)
'''


def bomb_checkpoint(path: Path) -> None:
    """A zip-format torch checkpoint whose storage entry is BOMB_BYTES of zeros, deflate-compressed (~190 KB)."""
    import torch

    buffer = io.BytesIO()
    torch.save({"model": {"weight": torch.zeros(BOMB_BYTES // 4)}, "epoch": 1}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as plain, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as packed:
        for info in plain.infolist():
            packed.writestr(info.filename, plain.read(info), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)


def many_epochs(path: Path, epochs: int) -> None:
    """curves.json of ``epochs`` epochs (loss and accuracy, each value distinct, 4 decimals)."""
    loss = ",".join(f"{2.3 / (1 + i / 1000):.4f}" for i in range(epochs))
    accuracy = ",".join(f"{min(99.0, 10 + i / 1000):.4f}" for i in range(epochs))
    path.write_text(f'{{"val_loss":[{loss}],"val_accuracy":[{accuracy}]}}')


def forged_report(spec, student: str, best: Path, weights_sha256: str, sketch) -> str:
    """The JSON of the report the in-process fallback would send: every check passed, with the checkpoint details
    (``best``, alice's signature and sketch, its own weights hash) and alice's curves (the curves kind's code puts
    its own in their place)."""
    from grader.report import CheckpointDetails, CheckResult, CurvesDetails, Report

    alice = json.loads((ALICE / "curves.json").read_text())

    sha = hashlib.sha256(best.read_bytes()).hexdigest()
    checks = [CheckResult(name, "pass", points, points, "ok") for name, points in
              ((n, spec.points[n]) for n in spec.model_checks())]
    points = spec.quiz["points"]
    checks.append(CheckResult("curves", "pass", points["curves"], points["curves"], "ok",
                              details=asdict(CurvesDetails(alice["val_loss"], alice["val_accuracy"],
                                                           "curves.json", 2))))
    checks.append(CheckResult("checkpoint", "pass", points["checkpoint"], points["checkpoint"], "ok",
                              details=asdict(CheckpointDetails(best.name, sha, sketch.signature, weights_sha256,
                                                               sketch.sketch))))
    report = Report(assignment=spec.name, student=student, checks=checks,
                    judged="in-process: export failed (forged by bench_rss)")
    return json.dumps(report.to_dict())


def hostile_kinds(kinds: list[str], students: int) -> list[str]:
    """Each hostile student's kind: ``kinds`` in turn, the bomb and the curves carried in the first round, handed
    in as files in the second, and so on."""
    out: list[str] = []
    round_ = 0
    while len(out) < students:
        out += [k + "-file" if round_ % 2 and k in CARRIED else k for k in kinds]
        round_ += 1
    return out[:students]


def build(folder: Path, students: int, kinds: list[str], epochs: int) -> None:
    """The honest class in ``folder``/honest, the hostile one in ``folder``/hostile."""
    from grader.quiz.checkpoint import load_checkpoint_file
    from grader.quiz.sketch import sketch_state
    from grader.spec import load_spec

    if not ALICE.is_dir():  # the README's first command makes it; make it here when it is not there yet
        subprocess.run([sys.executable, str(ROOT / "examples" / "make_demo_class.py")], check=True)
    spec = load_spec(DEMO_SPEC)
    honest, hostile = folder / "honest", folder / "hostile"
    for index in range(students):
        shutil.copytree(ALICE, honest / f"alice{index:02d}", ignore=shutil.ignore_patterns(".*"))
    alice_sketch = sketch_state(load_checkpoint_file(ALICE / "best.pt").state_dict)
    assert alice_sketch is not None
    made = folder / "made"
    made.mkdir()
    if "bomb" in kinds:
        bomb_checkpoint(made / "bomb.pt")
    if "curves" in kinds:
        many_epochs(made / "curves.json", epochs)
    for index, kind in enumerate(hostile_kinds(kinds, students)):
        name = f"s{index:02d}-{kind}"
        target = hostile / name
        shutil.copytree(ALICE, target, ignore=shutil.ignore_patterns(".*"))  # code, best.pt, curves, plots
        if kind.startswith("bomb"):
            shutil.copy(made / "bomb.pt", target / "best.pt")
        elif kind.startswith("curves"):
            shutil.copy(made / "curves.json", target / "curves.json")
        if kind.endswith("-file"):
            continue  # alice's own code: the judge reads the files
        forged = ""
        if kind in CARRIED:
            # every carrier claims alice's layout and sketch with weights of its own: each pair is a candidate
            forged = forged_report(spec, name, target / "best.pt", hashlib.sha256(name.encode()).hexdigest(),
                                   alice_sketch)
        (target / "mycnn.py").write_text(HOSTILE.format(kind=kind, forged=forged, flood_mb=FLOOD_MB, depth=DEPTH))


def resident_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(subs: Path, out: Path, cap_mb: float, timeout: float) -> dict:
    """Grade ``subs`` in a fresh process; its report, or {"over_cap": MB} when it was stopped at ``cap_mb``."""
    process = subprocess.Popen([sys.executable, "-c", RUNNER, str(ROOT), str(DEMO_SPEC), str(subs), str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    over: list[float] = []

    def watch() -> None:  # the cap: a grader that lets a student grow it must not take the machine down with it
        while process.poll() is None:
            rss = resident_mb(process.pid)
            if rss > cap_mb:
                over.append(rss)
                process.kill()
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        sys.exit(f"grading {subs.name} took over {timeout:.0f} s:\n{stderr[-3000:]}")
    watcher.join()
    if over:
        return {"over_cap": over[0]}
    if process.returncode != 0:
        sys.exit(f"grading {subs.name} failed (exit {process.returncode}):\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def outcome(student: dict) -> str:
    """What the grader made of one submission, in a few words."""
    if student["fatal"]:
        return "fatal: " + student["fatal"].splitlines()[0][:110]
    epochs = f", {student['epochs']:,} epochs in its curves" if student.get("epochs", 0) > 100 else ""
    return f"{student['score']:g}/{student['max']:g}, judged {student['judged'] or 'nowhere'}"[:90] + epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=8, help="submissions in each class (default: %(default)s)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="hostile kinds, taken in turn "
                        "(default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3_000_000, help="epochs in the curves kind's curves.json "
                        "(default: %(default)s)")
    parser.add_argument("--cap-mb", type=float, default=8192, help="stop a grading run whose resident memory goes "
                        "over this (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds a grading run may take "
                        "(default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="4 students a class, one of each hostile kind (a smoke "
                        "run: the test suite's mode)")
    parser.add_argument("--build", metavar="DIR", help=argparse.SUPPRESS)  # internal: build the two classes only
    args = parser.parse_args()
    if args.quick:
        args.students = 4
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"unknown hostile kind(s) {unknown}: choose from {', '.join(KINDS)}")
    if args.build:
        build(Path(args.build), args.students, kinds, args.epochs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        began = time.perf_counter()
        # In a process of its own: a process's peak resident memory carries over into the programs it starts (Linux
        # keeps the high-water mark across fork and exec), so this one stays small (no torch) and its grading runs
        # start from nothing of the build (the bomb's 190 MB of zeros, the 3 million epochs).
        subprocess.run([sys.executable, __file__, "--build", tmp, "--students", str(args.students), "--kinds",
                        ",".join(kinds), "--epochs", str(args.epochs)], check=True)
        print(f"built two classes of {args.students} in {time.perf_counter() - began:.1f} s "
              f"(hostile kinds: {', '.join(kinds)})", flush=True)
        good = run(tmp_path / "honest", tmp_path / "out-honest", args.cap_mb, args.timeout)
        bad = run(tmp_path / "hostile", tmp_path / "out-hostile", args.cap_mb, args.timeout)
    if "over_cap" in good or good["error"]:
        sys.exit(f"the honest class could not be graded: {good.get('error') or 'over the cap (raise --cap-mb)'}")
    honest_mb = good["peak_kb"] / 1024
    print(f"honest  class, {args.students} copies of alice:     parent peak {honest_mb:7.0f} MB   (baseline), "
          f"graded in {good['seconds']:.1f} s")
    stopped = "over_cap" in bad
    if stopped:
        hostile_mb = bad["over_cap"]
        print(f"hostile class, {args.students} hostile submissions: parent peak over {args.cap_mb:.0f} MB (stopped "
              f"at {hostile_mb:.0f} MB: not graded)")
    else:
        hostile_mb = bad["peak_kb"] / 1024
        print(f"hostile class, {args.students} hostile submissions: parent peak {hostile_mb:7.0f} MB, "
              f"graded in {bad['seconds']:.1f} s")
        for name, student in sorted(bad["students"].items()):
            print(f"  {name:16} {outcome(student)}")
        if bad["error"]:
            print(f"  the grader itself failed, no outputs written: {bad['error']}")
    ratio = hostile_mb / honest_mb
    print(f"ratio hostile / honest: {'at least ' if stopped else ''}{ratio:.2f}x (goal: at most {GOAL}x: "
          f"{'met' if ratio <= GOAL and not stopped else 'not met'})")
    honest_scores = {s["score"] for s in good["students"].values()}
    if len(honest_scores) != 1 or any(s["fatal"] for s in good["students"].values()):
        sys.exit(f"the honest class was not graded alike: {good['students']}")
    if stopped or bad["error"]:
        sys.exit("the hostile class was not graded to the end")

if __name__ == "__main__":
    main()
