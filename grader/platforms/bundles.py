"""What an instructor uploads to or commits on each platform, written from an assignment's spec and the kit's wheel.

* :func:`gradescope_bundle`: ``autograder.zip`` (``setup.sh`` and ``run_autograder`` at its root, the wheel, the
  spec under ``assignments/``), as Gradescope's autograder specification asks.
* :func:`prairielearn_bundle`: a question folder (``info.json`` with ``externalGradingOptions``,
  ``question.html`` with a file upload, ``tests/`` holding the spec and the entry point) and ``grader-image/``
  (a Dockerfile for the grading image and the wheel).
* :func:`classroom_bundle`: the files of a GitHub Classroom template repository: ``.github/workflows/classroom.yml``,
  the wheel and the spec under ``.github/grader/``, and the starters.

None of them holds a solution: the wheel is the audited student kit's (:func:`grader.authoring.release.kit_wheel`).
Every file is rebuilt from the spec and the wheel alone, so the same inputs give the same bytes.
"""
from __future__ import annotations

import json
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import jinja2
from markupsafe import Markup

from grader.errors import GraderError
from grader.i18n import _, current_language, n_
from grader.late import COURSE_FILE
from grader.spec import Spec

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLATFORMS = ("gradescope", "prairielearn", "classroom")
PRAIRIELEARN_MAX_TIMEOUT = 600  # seconds: PrairieLearn's cap on an external grading job
ZIP_TIME = (2026, 1, 1, 0, 0, 0)  # every member's time in the zip, so the same inputs give the same bytes
QUIZ_OPTIONAL_FILES = ("curves.json", "curves.csv", "val_loss.png", "val_acc.png")


class BundleError(GraderError):
    """The platform files cannot be written; the message says what to fix."""


@dataclass
class Bundle:
    """What a bundle command wrote: the platform, the folder, and each file an instructor uploads or commits."""

    platform: str
    out: Path
    files: list[Path] = field(default_factory=list)
    upload: Path | None = None  # the one file to upload (Gradescope's zip), if the platform takes one
    notes: list[str] = field(default_factory=list)  # what the instructor must set by hand


def _pinned(name: str, default: str) -> str:
    """``==`` the version of ``name`` installed here (what the tests ran on), so that every platform job grades
    with the same torch all term; ``default`` (the grader's own range) where it is not installed."""
    try:
        return "==" + metadata.version(name).split("+")[0]
    except metadata.PackageNotFoundError:
        return default


def job_seconds(spec: Spec) -> int:
    """The wall time one submission may take, both stages at their limit plus a minute of start-up."""
    return int(2 * spec.timeout + 60)


def _refuse_unshippable(spec: Spec) -> None:
    if spec.dataset != "mnist":
        raise BundleError(_("{name} re-evaluates {file} on {dataset}, which the platform's job cannot download (no "
                            "network) and the grader does not ship: only the MNIST assignments can run on a platform "
                            "so far", name=spec.name, file="best.pt", dataset=spec.dataset))


def _html_gettext(message: str, /, **fields) -> Markup:
    """``_`` of an HTML template: the translation (trusted markup, like the template) with its fields escaped."""
    return Markup(_(message)).format(**fields) if fields else Markup(_(message))


def _printf_json(text: str) -> str:
    """``text`` (its one ``%s`` kept) as the inside of a JSON string in a single-quoted shell printf format: a
    translation may hold quotes, backslashes or a per cent sign."""
    def escaped(part: str) -> str:
        inside = json.dumps(part, ensure_ascii=False)[1:-1]
        return inside.replace("\\", "\\\\").replace("%", "%%").replace("'", "'\\''")

    head, sep, tail = text.partition("%s")
    return escaped(head) + sep + escaped(tail)


def _sh_quoted(text: str) -> str:
    """``text`` as the inside of a double-quoted shell word (no expansion)."""
    return "".join("\\" + ch if ch in '\\"$`' else ch for ch in text)


def _render(template: str, **values) -> str:
    html = template.endswith(".html.j2")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=html)
    env.globals.update(_=_html_gettext if html else _, n_=n_)
    env.filters.update(printf_json=_printf_json, sh_quoted=_sh_quoted)
    torch = {"torch": _pinned("torch", ">=2.6"), "torchvision": _pinned("torchvision", ">=0.21")}
    # lang: the bundle's language, which its run command passes on (the platform's machine has its own locale)
    return env.get_template(template).render(**torch, lang=current_language(), **values)


def _write(path: Path, text: str | bytes, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _spec_files(spec: Spec) -> dict[str, bytes]:
    """The spec and every spec it extends, as ``assignments/<folder>/spec.toml`` -> its bytes, and the course file
    beside them (its late rule, grader.late) as ``assignments/course.toml``."""
    files = {}
    for source in spec.sources or (spec.path,):
        files[f"assignments/{source.parent.name}/spec.toml"] = source.read_bytes()
    course = spec.path.resolve().parent.parent / COURSE_FILE
    if course.is_file():
        files[f"assignments/{COURSE_FILE}"] = course.read_bytes()
    return files


def _empty_out(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(_("{path} is not an empty folder: give a new one for the platform files", path=out))
    out.mkdir(parents=True, exist_ok=True)
    return out


def gradescope_bundle(spec: Spec, wheel: Path, out: Path) -> Bundle:
    """Write ``out/autograder.zip`` for ``spec`` (see the module doc), and its files unpacked in ``out/source/``
    for reading; the zip is what the instructor uploads."""
    _refuse_unshippable(spec)
    out = _empty_out(Path(out))
    members: dict[str, tuple[bytes, bool]] = {
        "setup.sh": (_render("setup.sh.j2", name=spec.name, wheel=wheel.name).encode(), True),
        "run_autograder": (_render("run_autograder.j2", name=spec.name).encode(), True),
        wheel.name: (wheel.read_bytes(), False),
        **{name: (data, False) for name, data in _spec_files(spec).items()},
    }
    bundle = Bundle("gradescope", out)
    archive = out / "autograder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for name, (data, executable) in sorted(members.items()):
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            handle.writestr(info, data)
            bundle.files.append(_write(out / "source" / name, data, executable))
    bundle.upload = archive
    bundle.files.insert(0, archive)
    bundle.notes.append(_("set the autograder timeout to at least {seconds} s (Gradescope's default is {default})",
                          seconds=job_seconds(spec), default=600))
    return bundle


def _upload_names(spec: Spec) -> tuple[list[str], list[str]]:
    """(the files a PrairieLearn student must upload, the ones they may): the code, and the quiz's files."""
    required = ["model.py"] + (["best.pt"] if spec.quiz.get("enabled") else [])
    return required, list(QUIZ_OPTIONAL_FILES) if spec.quiz.get("enabled") else []


def prairielearn_bundle(spec: Spec, wheel: Path, out: Path, image: str | None = None) -> Bundle:
    """Write ``out/questions/<name>/`` (the question for the course repository) and ``out/grader-image/`` (the
    grading image's Dockerfile and the wheel) for ``spec``; ``image``: the image name info.json names."""
    _refuse_unshippable(spec)
    out = _empty_out(Path(out))
    image = image or f"cnn-grader/{spec.name}:latest"
    question = out / "questions" / spec.name
    required, optional = _upload_names(spec)
    info = {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cnn-grader:{spec.name}")), "title": spec.shown_title,
            "topic": "CNN", "tags": ["cnn-grader", spec.name], "type": "v3", "singleVariant": True,
            "gradingMethod": "External",
            "externalGradingOptions": {"enabled": True, "image": image, "entrypoint": "/grade/tests/run.sh",
                                       "timeout": min(PRAIRIELEARN_MAX_TIMEOUT, job_seconds(spec)),
                                       "enableNetworking": False}}
    bundle = Bundle("prairielearn", out)
    bundle.files += [
        _write(question / "info.json", json.dumps(info, indent=2, ensure_ascii=False) + "\n"),
        _write(question / "question.html", _render("question.html.j2", title=spec.shown_title, name=spec.name,
                                                   code_file=required[0], quiz=bool(spec.quiz.get("enabled")),
                                                   required=required, optional=optional)),
        _write(question / "tests" / "run.sh", _render("run.sh.j2", name=spec.name), executable=True),
        *[_write(question / "tests" / name, data) for name, data in _spec_files(spec).items()],
        _write(out / "grader-image" / "Dockerfile", _render("Dockerfile.j2", name=spec.name, image=image,
                                                            wheel=wheel.name)),
        _write(out / "grader-image" / wheel.name, wheel.read_bytes()),
    ]
    if job_seconds(spec) > PRAIRIELEARN_MAX_TIMEOUT:
        bundle.notes.append(_("{name} may take up to {seconds} s per submission, over PrairieLearn's {cap} s cap: "
                              "lower the spec's timeout (now {timeout} s) or expect the slowest submissions to time "
                              "out", name=spec.name, seconds=job_seconds(spec), cap=PRAIRIELEARN_MAX_TIMEOUT,
                              timeout=f"{spec.timeout:g}"))
    return bundle


def classroom_bundle(spec: Spec, wheel: Path, out: Path) -> Bundle:
    """Write the template repository's files for ``spec`` into ``out``: the workflow, the wheel and spec under
    ``.github/grader/``, and the assignment's starters."""
    _refuse_unshippable(spec)
    out = _empty_out(Path(out))
    minutes = job_seconds(spec) // 60 + 10  # installing torch takes a few minutes
    bundle = Bundle("classroom", out, notes=[_(
        "GitHub Classroom points are a self-check: the student owns the repository and its workflow, so grade for "
        "the record with {command} on the cloned repositories ({doc})", command="'grader grade'",
        doc="docs/platforms.md")])
    bundle.files += [
        _write(out / ".github" / "workflows" / "classroom.yml",
               _render("classroom.yml.j2", name=spec.name, title=spec.shown_title, wheel=wheel.name,
                       minutes=minutes)),
        _write(out / ".github" / "grader" / wheel.name, wheel.read_bytes()),
        *[_write(out / ".github" / "grader" / name, data) for name, data in _spec_files(spec).items()],
    ]
    for name in ("starter.py", "starter.ipynb"):
        if (spec.folder / name).is_file():
            bundle.files.append(_write(out / name, (spec.folder / name).read_bytes()))
    return bundle


def bundle(platform: str, spec: Spec, wheel: Path, out: Path, **options) -> Bundle:
    """The bundle of ``platform`` (one of :data:`PLATFORMS`) for ``spec``."""
    makers = {"gradescope": gradescope_bundle, "prairielearn": prairielearn_bundle, "classroom": classroom_bundle}
    if platform not in makers:
        raise BundleError(_("unknown platform {platform}: one of {platforms}", platform=repr(platform),
                            platforms=", ".join(PLATFORMS)))
    return makers[platform](spec, Path(wheel), Path(out), **options)


def copy_wheel(wheel: Path, folder: Path) -> Path:
    """``wheel`` copied into ``folder`` (a given kit wheel, checked to be one)."""
    wheel = Path(wheel)
    if not (wheel.is_file() and wheel.name.startswith("cnn_grader-") and wheel.suffix == ".whl"):
        raise BundleError(_("{path} is not the grader's wheel ({pattern}, from {command})", path=wheel,
                            pattern="cnn_grader-*.whl", command="'grader release'"))
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(wheel, folder / wheel.name))
