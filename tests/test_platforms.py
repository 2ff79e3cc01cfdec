"""Each platform's artifact, run under a faithful stand-in of the platform's contract (tests/platform_stands.py).

Gradescope: the zip unpacked at /autograder/source, setup.sh run as root against the local wheel and the package
index (a CPU torch included: about two minutes), then run_autograder on an honest, a broken, a crashing, a
hanging and a forging submission; every results.json validated against the documented schema. PrairieLearn: the
question's entry point on a /grade tree. GitHub Classroom: the workflow's own commands, and the reporter's decoding.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from grader.authoring.release import kit_wheel
from grader.platforms.bundles import classroom_bundle, gradescope_bundle, prairielearn_bundle
from grader.spec import load_spec
from tests.conftest import ROOT, run_cli
from tests.platform_stands import (
    platform_root,
    put_submission,
    reporter_results,
    run_script,
    system_env,
    unpack_like_gradescope,
    validate,
)

pytestmark = pytest.mark.slow

MYCNN = (ROOT / "reference" / "mycnn.py").read_text()
BROKEN = MYCNN.replace("nn.Conv2d(32, 64, 3)", "nn.Conv2d(32, 64, 5)")
CRASHING = MYCNN.replace("class MyCNN(nn.Module):\n", "class MyCNN(nn.Module):\n    import ctypes\n"
                                                       "    ctypes.string_at(0)  # segfaults at import\n")
HANGING = MYCNN.replace("class MyCNN(nn.Module):\n", "class MyCNN(nn.Module):\n    while True:\n        pass\n")
# __init__ runs when the grader builds the class: it writes a perfect results.json, and leaves a process behind
# that keeps writing it after the grader is done.
FORGING = MYCNN.replace("    def __init__(self):\n", '''    def __init__(self):
        import json, os, time
        def forge():
            try:
                with open("/autograder/results/results.json", "w") as handle:
                    json.dump({"score": 100.0, "output": "forged", "tests": []}, handle)
            except OSError:
                pass
        forge()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                for _ in range(300):
                    forge()
                    time.sleep(0.05)
            os._exit(0)
''', 1)
assert BROKEN != MYCNN and CRASHING != MYCNN and HANGING != MYCNN and FORGING != MYCNN

SPEC = '''extends = "mycnn"
timeout = 40

[quiz]
min_val_accuracy = 0.0   # best.pt trains on 1,200 images here

[late]
percent_per_day = 10
grace_minutes = 15
max_percent = 50

[gradescope]
visibility = { reeval = "after_published" }
'''


def metadata(submitted: str) -> str:
    return json.dumps({"id": 1, "created_at": submitted, "submission_method": "upload",
                       "assignment": {"id": 7, "title": "Week 4", "due_date": "2026-12-01T23:59:00.000000+09:00",
                                      "late_due_date": "2026-12-08T23:59:00.000000+09:00", "total_points": "19.0",
                                      "group_submission": False},
                       "users": [{"email": "minji@example.edu", "id": 5, "name": "김민지"}],
                       "previous_submissions": []})


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The kit's wheel (built and audited as 'grader autograder' does) and the test's spec."""
    root = tmp_path_factory.mktemp("platforms")
    (root / "mycnn-gs").mkdir()
    (root / "mycnn-gs" / "spec.toml").write_text(SPEC)
    return kit_wheel(root / "wheel"), load_spec(root / "mycnn-gs" / "spec.toml"), root


def _quiz_files(honest) -> dict:
    sub = honest[0]
    return {name: sub / name for name in ("best.pt", "curves.json", "val_loss.png", "val_acc.png")}


@pytest.fixture(scope="module")
def gradescope(course):
    """/autograder set up as Gradescope does: the zip unpacked, setup.sh run as root with the system's Python."""
    wheel, spec, root = course
    bundle = gradescope_bundle(spec, wheel, root / "gs")
    with platform_root(Path("/autograder")) as autograder:
        unpack_like_gradescope(bundle.upload, autograder)
        setup = run_script(autograder / "source" / "setup.sh", system_env(GRADER_TORCH_INDEX=""), timeout=1500,
                           cwd=autograder / "source")
        assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
        assert (autograder / "venv" / "bin" / "grader").is_file()
        yield autograder


def _run_gradescope(autograder: Path, files: dict, submitted: str, **env) -> dict:
    put_submission(autograder / "submission", files)
    (autograder / "submission_metadata.json").write_text(metadata(submitted))
    shutil.rmtree(autograder / "results", ignore_errors=True)
    ran = run_script(autograder / "run_autograder", system_env(**env), timeout=300, cwd=autograder)
    assert ran.returncode == 0, ran.stderr[-3000:]
    doc = json.loads((autograder / "results" / "results.json").read_text())
    validate(doc, "gradescope-results")
    return doc


def test_gradescope_honest_late_submission(gradescope, honest):
    # 1 day 10 h 31 min after the due date: two started days past the 15-minute grace, 10% each
    doc = _run_gradescope(gradescope, {"model.py": MYCNN, **_quiz_files(honest)}, "2026-12-03T10:30:00+09:00")
    tests = {t["name"]: t for t in doc["tests"]}
    raw = sum(t["score"] for t in doc["tests"] if t["name"] != "late submission")
    assert raw == 19 and all(t["status"] == "passed" for n, t in tests.items() if n != "late submission"), doc
    assert tests["late submission"]["score"] == pytest.approx(-3.8) and doc["score"] == pytest.approx(15.2)
    assert "2 days = 20% off the score" in tests["late submission"]["output"]
    assert tests["reeval"]["visibility"] == "after_published" and tests["shapes"]["visibility"] == "visible"
    assert all(t["output_format"] == "md" for t in doc["tests"])
    # with a check hidden until published, neither the total nor the leaderboard gives its result away
    assert "leaderboard" not in doc and "Score:" not in doc["output"]
    assert doc["extra_data"]["isolation_level"] == "full" and "Sandbox: full" in doc["output"]
    assert doc["execution_time"] >= 1


def test_gradescope_broken_on_time_at_the_process_level(gradescope):
    # Gradescope's Docker forbids namespaces: the process level, said in the results
    doc = _run_gradescope(gradescope, {"model.py": BROKEN}, "2026-12-01T20:00:00+09:00", GRADER_ISOLATION="process")
    tests = {t["name"]: t for t in doc["tests"]}
    assert tests["shapes"]["status"] == "failed" and "late submission" not in tests
    assert "O = floor((I - K + 2P) / S) + 1 = floor((26 - 5 + 2*0) / 1) + 1 = 22" in tests["shapes"]["output"]
    assert doc["extra_data"]["isolation_level"] == "process" and "Sandbox: process" in doc["output"]
    assert "leaderboard" not in doc and doc["score"] < 19


@pytest.mark.parametrize("level", ["full", "process"])
def test_gradescope_crashing_and_hanging(gradescope, level):
    crashed = _run_gradescope(gradescope, {"model.py": CRASHING}, "2026-12-01T20:00:00+09:00",
                              GRADER_ISOLATION=level)
    assert crashed["score"] == 0 and ("SIGSEGV" in crashed["output"] or "crash" in crashed["output"]), crashed["output"]
    began = time.monotonic()
    hung = _run_gradescope(gradescope, {"model.py": HANGING}, "2026-12-01T20:00:00+09:00", GRADER_ISOLATION=level)
    assert hung["score"] == 0 and "took over 30 s, and was stopped" in hung["output"], hung["output"]
    assert "model.py line 26 (in MyCNN): while True:" in hung["output"]
    assert time.monotonic() - began < 120


@pytest.mark.parametrize("level", ["full", "process"])
def test_gradescope_submission_cannot_write_its_results(gradescope, level):
    doc = _run_gradescope(gradescope, {"model.py": FORGING}, "2026-12-01T20:00:00+09:00", GRADER_ISOLATION=level)
    time.sleep(1.0)  # the process it left behind has had time to write again
    again = json.loads((gradescope / "results" / "results.json").read_text())
    assert doc == again and doc["score"] < 19 and doc.get("output") != "forged"


def test_gradescope_results_when_the_grader_cannot_start(gradescope):
    grader = gradescope / "venv" / "bin" / "grader"
    put_submission(gradescope / "submission", {"model.py": MYCNN})
    shutil.rmtree(gradescope / "results", ignore_errors=True)
    grader.rename(grader.with_name("grader.off"))  # a broken image: the command is gone
    try:
        ran = run_script(gradescope / "run_autograder", system_env(), timeout=60)
    finally:
        grader.with_name("grader.off").rename(grader)
    assert ran.returncode == 0
    doc = json.loads((gradescope / "results" / "results.json").read_text())
    validate(doc, "gradescope-results")
    assert doc["score"] == 0 and "The autograder itself failed (exit code 127)" in doc["output"]


@pytest.fixture(scope="module")
def prairielearn(course):
    wheel, spec, root = course
    bundle = prairielearn_bundle(spec, wheel, root / "pl", image="myorg/cnn-grader:test")
    return bundle, spec


def test_prairielearn_question_files(prairielearn):
    bundle, spec = prairielearn
    question = bundle.out / "questions" / spec.name
    info = json.loads((question / "info.json").read_text())
    options = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and info["type"] == "v3" and len(info["uuid"]) == 36
    assert options == {"enabled": True, "image": "myorg/cnn-grader:test", "entrypoint": "/grade/tests/run.sh",
                       "timeout": 140, "enableNetworking": False}
    html = (question / "question.html").read_text()
    assert '<pl-file-upload file-names="model.py, best.pt"' in html and "<pl-external-grader-results>" in html
    docker = (bundle.out / "grader-image" / "Dockerfile").read_text()
    wheel = next((bundle.out / "grader-image").glob("cnn_grader-*.whl"))
    assert f"COPY {wheel.name}" in docker and "download.pytorch.org/whl/cpu" in docker
    assert (question / "tests" / "assignments" / "mycnn" / "spec.toml").is_file()
    assert os.access(question / "tests" / "run.sh", os.X_OK)


def test_prairielearn_entrypoint_on_a_grade_tree(prairielearn, honest):
    bundle, spec = prairielearn
    env = system_env(PATH=f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin")
    if not (ROOT / ".venv" / "bin" / "grader").exists():
        env["PATH"] = f"{Path(os.sys.executable).parent}:/usr/bin:/bin"
    with platform_root(Path("/grade")) as grade:
        shutil.copytree(bundle.out / "questions" / spec.name / "tests", grade / "tests")
        (grade / "data").mkdir()
        (grade / "data" / "data.json").write_text(json.dumps({"params": {}, "correct_answers": {},
                                                              "submitted_answers": {}, "variant_seed": 1}))
        put_submission(grade / "student", {"model.py": MYCNN, "best.pt": honest[0] / "best.pt",
                                           "curves.json": honest[0] / "curves.json"})
        ran = run_script(grade / "tests" / "run.sh", env, timeout=300)
        assert ran.returncode == 0, ran.stderr[-3000:]
        raw = (grade / "results" / "results.json").read_bytes()
        doc = json.loads(raw)
        validate(doc, "prairielearn-results")
        assert len(raw) <= 1_000_000 and doc["gradable"] and doc["score"] == 1.0, doc["message"]
        assert {t["name"] for t in doc["tests"]} >= {"shapes", "reeval"}
        picture = base64.b64decode(doc["images"][0]["url"].split(",", 1)[1])
        assert picture.startswith(b"\x89PNG")

        put_submission(grade / "student", {"model.py": BROKEN})
        shutil.rmtree(grade / "results")
        assert run_script(grade / "tests" / "run.sh", env, timeout=300).returncode == 0
        doc = json.loads((grade / "results" / "results.json").read_text())
        validate(doc, "prairielearn-results")
        shapes = next(t for t in doc["tests"] if t["name"] == "shapes")
        assert 0 < doc["score"] < 1 and shapes["points"] < shapes["max_points"] and "floor((26 - 5" in shapes["output"]

        put_submission(grade / "student", {})
        shutil.rmtree(grade / "results")
        assert run_script(grade / "tests" / "run.sh", env, timeout=120).returncode == 0
        doc = json.loads((grade / "results" / "results.json").read_text())
        validate(doc, "prairielearn-results")
        assert doc["gradable"] is False and "Nothing was uploaded" in doc["message"]


def _workflow_steps(template: Path) -> tuple[dict, list[dict]]:
    workflow = yaml.safe_load((template / ".github" / "workflows" / "classroom.yml").read_text())
    job = workflow["jobs"]["run-autograding-tests"]
    return workflow, job["steps"]


def test_classroom_workflow_run_locally(course, honest, tmp_path):
    wheel, spec, root = course
    template = tmp_path / "repo"
    classroom_bundle(spec, wheel, template)
    workflow, steps = _workflow_steps(template)
    assert workflow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    assert set(workflow["on"]) >= {"push", "repository_dispatch"}
    install = next(s for s in steps if s.get("name") == "Install the grader")["run"]
    assert f".github/grader/{wheel.name}" in install and (template / ".github" / "grader" / wheel.name).is_file()
    check = next(s for s in steps if s.get("id") == "grader")
    reporter = next(s for s in steps if "autograding-grading-reporter" in s.get("uses", ""))
    assert reporter["with"]["runners"] == "grader"

    # the student's work, committed beside the template's files
    for name, content in {"model.py": MYCNN, **_quiz_files(honest)}.items():
        shutil.copy2(content, template / name) if isinstance(content, Path) else (template / name).write_text(content)
    output = tmp_path / "github_output"
    output.write_text("")
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "PATH": f"{Path(os.sys.executable).parent}:/usr/bin:/bin"}
    ran = subprocess.run(["bash", "-e", "-c", check["run"]], cwd=template, env=env, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    [doc] = reporter_results(output, reporter["with"]["runners"], reporter["env"])
    validate(doc, "classroom-result")
    total = sum(t["score"] for t in doc["tests"])  # what the reporter posts to Classroom
    assert doc["status"] == "pass" and total == doc["max_score"] == 19

    (template / "model.py").write_text(BROKEN)
    output.write_text("")
    ran = subprocess.run(["bash", "-e", "-c", check["run"]], cwd=template, env=env, capture_output=True, text=True,
                         timeout=300)
    [doc] = reporter_results(output, "grader", reporter["env"])
    validate(doc, "classroom-result")
    assert ran.returncode == 0 and doc["status"] == "fail" and 0 < sum(t["score"] for t in doc["tests"]) < 19
    assert "floor((26 - 5" in next(t for t in doc["tests"] if t["name"] == "shapes")["message"]


def test_autograder_cli(course, tmp_path):
    wheel, spec, root = course
    done = run_cli("autograder", "gradescope", "-a", spec.path, "--out", tmp_path / "gs", "--wheel", wheel, "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert listed["upload"].endswith("autograder.zip") and Path(listed["upload"]).is_file()
    again = run_cli("autograder", "gradescope", "-a", spec.path, "--out", tmp_path / "gs", "--wheel", wheel)
    assert again.returncode == 2 and "not an empty folder" in again.stderr
    fake = tmp_path / "other.whl"
    fake.write_bytes(b"x")
    refused = run_cli("autograder", "classroom", "-a", "mycnn", "--out", tmp_path / "c", "--wheel", fake)
    assert refused.returncode == 2 and "not the grader's wheel" in refused.stderr
    for platform in ("gradescope", "prairielearn", "classroom", "run"):
        shown = run_cli("autograder", platform, "--help")
        assert shown.returncode == 0 and "Example" in shown.stdout
