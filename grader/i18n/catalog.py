"""The message catalogs' upkeep, with Babel: extract every sentence, update the ``.po`` files, check them, compile.

Public interface:

* :func:`extract`: a Babel Catalog of every marked sentence (``_``, ``n_``, ``N_`` in grader/**.py and the
  templates, in reference/*.py where the repository has it, the assignments' titles and the quiz bank's question
  texts).
* :func:`update`: ``locale/<lang>/LC_MESSAGES/grader.po`` brought up to the extracted sentences, translations kept
  (and new ones taken from JSON files of ``{msgid: msgstr}`` when given). Obsolete entries are dropped.
* :func:`problems`: what a catalog lacks: untranslated or fuzzy entries, placeholders that differ, sentences the
  code has and the catalog lacks. Empty when the catalog is complete.
* :func:`extract_click`: click's own messages (the ``click`` domain), from the installed click.
* :func:`compile_catalogs`: every ``.po`` compiled to ``.mo`` into a folder (the wheel's build step).

``python -m grader.i18n.catalog extract|update|check|compile`` (docs/translating.md).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from grader.i18n import DOMAINS, LANGUAGES, LOCALE_DIR, catalog_file, placeholders

GRADER_DIR = LOCALE_DIR.parent.parent  # grader/
ROOT = GRADER_DIR.parent
KEYWORDS = {"_": None, "n_": (1, 2), "N_": None}
# The assignments' sentences: a spec's title; a quiz bank's title and question texts.
TOML_KEYS = ("title", "text")
METHODS = [("**/templates/**.j2", "jinja2.ext:babel_extract"), ("**.py", "python")]


def _assignments_dir() -> Path:
    packaged = GRADER_DIR / "assignments"
    return packaged if packaged.is_dir() else ROOT / "assignments"


def extract_toml(fileobj, keywords, comment_tags, options):
    """Babel extractor of an assignment file: each string under one of :data:`TOML_KEYS`, at any depth."""
    data = tomllib.loads(fileobj.read().decode("utf-8"))

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key in TOML_KEYS and isinstance(item, str):
                    yield item
                else:
                    yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for text in walk(data):
        yield 0, "_", text, []


def extract() -> Catalog:
    """Every marked sentence of the grader and its assignments, with where it is used."""
    catalog = Catalog(project="cnn-grader", domain="grader")
    options = {"**/templates/**.j2": {"extensions": "jinja2.ext.do"}}
    sources: list[tuple[Path, list]] = [(GRADER_DIR, list(METHODS)), (_assignments_dir(), [("**.toml", extract_toml)])]
    if (ROOT / "reference").is_dir():  # the course repository: the TAs' training code says things too
        sources.append((ROOT / "reference", [("**.py", "python")]))
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        for folder, methods in sources:
            for file, line, message, comments, context in extract_from_dir(
                    folder, methods, options, KEYWORDS, strip_comment_tags=True):
                where = (Path(folder.name) / file).as_posix()
                catalog.add(message, None, [(where, line)], auto_comments=comments, context=context)
    # Babel warns of every f-string among a call's arguments: a field's value may be one (the message itself never
    # is: tests/unit/test_i18n.py); anything else it says is passed on.
    sys.stderr.write("".join(line for line in said.getvalue().splitlines(True) if "Skipping f-string" not in line))
    return catalog


def extract_click() -> Catalog:
    """click's own messages in the installed click (usage errors, help headings): the ``click`` domain's sentences.
    A plural's two forms are separate entries (grader.i18n.clickmsg translates the English form click chose)."""
    import click

    catalog = Catalog(project="click", domain="click")
    for file, line, message, _comments, context in extract_from_dir(
            Path(click.__file__).parent, [("**.py", "python")], {}, {"_": None, "ngettext": (1, 2)}):
        for text in message if isinstance(message, tuple) else (message,):
            catalog.add(text, None, [(f"click/{file}", line)], context=context)
    catalog.add("required")  # looked up from a variable (``_(extra["required"])``), which no extractor sees
    return catalog


TEMPLATES = {"grader": extract, "click": extract_click}


def _po(lang: str, domain: str = "grader") -> Path:
    return catalog_file(lang, domain, LOCALE_DIR)


def read_catalog(lang: str, domain: str = "grader") -> Catalog:
    """The ``.po`` catalog of ``domain`` in ``lang`` (an empty one when there is none yet)."""
    path = _po(lang, domain)
    if not path.is_file():
        return Catalog(locale=lang, domain=domain)
    with path.open("rb") as handle:
        return read_po(handle, locale=lang, domain=domain)


def write_catalog(catalog: Catalog, lang: str, domain: str = "grader") -> Path:
    """Write ``catalog`` as the ``.po`` of ``domain`` in ``lang``; returns its path."""
    path = _po(lang, domain)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=120, sort_output=True, include_previous=False, omit_header=False)
    return path


def _key(message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def update(lang: str, extra: tuple[Path, ...] | list[Path] = (), domain: str = "grader") -> Catalog:
    """The ``lang`` catalog of ``domain`` brought up to its sentences (:data:`TEMPLATES`): kept translations, new
    ones from the ``extra`` JSON files (``{msgid: msgstr}``, a plural keyed by its singular), obsolete entries
    dropped. Written and returned."""
    template = TEMPLATES[domain]()
    catalog = read_catalog(lang, domain)
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    given: dict[str, str] = {}
    for path in extra:
        given.update(json.loads(Path(path).read_text(encoding="utf-8")))
    for message in catalog:
        if not message.id:
            continue
        text = given.get(_key(message))
        if text and not (message.string if isinstance(message.string, str) else any(message.string or ())):
            message.string = tuple([text] * max(1, catalog.num_plurals)) if message.pluralizable else text
    write_catalog(catalog, lang, domain)
    return catalog


def _strings(message) -> list[str]:
    return list(message.string) if isinstance(message.string, tuple | list) else [message.string]


def problems(lang: str, domain: str = "grader", template: Catalog | None = None) -> list[str]:
    """Every way the ``domain`` catalog in ``lang`` falls short, one line each (empty: complete)."""
    catalog = read_catalog(lang, domain)
    found = []
    if template is not None:
        have = {_key(m) for m in catalog if m.id}
        found += [f"not in the catalog: {_key(m)!r}" for m in template if m.id and _key(m) not in have]
    for message in catalog:
        if not message.id:
            continue
        strings = _strings(message)
        if not all(strings) or message.fuzzy:
            found.append(f"{'fuzzy' if message.fuzzy else 'untranslated'}: {_key(message)!r}")
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set().union(*(placeholders(str(s)) for s in sources))
        for text in strings:
            if placeholders(text) != wanted:
                found.append(f"placeholders differ: {_key(message)!r} has {sorted(wanted)}, the {lang} text "
                             f"{sorted(placeholders(text))}")
    return found


def compile_catalogs(out: Path, source: Path = LOCALE_DIR) -> list[Path]:
    """Each ``.po`` under ``source`` compiled to the ``.mo`` at the same place under ``out``; the written paths."""
    written = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        lang, domain = po.parent.parent.name, po.stem
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=domain)
        target = out / po.relative_to(source).with_suffix(".mo")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            write_mo(handle, catalog)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """The catalog tool's command line (developers and translators)."""
    parser = argparse.ArgumentParser(prog="python -m grader.i18n.catalog", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["extract", "update", "check", "compile"])
    parser.add_argument("--lang", default="ko", choices=[lang for lang in LANGUAGES if lang != "en"])
    parser.add_argument("--from", dest="extra", nargs="*", default=[], type=Path,
                        help="JSON files of {msgid: translation} to fill untranslated entries (update)")
    parser.add_argument("--domain", default="grader", choices=DOMAINS, help="the grader's sentences or click's (update)")
    parser.add_argument("--out", type=Path, default=LOCALE_DIR, help="where compile writes the .mo files")
    args = parser.parse_args(argv)
    if args.action == "extract":
        catalog = extract()
        path = LOCALE_DIR / "grader.pot"
        with path.open("wb") as handle:
            write_po(handle, catalog, width=120, sort_output=True)
        print(f"{len(catalog)} messages -> {path}")
    elif args.action == "update":
        catalog = update(args.lang, args.extra, args.domain)
        print(f"{len(catalog)} messages -> {_po(args.lang, args.domain)}")
    elif args.action == "compile":
        for path in compile_catalogs(args.out):
            print(path)
    else:
        found = [p for domain in DOMAINS for p in problems(args.lang, domain, TEMPLATES[domain]())]
        print("\n".join(found) or f"the {args.lang} catalogs are complete")
        return 1 if found else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
