"""The quiz bank's outputs: Moodle XML, GIFT, Canvas QTI 1.2 (through text2qti), an HTML practice page, the key.

Formats followed (no LMS instance is available to the tests, which parse every export back instead):

* Moodle XML: https://docs.moodle.org/en/Moodle_XML_format (``<question type="category">`` then
  ``<question type="numerical">`` with ``<answer fraction="100">``, ``<tolerance>``);
  (partial credit: a further ``<answer fraction="50">`` with the wider tolerance);
* GIFT: https://docs.moodle.org/en/GIFT_format (``$CATEGORY:``, ``::name:: text {#answer:tolerance}``, special
  characters ``~ = # { } :`` escaped with a backslash; partial credit as ``{#=%100%a:t =%50%a:t2}``);
* Canvas: QTI 1.2 as text2qti writes it (https://github.com/gpoore/text2qti), one question group per template.
  text2qti writes one numerical answer per question, so the Canvas export carries full credit only:
  :func:`partial_credit_lost` names the templates whose partial credit it cannot carry.
"""
from __future__ import annotations

import csv
import html
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from grader.i18n import _, current_language, n_
from grader.quizbank.bank import Bank, Variant

GIFT_SPECIAL = "~=#{}:"


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def moodle_xml(bank: Bank, pools: dict[str, list[Variant]]) -> str:
    """One category per template holding its variants, each a numerical question with its tolerance."""
    quiz = ET.Element("quiz")
    for template_id, variants in pools.items():
        category = ET.SubElement(quiz, "question", type="category")
        ET.SubElement(ET.SubElement(category, "category"), "text").text = f"$course$/top/{bank.shown_title}/{template_id}"
        for i, variant in enumerate(variants, start=1):
            question = ET.SubElement(quiz, "question", type="numerical")
            ET.SubElement(ET.SubElement(question, "name"), "text").text = f"{template_id} {i}"
            text = ET.SubElement(question, "questiontext", format="html")
            ET.SubElement(text, "text").text = f"<p>{html.escape(variant.text)}</p>"
            feedback = ET.SubElement(question, "generalfeedback", format="html")
            ET.SubElement(feedback, "text").text = f"<p>{html.escape(variant.answer.working)}</p>"
            ET.SubElement(question, "defaultgrade").text = _number(variant.points)
            ET.SubElement(question, "penalty").text = "0"
            ET.SubElement(question, "hidden").text = "0"
            tiers = [(100.0, variant.answer.tolerance)] + [(p.credit * 100, p.tolerance) for p in variant.partial]
            for fraction, tolerance in tiers:
                answer = ET.SubElement(question, "answer", fraction=_number(round(fraction, 5)),
                                       format="moodle_auto_format")
                ET.SubElement(answer, "text").text = _number(variant.answer.value)
                ET.SubElement(answer, "tolerance").text = _number(tolerance)
                ET.SubElement(ET.SubElement(answer, "feedback", format="html"), "text").text = ""
    ET.indent(quiz)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"


def _gift_escape(text: str) -> str:
    return "".join("\\" + c if c in GIFT_SPECIAL else c for c in text)


def gift(bank: Bank, pools: dict[str, list[Variant]]) -> str:
    """The same questions in GIFT: a category per template, numerical answers with their tolerance."""
    lines = []
    for template_id, variants in pools.items():
        lines += [f"$CATEGORY: top/{_gift_escape(bank.shown_title)}/{_gift_escape(template_id)}", ""]
        for i, variant in enumerate(variants, start=1):
            value = _number(variant.answer.value)
            if variant.partial:
                tiers = [f"=%100%{value}:{_number(variant.answer.tolerance)}"] + [
                    f"=%{_number(round(p.credit * 100, 5))}%{value}:{_number(p.tolerance)}" for p in variant.partial]
                answer = "#" + " ".join(tiers)
            else:
                answer = f"#{value}:{_number(variant.answer.tolerance)}"
            lines.append(f"::{_gift_escape(template_id)} {i}::{_gift_escape(variant.text)} {{{answer}}}")
            lines.append("")
    return "\n".join(lines)


def key_json(bank: Bank, students: dict[str, list[Variant]]) -> str:
    """Each student's questions and answers: what ``grader quiz grade`` marks responses against."""
    doc = {"bank": bank.title, "seed": bank.seed, "students": {
        student: [{"template": v.template, "text": v.text, "params": v.params, "answer": v.answer.value,
                   "tolerance": v.answer.tolerance, "points": v.points, "working": v.answer.working,
                   "partial": [[p.tolerance, p.credit] for p in v.partial]}
                  for v in variants] for student, variants in students.items()}}
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def key_csv(students: dict[str, list[Variant]]) -> str:
    """The key as one row per student and question."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "template", "question", "answer", "tolerance", "points", "partial"])
    for student, variants in students.items():
        for v in variants:
            partial = "; ".join(_("{credit} within {tolerance}", credit=_number(p.credit), tolerance=_number(p.tolerance))
                                for p in v.partial)
            writer.writerow([student, v.template, v.text, _number(v.answer.value), _number(v.answer.tolerance),
                             _number(v.points), partial])
    return out.getvalue()


def _qti_text(bank: Bank, pools: dict[str, list[Variant]]) -> str:
    """The bank in text2qti's plain-text quiz format: one question group per template (Canvas picks one)."""
    lines = [f"Quiz title: {bank.shown_title}", ""]  # text2qti's keywords stay English
    number = 0
    for variants in pools.values():
        points = _number(variants[0].points) if variants else "1"
        lines += ["GROUP", "pick: 1", f"points per question: {points}", ""]
        for variant in variants:
            number += 1
            lines += [f"{number}.  {variant.text}",
                      f"=   {_number(variant.answer.value)} +- {_number(variant.answer.tolerance)}", ""]
        lines += ["END_GROUP", ""]
    return "\n".join(lines)


def partial_credit_lost(pools: dict[str, list[Variant]]) -> list[str]:
    """The templates whose partial credit the Canvas export cannot carry (text2qti: one numerical answer)."""
    return [template for template, variants in pools.items() if any(v.partial for v in variants)]


def canvas_qti(bank: Bank, pools: dict[str, list[Variant]]) -> bytes:
    """A QTI 1.2 zip Canvas imports (written by text2qti), repacked with fixed timestamps so that the same bank
    gives the same bytes."""
    from text2qti.config import Config  # its markdown set-up is only needed here
    from text2qti.qti import QTI
    from text2qti.quiz import Quiz

    built = QTI(Quiz(_qti_text(bank, pools), config=Config())).zip_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(built)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def _html_gettext(message: str, /, **fields):
    """``_`` of the page's template: the translation (trusted markup, like the template) with its fields escaped."""
    from markupsafe import Markup

    return Markup(_(message)).format(**fields) if fields else Markup(_(message))


def practice_html(bank: Bank, pools: dict[str, list[Variant]], per_template: int = 3) -> str:
    """A self-contained practice page for the student kit: questions checked in the page, with the working."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    env.globals.update(_=_html_gettext, n_=n_)
    questions = [{"template": v.template, "text": v.text, "answer": _number(v.answer.value),
                  "tolerance": _number(v.answer.tolerance), "working": v.answer.working,
                  "partial": json.dumps([[p.tolerance, p.credit] for p in v.partial])}
                 for variants in pools.values() for v in variants[:per_template]]
    return env.get_template("practice.html.j2").render(title=bank.shown_title, questions=questions,
                                                       lang=current_language())
