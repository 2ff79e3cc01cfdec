"""Cache of check reports, keyed by the SHA-256 of everything that decides a report.

The key covers every file of the submission (code, best.pt, curves), the assignment's spec file, the grader's
own source and the language the report is written in with its catalog (:func:`grader.i18n.catalog_key`), so an
unchanged submission is answered at once and any change to one of them checks again: a report cached in English is
never served to a Korean run, and a corrected translation regrades.
Reports that ended in a timeout or crash are not cached. The cache lives in ``$GRADER_CACHE_DIR`` or
``~/.cache/grader/reports``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tomllib
from pathlib import Path

from grader.config import default_cache_dir
from grader.files import feed
from grader.i18n import catalog_key
from grader.report import Report

GRADER_DIR = Path(__file__).resolve().parent.parent  # the whole grader package


def cache_dir() -> Path:
    """Where cached reports are stored."""
    return default_cache_dir()


def _field(digest, data: bytes) -> None:
    """One field of the key, framed with its length: no two different manifests feed the same bytes."""
    digest.update(len(data).to_bytes(8, "big") + data)


def _text(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")  # a file name that is not valid UTF-8 still names itself


def _hash_file(digest, path: Path, label: str) -> None:
    content = hashlib.sha256()
    feed(content, path)
    _field(digest, _text(label))
    _field(digest, content.digest())


@functools.lru_cache(maxsize=1)
def grader_code_key() -> str:
    """SHA-256 of the grader's own source (its .py and template files), read once per process."""
    digest = hashlib.sha256()
    for source in sorted(list(GRADER_DIR.rglob("*.py")) + list(GRADER_DIR.rglob("*.j2"))):
        _hash_file(digest, source, "grader:" + source.name)
    return digest.hexdigest()


def submission_key(spec_path: Path | tuple[Path, ...], submission: Path, student: str) -> str:
    """SHA-256 over a manifest of the submission's files (each name and the SHA-256 of its bytes, every field framed
    with its length), the spec, the grader's own code, and the current language with its catalog's digest."""
    digest = hashlib.sha256()
    _field(digest, _text(student))
    for path in (spec_path if isinstance(spec_path, tuple) else (spec_path,)):
        _field(digest, b"spec")
        _field(digest, spec_checks_bytes(Path(path)))
    _field(digest, b"grader:" + grader_code_key().encode())
    _field(digest, b"lang:" + catalog_key().encode())
    _hash_submission(digest, Path(submission))
    return digest.hexdigest()


def _hash_submission(digest, submission: Path) -> None:
    files = [submission] if submission.is_file() else sorted(p for p in submission.rglob("*") if p.is_file())
    for path in files:
        _hash_file(digest, path, "sub:" + str(path.relative_to(submission.parent if submission.is_file() else submission)))


def files_key(submission: str | Path) -> str:
    """SHA-256 over the submission's files alone (names and bytes): what tells a resubmission from a regrade."""
    digest = hashlib.sha256()
    _hash_submission(digest, Path(submission))
    return digest.hexdigest()


# A spec's tables that decide no check: the gradebook's rules and the class-level flags, applied after grading, so
# moving a deadline or a threshold re-runs nothing.
RULE_TABLES = ("late", "gradescope", "similarity", "integrity")


def spec_checks_bytes(path: Path) -> bytes:
    """What of the spec at ``path`` decides a report: its TOML without :data:`RULE_TABLES`, as canonical JSON (the
    raw bytes when it does not parse: the check will say why)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        content = hashlib.sha256()
        feed(content, path)
        return content.digest()
    kept = {key: value for key, value in data.items() if key not in RULE_TABLES}
    return json.dumps(kept, sort_keys=True, default=str).encode()


def load(key: str, folder: Path | None = None) -> Report | None:
    """The cached report for ``key`` (in ``folder``, default :func:`cache_dir`), or None."""
    path = (folder or cache_dir()) / f"{key}.json"
    try:
        report = Report.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    report.timings["cached"] = True
    return report


def store(key: str, report: Report, folder: Path | None = None) -> None:
    """Keep ``report`` under ``key`` in ``folder`` (default :func:`cache_dir`), atomically; fatal reports are not
    kept."""
    if report.fatal:
        return
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{key}.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(report.to_dict()))
    os.replace(tmp, folder / f"{key}.json")
