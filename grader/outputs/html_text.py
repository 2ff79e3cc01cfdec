"""Translated sentences in the HTML outputs (report.html, the item analysis, the similar pairs' view).

Public interface:

* :func:`html_`: a sentence in the current language as :class:`~markupsafe.Markup`: its text is the grader's own
  (like a template's literal text, it may hold markup such as ``<b>{name}</b>`` or ``&harr;``), its fields are
  escaped (a student's name or code can never become markup).
* :func:`html_n`: the same with an English plural (``n`` is a field too).
* :func:`markup`: a sentence already translated (``markup(_("{a} &harr; {b}"), a=..., b=...)`` in Python, where
  the catalog needs the ``_`` call) made markup the same way.
* :func:`environment`: the Jinja environment of ``grader/outputs/templates``, ``_`` and ``n_`` its globals
  (:func:`html_` and :func:`html_n`), autoescaping HTML.

The sentences are marked with ``_`` / ``n_`` where they are written (the templates, or ``_`` in Python, whose text
is then given to :func:`html_`), so the catalog finds them.
"""
from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from grader.i18n import current_language, translations

TEMPLATES = Path(__file__).parent / "templates"


def markup(text: str, /, **fields) -> Markup:
    """``text`` (the grader's own, translated) as markup, ``fields`` escaped and formatted in by name (without
    fields the text is returned as it is, braces and all)."""
    return Markup(text).format(**fields) if fields else Markup(text)


def html_(message: str, /, **fields) -> Markup:
    """``message`` in the current language, as :func:`markup` makes it."""
    return markup(translations(current_language()).gettext(message), **fields)


def html_n(singular: str, plural: str, n: int, /, **fields) -> Markup:
    """The form of ``singular``/``plural`` for ``n`` in the current language, as :func:`html_` gives it."""
    return Markup(translations(current_language()).ngettext(singular, plural, n)).format(n=n, **fields)


def environment():
    """The templates' Jinja environment: HTML autoescaped, ``_`` and ``n_`` the translating globals."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(_=html_, n_=html_n)
    return env
