"""Assignment specs: one folder per assignment under ``assignments/<name>/`` holding ``spec.toml``.

A spec is data: the layer table, parameter counts, output convention, candidate class names, points and
tolerances. Adding an assignment is adding a folder; a bad spec raises :class:`SpecError` naming file and field.
The format is documented in docs/spec-format.md.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.config import path_setting
from grader.errors import GraderError
from grader.i18n import N_, _
from grader.late import LateError, validate_late_table

ASSIGNMENTS_ENV = "GRADER_ASSIGNMENTS"
OUTPUTS = ("log_probs", "logits")
QUIZ_CHECKS = ("curves", "checkpoint", "optimizer", "epoch", "reeval")  # in report order, see grader.quiz.checks
DEFAULT_POINTS = {"class": 1.0, "shapes": 4.0, "params": 2.0, "batch": 1.0, "output": 1.0, "determinism": 1.0}
OPTIONAL_POINTS = {"activations": 1.0}  # checks a spec turns on with its own field (``activations``)
MODEL_CHECKS = tuple(DEFAULT_POINTS) + tuple(OPTIONAL_POINTS)  # every model check, in report order
DATASETS = ("mnist", "cifar10")
# Training images per epoch when the quiz's [quiz] table does not say: MNIST's 60,000; the course's CIFAR-10 split
# trains on 40,000 of the 50,000 (grader.data.cifar). Used for the optimizer's step-count warning.
TRAIN_SIZES = {"mnist": 60000, "cifar10": 40000}
# Each default of the [quiz] and [integrity] tables, in one place: a parsed spec holds every key.
# min_val_accuracy: the percent of validation images best.pt must get right when re-evaluated (0: no floor)
QUIZ_DEFAULTS = {"enabled": False, "min_epochs": 1, "loss_rel_tol": 0.002, "correct_tol": 3, "min_val_accuracy": 0.0}
QUIZ_POINTS_DEFAULT = 1.0  # per quiz check the [quiz].points table does not name
QUIZ_FIELDS = (*QUIZ_DEFAULTS, "points", "train_size")
INTEGRITY_DEFAULTS = {"weight_cosine": 0.999}  # flag two checkpoints whose flattened weights are this similar
INTEGRITY_FIELDS = tuple(INTEGRITY_DEFAULTS)
# The [similarity] table: the source-similarity flags of the batch grader (grader.batch.similarity; the defaults
# are set on a real-shaped class, docs/grading.md "Source similarity"). kgram: tokens per fingerprinted run; window:
# winnowing window (a match of kgram + window - 1 tokens is always seen); a pair is flagged when either side has
# min_share of its fingerprints in the other and the matched spans cover min_tokens of each side's own tokens; a
# fingerprint held by more than max_common submissions (or 5% of a larger class) is skipped; compare_models:
# compare the __init__ and forward of the nn.Module classes too (false: the layer table, alike in every correct
# solution); boilerplate: files, folders or .zip files (relative to the assignment's folder) of code every student
# may use (a tutorial, a starter under another name), removed like the starter's.
SIMILARITY_DEFAULTS = {"kgram": 12, "window": 6, "min_share": 0.35, "min_tokens": 200, "max_common": 10,
                       "compare_models": False, "boilerplate": []}
SIMILARITY_LIMITS = {"kgram": (4, 100), "window": (1, 100), "min_share": (0.01, 1.0), "min_tokens": (0, 10**6),
                     "max_common": (2, 1000)}  # each key's lowest and highest value
TOP_FIELDS = ("title", "input_shape", "classes", "rows", "output", "num_classes", "params_total", "points",
              "batch_sizes", "timeout", "load_timeout", "checks_timeout", "quiz", "reference", "integrity", "dataset",
              "init_args", "activations", "model_class", "gradescope", "late",
              "similarity")
ROW_FIELDS = ("label", "layers", "shape", "params")
# Gradescope's per-test visibility (its autograder specification), set per check in the [gradescope] table
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
GRADESCOPE_FIELDS = ("visibility", "leaderboard")


class SpecError(GraderError):
    """A spec file is missing, unreadable or has a bad field; the message names the file and the field."""


@dataclass(frozen=True)
class Row:
    """One row of a layer table: the layers it groups (each a ``|``-separated set of accepted kinds)."""

    label: str
    layers: tuple[tuple[str, ...], ...]
    shape: tuple  # ("B", 32, 26, 26)
    params: int | None = None

    def shape_text(self, batch: int | None = None) -> str:
        dims = [str(batch) if (d == "B" and batch is not None) else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ")"


@dataclass(frozen=True)
class Spec:
    """A parsed assignment spec (see docs/spec-format.md for each field)."""

    name: str
    path: Path
    title: str
    input_shape: tuple[int, ...]
    rows: tuple[Row, ...]
    classes: tuple[str, ...]
    output: str = "log_probs"
    num_classes: int = 10
    params_total: int | None = None
    params_min: int | None = None
    params_max: int | None = None
    batch_sizes: tuple[int, ...] = (3, 5)
    timeout: float = 60.0  # the whole job, the quiz's re-evaluations included
    load_timeout: float = 30.0  # loading the student's code and building the class
    checks_timeout: float = 60.0  # the model checks that run the student's forward (recording, export)
    points: dict = field(default_factory=lambda: dict(DEFAULT_POINTS))
    quiz: dict = field(default_factory=dict)
    integrity: dict = field(default_factory=dict)  # class-level flags of the batch grader (see grader.integrity)
    reference: str | None = None
    dataset: str = "mnist"  # where the quiz re-evaluates best.pt: mnist (t10k) or cifar10 (the seed's split)
    init_args: dict = field(default_factory=dict)  # keyword arguments the student's class is built with
    activations: dict = field(default_factory=dict)  # {arg, options}: build the class once per option
    model_class: str = ""  # pins the class to grade by name; "" chooses by the table (grader.inspection.choose)
    gradescope: dict = field(default_factory=dict)  # {visibility: {check: level}, leaderboard: bool}
    late: dict = field(default_factory=dict)  # the [late] table as given (grader.late.late_policy); {} when none
    similarity: dict = field(default_factory=dict)  # the [similarity] thresholds, every SIMILARITY_DEFAULTS key
    sources: tuple[Path, ...] = ()  # every spec.toml this one was read from: ``extends`` bases first, then ``path``

    def model_checks(self) -> list[str]:
        """The model checks this spec runs, in report order."""
        return [name for name in MODEL_CHECKS if name in self.points]

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def shown_title(self) -> str:
        """The title in the current language (the catalog's translation of ``title``; the title itself when the
        catalog has none, as for a course's own assignment)."""
        return _(self.title)

    def budgets(self) -> dict[str, float]:
        """Seconds per phase that runs student code (never more than the whole job's ``timeout``)."""
        return {"load": min(self.load_timeout, self.timeout), "checks": min(self.checks_timeout, self.timeout)}

    @property
    def train_size(self) -> int:
        """Training images per epoch: the [quiz] table's ``train_size``, else the dataset's own."""
        return int(self.quiz.get("train_size", TRAIN_SIZES[self.dataset]))


PACKAGED_ASSIGNMENTS = Path(__file__).resolve().parent / "assignments"  # in an installed wheel
SOURCE_ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"  # in the course repository


def assignments_root() -> Path:
    """The folder holding one sub-folder per assignment.

    ``$GRADER_ASSIGNMENTS`` (``grader --course DIR``) when set; else the assignments shipped inside the installed
    wheel (``grader/assignments``); else, in the course repository, its top-level ``assignments/``.
    """
    chosen = path_setting(ASSIGNMENTS_ENV)
    if chosen is not None:
        return chosen
    return PACKAGED_ASSIGNMENTS if PACKAGED_ASSIGNMENTS.is_dir() else SOURCE_ASSIGNMENTS


def list_assignments(root: Path | None = None) -> list[str]:
    """Names of every folder under the assignments root that holds a spec.toml, sorted."""
    root = root or assignments_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "spec.toml").is_file())


def load_spec(name_or_path: str | os.PathLike, root: Path | None = None) -> Spec:
    """Load an assignment by name (a folder under the root) or by the path of its spec.toml / folder."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        path = candidate
    elif (candidate / "spec.toml").is_file():
        path = candidate / "spec.toml"
    else:
        root = root or assignments_root()
        path = root / str(name_or_path) / "spec.toml"
        if not path.is_file():
            names = ", ".join(list_assignments(root)) or _("(none found)")
            raise SpecError(_("unknown assignment {name}; valid names: {names}", name=repr(str(name_or_path)),
                              names=names))
    data, sources = _read_extended(path, root)
    return dataclasses.replace(parse_spec(data, path), sources=tuple(sources))


MAX_EXTENDS = 4


def _read_extended(path: Path, root: Path | None, depth: int = 0) -> tuple[dict, list[Path]]:
    """The data of the spec at ``path`` with its ``extends`` base (an assignment's name) merged under it: tables
    key by key, any other value replaced. Returns (data, the files read, bases first)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(_("{path}: cannot read the spec: {error}", path=path, error=exc)) from None
    base = data.pop("extends", None)
    if base is None:
        return data, [path]
    if not isinstance(base, str) or not base or depth >= MAX_EXTENDS:
        raise SpecError(_("{path}: field 'extends' must name one assignment, e.g. extends = \"mycnn\" (at most "
                          "{levels} levels deep), found {found}", path=path, levels=MAX_EXTENDS, found=repr(base)))
    base_path = (root or assignments_root()) / base / "spec.toml"
    if not base_path.is_file() or base_path.resolve() == path.resolve():
        names = ", ".join(list_assignments(root)) or _("(none found)")
        raise SpecError(_("{path}: 'extends' names {base}, which is not another assignment; valid names: {names}",
                          path=path, base=repr(base), names=names))
    base_data, sources = _read_extended(base_path, root, depth + 1)
    return _merged(base_data, data), sources + [path]


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def parse_spec_text(text: str | list[str], name: str) -> Spec:
    """A spec from the text of a spec.toml, named ``name`` (a cluster worker gets the spec as text, not a file);
    a list is an ``extends`` chain as :func:`spec_texts` gives it, merged in order."""
    path = Path(f"<{name}>") / name / "spec.toml"
    data: dict = {}
    for part in [text] if isinstance(text, str) else text:
        try:
            layer = tomllib.loads(part)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(_("{path}: cannot read the spec: {error}", path=path, error=exc)) from None
        layer.pop("extends", None)
        data = _merged(data, layer)
    return parse_spec(data, path)


def spec_texts(spec: Spec) -> list[str]:
    """The texts of every file ``spec`` was read from (its ``extends`` chain, base first), for :func:`parse_spec_text`."""
    return [Path(p).read_text(encoding="utf-8") for p in (spec.sources or (spec.path,))]


def _need(data: dict, key: str, kind, path: Path, where: str = ""):
    if key not in data:
        raise SpecError(_("{path}: field {field} is missing", path=path, field=where + repr(key)))
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise SpecError(_("{path}: field {field} must be {kind}, found {found}", path=path, field=where + repr(key),
                          kind=_kind_name(kind), found=repr(value)))
    return value


def _no_unknown(table: dict, known, path: Path, where: str = "") -> None:
    """SpecError on the first key of ``table`` not in ``known``, with the closest known one as a hint."""
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.6)
            hint = _("did you mean {name}?", name=repr(close[0])) if close \
                else _("known fields: {names}", names=", ".join(known))
            raise SpecError(_("{path}: unknown field '{field}': {hint}", path=path, field=where + str(key), hint=hint))


KIND_NAMES = {str: N_("a string"), int: N_("an integer"), list: N_("a list"), dict: N_("a table"),
              float: N_("a number"), bool: N_("true or false")}


def _kind_name(kind) -> str:
    """What a value of ``kind`` (a type, or a tuple of them) is called in a message: "a string or a list"."""
    names = [_(KIND_NAMES[k]) if k in KIND_NAMES else k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,))]
    text = names[0]
    for name in names[1:]:
        text = _("{first} or {second}", first=text, second=name)
    return text


def _shape(value, path: Path, where: str) -> tuple:
    if not isinstance(value, list) or not value:
        raise SpecError(_("{path}: field {field} must be a non-empty list like [\"B\", 32, 26, 26], found {found}",
                          path=path, field=where, found=repr(value)))
    for i, d in enumerate(value):
        if not (d == "B" and i == 0) and not (isinstance(d, int) and not isinstance(d, bool) and d > 0):
            raise SpecError(_("{path}: field {field} entry {index} must be a positive integer (or \"B\" first), found "
                              "{found}", path=path, field=where, index=i, found=repr(d)))
    return tuple(value)


def _rows(data: dict, path: Path) -> list[Row]:
    rows = []
    for i, raw in enumerate(_need(data, "rows", list, path)):
        where = f"rows[{i}]."
        if not isinstance(raw, dict):
            raise SpecError(_("{path}: field 'rows[{index}]' must be a table ([[rows]])", path=path, index=i))
        label = _need(raw, "label", str, path, where)
        layers = _need(raw, "layers", list, path, where)
        if not layers or not all(isinstance(k, str) and k for k in layers):
            raise SpecError(_("{path}: field '{where}layers' must list layer kinds like [\"Conv2d\", \"ReLU\"], found "
                              "{found}", path=path, where=where, found=repr(layers)))
        shape = _shape(raw.get("shape"), path, f"'{where}shape'")
        if shape[0] != "B":
            raise SpecError(_("{path}: field '{where}shape' must start with \"B\" (the batch), found {found}",
                              path=path, where=where, found=repr(list(shape))))
        params = raw.get("params")
        if params is not None and (not isinstance(params, int) or isinstance(params, bool) or params < 0):
            raise SpecError(_("{path}: field '{where}params' must be a non-negative integer, found {found}",
                              path=path, where=where, found=repr(params)))
        _no_unknown(raw, ROW_FIELDS, path, where)
        rows.append(Row(label, tuple(tuple(k.split("|")) for k in layers), shape, params))
    if not rows:
        raise SpecError(_("{path}: field 'rows' must hold at least one row", path=path))
    return rows


def _params_total(data: dict, path: Path) -> tuple[int | None, int | None, int | None]:
    total = data.get("params_total")
    if isinstance(total, int) and not isinstance(total, bool):
        return total, None, None
    if isinstance(total, dict):
        low, high = total.get("min"), total.get("max")
        if not isinstance(low, int) or not isinstance(high, int) or low > high:
            raise SpecError(_("{path}: field 'params_total' as a range must be {{min = N, max = M}} with N <= M, "
                              "found {found}", path=path, found=repr(total)))
        return None, low, high
    if total is not None:
        raise SpecError(_("{path}: field 'params_total' must be an integer or {{min = N, max = M}}, found {found}",
                          path=path, found=repr(total)))
    return None, None, None


def _points(data: dict, path: Path) -> dict:
    points = dict(DEFAULT_POINTS)
    raw_points = data.get("points", {})
    if not isinstance(raw_points, dict):
        raise SpecError(_("{path}: field 'points' must be a table", path=path))
    _no_unknown(raw_points, MODEL_CHECKS, path, "points.")
    for key, value in raw_points.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise SpecError(_("{path}: field 'points.{key}' must be a non-negative number, found {found}",
                              path=path, key=key, found=repr(value)))
        points[key] = float(value)
    return points


def _timeouts(data: dict, path: Path) -> dict[str, float]:
    timeouts = {}
    for key, default in (("timeout", 60), ("load_timeout", 30), ("checks_timeout", 60)):
        value = data.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise SpecError(_("{path}: field {field} must be a positive number of seconds, found {found}",
                              path=path, field=repr(key), found=repr(value)))
        timeouts[key] = float(value)
    return timeouts


def _quiz(data: dict, path: Path) -> dict:
    quiz = data.get("quiz", {})
    if not isinstance(quiz, dict):
        raise SpecError(_("{path}: field 'quiz' must be a table", path=path))
    _no_unknown(quiz, QUIZ_FIELDS, path, "quiz.")
    if not isinstance(quiz.get("points", {}), dict):
        raise SpecError(_("{path}: field 'quiz.points' must be a table, e.g. {{ reeval = 3 }}", path=path))
    _no_unknown(quiz.get("points", {}), QUIZ_CHECKS, path, "quiz.points.")
    train_size = quiz.get("train_size", 1)
    if not isinstance(train_size, int) or isinstance(train_size, bool) or train_size < 1:
        raise SpecError(_("{path}: field 'quiz.train_size' must be a positive integer, found {found}", path=path,
                          found=repr(train_size)))
    for key, value in quiz.get("points", {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise SpecError(_("{path}: field 'quiz.points.{key}' must be a non-negative number, found {found}",
                              path=path, key=key, found=repr(value)))
    floor = quiz.get("min_val_accuracy", 0.0)
    if not isinstance(floor, (int, float)) or isinstance(floor, bool) or not 0 <= floor <= 100:
        raise SpecError(_("{path}: field 'quiz.min_val_accuracy' must be a percent from 0 to 100, found {found}",
                          path=path, found=repr(floor)))
    return {**QUIZ_DEFAULTS, **quiz, "min_val_accuracy": float(floor),
            "points": {name: float(quiz.get("points", {}).get(name, QUIZ_POINTS_DEFAULT)) for name in QUIZ_CHECKS}}


def _activations(data: dict, path: Path, points: dict) -> dict:
    activations = data.get("activations", {})
    if activations and not (isinstance(activations, dict) and isinstance(activations.get("arg"), str)
                            and isinstance(activations.get("options"), list) and activations["options"]
                            and all(isinstance(o, str) for o in activations["options"])):
        raise SpecError(_("{path}: field 'activations' must be {{ arg = \"act\", options = [\"relu\", ...] }}, "
                          "found {found}", path=path, found=repr(activations)))
    if activations and "activations" not in points:
        points["activations"] = OPTIONAL_POINTS["activations"]
    if not activations:
        points.pop("activations", None)
    return activations


def _integrity(data: dict, path: Path) -> dict:
    integrity = data.get("integrity", {})
    if not isinstance(integrity, dict) or not all(isinstance(v, (int, float)) for v in integrity.values()):
        raise SpecError(_("{path}: field 'integrity' must be a table of numbers, e.g. {{ weight_cosine = 0.999 }}",
                          path=path))
    _no_unknown(integrity, INTEGRITY_FIELDS, path, "integrity.")
    return {**INTEGRITY_DEFAULTS, **integrity}


def _similarity(data: dict, path: Path) -> dict:
    table = data.get("similarity", {})
    if not isinstance(table, dict):
        raise SpecError(_("{path}: field 'similarity' must be a table, e.g. {{ min_share = 0.5, min_tokens = 300 }}",
                          path=path))
    _no_unknown(table, SIMILARITY_DEFAULTS, path, "similarity.")
    similarity = {**SIMILARITY_DEFAULTS, **table}
    if not isinstance(similarity["compare_models"], bool):
        raise SpecError(_("{path}: field 'similarity.compare_models' must be true or false, found {found}",
                          path=path, found=repr(similarity["compare_models"])))
    files = similarity["boilerplate"]
    if not isinstance(files, list) or not all(isinstance(name, str) and name.strip() for name in files):
        raise SpecError(_("{path}: field 'similarity.boilerplate' must be a list of paths relative to the "
                          "assignment's folder, e.g. [\"tutorial/mnist_main.py\"], found {found}",
                          path=path, found=repr(files)))
    similarity["boilerplate"] = list(files)
    for key, value in similarity.items():
        if key in ("compare_models", "boilerplate"):
            continue
        low, high = SIMILARITY_LIMITS[key]
        whole = isinstance(SIMILARITY_DEFAULTS[key], int)
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not low <= value <= high:
            if whole:
                raise SpecError(_("{path}: field 'similarity.{key}' must be an integer from {low} to {high}, found "
                                  "{found}", path=path, key=key, low=low, high=high, found=repr(value)))
            raise SpecError(_("{path}: field 'similarity.{key}' must be a share from {low:g} to {high:g}, found "
                              "{found}", path=path, key=key, low=low, high=high, found=repr(value)))
        similarity[key] = value if whole else float(value)
    return similarity


def _gradescope(data: dict, path: Path, checks: list[str]) -> dict:
    table = data.get("gradescope", {})
    if not isinstance(table, dict):
        raise SpecError(_("{path}: field 'gradescope' must be a table, e.g. {{ visibility = {{ reeval = "
                          "\"after_published\" }} }}", path=path))
    _no_unknown(table, GRADESCOPE_FIELDS, path, "gradescope.")
    visibility = table.get("visibility", {})
    if not isinstance(visibility, dict):
        raise SpecError(_("{path}: field 'gradescope.visibility' must be a table of check = level", path=path))
    _no_unknown(visibility, checks, path, "gradescope.visibility.")
    for check, level in visibility.items():
        if level not in VISIBILITIES:
            raise SpecError(_("{path}: field 'gradescope.visibility.{check}' must be one of {choices}, found {found}",
                              path=path, check=check, choices=list(VISIBILITIES), found=repr(level)))
    leaderboard = table.get("leaderboard", True)
    if not isinstance(leaderboard, bool):
        raise SpecError(_("{path}: field 'gradescope.leaderboard' must be true or false, found {found}", path=path,
                          found=repr(leaderboard)))
    return {"visibility": dict(visibility), "leaderboard": leaderboard}


def _late(data: dict, path: Path) -> dict:
    """The spec's [late] table as given, checked (grader.late lays it over the course file's)."""
    table = data.get("late")
    if table is None:
        return {}
    try:
        return validate_late_table(table, _("field {name}", name="late"))
    except LateError as exc:
        raise SpecError(f"{path}: {exc}") from None


def _choice(data: dict, key: str, allowed, default, path: Path):
    value = data.get(key, default)
    if value not in allowed:
        raise SpecError(_("{path}: field {field} must be one of {choices}, found {found}", path=path, field=repr(key),
                          choices=list(allowed), found=repr(value)))
    return value


def parse_spec(data: dict, path: Path) -> Spec:
    """Validate a spec's TOML data; raise SpecError naming the file and field on the first problem."""
    path = Path(path)
    title = _need(data, "title", str, path)
    input_shape = _shape(_need(data, "input_shape", list, path), path, "'input_shape'")
    if input_shape[0] == "B":
        input_shape = input_shape[1:]
    classes = _need(data, "classes", list, path)
    if not classes or not all(isinstance(c, str) and c.isidentifier() for c in classes):
        raise SpecError(_("{path}: field 'classes' must list class names like [\"MyCNN\", \"Net\"], found {found}",
                          path=path, found=repr(classes)))
    rows = _rows(data, path)
    output = _choice(data, "output", OUTPUTS, "log_probs", path)
    params_total, params_min, params_max = _params_total(data, path)
    points = _points(data, path)
    batch_sizes = data.get("batch_sizes", [3, 5])
    if not isinstance(batch_sizes, list) or not all(isinstance(b, int) and b > 0 for b in batch_sizes):
        raise SpecError(_("{path}: field 'batch_sizes' must list positive integers, found {found}", path=path,
                          found=repr(batch_sizes)))
    dataset = _choice(data, "dataset", DATASETS, "mnist", path)
    init_args = data.get("init_args", {})
    if not isinstance(init_args, dict):
        raise SpecError(_("{path}: field 'init_args' must be a table of keyword arguments, e.g. {{ act = \"relu\" }}",
                          path=path))
    activations = _activations(data, path, points)
    model_class = data.get("model_class", "")
    if not isinstance(model_class, str) or (model_class and not model_class.isidentifier()):
        raise SpecError(_("{path}: field 'model_class' must be a class name like \"SimpleVGG\", found {found}",
                          path=path, found=repr(model_class)))
    num_classes = data.get("num_classes", 10)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise SpecError(_("{path}: field 'num_classes' must be a positive integer, found {found}", path=path,
                          found=repr(num_classes)))
    _no_unknown(data, TOP_FIELDS, path)
    quiz = _quiz(data, path)
    checks = [*points, *(QUIZ_CHECKS if quiz["enabled"] else ())]
    return Spec(name=path.parent.name, path=path, title=title, input_shape=tuple(input_shape), rows=tuple(rows),
                classes=tuple(classes), output=output, num_classes=num_classes, params_total=params_total,
                params_min=params_min, params_max=params_max, batch_sizes=tuple(batch_sizes),
                **_timeouts(data, path),  # type: ignore[arg-type]  # timeout, load_timeout, checks_timeout
                points=points, quiz=quiz, reference=data.get("reference"),
                integrity=_integrity(data, path), dataset=dataset, init_args=init_args, activations=activations,
                model_class=model_class, late=_late(data, path), similarity=_similarity(data, path),
                gradescope=_gradescope(data, path, checks))
