"""A quiz bank: question templates as data, and reproducible variants of them.

A bank is a TOML file::

    title = "Week 4: CNN arithmetic"
    seed = 2026                       # with the student id, decides each student's variant

    [[template]]
    id = "conv-output"
    kind = "conv_output"              # an answer kind of grader.quizbank.kinds
    text = "A Conv2d with kernel {kernel}, stride {stride} and padding {padding} runs on a {input} x {input} image. Output height?"
    points = 1
    tolerance = 0                     # optional: how far off a full-credit answer may be (else the kind's own)
    partial = [{ tolerance = 1, credit = 0.5 }]   # optional: half the points within 1 of the answer
    constraints = ["answer >= 1"]     # comparisons of parameters, numbers and the answer
    [template.params]
    input = [20, 32]                  # an integer drawn from the range, both ends included
    stride = { choices = [1, 2] }     # one of these values (numbers, lists, layer stacks)
    logits = { size = 3, low = -2.0, high = 3.0, step = 0.5 }   # a list of numbers on a grid

Every answer comes from :mod:`grader.quizbank.kinds` (torch computes it). A draw whose answer is invalid, or that
breaks a constraint, is drawn again (up to ``MAX_DRAWS`` times).
"""
from __future__ import annotations

import difflib
import functools
import json
import random
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError
from grader.i18n import _, current_language
from grader.quizbank.kinds import KINDS, Answer, Unanswerable

MAX_DRAWS = 500
TEMPLATE_FIELDS = ("id", "kind", "text", "points", "constraints", "params", "tolerance", "partial")
CONSTRAINT = re.compile(r"^\s*(\w+|-?\d+(?:\.\d+)?)\s*(<=|>=|==|!=|<|>)\s*(\w+|-?\d+(?:\.\d+)?)\s*$")
OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
       "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class BankError(GraderError, ValueError):
    """A bank file is unreadable or has a bad field; the message names the file and the field."""


@dataclass
class Template:
    id: str
    kind: str
    text: str
    params: dict
    points: float = 1.0
    constraints: list[str] = field(default_factory=list)
    tolerance: float | None = None  # overrides the kind's own
    partial: list[Partial] = field(default_factory=list)


@dataclass(frozen=True)
class Partial:
    """Partial credit: a response within ``tolerance`` of the answer (but not within the full-credit one) earns
    ``credit`` (a fraction) of the question's points."""

    tolerance: float
    credit: float


@dataclass
class Variant:
    """One drawn question: the template it comes from, its parameters, its text and its answer."""

    template: str
    params: dict
    text: str
    answer: Answer
    points: float
    partial: list[Partial] = field(default_factory=list)

    def credit(self, response: float | None) -> float:
        """The fraction of the points ``response`` earns: 1 within the answer's tolerance, else the best partial
        credit whose tolerance covers it, else 0."""
        return credit_of(response, self.answer.value, self.answer.tolerance, self.partial)


def credit_of(response: float | None, answer: float, tolerance: float, partial: list[Partial]) -> float:
    """1 when ``response`` is within ``tolerance`` of ``answer``, else the largest partial credit that covers it."""
    if response is None:
        return 0.0
    off = abs(response - answer)
    if off <= tolerance + 1e-12:
        return 1.0
    return max((p.credit for p in partial if off <= p.tolerance + 1e-12), default=0.0)


@dataclass
class Bank:
    title: str
    seed: int
    templates: list[Template]
    path: Path

    @property
    def shown_title(self) -> str:
        """The title in the current language (the catalog's translation of ``title``; the title itself when the
        catalog has none, as for a course's own bank)."""
        return _(self.title)


def load_bank(path: str | Path) -> Bank:
    """Read and validate a bank file; BankError naming the file and the field on the first problem."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BankError(_("{path}: cannot read the bank: {error}", path=path, error=exc)) from None
    unknown = set(data) - {"title", "seed", "template"}
    if unknown:
        raise BankError(_("{where}: unknown field {field}", where=path, field=repr(sorted(unknown)[0])))
    templates, seen = [], set()
    for i, raw in enumerate(data.get("template", [])):
        where = f"{path}: template[{i}]"
        for key in raw:
            if key not in TEMPLATE_FIELDS:
                close = difflib.get_close_matches(key, TEMPLATE_FIELDS, n=1)
                if close:
                    raise BankError(_("{where}: unknown field {field}: did you mean {close}?", where=where,
                                      field=repr(key), close=repr(close[0])))
                raise BankError(_("{where}: unknown field {field}", where=where, field=repr(key)))
        if not isinstance(raw.get("id"), str) or raw["id"] in seen:
            raise BankError(_("{where}: {field} must be a unique string", where=where, field="'id'"))
        if raw.get("kind") not in KINDS:
            raise BankError(_("{where}: {field} must be one of {kinds}, found {found}", where=where, field="'kind'",
                              kinds=", ".join(KINDS), found=repr(raw.get("kind"))))
        if not isinstance(raw.get("text"), str):
            raise BankError(_("{where}: {field} must be a string", where=where, field="'text'"))
        params = raw.get("params", {})
        missing = set(re.findall(r"\{(\w+)\}", raw["text"])) - set(params)
        if missing:
            raise BankError(_("{where}: the text uses {names} but {field} does not define them", where=where,
                              names=sorted(missing), field="'params'"))
        for constraint in raw.get("constraints", []):
            if not CONSTRAINT.match(constraint):
                raise BankError(_("{where}: constraint {constraint} is not {form}", where=where,
                                  constraint=repr(constraint), form="'a <op> b'"))
        tolerance = raw.get("tolerance")
        if tolerance is not None and (not isinstance(tolerance, int | float) or tolerance < 0):
            raise BankError(_("{where}: {field} must be a number >= 0, found {found}", where=where,
                              field="'tolerance'", found=repr(tolerance)))
        seen.add(raw["id"])
        templates.append(Template(raw["id"], raw["kind"], raw["text"], params, float(raw.get("points", 1.0)),
                                  list(raw.get("constraints", [])), tolerance,
                                  _partial(raw.get("partial", []), where)))
    if not templates:
        raise BankError(_("{path}: the bank has no {table}", path=path, table="[[template]]"))
    return Bank(str(data.get("title", path.stem)), int(data.get("seed", 0)), templates, path)


def _partial(raw, where: str) -> list[Partial]:
    """The template's partial-credit tiers, validated: each a wider tolerance and a credit between 0 and 1."""
    if not isinstance(raw, list):
        raise BankError(_("{where}: {field} must be a list like {example}", where=where, field="'partial'",
                          example="[{ tolerance = 1, credit = 0.5 }]"))
    tiers = []
    for i, tier in enumerate(raw):
        ok = isinstance(tier, dict) and set(tier) == {"tolerance", "credit"} and all(
            isinstance(tier[k], int | float) and not isinstance(tier[k], bool) for k in tier)
        if not ok or not 0 < tier["credit"] < 1 or tier["tolerance"] <= 0:
            raise BankError(_("{where}: {field} must be {{ tolerance = <number > 0>, credit = <between 0 and 1> }}, "
                              "found {found}", where=where, field=f"partial[{i}]", found=repr(tier)))
        tiers.append(Partial(float(tier["tolerance"]), float(tier["credit"])))
    return sorted(tiers, key=lambda p: p.tolerance)


def _draw_value(spec, rng: random.Random):
    if isinstance(spec, list) and len(spec) == 2 and all(isinstance(v, int) for v in spec):
        return rng.randint(spec[0], spec[1])
    if isinstance(spec, dict) and "choices" in spec:
        return rng.choice(spec["choices"])
    if isinstance(spec, dict) and "size" in spec:
        steps = int(round((spec["high"] - spec["low"]) / spec["step"]))
        return [round(spec["low"] + spec["step"] * rng.randint(0, steps), 6) for _i in range(int(spec["size"]))]
    return spec  # a constant


@functools.lru_cache(maxsize=4096)
def _answer(kind: str, params_json: str, lang: str) -> Answer:
    """The kind's answer; many students draw the same numbers, and torch need not build their layers again. The
    working is in ``lang`` (the current language, part of the cache's key)."""
    return KINDS[kind](json.loads(params_json))


def _holds(constraint: str, values: dict) -> bool:
    left, op, right = CONSTRAINT.match(constraint).groups()  # type: ignore[union-attr]  # validated when loaded

    def value(token):
        return values[token] if token in values else float(token)

    return OPS[op](value(left), value(right))


def draw(template: Template, rng: random.Random) -> Variant:
    """A variant of ``template`` whose answer exists and meets the constraints."""
    for _draw in range(MAX_DRAWS):
        params = {name: _draw_value(spec, rng) for name, spec in template.params.items()}
        try:
            answer = _answer(template.kind, json.dumps(params, sort_keys=True), current_language())
        except Unanswerable:
            continue
        answer = Answer(answer.value, answer.tolerance, answer.working)  # a copy: the cached one stays as computed
        if template.tolerance is not None:
            answer.tolerance = float(template.tolerance)
        if all(_holds(c, {**params, "answer": answer.value}) for c in template.constraints):
            text = _(template.text).format(**{k: _show(v) for k, v in params.items()})  # the TOML text is the msgid
            wider = [p for p in template.partial if p.tolerance > answer.tolerance]
            return Variant(template.id, params, text, answer, template.points, wider)
    raise BankError(_("template {template}: no valid variant in {draws} draws; loosen its ranges or constraints",
                      template=repr(template.id), draws=MAX_DRAWS))


def _show(value) -> str:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return ", ".join(f"{k}({', '.join(map(str, args))})" for layer in value for k, args in layer.items())
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return str(value)


def student_variants(bank: Bank, student: str) -> list[Variant]:
    """The variant of every template a student gets: the same student always gets the same ones."""
    return [draw(t, random.Random(f"{bank.seed}:{student}:{t.id}")) for t in bank.templates]


def pool_variants(bank: Bank, template: Template, count: int) -> list[Variant]:
    """``count`` distinct variants of a template, for an LMS to draw from (Moodle categories, Canvas groups)."""
    rng, found, texts = random.Random(f"{bank.seed}:pool:{template.id}"), [], set()
    for _draw in range(count * 20):
        variant = draw(template, rng)
        if variant.text not in texts:
            texts.add(variant.text)
            found.append(variant)
        if len(found) == count:
            break
    return found
