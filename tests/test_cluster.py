"""grader grade --cluster: a real Dask scheduler and two workers on loopback, started here. The outputs equal a local
run's byte for byte; a killed client resumes; a worker killed mid-task changes nothing; a submission whose task
keeps ending its worker gets an error row; an unreachable scheduler or a missing extra is a usage error; Slurm
through dask-jobqueue with a stand-in sbatch; the device placement rules."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from grader.grading import grade
from grader.spec import load_spec
from tests.conftest import CORPUS, run_cli

DASK = Path(sys.executable).with_name("dask")
OUTPUTS = ("gradebook.csv", "report.html")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_worker(address: str, log: Path, extra=()) -> subprocess.Popen:
    return subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                             *extra], stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_workers(address: str, count: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout=20, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=timeout)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """``dask scheduler`` (a task may take part in one worker death, not two) and two ``dask worker --nthreads 1``
    on loopback; each worker runs under a nanny, which starts it again when it is killed."""
    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--no-dashboard"], stdout=open(logs / "scheduler.log", "ab"),
                                 stderr=subprocess.STDOUT, start_new_session=True, env=env)
    # One worker as the README starts them (its resident grading process preloaded), one that starts it lazily.
    workers = [_start_worker(address, logs / "worker1.log", ("--preload", "grader.batch.resident")),
               _start_worker(address, logs / "worker2.log")]
    try:
        _wait_for_workers(address, 2)
        yield address, logs
    finally:
        for process in [*workers, scheduler]:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


@pytest.fixture(scope="module")
def classes(honest, tmp_path_factory):
    """A mycnn class of six (best.pt in a folder and in a zip, best.pt of the wrong epoch, code only, a notebook, a
    folder with a link out of it) and a small class of three."""
    sub, per_epoch, _ = honest
    root = tmp_path_factory.mktemp("clusterclass")
    full, small = root / "full", root / "small"
    full.mkdir()
    shutil.copytree(sub, full / "honest")
    with zipfile.ZipFile(full / "zipped.zip", "w") as archive:
        for path in sorted(sub.iterdir()):
            archive.write(path, path.name)
    shutil.copytree(sub, full / "every_epoch")
    shutil.copy(per_epoch[3], full / "every_epoch" / "best.pt")
    shutil.copy(CORPUS / "fail_batch_size_mycnn.py", full / "batch_size.py")
    shutil.copy(CORPUS / "pass_notebook_mycnn.ipynb", full / "notebook.ipynb")
    shutil.copytree(sub, full / "linker")
    os.symlink("/etc", full / "linker" / "etc-link")
    small.mkdir()
    for name in ("honest", "batch_size.py", "notebook.ipynb"):
        source = full / name
        shutil.copytree(source, small / name) if source.is_dir() else shutil.copy(source, small / name)
    spec = load_spec("mycnn")
    local = {}
    for name, folder in (("full", full), ("small", small)):
        local[name] = root / f"local-{name}"
        grade(spec, folder, local[name], workers=2, progress=False, log=lambda m: None)
    return {"full": full, "small": small}, local


def _same_outputs(a: Path, b: Path) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    for folder in ("feedback", "gradescope"):
        left = sorted(p.relative_to(a) for p in (a / folder).rglob("*") if p.is_file())
        right = sorted(p.relative_to(b) for p in (b / folder).rglob("*") if p.is_file())
        assert left == right
        for path in left:
            assert (a / path).read_bytes() == (b / path).read_bytes(), path


def _stored(out: Path) -> int:
    try:
        with sqlite3.connect(out / "results.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_two_workers_give_the_local_files_byte_for_byte(dask_cluster, classes, tmp_path):
    address, _ = dask_cluster
    folders, local = classes
    out = tmp_path / "cluster"
    done = run_cli("grade", folders["full"], "-a", "mycnn", "--out", out, "--cluster", address, "--no-progress", "--json")
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["graded_now"] == 6
    _same_outputs(out, local["full"])
    with sqlite3.connect(out / "results.sqlite") as db:
        levels = {json.loads(r)["isolation_level"] for (r,) in db.execute("SELECT report FROM results")}
    assert levels == {"full"}  # the workers sandboxed every submission as the local pool does
    book = (out / "gradebook.csv").read_text()
    assert "honest" in book and "identical curves" in book  # the class-level flags, computed by the client


def test_a_killed_client_resumes_with_only_the_rest(dask_cluster, classes, tmp_path):
    address, _ = dask_cluster
    folders, local = classes
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "grader", "grade", str(folders["full"]), "-a", "mycnn", "--out", str(out),
               "--cluster", address, "--no-progress"]
    client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while _stored(out) < 2 and time.monotonic() < deadline and client.poll() is None:
        time.sleep(0.2)
    client.kill()
    client.wait()
    kept = _stored(out)
    assert 2 <= kept < 6, "the client should have been killed part-way"
    done = run_cli("grade", folders["full"], "-a", "mycnn", "--out", out, "--cluster", address, "--no-progress",
                   "--json")
    assert json.loads(done.stdout)["graded_now"] == 6 - kept, done.stderr
    _same_outputs(out, local["full"])


def _worker_pids(address: str) -> dict:
    from distributed import Client

    with Client(address, timeout=20, set_as_default=False) as client:
        return client.run(os.getpid), client.processing()


def test_a_worker_killed_mid_task_changes_nothing(dask_cluster, classes, tmp_path):
    address, _ = dask_cluster
    folders, local = classes
    out = tmp_path / "disturbed"
    result = {}
    runner = threading.Thread(target=lambda: result.update(done=run_cli(
        "grade", folders["small"], "-a", "mycnn", "--out", out, "--cluster", address, "--no-progress")))
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline:
        pids, processing = _worker_pids(address)
        busy = [w for w, tasks in processing.items() if any(str(t).startswith("grade-") for t in tasks)]
        if busy:
            killed = pids[busy[0]]
            os.kill(killed, signal.SIGKILL)  # the worker process; its nanny starts a new one
        else:
            time.sleep(0.2)
    runner.join(timeout=600)
    assert killed is not None, "no task was ever seen running"
    assert result["done"].returncode == 1, result["done"].stderr
    _same_outputs(out, local["small"])
    _wait_for_workers(address, 2)


def test_a_submission_that_keeps_ending_its_worker_gets_an_error_row(dask_cluster, classes, tmp_path):
    # Student code cannot reach the worker from the sandbox; a machine can still lose the worker under it (the
    # out-of-memory killer). Here the test plays that part: whichever worker runs the task is killed, every time.
    address, _ = dask_cluster
    subs = tmp_path / "subs"
    subs.mkdir()
    slow = (CORPUS.parent.parent / "reference" / "mycnn.py").read_text().replace(
        "super().__init__()", "super().__init__()\n        import time; time.sleep(25)", 1)
    (subs / "victim.py").write_text(slow)
    out = tmp_path / "out"
    result = {}
    runner = threading.Thread(target=lambda: result.update(done=run_cli(
        "grade", subs, "-a", "mycnn", "--out", out, "--cluster", address, "--no-progress", timeout=600)))
    runner.start()
    kills, seen = 0, set()
    while runner.is_alive() and kills < 5:
        pids, processing = _worker_pids(address)
        for worker, tasks in processing.items():
            if any(str(t).startswith("grade-") for t in tasks) and pids[worker] not in seen:
                seen.add(pids[worker])
                os.kill(pids[worker], signal.SIGKILL)
                kills += 1
        time.sleep(0.2)
    runner.join(timeout=600)
    assert kills == 2  # allowed-failures is 1: the second death ends it, never an endless loop
    assert result["done"].returncode == 1, result["done"].stderr
    book = (out / "gradebook.csv").read_text()
    assert "victim" in book and ",error," in book and "ended the grader's worker process each time" in book
    _wait_for_workers(address, 2)


def test_an_unreachable_scheduler_is_a_usage_error_within_seconds(classes, tmp_path):
    folders, _ = classes
    began = time.monotonic()
    done = run_cli("grade", folders["small"], "-a", "mycnn", "--out", tmp_path / "o", "--cluster",
                   f"tcp://127.0.0.1:{_free_port()}")
    assert done.returncode == 2 and "cannot reach the Dask scheduler" in done.stderr, done.stderr
    assert time.monotonic() - began < 60
    bad = run_cli("grade", folders["small"], "-a", "mycnn", "--out", tmp_path / "o", "--cluster", "head-node")
    assert bad.returncode == 2 and "tcp://HOST:8786" in bad.stderr


def test_a_missing_extra_says_what_to_install_and_a_local_run_imports_no_dask(classes, tmp_path):
    folders, _ = classes
    blocked = ("import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None; "
               "from grader.cli import main; sys.argv = ['grader'] + sys.argv[1:]; main()")
    done = subprocess.run([sys.executable, "-c", blocked, "grade", str(folders["small"]), "-a", "mycnn", "--out",
                           str(tmp_path / "o"), "--cluster", "tcp://127.0.0.1:8786"], capture_output=True, text=True)
    assert done.returncode == 2 and "pip install 'cnn-grader[cluster]'" in done.stderr, done.stderr
    local = ("import sys; from grader.cli import cli\n"  # main() exits at once: call the group, then look
             "try:\n    cli.main(sys.argv[1:], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in ('dask', 'distributed', 'dask_jobqueue') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", local, "grade", str(folders["small"]), "-a", "mycnn", "--out",
                           str(tmp_path / "local"), "--no-progress"], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


FAKE_SBATCH = """#!/usr/bin/env bash
# A stand-in for Slurm's sbatch: runs the job script on this machine, in its own session.
id=$$  # this sbatch's own pid: unique, even for jobs submitted at the same moment
cp "$1" "$FAKE_SLURM/$id.sh"
setsid bash "$FAKE_SLURM/$id.sh" > "$FAKE_SLURM/$id.log" 2>&1 < /dev/null &
echo $! > "$FAKE_SLURM/$id.pid"
echo "Submitted batch job $id"
"""
FAKE_SCANCEL = """#!/usr/bin/env bash
for id in "$@"; do kill -9 -- "-$(cat "$FAKE_SLURM/$id.pid")" 2>/dev/null; echo "$id" >> "$FAKE_SLURM/cancelled"; done
"""


def test_slurm_through_dask_jobqueue(classes, tmp_path):
    folders, local = classes
    bin_dir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    jobs.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("scancel", FAKE_SCANCEL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_SLURM": str(jobs),
           # the README's example configuration, as environment variables
           "DASK_JOBQUEUE__SLURM__CORES": "1", "DASK_JOBQUEUE__SLURM__MEMORY": "4GB",
           "DASK_JOBQUEUE__SLURM__PROCESSES": "1", "DASK_JOBQUEUE__SLURM__WALLTIME": "01:00:00",
           "DASK_JOBQUEUE__SLURM__PYTHON": sys.executable,
           "DASK_JOBQUEUE__SLURM__SCHEDULER_OPTIONS": "{'host': '127.0.0.1', 'dashboard_address': None}",
           "DASK_JOBQUEUE__SLURM__WORKER_EXTRA_ARGS": "['--host', '127.0.0.1']"}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", str(folders["small"]), "-a", "mycnn", "--out",
                           str(out), "--cluster", "slurm", "--workers", "2", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1, done.stderr
    scripts = sorted(jobs.glob("*.sh"))
    assert len(scripts) == 2 and "#SBATCH" in scripts[0].read_text() and "dask_worker" in scripts[0].read_text()
    _same_outputs(out, local["small"])
    assert sorted((jobs / "cancelled").read_text().split()) == [p.stem for p in scripts]  # jobs ended with the run


def test_device_placement_rules():
    from grader.batch.cluster import ClusterError, placement
    from grader.quiz.evaluate import DeviceError, resolve_device

    assert resolve_device("auto", cuda_available=False) == "cpu"
    assert resolve_device("auto", cuda_available=True) == "cuda"
    assert resolve_device("cpu", cuda_available=True) == "cpu"
    with pytest.raises(DeviceError, match="torch sees no GPU"):
        resolve_device("cuda", cuda_available=False)
    cifar, mnist = load_spec("cifar-vgg11"), load_spec("mycnn")
    assert placement(cifar, "auto", gpus=1) == ("cuda", {"GPU": 1})
    assert placement(cifar, "auto", gpus=0) == ("cpu", {})
    assert placement(mnist, "auto", gpus=2) == ("cpu", {})  # a small model: CPU workers, GPUs kept for CIFAR
    assert placement(mnist, "cuda", gpus=1) == ("cuda", {"GPU": 1})
    assert placement(cifar, "cpu", gpus=4) == ("cpu", {})
    with pytest.raises(ClusterError, match="no worker of the cluster declares the Dask resource GPU"):
        placement(mnist, "cuda", gpus=0)


def test_device_cuda_without_a_gpu_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the error path cannot happen here")
    done = run_cli("grade", CORPUS, "-a", "mycnn", "--out", tmp_path / "o", "--device", "cuda")
    assert done.returncode == 2 and "torch sees no GPU" in done.stderr


def test_a_worker_that_cannot_read_the_spec_answers_a_report_saying_so():
    from grader.batch.resident import grade_request
    from grader.report import Report

    answer = grade_request({"spec_toml": "title = 1", "spec_name": "mycnn", "student": "ann", "limits": {}}, b"",
                           full_works=False)
    report = Report.from_dict(answer)
    assert report.student == "ann" and not report.passed
    assert "the grader on the worker cannot read the assignment's spec" in report.fatal and "'title'" in report.fatal
