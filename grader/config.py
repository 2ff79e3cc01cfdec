"""The grader's configuration, read once from the environment, in one place.

Public interface:

* :class:`Config`: the assignments root, the report cache, the data folders, the isolation level asked for, the
  cores the checks may use, the language asked for.
* :func:`read_config`: a Config from an environment mapping (``os.environ`` by default).
* :func:`path_setting` and :func:`default_cache_dir`: one folder setting alone (what the library's defaults use,
  so that no other module reads the environment).
* :data:`ENV`: the variables read, with what each sets (marked for the catalog: show one with ``_(ENV[name])``).

The command line reads the configuration once and passes its values on; no module writes ``os.environ``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import GraderError
from grader.i18n import N_, _

ENV = {
    "GRADER_ASSIGNMENTS": N_("the folder of assignments (one sub-folder with a spec.toml each); grader --course DIR"),
    "GRADER_CACHE_DIR": N_("where grader check caches reports (default ~/.cache/grader/reports)"),
    "GRADER_DATA_DIR": N_("a folder holding MNIST/raw/ (the training set, and the validation set where not shipped)"),
    "GRADER_CIFAR_DIR": N_("a folder holding cifar-10-batches-py/"),
    "GRADER_ISOLATION": N_("full or process: the sandbox level when --isolation is not given"),
    "GRADER_LANG": N_("en or ko: the language of every message when --lang is not given"),
    "OMP_NUM_THREADS": N_("the cores a check may use (default: every core)"),
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
    lang: str | None = None  # $GRADER_LANG as given (None: unset); the command line checks it (choose_language)


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
        raise ConfigError(_("{name}={value}: choose full or process", name="GRADER_ISOLATION",
                            value=repr(env["GRADER_ISOLATION"])))
    try:
        cores = max(1, int(env["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        cores = os.cpu_count() or 1
    return Config(path_setting("GRADER_ASSIGNMENTS", env), default_cache_dir(env), path_setting("GRADER_DATA_DIR", env),
                  path_setting("GRADER_CIFAR_DIR", env), isolation, cores, env.get("GRADER_LANG") or None)
