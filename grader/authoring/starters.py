"""Assignment authoring: generate the student starters from the reference, so the two cannot drift apart.

Reference sources mark what students write with ``### BEGIN SOLUTION`` / ``### END SOLUTION``. In a starter each
region becomes ``raise NotImplementedError`` (or the text after ``### BEGIN SOLUTION:`` when a region gives one, such
as ``save_condition = ...``). The starters are ``assignments/<name>/starter.py`` and ``starter.ipynb``: the layer
table (from the spec), the network to fill in, and the parts students do not write (data, train / validate loop,
curve recorder, checkpoint hook), from the reference's ``templates/starter_loop.py.tmpl``.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path
from string import Template

from grader.authoring.course import import_reference, reference_dir
from grader.errors import GraderError
from grader.spec import Spec

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TEMPLATE_NAME = "templates/starter_loop.py.tmpl"  # in the reference package: its save condition is a solution


class AuthoringError(GraderError):
    """A reference source or spec cannot be turned into a starter."""


def strip_solutions(source: str, fill: bool = False, origin: str = "source") -> str:
    """Replace every solution region (``fill=False``) or keep its code and drop the markers (``fill=True``)."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        text = line.strip()
        if text.startswith(BEGIN):
            if inside:
                raise AuthoringError(f"{origin} line {number}: {BEGIN} inside another solution region")
            inside = True
            if not fill:
                indent = line[: len(line) - len(line.lstrip())]
                replacement = text[len(BEGIN):].lstrip(":").strip() or "raise NotImplementedError  # your code here"
                out.append(f"{indent}{replacement}\n")
            continue
        if text.startswith(END):
            if not inside:
                raise AuthoringError(f"{origin} line {number}: {END} without {BEGIN}")
            inside = False
            continue
        if fill or not inside:
            out.append(line)
    if inside:
        raise AuthoringError(f"{origin}: a {BEGIN} region is never closed")
    return "".join(out)


def _without_docstring(source: str) -> str:
    tree = ast.parse(source)
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return "".join(source.splitlines(keepends=True)[first.end_lineno:]).lstrip("\n")
    return source


# What differs between datasets in the starter's loop (the rest of the template is shared).
DATA_BLOCKS = {
    "mnist": {
        "dir": 'DATA_DIR = os.environ.get("MNIST_DIR", "./data")  # a folder holding MNIST/raw/ (downloaded there when missing)',
        "curves_extra": "",
        "load": 'def load_data():\n    """The MNIST training split and the validation split (the 10,000 test images), as ToTensor gives them."""\n    transform = transforms.ToTensor()\n    train_set = datasets.MNIST(DATA_DIR, train=True, download=True, transform=transform)\n    val_set = datasets.MNIST(DATA_DIR, train=False, download=True, transform=transform)\n    if TRAIN_LIMIT:\n        train_set = torch.utils.data.Subset(train_set, range(TRAIN_LIMIT))\n    train_loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)\n    val_loader = torch.utils.data.DataLoader(val_set, batch_size=1000)\n    return train_loader, val_loader\n\n\n',
    },
    "cifar10": {
        "dir": 'DATA_DIR = os.environ.get("CIFAR_DIR", "./data")  # holds cifar-10-batches-py/ (downloaded there when missing)',
        "curves_extra": ', "split_seed": SEED',
        "load": (
            'def load_data():\n'
            '    """CIFAR-10\'s training images split 40,000 / 10,000 by SEED: the grader rebuilds this validation set\n'
            '    from the split_seed in curves.json (random_split draws torch.randperm from the seeded generator)."""\n'
            '    transform = transforms.ToTensor()\n'
            '    full = datasets.CIFAR10(DATA_DIR, train=True, download=True, transform=transform)\n'
            '    n_val = len(full) // 5\n'
            '    train_set, val_set = torch.utils.data.random_split(full, [len(full) - n_val, n_val],\n'
            '                                                       generator=torch.Generator().manual_seed(SEED))\n'
            '    if TRAIN_LIMIT:\n'
            '        train_set = torch.utils.data.Subset(train_set, range(TRAIN_LIMIT))\n'
            '    train_loader = torch.utils.data.DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True)\n'
            '    val_loader = torch.utils.data.DataLoader(val_set, batch_size=1000)\n'
            '    return train_loader, val_loader\n\n\n'),
    },
}


def table_markdown(spec: Spec) -> str:
    """The spec's layer table as a markdown table."""
    lines = ["| row | layers | output shape | parameters |", "| --- | --- | --- | --- |",
             f"| input | | (B, {', '.join(map(str, spec.input_shape))}) | |"]
    for row in spec.rows:
        layers = ", ".join(" or ".join(kinds) for kinds in row.layers)
        lines.append(f"| {row.label} | {layers} | {row.shape_text()} | {'' if row.params is None else f'{row.params:,}'} |")
    total = f"{spec.params_total:,}" if spec.params_total is not None else (
        f"{spec.params_min:,} to {spec.params_max:,}" if spec.params_min is not None else "any")
    lines.append(f"\nTotal parameters: {total}. Output: "
                 + ("log-probabilities (end with F.log_softmax(x, dim=1))." if spec.output == "log_probs"
                    else "logits (CrossEntropyLoss applies log_softmax itself)."))
    return "\n".join(lines)


def _parts(spec: Spec, fill: bool) -> tuple[str, str]:
    if not spec.reference:
        raise AuthoringError(f"{spec.path}: field 'reference' is needed to generate a starter")
    net = import_reference().get_network(spec.reference)
    folder = reference_dir()
    module_file = folder / (net.module.split(".")[-1] + ".py")
    template = folder / TEMPLATE_NAME
    model = strip_solutions(_without_docstring(module_file.read_text()), fill, str(module_file))
    data = DATA_BLOCKS[net.dataset]
    kwargs = ", ".join(f"{k}={v!r}" for k, v in net.kwargs)
    optimizer = (f"torch.optim.RMSprop(model.parameters(), lr=LR, weight_decay={net.weight_decay!r})"
                 if net.optimizer == "rmsprop" else "torch.optim.Adam(model.parameters(), lr=LR)")
    loop = Template(template.read_text()).substitute(
        epochs=net.epochs, lr=net.lr, model_call=f"{net.class_name}({kwargs})", optimizer_call=optimizer,
        data_dir_line=data["dir"], load_data=data["load"], curves_extra=data["curves_extra"],
        criterion="F.nll_loss" if spec.output == "log_probs" else "F.cross_entropy",
        criterion_doc="NLL on the log-probabilities the network returns" if spec.output == "log_probs"
        else "cross-entropy on the logits the network returns")
    return model.rstrip() + "\n", strip_solutions(loop, fill, str(template)).rstrip() + "\n"


def render_py(spec: Spec, fill: bool = False) -> str:
    """The .py starter (``fill=True``: with the reference's code in place, for tests)."""
    model, loop = _parts(spec, fill)
    header = (f'"""{spec.title}\n\nFill in every part that raises NotImplementedError (and save_condition), then '
              f"check your work:\n\n    grader check starter.py --assignment {spec.name}\n\n"
              f"Layer table:\n\n{table_markdown(spec)}\n\nGenerated by `grader assign {spec.name}`; do not edit by hand.\n"
              '"""\n')
    return f"{header}{model}\n\n{loop}\n\nif __name__ == \"__main__\":\n    main()\n"


def self_check_code(spec: Spec, class_name: str) -> str:
    """The notebook cell that self-checks the class (and, for a quiz, the files it hands in)."""
    lines = ["import grader", "", f"grader.check({class_name}, assignment={spec.name!r})"]
    if spec.quiz.get("enabled"):
        lines[-1] = f"display(grader.check({class_name}, assignment={spec.name!r}))"
        lines.append(f"grader.check_files(OUT_DIR, assignment={spec.name!r})")
    return "\n".join(lines)


def render_ipynb(spec: Spec, fill: bool = False) -> str:
    """The notebook starter as JSON text (nbformat 4, deterministic cell ids)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    model, loop = _parts(spec, fill)
    net_class = import_reference().get_network(spec.reference).class_name
    cells = [
        new_markdown_cell(f"# {spec.title}\n\nFill in every part that raises `NotImplementedError` (and "
                          f"`save_condition`), run the notebook, then check your work with\n"
                          f"`grader check . --assignment {spec.name}`.\n\n{table_markdown(spec)}"),
        new_code_cell(model),
        new_markdown_cell("## The parts you do not write\nData, the train / validate loop, the curve recorder and "
                          "the checkpoint hook (fill in `save_condition`)."),
        new_code_cell(loop),
        new_code_cell("main()"),
        new_markdown_cell("## Check your work\nIn this kernel, against the assignment's table"
                          + (" and, after training, on the best.pt and curves you hand in." if spec.quiz.get("enabled")
                             else ".")),
        new_code_cell(self_check_code(spec, net_class)),
    ]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    nbformat.validate(notebook)
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def starter_files(spec: Spec) -> dict[Path, str]:
    """Every starter file of an assignment and its generated content."""
    return {spec.folder / "starter.py": render_py(spec), spec.folder / "starter.ipynb": render_ipynb(spec)}


def generate(spec: Spec, check: bool = False) -> list[Path]:
    """Write the starters (or, with ``check``, write nothing); return the files that differ(ed) from generation."""
    changed = []
    for path, content in starter_files(spec).items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != content:
            changed.append(path)
            if not check:
                path.write_text(content, encoding="utf-8")
    return changed
