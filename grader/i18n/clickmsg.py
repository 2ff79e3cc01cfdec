"""Click's own messages (usage errors, ``--help``'s headings, type errors) in the current language.

Public interface:

* :func:`install`: click's modules translate through the ``click`` catalog (``locale/<lang>/LC_MESSAGES/click.po``)
  from then on, in the language current when each message is made (:func:`grader.i18n.current_language`); the
  kind a ``click.Path`` names in its errors (file, directory) too, and help is wrapped counting a wide character
  (Hangul) as the two columns it takes (:func:`term_len`).
* :func:`gettext`, :func:`ngettext`: a click message in the current language.
* :func:`help_text`: a help text declared with ``N_``, in the current language: the grader's catalog, else click's
  (click's ``--version`` and ``--help`` options are declared with click's English).
* :func:`translated_help`: a ``with`` block in which a click command's help, short help, epilog and parameters' help
  are in the current language (restored after: the declarations stay English).

Click does ``from gettext import gettext as _`` (and ``ngettext``) in each module; :func:`install` replaces those
names, so click needs no change. Idempotent.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.cells import cell_len

from grader.i18n import current_language, translations

DOMAIN = "click"
MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "shell_completion", "termui", "types",
           "utils", "_termui_impl") + (("_winconsole",) if sys.platform == "win32" else ())
HELP_ATTRIBUTES = ("help", "short_help", "epilog")


def gettext(message: str) -> str:
    """``message`` (one of click's) in the current language."""
    return translations(current_language(), DOMAIN).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of click's ``singular``/``plural`` for ``n`` in the current language. The catalog translates each
    English form as a message of its own (click fills each with its own fields: "{choice}" or "{choices}"), and
    the English rule picks the form."""
    return gettext(singular if n == 1 else plural)


def install() -> None:
    """Make click's modules translate their messages with :func:`gettext` and :func:`ngettext`."""
    for name in MODULES:
        module = importlib.import_module(f"click.{name}")
        for attribute, function in (("_", gettext), ("ngettext", ngettext)):
            if hasattr(module, attribute):
                setattr(module, attribute, function)
    _translate_path_names()
    for name in ("formatting", "_textwrap"):  # help wrapped to the terminal's columns, not to characters
        module = importlib.import_module(f"click.{name}")
        module.term_len = term_len  # type: ignore[attr-defined]


def term_len(text: str) -> int:
    """The columns ``text`` takes in a terminal (ANSI codes aside): a wide character (Hangul) takes two."""
    return cell_len(click.unstyle(text))


def _translate_path_names() -> None:
    """click.Path names its kind ("file", "directory", "path") in its errors with a word translated when the type is
    made, at import time: make it a property translated when an error is shown."""
    path_type = importlib.import_module("click.types").Path
    if isinstance(path_type.__dict__.get("name"), property):
        return

    def name(self) -> str:
        return gettext(self.__dict__.get("_english_name", self.__dict__.get("name", "path")))

    def set_name(self, value: str) -> None:
        self.__dict__["_english_name"] = value

    def metavar(self, param, ctx=None) -> str | None:  # an option's metavar stays DIRECTORY, FILE, PATH (8.1: no ctx)
        if param.param_type_name != "option":
            return None  # an argument's is its name
        return self.__dict__.get("_english_name", self.__dict__.get("name", "path")).upper()

    path_type.name = property(name, set_name)
    path_type.get_metavar = metavar


def help_text(text: str) -> str:
    """A help text in the current language: the grader's translation, else click's, else ``text`` itself."""
    translated = translations(current_language()).gettext(text)
    return translated if translated != text else gettext(text)


@contextmanager
def translated_help(command, ctx=None) -> Iterator[None]:
    """A block in which ``command``'s help texts (and, given ``ctx``, its parameters') are translated."""
    objects = [command] + (list(command.get_params(ctx)) if ctx is not None else [])
    saved = [(obj, name, getattr(obj, name)) for obj in objects for name in HELP_ATTRIBUTES
             if isinstance(getattr(obj, name, None), str) and getattr(obj, name)]
    try:
        for obj, name, text in saved:
            setattr(obj, name, help_text(text))
        yield
    finally:
        for obj, name, text in saved:
            setattr(obj, name, text)
