"""The quiz bank: CNN questions whose answers torch computes, a variant per student, exported for Moodle and Canvas.

:mod:`~grader.quizbank.kinds` computes the answers, :mod:`~grader.quizbank.bank` reads the templates and draws the
variants, :mod:`~grader.quizbank.exports` writes the formats; :func:`build` writes them all.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader.quizbank.bank import Bank, pool_variants, student_variants
from grader.quizbank.exports import canvas_qti, gift, key_csv, key_json, moodle_xml, partial_credit_lost, practice_html

DEFAULT_POOL = 20  # variants per template in the Moodle and Canvas exports


@dataclass
class Built:
    out: Path
    files: list[Path]
    students: int
    questions: int
    full_credit_only_in_canvas: list[str]  # templates with partial credit, which the Canvas export cannot carry


def build(bank: Bank, students: list[str], out: str | Path, pool: int = DEFAULT_POOL) -> Built:
    """Write into ``out``: moodle.xml and gift.txt (a category of ``pool`` variants per template), canvas-qti.zip (a
    question group per template), key.json / key.csv (each student's own variants, seeded by their id), and
    practice.html (a self-contained page that checks answers, for the student kit)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pools = {t.id: pool_variants(bank, t, pool) for t in bank.templates}
    per_student = {student: student_variants(bank, student) for student in students}
    files = {"moodle.xml": moodle_xml(bank, pools), "gift.txt": gift(bank, pools),
             "key.json": key_json(bank, per_student), "key.csv": key_csv(per_student),
             "practice.html": practice_html(bank, pools)}
    written = []
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    (out / "canvas-qti.zip").write_bytes(canvas_qti(bank, pools))
    written.append(out / "canvas-qti.zip")
    return Built(out, written, len(students), len(bank.templates), partial_credit_lost(pools))
