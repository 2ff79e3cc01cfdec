"""The ``grader`` command line's click classes: every command's help in the chosen language, ``--lang`` on each.

Public interface:

* :class:`Command`, :class:`Group`: click's, with an eager ``--lang`` option added to each, their help texts
  (declared with ``N_``) translated when the help is shown, and the language chosen from the raw arguments before
  click parses them, so that click's usage errors are in it too. A Group's commands and sub-groups are of the same
  classes. After the run the language is what it was before.
* :func:`choose`: the language of a run: ``--lang`` > ``$GRADER_LANG`` (:attr:`grader.config.Config.lang`) > the
  course's ``language`` (top-level in course.toml in the assignments root) > the system locale > English
  (:func:`grader.i18n.choose_language`); :class:`SettingError` for a set but unknown one.
* :func:`scan`: ``--lang`` and ``--course`` from the raw arguments; :func:`start_language` sets the language from
  them (what :func:`grader.cli.main` does first).
* :func:`version_option`: ``--version``, its line in the chosen language.

Importing this module installs :func:`grader.i18n.clickmsg.install` (click's own messages in the chosen language).
Nothing here writes ``os.environ``.
"""
from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from grader.config import ConfigError, read_config
from grader.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    N_,
    LanguageError,
    _,
    choose_language,
    clickmsg,
    normalize,
    set_language,
    use_language,
)
from grader.late import COURSE_FILE
from grader.spec import assignments_root

LANG_HELP = N_("Language of the messages and reports  [default: $GRADER_LANG, else the course's language "
               "(course.toml), else the system locale, else en]")
COURSE_SETTING = f"{COURSE_FILE} language"
HELP_OPTION_HELP = "Show this message and exit."  # click's message (click.po), translated when the help is shown

clickmsg.install()


class SettingError(LanguageError):
    """A language setting (``where``: --lang, GRADER_LANG, course.toml language) naming a language the grader has
    no catalog for; the message is rendered when shown."""

    def __init__(self, where: str, value: str) -> None:
        super().__init__(where, value)
        self.where, self.value = where, value

    def __str__(self) -> str:
        return _("{where}: no catalog for {value}; choose one of {choices}", where=self.where,
                 value=repr(self.value), choices=", ".join(LANGUAGES))


def scan(args: Sequence[str]) -> tuple[str | None, str | None]:
    """The last ``--lang X`` / ``--lang=X`` and ``--course DIR`` / ``--course=DIR`` of ``args`` (None: not given)."""
    found: dict[str, str | None] = {"--lang": None, "--course": None}
    items = list(args)
    for index, arg in enumerate(items):
        if arg == "--":
            break
        for name in found:
            if arg == name and index + 1 < len(items):
                found[name] = items[index + 1]
            elif arg.startswith(name + "="):
                found[name] = arg[len(name) + 1:]
    return found["--lang"], found["--course"]


def course_language(course: str | None) -> str | None:
    """The top-level ``language`` of course.toml in ``course`` (default: the assignments root), None without one.
    A course file that cannot be read has none here (grading reports it)."""
    folder = Path(course).expanduser() if course else assignments_root()
    try:
        data = tomllib.loads((folder / COURSE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    value = data.get("language")
    return None if value is None else str(value)


def choose(option: str | None, course: str | None, env: Mapping[str, str] | None = None) -> str:
    """The language to render in (see the module's docstring); :class:`SettingError` names the setting at fault."""
    env = os.environ if env is None else env
    try:
        given = read_config(env).lang
    except ConfigError:  # another variable is wrong: the group reports it
        given = env.get("GRADER_LANG") or None
    course_lang = None if option or given else course_language(course)
    try:
        return choose_language(option, {**env, "GRADER_LANG": given or ""}, course_lang)
    except LanguageError:
        where, value = ("--lang", option) if option else ("GRADER_LANG", given) if given else \
            (COURSE_SETTING, course_lang)
        raise SettingError(where, value or "") from None


def start_language(args: Sequence[str]) -> SettingError | None:
    """Set the language of a run from its raw ``args`` and the environment. An unknown ``--lang`` is left to click
    (its choice error, in the language chosen without it); an unknown GRADER_LANG or course language is returned
    (the language then English) for the caller to report."""
    option, course = scan(args)
    unknown = option is not None and normalize(option) not in LANGUAGES
    try:
        set_language(choose(None if unknown else option, course))
    except SettingError as exc:
        set_language(DEFAULT_LANGUAGE)
        return None if unknown else exc
    return None


def _lang_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        set_language(value)
    return value


class LanguageChoice(click.Choice):
    """``--lang``'s type: one of :data:`~grader.i18n.LANGUAGES`, given as a locale name too (``ko_KR``, ``KO``), as
    :func:`scan` and ``GRADER_LANG`` read it."""

    def convert(self, value, param, ctx):
        code = normalize(value) if isinstance(value, str) else None
        return super().convert(code if code in LANGUAGES else value, param, ctx)


def lang_option() -> click.Option:
    """The eager ``--lang`` option every command has."""
    return click.Option(["--lang"], type=LanguageChoice(LANGUAGES, case_sensitive=False), is_eager=True,
                        expose_value=False, callback=_lang_given, help=LANG_HELP)


class _Translated(click.Command):
    """What Command and Group add to click's classes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.params.append(lang_option())

    def main(self, *args, **kwargs):
        with use_language(None):  # the language of the run, then the caller's again
            return super().main(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:  # the whole command line: choose the language before click reads it
            problem = start_language(args)
            asked = set(args[:args.index("--")] if "--" in args else args)
            if problem is not None and not asked & {*ctx.help_option_names, "--version"}:  # help shows in English
                raise click.UsageError(str(problem), ctx)
        return super().parse_args(ctx, args)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        made = getattr(self, "_help_option", None) is None  # click makes it once and keeps it
        option = super().get_help_option(ctx)
        if made and option is not None:  # made in the language of that run: keep click's English (the msgid)
            option.help = HELP_OPTION_HELP
        return option

    def get_help(self, ctx: click.Context) -> str:
        with clickmsg.translated_help(self, ctx):
            return super().get_help(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        with clickmsg.translated_help(self):
            return super().get_short_help_str(limit)


class Command(_Translated):
    """A ``grader`` command (see the module's docstring)."""


class Group(_Translated, click.Group):
    """A ``grader`` command group; its commands are :class:`Command`, its sub-groups of its own class."""

    command_class = Command
    group_class = type


def _show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    line = clickmsg.gettext("%(prog)s, version %(version)s")  # click's own message
    click.echo(line % {"prog": ctx.find_root().info_name, "package": "cnn-grader", "version": version("cnn-grader")},
               color=ctx.color)
    ctx.exit()


version_option = functools.partial(click.option, "--version", is_flag=True, expose_value=False, is_eager=True,
                                   callback=_show_version, help="Show the version and exit.")  # click's message
