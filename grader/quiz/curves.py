"""Validation curves: the files a training run writes and the grader reads back, and where they came from.

Written by :func:`write_curves` (the reference training and the starters' loop write the same files)::

    curves.json   {"val_loss": [0.081, 0.052, ...], "val_accuracy": [97.5, 98.3, ...], ...optional extra keys}
    val_loss.png, val_acc.png   plots that store the same JSON in a PNG text chunk under ``PNG_KEY``

one entry per epoch starting at epoch 1, loss averaged per image, accuracy in percent.

Read by :func:`read_curves` from, in order of preference: ``curves.json``, ``curves.csv`` (a header with
``val_loss`` and ``val_accuracy`` columns, one row per epoch, an optional ``epoch`` column), PNG plots carrying
their data (:func:`read_png_curves`), and the printed log of an executed notebook
(``Validation set: Average loss: 0.0483, Accuracy: 9846/10000 (98%)``).
Accuracy may be in percent or as a fraction (detected: all values <= 1 means a fraction).
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from grader.i18n import N_, _

PNG_KEY = "grader-curves"
CURVES_FILE = "curves.json"
LOSS_PLOT = "val_loss.png"
ACC_PLOT = "val_acc.png"
LOSS_LABEL = N_("validation loss")  # the plots' axis labels, translated when they are drawn
ACC_LABEL = N_("validation accuracy (%)")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_curves(out_dir, val_loss: list[float], val_accuracy: list[float], **extra) -> dict:
    """Write curves.json, val_loss.png and val_acc.png into ``out_dir``; return the curves document."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"val_loss": [float(v) for v in val_loss], "val_accuracy": [float(v) for v in val_accuracy], **extra}
    _write_atomic(out_dir / CURVES_FILE, (json.dumps(doc, indent=1) + "\n").encode())
    _plot(out_dir / LOSS_PLOT, doc, "val_loss", LOSS_LABEL)
    _plot(out_dir / ACC_PLOT, doc, "val_accuracy", ACC_LABEL)
    return doc


def _plot(path: Path, doc: dict, key: str, ylabel: str) -> None:
    """One run's plot, carrying its curves in a PNG text chunk (the quiz can read a submitted plot back)."""
    payload = json.dumps({"val_loss": doc["val_loss"], "val_accuracy": doc["val_accuracy"]})
    _draw(path, {"": doc}, key, ylabel, {PNG_KEY: payload})


def _draw(path: Path, runs: dict[str, dict], key: str, ylabel: str, metadata: dict | None = None) -> None:
    """Plot ``key`` of each run (label -> curves document) against the epoch, each run's best.pt epoch starred;
    ``ylabel`` is an English message, drawn translated with a font that has Hangul (the PNG's metadata is not
    translated: programs read it back)."""
    import matplotlib

    from grader.i18n.fonts import plot_fonts

    matplotlib.use("Agg")
    with matplotlib.rc_context(plot_fonts()):
        _draw_runs(path, runs, key, _(ylabel), metadata)


def _draw_runs(path: Path, runs: dict[str, dict], key: str, ylabel: str, metadata: dict | None) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(5, 3.5) if len(runs) == 1 else (7, 4.5), dpi=100)
    for label, doc in runs.items():
        values = doc[key]
        epochs = list(range(1, len(values) + 1))
        line = ax.plot(epochs, values, marker="o", label=label or None)[0]
        if values:
            best = min(range(len(values)), key=lambda i: doc["val_loss"][i])
            ax.plot([epochs[best]], [values[best]], marker="*", markersize=14,
                    color="tab:red" if len(runs) == 1 else line.get_color(),
                    label="best.pt" if len(runs) == 1 else None)
    ax.legend()
    ax.set_xlabel(_("epoch"))
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(runs) > 1:
        ax.set_title(_("star: each run's best.pt epoch (minimum validation loss)"), fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, format="png", metadata={**(metadata or {}), "Software": "grader"})
    plt.close(fig)
    os.replace(tmp, path)


MAX_DRAWN_EPOCHS = 1000  # a picture of more epochs than this is not drawn (the curves are the student's to write)


def curves_picture(val_loss: list[float], val_accuracy: list[float], reeval: tuple[int, float, float] | None = None,
                   ) -> bytes | None:
    """A PNG of the submitted curves side by side (loss, accuracy), best.pt's epoch starred and, with ``reeval``
    (epoch, loss, accuracy), what the grader re-evaluated best.pt to marked in red; None when there is nothing
    to draw or more than MAX_DRAWN_EPOCHS epochs. Its text is in the current language."""
    import matplotlib

    from grader.i18n.fonts import plot_fonts

    matplotlib.use("Agg")
    if not val_loss or len(val_loss) > MAX_DRAWN_EPOCHS or len(val_accuracy) > MAX_DRAWN_EPOCHS:
        return None
    with matplotlib.rc_context(plot_fonts()):
        return _picture(val_loss, val_accuracy, reeval)


def _picture(val_loss: list[float], val_accuracy: list[float], reeval: tuple[int, float, float] | None) -> bytes:
    import io

    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    for ax, values, label, at in ((axes[0], val_loss, LOSS_LABEL, 1), (axes[1], val_accuracy, ACC_LABEL, 2)):
        epochs = list(range(1, len(values) + 1))
        ax.plot(epochs, values, marker="o", label=_("submitted"))
        if reeval is not None and reeval[0] is not None and math.isfinite(reeval[at]):
            ax.plot([reeval[0]], [reeval[at]], marker="x", markersize=10, color="tab:red", linestyle="",
                    label=_("best.pt re-evaluated"))
        ax.set_xlabel(_("epoch"))
        ax.set_ylabel(_(label))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": "grader"})
    plt.close(fig)
    return buffer.getvalue()


def read_run_curves(run_dir) -> dict:
    """The curves document of a training run folder (its curves.json); ValueError saying what is wrong."""
    path = Path(run_dir) / CURVES_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(_("{folder}: no {file} (a folder written by '{command}' has one)", folder=run_dir,
                           file=CURVES_FILE, command="grader reference train")) from None
    except (OSError, ValueError) as exc:
        raise ValueError(_("{path}: not readable as JSON ({error})", path=path, error=exc)) from None
    curves = _from_doc(doc, CURVES_FILE) if isinstance(doc, dict) else None
    if curves is None or curves.errors or not curves.val_loss or len(curves.val_loss) != len(curves.val_accuracy):
        raise ValueError(_("{path}: needs {loss} and {accuracy}, two lists of numbers of the same length", path=path,
                           loss="val_loss", accuracy="val_accuracy"))
    return {**doc, "val_loss": curves.val_loss, "val_accuracy": curves.val_accuracy}


def redraw_plots(run_dir) -> list[Path]:
    """Draw a run's val_loss.png and val_acc.png again from its curves.json, without retraining."""
    doc = read_run_curves(run_dir)
    run_dir = Path(run_dir)
    _plot(run_dir / LOSS_PLOT, doc, "val_loss", LOSS_LABEL)
    _plot(run_dir / ACC_PLOT, doc, "val_accuracy", ACC_LABEL)
    return [run_dir / LOSS_PLOT, run_dir / ACC_PLOT]


def overlay_plots(run_dirs: list, out_dir) -> list[Path]:
    """val_loss.png and val_acc.png in ``out_dir`` with one line per run (labelled by its folder), for slides."""
    runs = {}
    for run_dir in run_dirs:
        label = Path(run_dir).resolve().name
        while label in runs:
            label += "'"
        runs[label] = read_run_curves(run_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _draw(out_dir / LOSS_PLOT, runs, "val_loss", LOSS_LABEL)
    _draw(out_dir / ACC_PLOT, runs, "val_accuracy", ACC_LABEL)
    return [out_dir / LOSS_PLOT, out_dir / ACC_PLOT]


def read_png_curves(path) -> dict | None:
    """The curves stored in a plot written by :func:`write_curves`, or None when the PNG carries none."""
    from PIL import Image

    with Image.open(path) as image:
        text = getattr(image, "text", {}) or {}
        payload = text.get(PNG_KEY)
    return json.loads(payload) if payload else None


# A printed validation line: "Test set: Average loss: 0.0512, Accuracy: 9838/10000 (98%)" or "Val loss=0.05 acc..."
# Read in three steps per line (the keyword, then the loss after it, then the accuracy after that), each a linear
# search: one pattern with two lazy gaps backtracks cubically on a long log that never says "Accuracy".
LOG_KEY = re.compile(r"Validation|Test|Val", re.IGNORECASE)
LOG_LOSS = re.compile(r"loss[:=\s]+([0-9.eE+-]+)", re.IGNORECASE)
LOG_ACCURACY = re.compile(r"Accuracy[:=\s]+(?:(\d+)\s*/\s*(\d+)|([0-9.]+)\s*%?)", re.IGNORECASE)


def log_values(text: str) -> list[tuple[float, float]]:
    """(loss, accuracy in percent) of every validation log entry in ``text``, in order.

    Starting from the first keyword of a line is enough: a later keyword could only find a loss and an accuracy
    that the first one finds too."""
    found = []
    for line in text.splitlines():
        pos = 0
        while (key := LOG_KEY.search(line, pos)) is not None:
            loss = LOG_LOSS.search(line, key.end())
            accuracy = LOG_ACCURACY.search(line, loss.end()) if loss is not None else None
            if loss is None or accuracy is None:
                break
            correct, total, percent = accuracy.groups()
            try:
                entry = (float(loss.group(1)),
                         100.0 * int(correct) / int(total) if correct and int(total) else float(percent or 0))
            except ValueError:  # "loss: -", "Accuracy: ." and the like: not a value
                entry = None
            if entry is not None:
                found.append(entry)
            pos = accuracy.end()
    return found


SOURCE_PREFERENCE = ("json", "csv", "png", "notebook")  # the kinds of source, most trusted first


@dataclass
class Curves:
    """Per-epoch validation loss and accuracy (percent), with the source they were read from.

    ``errors`` make the curves unusable (the ``curves`` check fails on them); ``notes`` are worth saying and change
    nothing; ``disagreements`` name other submitted sources that do not match this one.
    """

    val_loss: list[float]
    val_accuracy: list[float]
    source: str  # for the student: "curves.json", "the data stored in val_loss.png"...
    kind: str = "json"  # one of SOURCE_PREFERENCE
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the minimum validation loss (0 when there is no epoch)."""
        return min(range(len(self.val_loss)), key=self.val_loss.__getitem__) + 1 if self.val_loss else 0


def _from_doc(doc: dict, source: str, kind: str = "json") -> Curves | None:
    loss, acc = doc.get("val_loss"), doc.get("val_accuracy", doc.get("val_acc"))
    if not isinstance(loss, list) or not isinstance(acc, list):
        return None
    try:
        return Curves([float(v) for v in loss], [float(v) for v in acc], source, kind)
    except (TypeError, ValueError):
        return Curves([], [], source, kind, errors=[_("{source} holds values that are not numbers",
                                                                      source=source)])


def _csv(path: Path) -> Curves | None:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "val_loss" not in rows[0]:
        return None
    key = "val_accuracy" if "val_accuracy" in rows[0] else "val_acc"
    return _from_doc({"val_loss": [r["val_loss"] for r in rows], "val_accuracy": [r.get(key) for r in rows]},
                     path.name, "csv")


def _notebook_log(path: Path) -> Curves | None:
    import nbformat

    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception:  # noqa: BLE001
        return None
    text = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text.append(output.get("text", "") if isinstance(output.get("text", ""), str) else "".join(output["text"]))
    values = log_values("\n".join(text))
    losses, accs = [v[0] for v in values], [v[1] for v in values]
    return Curves(losses, accs, _("the printed log of {file}", file=path.name), "notebook") if losses else None


MAX_EPOCHS = 10_000  # far above any course; more is not a training run, and would only grow the grader's memory
MAX_CURVES_BYTES = 8 * 1024 * 1024  # curves.json / curves.csv; a notebook's log is read up to MAX_NOTEBOOK_BYTES
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024


def _too_large(file: Path) -> Curves | None:
    """An error for a curves source over its size limit, read no further; None when it is within it."""
    limit = MAX_NOTEBOOK_BYTES if file.suffix == ".ipynb" else MAX_CURVES_BYTES
    try:
        size = file.stat().st_size
    except OSError:
        return None
    if size <= limit:
        return None
    kind = "notebook" if file.suffix == ".ipynb" else "csv" if file.suffix == ".csv" else "json"
    return Curves([], [], file.name, kind, errors=[_("{file} is {size:.0f} MB, over the {limit} MB a curves file may "
                                                     "take: it was not read", file=file.name, size=size / 2**20,
                                                     limit=limit // 2**20)])


def read_curves(files: list[Path], min_epochs: int = 1) -> Curves | None:
    """The submitted curves from the most preferred source found, with its errors, notes and source disagreements."""
    found: list[Curves] = []
    for file in sorted(files, key=lambda f: f.name):
        parsed = None
        if file.name in ("curves.json", "curves.csv") or file.suffix == ".ipynb":
            parsed = _too_large(file)
            if parsed is not None:
                if file.suffix != ".ipynb":  # a big code notebook just has no log to read
                    found.append(parsed)
                continue
        if file.name == "curves.json":
            try:
                parsed = _from_doc(json.loads(file.read_text()), file.name)
            except (ValueError, UnicodeDecodeError):
                parsed = Curves([], [], file.name, "json", errors=[_("{file} is not valid JSON",
                                                                                     file=file.name)])
        elif file.name == "curves.csv":
            parsed = _csv(file)
        elif file.suffix == ".png":
            try:
                doc = read_png_curves(file)
            except Exception:  # noqa: BLE001 - not a PNG after all
                doc = None
            parsed = _from_doc(doc, _("the data stored in {file}", file=file.name), "png") if doc else None
        elif file.suffix == ".ipynb":
            parsed = _notebook_log(file)
        if parsed is not None and max(len(parsed.val_loss), len(parsed.val_accuracy)) > MAX_EPOCHS:
            parsed = Curves([], [], parsed.source, parsed.kind, errors=[_(
                "{source} holds {epochs:,} epochs, over the limit of {limit:,}", source=parsed.source,
                epochs=max(len(parsed.val_loss), len(parsed.val_accuracy)), limit=MAX_EPOCHS)])
        if parsed is not None:
            found.append(parsed)
    if not found:
        return None
    found.sort(key=lambda c: SOURCE_PREFERENCE.index(c.kind))  # stable: two plots stay in name order
    chosen = found[0]
    if chosen.val_accuracy and all(0 <= a <= 1 for a in chosen.val_accuracy):
        chosen.val_accuracy = [100.0 * a for a in chosen.val_accuracy]
        chosen.notes.append(_("accuracy was given as a fraction; read as percent"))
    for other in found[1:]:
        if len(other.val_loss) != len(chosen.val_loss) or any(
                abs(a - b) > 1e-3 for a, b in zip(other.val_loss, chosen.val_loss, strict=True)):
            chosen.disagreements.append(_("{other} disagrees with {chosen}", other=other.source,
                                          chosen=chosen.source))
    if len(chosen.val_loss) != len(chosen.val_accuracy):
        chosen.errors.append(_("{losses} loss values but {accuracies} accuracy values", losses=len(chosen.val_loss),
                               accuracies=len(chosen.val_accuracy)))
    if not all(math.isfinite(v) for v in chosen.val_loss + chosen.val_accuracy):
        chosen.errors.append(_("the curves hold NaN or infinite values"))
    if len(chosen.val_loss) < min_epochs:
        chosen.errors.append(_("{epochs} epochs recorded; the assignment asks for at least {min_epochs}",
                               epochs=len(chosen.val_loss), min_epochs=min_epochs))
    return chosen
