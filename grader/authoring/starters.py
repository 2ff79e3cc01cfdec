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
from grader.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, current_language, use_language
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
                raise AuthoringError(_("{origin} line {number}: {begin} inside another solution region",
                                       origin=origin, number=number, begin=BEGIN))
            inside = True
            if not fill:
                indent = line[: len(line) - len(line.lstrip())]
                replacement = text[len(BEGIN):].lstrip(":").strip() or (
                    "raise NotImplementedError  # " + _("your code here"))
                out.append(f"{indent}{replacement}\n")
            continue
        if text.startswith(END):
            if not inside:
                raise AuthoringError(_("{origin} line {number}: {end} without {begin}", origin=origin, number=number,
                                       end=END, begin=BEGIN))
            inside = False
            continue
        if fill or not inside:
            out.append(line)
    if inside:
        raise AuthoringError(_("{origin}: a {begin} region is never closed", origin=origin, begin=BEGIN))
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


def _alternatives(kinds: tuple[str, ...]) -> str:
    """``A or B or C``: the layer kinds a row accepts."""
    text = kinds[0] if kinds else ""
    for kind in kinds[1:]:
        text = _("{first} or {second}", first=text, second=kind)
    return text


def table_markdown(spec: Spec) -> str:
    """The spec's layer table as a markdown table."""
    lines = [_("| row | layers | output shape | parameters |"), "| --- | --- | --- | --- |",
             "| " + _("input") + f" | | (B, {', '.join(map(str, spec.input_shape))}) | |"]
    for row in spec.rows:
        layers = ", ".join(_alternatives(kinds) for kinds in row.layers)
        lines.append(f"| {row.label} | {layers} | {row.shape_text()} | {'' if row.params is None else f'{row.params:,}'} |")
    if spec.params_total is not None:
        total = f"{spec.params_total:,}"
    elif spec.params_min is not None:
        total = _("{low} to {high}", low=f"{spec.params_min:,}", high=f"{spec.params_max:,}")
    else:
        total = _("any")
    if spec.output == "log_probs":
        output = _("Total parameters: {total}. Output: log-probabilities (end with {code}).", total=total,
                   code="F.log_softmax(x, dim=1)")
    else:
        output = _("Total parameters: {total}. Output: logits ({loss} applies {function} itself).", total=total,
                   loss="CrossEntropyLoss", function="log_softmax")
    return "\n".join(lines) + "\n\n" + output


def _parts(spec: Spec, fill: bool) -> tuple[str, str]:
    if not spec.reference:
        raise AuthoringError(_("{path}: field {field} is needed to generate a starter", path=spec.path,
                               field="'reference'"))
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


def lang_option() -> str:
    """`` --lang ko`` for a student's command in a starter or the kit's README written in another language than
    English ("" in English): the student's machine has its own locale, and the course file stays the
    instructor's."""
    return "" if current_language() == DEFAULT_LANGUAGE else f" --lang {current_language()}"


def lang_argument(quote: str = "'") -> str:
    """``, lang='ko'`` for a ``grader.check`` call written in another language than English ("" in English): a
    notebook's kernel renders in English unless asked."""
    return "" if current_language() == DEFAULT_LANGUAGE else f", lang={quote}{current_language()}{quote}"


def render_py(spec: Spec, fill: bool = False) -> str:
    """The .py starter (``fill=True``: with the reference's code in place, for tests)."""
    model, loop = _parts(spec, fill)
    fill_in = _("Fill in every part that raises {error} (and {condition}), then check your work:",
                error="NotImplementedError", condition="save_condition")
    layer_table = _("Layer table:")
    generated = _("Generated by `{command}`; do not edit by hand.", command=f"grader assign {spec.name}")
    header = (f'"""{spec.shown_title}\n\n{fill_in}\n\n    grader check starter.py --assignment {spec.name}{lang_option()}\n\n'
              f'{layer_table}\n\n{table_markdown(spec)}\n\n{generated}\n"""\n')
    return f"{header}{model}\n\n{loop}\n\nif __name__ == \"__main__\":\n    main()\n"


def self_check_code(spec: Spec, class_name: str) -> str:
    """The notebook cell that self-checks the class (and, for a quiz, the files it hands in)."""
    lang = lang_argument()
    lines = ["import grader", "", f"grader.check({class_name}, assignment={spec.name!r}{lang})"]
    if spec.quiz.get("enabled"):
        lines[-1] = f"display(grader.check({class_name}, assignment={spec.name!r}{lang}))"
        lines.append(f"grader.check_files(OUT_DIR, assignment={spec.name!r}{lang})")
    return "\n".join(lines)


def render_ipynb(spec: Spec, fill: bool = False) -> str:
    """The notebook starter as JSON text (nbformat 4, deterministic cell ids)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    model, loop = _parts(spec, fill)
    net_class = import_reference().get_network(spec.reference).class_name
    fill_in = _("Fill in every part that raises `{error}` (and `{condition}`), run the notebook, then check your "
                "work with\n`{command}`.", error="NotImplementedError", condition="save_condition",
                command=f"grader check . --assignment {spec.name}{lang_option()}")
    not_yours = _("Data, the train / validate loop, the curve recorder and the checkpoint hook (fill in "
                  "`{condition}`).", condition="save_condition")
    if spec.quiz.get("enabled"):
        check = _("In this kernel, against the assignment's table and, after training, on the {checkpoint} and "
                  "curves you hand in.", checkpoint="best.pt")
    else:
        check = _("In this kernel, against the assignment's table.")
    cells = [
        new_markdown_cell(f"# {spec.shown_title}\n\n{fill_in}\n\n{table_markdown(spec)}"),
        new_code_cell(model),
        new_markdown_cell("## " + _("The parts you do not write") + "\n" + not_yours),
        new_code_cell(loop),
        new_code_cell("main()"),
        new_markdown_cell("## " + _("Check your work") + "\n" + check),
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


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def generate(spec: Spec, check: bool = False) -> list[Path]:
    """Write the starters in the current language (or, with ``check``, write nothing); return the files that
    differ(ed) from generation. A check accepts a starter generated in any of the grader's languages (the committed
    starters are English; a course may have generated its own in Korean)."""
    files = starter_files(spec)
    changed = [path for path, content in files.items() if _read(path) != content]
    if not check:
        for path in changed:
            path.write_text(files[path], encoding="utf-8")
        return changed
    for lang in LANGUAGES:
        if changed and lang != current_language():
            with use_language(lang):
                other = starter_files(spec)
            changed = [path for path in changed if _read(path) != other[path]]
    return changed
