"""``grader release``: the student kit an instructor posts, built from the course repository.

The kit is a folder holding the grader's wheel (the tool and the assignment specs and starters, never the
solutions), each assignment's starters, and a README for students: how to install, how to self-check, what to
hand in. The wheel is built from a clean copy of the sources (never from a stale ``build/``), and is audited before
the kit is written: it must hold no module of the reference package and no line that only a solution region of
the reference contains.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.authoring.course import INSTALL_REFERENCE, reference_dir
from grader.authoring.starters import BEGIN, END, generate, lang_argument, lang_option
from grader.errors import GraderError
from grader.i18n import _
from grader.spec import Spec, assignments_root, list_assignments, load_spec

SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent  # the repository, in an instructor's install
TEXT_SUFFIXES = (".py", ".ipynb", ".tmpl", ".toml", ".j2", ".md", ".txt", ".json")
MIN_LINE = 12


class ReleaseError(GraderError):
    """The kit cannot be made: the message says what to fix."""


@dataclass
class Kit:
    """What ``release`` wrote."""

    out: Path
    wheel: Path
    assignments: list[str]


def source_tree() -> Path:
    """The repository this grader runs from; ReleaseError when it runs from an installed wheel."""
    if not ((SOURCE_ROOT / "pyproject.toml").is_file() and (SOURCE_ROOT / "grader" / "cli.py").is_file()):
        raise ReleaseError(_("{command} builds the kit from the course repository: run it from an instructor "
                             "install ({install} in the repository), not from the student wheel",
                             command="grader release", install=INSTALL_REFERENCE))
    return SOURCE_ROOT


def _regions(text: str) -> tuple[set[str], set[str]]:
    """(stripped lines inside solution regions, stripped lines outside them) of one source."""
    inside: set[str] = set()
    outside: set[str] = set()
    within = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            within = True
        elif stripped.startswith(END):
            within = False
        elif stripped and not stripped.startswith("#"):
            (inside if within else outside).add(stripped)
    return inside, outside


def solution_only_lines(folder: Path) -> set[str]:
    """Every distinctive code line that the reference in ``folder`` has only inside solution regions.

    Distinctive: a call or an assignment of at least ``MIN_LINE`` characters (``continue`` or ``)`` would match
    any Python file).
    """
    inside, outside = set(), set()
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".py", ".tmpl") and path.is_file():
            i, o = _regions(path.read_text(encoding="utf-8"))
            inside |= i
            outside |= o
    return {line for line in inside - outside if len(line) >= MIN_LINE and ("(" in line or "=" in line)}


def audit_wheel(wheel: Path, solution_lines: set[str]) -> list[str]:
    """What in ``wheel`` comes from the solutions: reference modules, and files with solution-only lines."""
    leaks = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            top = name.split("/")[0]
            if top == "reference" or name.startswith("reference.") or "/reference/" in name:
                leaks.append(_("{name}: a module of the reference solutions", name=name))
                continue
            if not name.endswith(TEXT_SUFFIXES):
                continue
            text = archive.read(name).decode("utf-8", errors="replace")
            if name.endswith(".ipynb"):  # JSON strings: one line of code per list entry
                text = text.replace("\\n", "\n").replace('\\"', '"')
            found = sorted({line.strip().strip('",') for line in text.splitlines()} & solution_lines)
            if found:
                leaks.append(_("{name}: {count} line(s) of a solution region, e.g. {example}", name=name,
                               count=len(found), example=repr(found[0])))
    return leaks


def build_wheel(root: Path, course: Path, out: Path) -> Path:
    """Build the grader's wheel from a clean copy of ``root`` whose assignments are ``course``; return its path."""
    with tempfile.TemporaryDirectory(prefix="grader-release-") as staging:
        stage = Path(staging)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
        shutil.copytree(root / "grader", stage / "grader", ignore=ignore)
        shutil.copytree(course, stage / "assignments", ignore=ignore)
        for name in ("pyproject.toml", "setup.py", "README.md"):  # setup.py compiles the message catalogs
            shutil.copy2(root / name, stage / name)
        built = stage / "dist"
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                                 "--quiet", "--wheel-dir", str(built), str(stage)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise ReleaseError(_("building the wheel failed:\n{output}",
                                 output=result.stderr.strip() or result.stdout.strip()))
        wheels = list(built.glob("*.whl"))
        if len(wheels) != 1:
            raise ReleaseError(_("building the wheel gave {count} wheels, expected one", count=len(wheels)))
        out.mkdir(parents=True, exist_ok=True)
        target = out / wheels[0].name
        shutil.copy2(wheels[0], target)
    return target


def _hand_in(spec: Spec) -> str:
    if spec.quiz.get("enabled"):
        return _("your code + {checkpoint}, {json} (or {csv}), {loss_plot} and {acc_plot}", checkpoint="best.pt",
                 json="curves.json", csv="curves.csv", loss_plot="val_loss.png", acc_plot="val_acc.png")
    return _("your code")


def _readme_texts() -> dict[str, str]:
    """The README's sentences in the current language (its code stays as it is)."""
    return {
        "title": _("Course kit: self-check your CNN assignments"),
        "install": _("Install (once; Python 3.11 or newer, on Linux, macOS, Windows or Colab)"),
        "installs": _("This installs the `{command}` command, and PyTorch if you do not have it yet (an existing torch "
                      "2.6 or newer is\nkept). Checking needs no GPU and no internet; the validation images the quiz "
                      "uses come with the grader.", command="grader"),
        "terminal": _("Self-check in a terminal"),
        "folder": _("a folder, a .py or an .ipynb"),
        "json": _("one JSON document"),
        "definitions": _("Only the definitions in your code run (imports, classes, functions, constants): your "
                         "training loop is not run.\nEach failure names your own layer and line, the shape the table "
                         "expects and the one your code gives, with the\narithmetic. Exit code 0 means every required "
                         "check passes."),
        "notebook": _("Self-check inside a notebook (Jupyter or Colab)"),
        "class": _("your class: shapes, parameters, batch, output"),
        "files": _("{checkpoint} and the curves in this folder: the quiz", checkpoint="best.pt"),
        "kernel": _("This checks the class you defined in the notebook, in your own kernel."),
        "assignments": _("The assignments"),
        "header": _("| assignment | title | check the starter | hand in |"),
        "starters": _("Each `{folder}` folder has `{py}` and `{ipynb}`: fill in every part that raises\n`{error}`, "
                      "train, then check. Hand in the files in the last column, in one folder or zip.",
                      folder="starters/<assignment>/", py="starter.py", ipynb="starter.ipynb",
                      error="NotImplementedError"),
    }


def student_readme(wheel: Path, specs: list[Spec]) -> str:
    """The kit's README for students: install, self-check (terminal and notebook), what to hand in."""
    opt, arg = lang_option(), lang_argument('"')  # the kit's language, which the student's machine does not know
    rows = "\n".join(
        f"| `{s.name}` | {s.shown_title} | `grader check starters/{s.name}/starter.py -a {s.name}{opt}` | "
        f"{_hand_in(s)} |"
        for s in specs)
    example = next((s for s in specs if s.name == "mycnn"), None) or next(
        (s for s in specs if s.quiz.get("enabled")), specs[0])
    cls, name, t = example.classes[0], example.name, _readme_texts()
    return f"""# {t["title"]}

## {t["install"]}

```bash
pip install {wheel.name}
grader list
```

{t["installs"]}

## {t["terminal"]}

```bash
grader check my_folder/ --assignment {name}{opt}     # {t["folder"]}
grader check week4.ipynb -a {name} --json{opt}       # {t["json"]}
```

{t["definitions"]}

## {t["notebook"]}

```python
import grader
grader.check({cls}, assignment="{name}"{arg})        # {t["class"]}
grader.check_files(".", assignment="{name}"{arg})   # {t["files"]}
```

{t["kernel"]}

## {t["assignments"]}

{t["header"]}
| --- | --- | --- | --- |
{rows}

{t["starters"]}
"""


def kit_wheel(out: Path, course: Path | None = None) -> Path:
    """Build the student kit's wheel (the tool and ``course``'s assignments) into ``out`` and audit it; ReleaseError
    when this grader is not a course repository or the wheel would hold any part of the solutions."""
    root = source_tree()
    wheel = build_wheel(root, course or assignments_root(), Path(out))
    leaks = audit_wheel(wheel, solution_only_lines(reference_dir()))
    if leaks:
        wheel.unlink()
        raise ReleaseError(_("the wheel would give away solutions, so nothing was written:") + "\n  "
                           + "\n  ".join(leaks))
    return wheel


def release(out: str | Path, names: list[str] | None = None, log=print, course: Path | None = None) -> Kit:
    """Write the student kit into ``out``: the audited wheel, the starters, README.md. See the module doc.
    ``course``: the assignments folder (default: :func:`grader.spec.assignments_root`)."""
    out = Path(out)
    root = source_tree()
    course = course or assignments_root()
    names = list(names or list_assignments(course))
    specs = [load_spec(name, course) for name in names]
    drifted = [str(path) for spec in specs if spec.reference for path in generate(spec, check=True)]
    if drifted:
        raise ReleaseError(_("these starters differ from what the reference generates; run {command} and commit "
                             "them first: {files}", command="'grader assign --all'", files=", ".join(drifted)))
    if out.exists() and any(out.iterdir()):
        raise ReleaseError(_("{path} is not empty: give a new folder for the kit", path=out))
    log(_("building the wheel from {root} with the assignments of {course}", root=root, course=course))
    wheel = kit_wheel(out, course)
    for spec in specs:
        target = out / "starters" / spec.name
        target.mkdir(parents=True, exist_ok=True)
        for name in ("starter.py", "starter.ipynb"):
            if (spec.folder / name).is_file():
                shutil.copy2(spec.folder / name, target / name)
    (out / "README.md").write_text(student_readme(wheel, specs), encoding="utf-8")
    return Kit(out, wheel, names)
