"""Unit layer: the quiz bank. Answers checked against independent paths, reproducible builds, every export parsed
back and compared with the key."""
import json
import math
import random
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest

from grader.quizbank import build
from grader.quizbank.bank import BankError, draw, load_bank, pool_variants, student_variants
from grader.quizbank.kinds import KINDS, Unanswerable
from grader.spec import assignments_root, load_spec
from tests.conftest import run_cli

BANK = assignments_root() / "quiz-bank" / "cnn.toml"


def _rf(layers) -> int:
    """Receptive field by the textbook recurrence: r = 1 + sum (k_i - 1) * prod of the strides before i."""
    r, jump = 1, 1
    for layer in layers:
        (kind, args), = layer.items()
        k = args[2] if kind == "conv" else args[0]
        s = (args[3] if len(args) > 3 else 1) if kind == "conv" else (args[1] if len(args) > 1 else args[0])
        r += (k - 1) * jump
        jump *= s
    return r


def _size(layers, size) -> tuple[int, int]:
    channels = 1
    for layer in layers:
        (kind, args), = layer.items()
        if kind == "conv":
            channels, k = args[1], args[2]
            size = (size - k + 2 * (args[4] if len(args) > 4 else 0)) // (args[3] if len(args) > 3 else 1) + 1
        else:
            size = (size - args[0]) // (args[1] if len(args) > 1 else args[0]) + 1
    return channels, size


def independent(kind: str, p: dict) -> float:
    """The same answers by hand formulas (what the kinds must agree with, and never use)."""
    if kind == "conv_output":
        return (p["input"] - p["kernel"] + 2 * p.get("padding", 0)) // p.get("stride", 1) + 1
    if kind == "pool_output":
        return (p["input"] - p["kernel"]) // p.get("stride", p["kernel"]) + 1
    if kind == "conv_params":
        return (p["kernel"] ** 2 * p["in_channels"] + 1) * p["out_channels"]
    if kind == "linear_params":
        return (p["in_features"] + 1) * p["out_features"]
    if kind == "flatten_size":
        channels, size = _size(p["layers"], p["input"])
        return channels * size * size
    if kind == "receptive_field":
        return _rf(p["layers"])
    if kind == "softmax_prob":
        exps = [math.exp(v) for v in p["logits"]]
        return exps[p["index"]] / sum(exps)
    if kind == "cross_entropy":
        return -math.log(math.exp(p["logits"][p["target"]]) / sum(math.exp(v) for v in p["logits"]))
    if kind == "best_epoch":
        return p["val_loss"].index(min(p["val_loss"])) + 1
    if kind == "table_params":
        total = 0
        for layer in p["layers"]:
            (name, args), = layer.items()
            total += (args[2] ** 2 * args[0] + 1) * args[1] if name == "conv" else \
                (args[0] + 1) * args[1] if name == "linear" else 0
        return total
    raise AssertionError(kind)


def test_many_variants_of_every_template_agree_with_the_hand_formulas():
    bank = load_bank(BANK)
    assert {t.kind for t in bank.templates} == set(KINDS)
    rng = random.Random(7)
    for template in bank.templates:
        for _ in range(40):
            variant = draw(template, rng)
            want = independent(template.kind, variant.params)
            assert abs(variant.answer.value - want) <= max(variant.answer.tolerance, 1e-9) + 5e-5, \
                (template.id, variant.params, variant.answer.value, want)
            assert "{" not in variant.text and str(variant.answer.value) not in ("nan", "inf")


def test_the_parameter_count_of_each_assignment_table():
    # the layer tables of the assignments, counted by the table_params kind, give the specs' exact totals
    tables = {"lenet-320": [{"conv": [1, 10, 5]}, {"pool": [2]}, {"conv": [10, 20, 5]}, {"pool": [2]},
                            {"linear": [320, 10]}],
              "simple-cnn": [{"conv": [1, 20, 3]}, {"conv": [20, 50, 3]}, {"conv": [50, 20, 3]},
                             {"linear": [180, 100]}, {"linear": [100, 10]}],
              "mycnn": [{"conv": [1, 32, 3]}, {"conv": [32, 64, 3]}, {"linear": [9216, 128]}, {"linear": [128, 10]}],
              "mlp": [{"linear": [784, 50]}, {"linear": [50, 50]}, {"linear": [50, 10]}]}
    for name, layers in tables.items():
        assert KINDS["table_params"]({"layers": layers}).value == load_spec(name).params_total, name
    flatten = KINDS["flatten_size"]({"channels": 1, "input": 28, "layers": tables["lenet-320"][:4]})
    assert flatten.value == 320 and "20 x 4 x 4 = 320" in flatten.working
    assert KINDS["conv_params"]({"in_channels": 32, "out_channels": 64, "kernel": 3}).value == 18496  # not (3+1)*32*64
    with pytest.raises(Unanswerable):
        KINDS["conv_output"]({"input": 3, "kernel": 5})
    with pytest.raises(Unanswerable, match="class 3 is not one of the 3 logits"):
        KINDS["softmax_prob"]({"logits": [1.0, 2.0, 0.5], "index": 3})


def test_a_student_always_gets_the_same_variants_and_builds_are_byte_identical(tmp_path):
    bank = load_bank(BANK)
    assert [v.text for v in student_variants(bank, "1001")] == [v.text for v in student_variants(bank, "1001")]
    assert [v.text for v in student_variants(bank, "1001")] != [v.text for v in student_variants(bank, "1002")]
    first, second = build(bank, ["1001", "1002"], tmp_path / "a", 5), build(bank, ["1001", "1002"], tmp_path / "b", 5)
    assert [f.name for f in first.files] == ["moodle.xml", "gift.txt", "key.json", "key.csv", "practice.html",
                                             "canvas-qti.zip"]
    for a, b in zip(first.files, second.files, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def _pool_answers(key_dir):
    """What the pools hold, from the Moodle export: {template: [(text, answer, tolerance, partial)]}, where partial
    is ((tolerance, credit), ...) from the further answers with a fraction below 100."""
    root = ET.parse(key_dir / "moodle.xml").getroot()
    pools, current = {}, None
    for question in root:
        if question.get("type") == "category":
            current = question.find("category/text").text.rsplit("/", 1)[-1]
            pools[current] = []
        else:
            assert question.get("type") == "numerical"
            text = re.sub(r"</?p>", "", question.find("questiontext/text").text)
            answer, *partial = question.findall("answer")
            assert answer.get("fraction") == "100"
            assert all(a.find("text").text == answer.find("text").text for a in partial)
            pools[current].append((text, float(answer.find("text").text), float(answer.find("tolerance").text),
                                   tuple((float(a.find("tolerance").text), float(a.get("fraction")) / 100)
                                         for a in partial)))
    return pools


def test_every_export_parses_back_to_the_same_questions_and_answers(tmp_path):
    bank = load_bank(BANK)
    build(bank, ["1001", "1002", "1003"], tmp_path, 4)
    moodle = _pool_answers(tmp_path)
    assert list(moodle) == [t.id for t in bank.templates] and all(len(v) == 4 for v in moodle.values())
    for template in bank.templates:  # each pooled question carries its own answer, as the hand formula gives it
        pooled = pool_variants(bank, template, 4)
        assert moodle[template.id] == [(v.text, float(v.answer.value), float(v.answer.tolerance),
                                        tuple((p.tolerance, p.credit) for p in v.partial)) for v in pooled]
        for variant in pooled:
            assert abs(variant.answer.value - independent(template.kind, variant.params)) <= 5e-4

    gift = (tmp_path / "gift.txt").read_text()
    categories = re.findall(r"^\$CATEGORY: top/CNN arithmetic/(\S+)$", gift, re.M)
    questions = re.findall(r"^::(\S+) (\d+)::(.*) \{#(.*)\}$", gift, re.M)
    assert categories == list(moodle) and len(questions) == 4 * len(bank.templates)
    unescape = lambda text: re.sub(r"\\(.)", r"\1", text)  # noqa: E731
    with_partial = 0
    for template_id, number, text, answers in questions:
        tiers = re.findall(r"=%([\d.]+)%([-\d.e]+):([\d.e-]+)", answers)  # {#=%100%a:t =%50%a:t2}
        if tiers:
            with_partial += 1
            assert tiers[0][0] == "100" and len({t[1] for t in tiers}) == 1
            found = (unescape(text), float(tiers[0][1]), float(tiers[0][2]),
                     tuple((float(t[2]), float(t[0]) / 100) for t in tiers[1:]))
        else:
            answer, tolerance = re.fullmatch(r"([-\d.e]+):([\d.e-]+)", answers).groups()
            found = (unescape(text), float(answer), float(tolerance), ())
        assert moodle[template_id][int(number) - 1] == found
    assert with_partial == 8  # the softmax and cross-entropy templates: half the points for a rounding slip

    with zipfile.ZipFile(tmp_path / "canvas-qti.zip") as archive:
        name = next(n for n in archive.namelist() if n.endswith(".xml") and "meta" not in n and "manifest" not in n)
        qti = ET.fromstring(archive.read(name))
    ns = {"q": qti.tag.split("}")[0].strip("{")}
    groups = qti.findall(".//q:section/q:section", ns)
    assert len(groups) == len(bank.templates)
    for group, template_id in zip(groups, moodle, strict=True):
        assert group.find("q:selection_ordering/q:selection/q:selection_number", ns).text == "1"  # Canvas picks one
        items = group.findall("q:item", ns)
        got = [(re.sub(r"</?p>", "", i.find(".//q:mattext", ns).text), float(i.find(".//q:varequal", ns).text))
               for i in items]
        assert got == [(text, answer) for text, answer, _, _ in moodle[template_id]]

    key = json.loads((tmp_path / "key.json").read_text())
    assert sorted(key["students"]) == ["1001", "1002", "1003"]
    rows = (tmp_path / "key.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 * len(bank.templates)
    assert rows[0] == "student,template,question,answer,tolerance,points,partial"
    for student, questions in key["students"].items():
        assert [q["text"] for q in questions] == [v.text for v in student_variants(bank, student)]


def test_a_bad_bank_names_the_file_and_the_field(tmp_path):
    bad = tmp_path / "bank.toml"
    bad.write_text('[[template]]\nid = "x"\nkind = "conv_output"\ntext = "{kernel}"\nparam = {}\n')
    with pytest.raises(BankError, match=r"bank.toml: template\[0\]: unknown field 'param': did you mean 'params'\?"):
        load_bank(bad)
    bad.write_text('[[template]]\nid = "x"\nkind = "conv_output"\ntext = "{kernel} on {input}"\n[template.params]\nkernel = 3\n')
    with pytest.raises(BankError, match=r"uses \['input'\] but 'params' does not define them"):
        load_bank(bad)


def test_cli_quiz_build(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n1001,Ann\n1002,Ben\n")
    done = run_cli("quiz", "build", "--roster", roster, "--out", tmp_path / "quiz", "--pool", "3")
    assert done.returncode == 0, done.stderr
    assert "10 questions for 2 students" in done.stdout and (tmp_path / "quiz" / "canvas-qti.zip").exists()
    assert "partial credit of softmax, cross-entropy is in moodle.xml" in done.stderr
    missing = run_cli("quiz", "build", tmp_path / "roster.csv", "--roster", roster, "--out", tmp_path / "q2")
    assert missing.returncode == 2 and "cannot read the bank" in missing.stderr


def test_responses_are_graded_with_tolerance_and_feedback_shows_the_working(tmp_path):
    import csv

    bank = load_bank(BANK)
    build(bank, ["1001", "1002", "1003"], tmp_path / "quiz", 2)
    key = json.loads((tmp_path / "quiz" / "key.json").read_text())["students"]
    ids = [q["template"] for q in key["1001"]]
    rows = [{"student": "1001", **{q["template"]: str(q["answer"] + q["tolerance"] * 0.9) for q in key["1001"]}},
            {"student": "1002", **{q["template"]: str(q["answer"] + 1) for q in key["1002"]}, ids[0]: "oops"}]
    with open(tmp_path / "responses.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["student", *ids])
        writer.writeheader()
        writer.writerows(rows)
    done = run_cli("quiz", "grade", tmp_path / "responses.csv", "--key", tmp_path / "quiz" / "key.json",
                   "--out", tmp_path / "out")
    assert done.returncode == 1 and "2 students graded (1 all right), 1 missing" in done.stdout, done.stderr
    grades = {r["student"]: r for r in csv.DictReader(open(tmp_path / "out" / "quiz-grades.csv"))}
    assert grades["1001"]["score"] == grades["1001"]["max_score"] == str(len(ids))
    assert grades["1002"]["score"] == "0" and grades["1003"]["status"] == "missing"
    feedback = (tmp_path / "out" / "quiz-feedback" / "1002.md").read_text()
    first = key["1002"][0]
    assert f"Your answer: oops. The answer: {first['answer']:g}." in feedback and first["working"] in feedback


def test_the_practice_page_holds_the_pooled_questions_and_checks_them_in_the_page(tmp_path):
    import html as html_lib

    bank = load_bank(BANK)
    build(bank, ["1001"], tmp_path, 4)
    page = (tmp_path / "practice.html").read_text()
    found = re.findall(r'<div class="q" data-answer="([^"]+)" data-tolerance="([^"]+)" data-partial="([^"]+)">\s*'
                       r'<p><strong>([^<]+)</strong>: ([^<]+)</p>', page)
    moodle = _pool_answers(tmp_path)
    assert len(found) == 3 * len(bank.templates)  # three per template
    for answer, tolerance, partial, template, text in found:
        tiers = tuple(tuple(t) for t in json.loads(html_lib.unescape(partial)))
        assert (html_lib.unescape(text), float(answer), float(tolerance), tiers) in moodle[template]
    assert "addEventListener" in page and "<script src" not in page and "<link" not in page  # self-contained


def test_in_korean_every_student_gets_the_same_questions_and_answers_in_korean_words():
    from grader.i18n import use_language
    from tests.lang_text import HANGUL, english_left

    bank = load_bank(BANK)
    english = student_variants(bank, "s123")
    with use_language("ko"):
        korean = student_variants(load_bank(BANK), "s123")
        title = bank.shown_title
    assert HANGUL.search(title)
    assert [(v.template, v.params, v.answer.value, v.answer.tolerance, v.points) for v in korean] == \
        [(v.template, v.params, v.answer.value, v.answer.tolerance, v.points) for v in english]
    for variant in korean:
        assert HANGUL.search(variant.text) and not english_left(variant.text), variant.text
        assert not english_left(variant.answer.working), variant.answer.working
