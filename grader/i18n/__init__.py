"""The grader's words in the course's language: English (the source text) or Korean, from gettext catalogs.

Public interface:

* :func:`_`: a sentence in the current language, its named placeholders filled (``_("{name} has {n} layers",
  name=..., n=...)``); a translation may reorder the placeholders freely. Numbers and code are passed as fields,
  never translated.
* :func:`n_`: the same with an English plural (``n_("{n} file", "{n} files", n)``; Korean has one form).
* :func:`N_`: marks a sentence for the catalog without translating it (a module-level table); translate it where it
  is used, with :func:`_`.
* :data:`LANGUAGES`, :func:`current_language`, :func:`set_language`, :func:`use_language` (a ``with`` block).
* :func:`choose_language`: ``--lang`` > ``$GRADER_LANG`` > the course's default > the system locale > English.
* :func:`catalog_key`: a digest of the current language's catalog (part of a cached report's key).

The catalogs are ``locale/<lang>/LC_MESSAGES/grader.po`` beside this file (``click.po``: click's own messages,
see :mod:`grader.i18n.clickmsg`), compiled to ``.mo`` into the wheel at build time; a source tree without the
``.mo`` (or with an older one) compiles the ``.po`` in memory. ``python -m grader.i18n.catalog`` extracts, updates
and checks them (docs/translating.md).
"""
from __future__ import annotations

import functools
import gettext
import hashlib
import io
import string
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

LANGUAGES = ("en", "ko")
DEFAULT_LANGUAGE = "en"  # the source text
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAINS = ("grader", "click")

_state = {"lang": DEFAULT_LANGUAGE}  # one process, one language at a time (a with block may change it briefly)


class LanguageError(ValueError):
    """A language the grader has no catalog for; the message lists the ones it has."""


def normalize(lang: str | None) -> str | None:
    """'ko' from 'ko', 'ko_KR.UTF-8', 'ko-KR' or 'KO'; None for '', None, 'C' or 'POSIX'; the bare code otherwise."""
    if not lang:
        return None
    code = lang.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return None if code in ("", "c", "posix") else code


def check_language(lang: str, where: str = "--lang") -> str:
    """``lang`` normalized, or :class:`LanguageError` naming ``where`` and the languages there are."""
    code = normalize(lang)
    if code not in LANGUAGES:
        raise LanguageError(f"{where}: no catalog for {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return code


def current_language() -> str:
    """The language sentences are rendered in now."""
    return _state["lang"]


def set_language(lang: str) -> str:
    """Render every later sentence of this process in ``lang`` (checked); returns it normalized."""
    _state["lang"] = check_language(lang)
    return _state["lang"]


@contextmanager
def use_language(lang: str | None) -> Iterator[str]:
    """A ``with`` block rendering in ``lang`` (None: the current one), the previous language restored after."""
    before = _state["lang"]
    try:
        yield set_language(lang) if lang else before
    finally:
        _state["lang"] = before


def system_language(env: Mapping[str, str]) -> str | None:
    """The language of the system locale: the first of LANGUAGE, LC_ALL, LC_MESSAGES, LANG that is set, when the
    grader has a catalog for it (None otherwise). Its value may be a priority list (``LANGUAGE=fr:ko``, as gettext
    reads it): the first language of it the grader has."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return next((code for part in value.split(":") if (code := normalize(part)) in LANGUAGES), None)
    return None


def choose_language(option: str | None, env: Mapping[str, str], course: str | None = None) -> str:
    """The language to render in: ``option`` (``--lang``), else ``$GRADER_LANG``, else ``course`` (the course's
    ``language`` in course.toml), else the system locale, else English. A set but unknown ``--lang``,
    ``GRADER_LANG`` or course language is an error (never silently English)."""
    if option:
        return check_language(option, "--lang")
    if env.get("GRADER_LANG"):
        return check_language(env["GRADER_LANG"], "GRADER_LANG")
    if course:
        return check_language(course, "course.toml language")
    return system_language(env) or DEFAULT_LANGUAGE


def catalog_file(lang: str, domain: str, root: Path | None = None) -> Path:
    """Where the ``.po`` of ``domain`` in ``lang`` is, under ``root`` (default: :data:`LOCALE_DIR`, read when
    called)."""
    return (root or LOCALE_DIR) / lang / "LC_MESSAGES" / f"{domain}.po"


def _compiled(lang: str, domain: str) -> Path | None:
    """The ``.mo`` of ``domain`` in ``lang`` when there is no ``.po`` (a wheel ships only the ``.mo``) or it is at
    least as new as the ``.po`` (a source tree where it was compiled), else None."""
    po = catalog_file(lang, domain)
    mo = po.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        return mo
    return None


@functools.cache
def translations(lang: str, domain: str = "grader") -> gettext.NullTranslations:
    """The catalog of ``domain`` in ``lang``: the compiled ``.mo`` when it is at least as new as the ``.po``, else
    (or when that ``.mo`` is not a catalog: a broken build, a file planted by code that ran with the grader's rights)
    the ``.po`` compiled in memory (a source tree); English is the source text itself."""
    po = catalog_file(lang, domain)
    mo = _compiled(lang, domain)
    if lang == DEFAULT_LANGUAGE or not (po.is_file() or mo):
        return gettext.NullTranslations()
    if mo is not None:
        try:
            with mo.open("rb") as handle:
                return gettext.GNUTranslations(handle)
        except (OSError, ValueError, UnicodeDecodeError, IndexError, struct.error):
            if not po.is_file():
                return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=domain)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def _fill(text: str, fields: Mapping[str, object]) -> str:
    return text.format(**fields) if fields else text


def _(message: str, /, **fields) -> str:
    """``message`` in the current language, with ``fields`` formatted in by name (str.format). Without fields the
    text is returned as it is (braces and all)."""
    return _fill(translations(_state["lang"]).gettext(message), fields)


def n_(singular: str, plural: str, n: int, /, **fields) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the current language; ``n`` is a field too."""
    return _fill(translations(_state["lang"]).ngettext(singular, plural, n), {"n": n, **fields})


def N_(message: str) -> str:
    """``message`` itself, marked for the catalog: translate it with :func:`_` where it is shown."""
    return message


def placeholders(text: str) -> set[str]:
    """The named fields of a format string ('{name}', '{loss:.4f}' -> {'name', 'loss:.4f'}); literal braces
    ('{{') are none. A text that does not parse as a format string has the single field '<unparsable>'."""
    try:
        return {name + (":" + spec if spec else "") for _lit, name, spec, _conv in string.Formatter().parse(text)
                if name is not None}
    except ValueError:
        return {"<unparsable>"}


def catalog_key(lang: str | None = None) -> str:
    """SHA-256 of the catalogs of ``lang`` (default: the current language) with its name: a cached report in
    another language, or rendered by another translation, is not the same report."""
    lang = lang or _state["lang"]
    files = []
    for domain in DOMAINS:
        for path in (catalog_file(lang, domain), _compiled(lang, domain)):  # the .mo too when it is the one read
            if path is not None and path.is_file():
                status = path.stat()
                files.append((str(path), status.st_mtime_ns, status.st_size))
    return _digest(lang, tuple(files))


@functools.lru_cache(maxsize=16)
def _digest(lang: str, files: tuple[tuple[str, int, int], ...]) -> str:
    """The digest of ``files`` (each read once per process while its time and size stay: a class's keys read the
    catalog once, not once per student)."""
    digest = hashlib.sha256(lang.encode())
    for path, _mtime, _size in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()
