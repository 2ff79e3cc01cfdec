"""The grader's configuration, read once from the environment, in one place.

Public interface:

* :class:`Config`: the assignments root, the report cache, the data folders, the isolation level asked for, the
  cores the checks may use.
* :func:`read_config`: a Config from an environment mapping (``os.environ`` by default).
* :func:`path_setting` and :func:`default_cache_dir`: one folder setting alone (what the library's defaults use,
  so that no other module reads the environment).
* :data:`ENV`: the variables read, with what each sets.

The command line reads the configuration once and passes its values on; no module writes ``os.environ``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError

ENV = {
    "GRADER_ASSIGNMENTS": "the folder of assignments (one sub-folder with a spec.toml each); grader --course DIR",
    "GRADER_CACHE_DIR": "where grader check caches reports (default ~/.cache/grader/reports)",
    "GRADER_DATA_DIR": "a folder holding MNIST/raw/ (the training set, and the validation set where not shipped)",
    "GRADER_CIFAR_DIR": "a folder holding cifar-10-batches-py/",
    "GRADER_ISOLATION": "full or process: the sandbox level when --isolation is not given",
    "OMP_NUM_THREADS": "the cores a check may use (default: every core)",
}


class ConfigError(GraderError, ValueError):
    """A variable holds a value the grader cannot use; the message names it."""


@dataclass(frozen=True)
class Config:
    """Where things are and what was asked for (see :data:`ENV`)."""

    assignments: Path | None
    cache_dir: Path
    data_dir: Path | None
    cifar_dir: Path | None
    isolation: str | None
    cores: int


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def path_setting(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    """The folder the variable ``name`` (one of :data:`ENV`) names, or None when unset."""
    assert name in ENV, name
    return _path((os.environ if env is None else env).get(name))


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where ``grader check`` caches reports: ``$GRADER_CACHE_DIR``, else ~/.cache/grader/reports."""
    return path_setting("GRADER_CACHE_DIR", env) or Path.home() / ".cache" / "grader" / "reports"


def read_config(env: Mapping[str, str] | None = None) -> Config:
    """The configuration in ``env`` (default ``os.environ``); ConfigError for a value that cannot be used."""
    env = os.environ if env is None else env
    isolation = env.get("GRADER_ISOLATION", "").strip().lower() or None
    if isolation not in (None, "full", "process"):
        raise ConfigError(f"GRADER_ISOLATION={env['GRADER_ISOLATION']!r}: choose full or process")
    try:
        cores = max(1, int(env["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        cores = os.cpu_count() or 1
    return Config(path_setting("GRADER_ASSIGNMENTS", env), default_cache_dir(env), path_setting("GRADER_DATA_DIR", env),
                  path_setting("GRADER_CIFAR_DIR", env), isolation, cores)
