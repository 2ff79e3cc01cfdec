"""Faithful stand-ins of the platforms' contracts, for tests/test_platforms.py: the real paths (/autograder, /grade)
on this machine, as root, one test run at a time; the documented schemas; the GitHub Classroom reporter's decoding.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import stat
import subprocess
import zipfile
from contextlib import contextmanager
from pathlib import Path

import jsonschema

SCHEMAS = Path(__file__).resolve().parent / "schemas"
MARKER = ".cnn-grader-stand-in"  # a folder the stand-in made (and may remove)
LOCK = "/tmp/cnn-grader-stand-in{}.lock"  # one per root: a test module may hold /autograder while it uses /grade


def validate(doc: dict, schema: str) -> None:
    """Raise jsonschema's ValidationError when ``doc`` does not follow tests/schemas/<schema>.schema.json."""
    jsonschema.validate(doc, json.loads((SCHEMAS / f"{schema}.schema.json").read_text()))


@contextmanager
def platform_root(path: Path):
    """``path`` (/autograder or /grade) made fresh for one test module and removed after; other test runs on this
    machine wait for it. Refuses a folder this stand-in did not make."""
    if os.geteuid() != 0:
        raise RuntimeError(f"the platform stand-ins run as root, as the platforms do ({path} is theirs)")
    with open(LOCK.format(str(path).replace("/", "-")), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            if not (path / MARKER).exists():
                raise RuntimeError(f"{path} exists and was not made by the stand-in: not touching it")
            shutil.rmtree(path)
        path.mkdir()
        (path / MARKER).write_text("made by tests/platform_stands.py\n")
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def unpack_like_gradescope(archive: Path, root: Path) -> None:
    """What Gradescope does with the autograder zip: unpacked into ROOT/source (file modes kept), and
    run_autograder copied to ROOT/run_autograder."""
    source = root / "source"
    with zipfile.ZipFile(archive) as handle:
        for info in handle.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(handle.read(info))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                target.chmod(mode)
    shutil.copy2(source / "run_autograder", root / "run_autograder")
    assert os.stat(root / "run_autograder").st_mode & stat.S_IXUSR


def system_env(**extra: str) -> dict[str, str]:
    """A platform's plain environment: the system's PATH, nothing of this test session's."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", **extra}


def put_submission(folder: Path, files: dict[str, bytes | str | Path]) -> None:
    """Replace ``folder``'s contents with ``files`` (name -> bytes, text, or a file to copy)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name, content in files.items():
        target = folder / name
        if isinstance(content, Path):
            shutil.copy2(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def reporter_results(github_output: Path, runners: str, env_of_step: dict[str, str]) -> list[dict]:
    """What GitHub Classroom's grading reporter reads: each runner's ``<RUNNER>_RESULTS`` (the step's env, its
    ``${{ steps.X.outputs.result }}`` taken from the $GITHUB_OUTPUT file the step wrote), base64-decoded JSON."""
    outputs = {}
    for line in github_output.read_text().splitlines():
        key, _, value = line.partition("=")
        outputs[key] = value
    found = []
    for runner in runners.split(","):
        expression = env_of_step[f"{runner.strip().upper()}_RESULTS"]
        assert expression.replace(" ", "") == f"${{{{steps.{runner.strip()}.outputs.result}}}}", expression
        found.append(json.loads(base64.b64decode(outputs["result"]).decode("utf-8")))
    return found


def run_script(script: Path, env: dict[str, str], timeout: float, cwd: Path | None = None):
    """Run a platform script as the platform does (executable, its own environment)."""
    return subprocess.run([str(script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
