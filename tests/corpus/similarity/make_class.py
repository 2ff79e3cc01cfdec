"""A real-shaped mycnn class for the source-similarity flags (tests/test_similarity.py, bench/bench_similarity.py).

Independent correct solutions written differently, and copies of some of them:

* from the course's starter (assignments/mycnn/starter.py and .ipynb, filled in here at run time, so they follow
  the starter): four students who wrote only the layer table and ``save_condition``, each in their own style
  (nn.Sequential, functional calls, ReLU modules, the reference's own solution), as a .py, a notebook, a .zip;
* with their own training loops (committed beside this file): a pytorch/examples-style script (own_argparse.py),
  one function for training and validation (own_functional.py), a script with no functions (own_minimal.py), a
  Trainer class (own_class_trainer.py), a package of helpers (own_helpers/), a Colab notebook (own_notebook.ipynb);
* three students who each followed the pytorch/examples MNIST script on their own (its argparse block, its
  train/test skeleton; tutorial_ada.py, tutorial_ben.py, and tutorial_cyd.ipynb in Colab with its settings in a
  cell): they share that skeleton with each other and with own_argparse.py, and are no pair;
* the reference solution itself (reference/mycnn.py) handed in as a .py;
* copies: own_argparse.py renamed and reordered (copy_renamed.py), own_functional.py as a notebook with renamed
  names and magics (copy_nb.ipynb), own_helpers' classes and loop pasted into one file with new names and no
  comments (copy_helpers.py), own_class_trainer.py renamed, reordered, its comments and docstrings gone
  (copy_reworded.py).

:data:`COPIES` is what must be flagged; no other pair may be.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
STARTER = ROOT / "assignments" / "mycnn"
COMMITTED = ("own_argparse.py", "own_functional.py", "own_minimal.py", "own_class_trainer.py", "own_helpers",
             "own_notebook.ipynb", "tutorial_ada.py", "tutorial_ben.py", "tutorial_cyd.ipynb", "copy_renamed.py",
             "copy_nb.ipynb", "copy_helpers.py", "copy_reworded.py")
TUTORIAL = HERE / "tutorial" / "mnist_example.py"  # the tutorial they followed (boilerplate when listed)
COPIES = {("copy_renamed", "own_argparse"), ("copy_nb", "own_functional"), ("copy_helpers", "own_helpers"),
          ("copy_reworded", "own_class_trainer")}
CONDITIONS = ("val_losses[-1] == min(val_losses)", "len(val_losses) == 1 or val_losses[-1] < min(val_losses[:-1])",
              "val_losses[-1] <= min(val_losses)")

SEQUENTIAL = ("""        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),
            nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
            nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, 10), nn.LogSoftmax(dim=1))""",
              "        return self.net(x)")
FUNCTIONAL = ("""        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.drop1 = nn.Dropout2d(0.25)
        self.fc1 = nn.Linear(12 * 12 * 64, 128)
        self.drop2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)""",
              """        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.drop1(x)
        x = x.view(-1, 9216)
        x = self.drop2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)""")
MODULES = ("""        self.conv1 = nn.Conv2d(1, 32, 3)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dropout1 = nn.Dropout(0.25)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(9216, 128)
        self.relu3 = nn.ReLU()
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, 10)""",
           """        x = self.relu1(self.conv1(x))
        x = self.relu2(self.conv2(x))
        x = self.dropout1(self.pool(x))
        x = self.flatten(x)
        x = self.dropout2(self.relu3(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)""")


def reference_solution() -> tuple[str, str]:
    """The two solution regions of reference/mycnn.py (__init__'s and forward's bodies)."""
    text = (ROOT / "reference" / "mycnn.py").read_text()
    regions = re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", text, re.S)
    return regions[0], regions[1]


BLANK = "        raise NotImplementedError  # your code here"
CONDITION = re.compile(r"save_condition = \.\.\.  #[^\n]*")


def fill(text: str, body: tuple[str, str], condition: str) -> str:
    """Code of the starter with the network's two bodies and ``save_condition`` written in (where they are)."""
    text = text.replace(BLANK, body[0], 1).replace(BLANK, body[1], 1)
    return CONDITION.sub(f"save_condition = {condition}", text)


def filled_notebook(body: tuple[str, str], condition: str) -> str:
    """The starter notebook with its network and ``save_condition`` filled in (and an output, as after a run)."""
    notebook = json.loads((STARTER / "starter.ipynb").read_text())
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    blanks = sum("".join(c["source"]).count(BLANK) for c in cells)
    assert blanks == 2 and any(CONDITION.search("".join(c["source"])) for c in cells), "the starter changed shape"
    for cell in cells:
        cell["source"] = fill("".join(cell["source"]), body, condition)
    cells[-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["Validation set: Average loss: 0.04\n"]}]
    return json.dumps(notebook, indent=1)


def write_class(folder: Path) -> list[tuple[str, Path]]:
    """Writes the class into ``folder``; returns (student, submission path) in sorted order."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in COMMITTED:
        source = HERE / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    starter = (STARTER / "starter.py").read_text()
    assert starter.count(BLANK) == 2 and CONDITION.search(starter), "the starter changed shape"
    (folder / "starter_sequential.py").write_text(fill(starter, SEQUENTIAL, CONDITIONS[0]))
    (folder / "starter_functional.ipynb").write_text(filled_notebook(FUNCTIONAL, CONDITIONS[1]))
    with zipfile.ZipFile(folder / "starter_modules.zip", "w") as archive:
        archive.writestr("starter_modules/mycnn.py", fill(starter, MODULES, CONDITIONS[2]))
        archive.writestr("starter_modules/curves.json", '{"val_loss": [0.05], "val_accuracy": [98.4]}')
    (folder / "starter_reference.py").write_text(fill(starter, reference_solution(), CONDITIONS[0]))
    shutil.copy(ROOT / "reference" / "mycnn.py", folder / "reference.py")
    return sorted((p.name if p.is_dir() else p.stem, p) for p in folder.iterdir())


def renamed_and_reordered(source: str) -> str:
    """``source`` with every name it defines renamed (v0, v1, ...) and its top-level definitions in reverse order."""
    tree = ast.parse(source)
    defined = sorted(({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                      | {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
                      | {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args}
                      | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)})
                     - {"self", "__init__", "forward"})  # a network's own methods: renamed, it would not run
    lines = source.splitlines()
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    chunks = ["\n".join(lines[min([n.lineno] + [d.lineno for d in n.decorator_list]) - 1:n.end_lineno]) for n in defs]
    out, cursor = [], 0
    for node, chunk in zip(defs, reversed(chunks), strict=True):
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        out += lines[cursor:start] + [chunk]
        cursor = node.end_lineno
    text = "\n".join(out + lines[cursor:]) + "\n"
    names = {name: f"v{i}" for i, name in enumerate(defined)}
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: names.get(m.group(), m.group()), text)


def as_notebook(source: str, magics: bool = True) -> str:
    """``source`` as a notebook: one code cell per top-level statement group, with a ``!pip`` and a ``%%time``."""
    tree = ast.parse(source)
    lines = source.splitlines()
    cells, starts = [], [min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])]) for n in tree.body]
    for start, end in zip(starts, starts[1:] + [len(lines) + 1], strict=True):
        cells.append("\n".join(lines[start - 1:end - 1]).rstrip())
    if magics:
        cells = ["!pip install -q torch torchvision"] + cells[:-1] + ["%%time\n" + cells[-1]]
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                           "source": cell.splitlines(keepends=True)} for cell in cells]}
    return json.dumps(notebook)


def with_lines_inserted(source: str, every: int) -> str:
    """``source`` (reformatted, its comments gone) with a logging call after every ``every`` statements of each
    block: a copy edited all through, not only renamed."""
    count = 0

    class Insert(ast.NodeTransformer):
        def generic_visit(self, node):
            nonlocal count
            super().generic_visit(node)
            for name in ("body", "orelse"):
                block = getattr(node, name, None)
                if isinstance(node, ast.Module) or not isinstance(block, list) or not block \
                        or not isinstance(block[0], ast.stmt):
                    continue
                edited = []
                for statement in block:
                    edited.append(statement)
                    count += 1
                    if count % every == 0:
                        edited.append(ast.parse(f"log_value('step {count}', {count})").body[0])
                setattr(node, name, edited)
            return node

    return ast.unparse(ast.fix_missing_locations(Insert().visit(ast.parse(source)))) + "\n"
