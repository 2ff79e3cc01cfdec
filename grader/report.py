"""Check results and the report: plain JSON-serialisable dataclasses, and the printers for people and scripts."""
from __future__ import annotations

import json
import re
from dataclasses import MISSING, asdict, dataclass, field, fields

from grader.i18n import N_, _, current_language
from grader.spec import QUIZ_CHECKS

STATUSES = ("pass", "fail", "error", "skip")
FAILING = ("fail", "error")  # the statuses whose check result carries causes
# How a status is shown to a person (the data keeps the code): in the table, and as a check's heading
STATUS_WORDS = {"pass": N_("pass"), "fail": N_("fail"), "error": N_("error"), "skip": N_("skip")}
STATUS_HEADINGS = {"pass": N_("PASS"), "fail": N_("FAIL"), "error": N_("ERROR"), "skip": N_("SKIP")}


@dataclass
class ClassDetails:
    """The ``class`` check's choice: the class graded ("" for none) and every class considered, each as
    {name, rows (of the table its forward reproduced), problem, chosen} (:mod:`grader.inspection.choose`)."""

    graded: str
    candidates: list[dict]


@dataclass
class ShapesDetails:
    """The ``shapes`` check's rows (label, expected, found, layer, source, ok, issues) and every recorded layer."""

    rows: list[dict]
    records: list[dict]


@dataclass
class ParamsDetails:
    """The ``params`` check's count of the model's trainable parameters (shared ones once)."""

    total: int


@dataclass
class CurvesDetails:
    """The submitted curves the ``curves`` check read: report.html draws them, the integrity flags compare them."""

    val_loss: list[float]
    val_accuracy: list[float]
    source: str
    best_epoch: int


@dataclass
class CheckpointDetails:
    """The submitted best.pt: its path in the submission and the SHA-256 of its bytes (identical-checkpoint flag),
    and what the near-identical-weights flag compares (:mod:`grader.quiz.sketch`): the tensors' layout, the
    SHA-256 of the weights and their fixed-size sketch."""

    file: str
    sha256: str
    signature: str = ""
    weights_sha256: str = ""
    sketch: str = ""  # base64 float32 (grader.quiz.sketch.decode)


@dataclass
class ReevalDetails:
    """What best.pt re-evaluated to: report.html draws it over the curves at ``epoch``."""

    epoch: int | None
    loss: float
    accuracy: float
    preprocessing: str


# The declared shape of each check's ``details`` (a check not listed here has none).
DETAILS = {"class": ClassDetails, "shapes": ShapesDetails, "params": ParamsDetails, "curves": CurvesDetails, "checkpoint": CheckpointDetails,
           "reeval": ReevalDetails}
MAX_OUTPUT = 4000  # characters of the student's own printed output kept in a report


# Why a check failed, typed: code -> (a short label, its meaning). The one list of the codes a check result may
# carry (:class:`Cause`); the codes are stable and language-independent (the words may be translated, the codes
# never change), and docs/grading.md ("Item analysis") documents each. Item analysis groups a class by them.
CAUSES: dict[str, tuple[str, str]] = {
    # class: the model class
    "no_code_file": (N_("no code file"), N_("the submission holds no .py or .ipynb file")),
    "load_error": (N_("code that does not load"), N_("no model class was found and the code raised while loading")),
    "no_model_class": (N_("no model class"), N_("no class builds with no arguments and returns (B, classes)")),
    "constructor_args": (N_("constructor arguments"), N_("__init__ needs arguments the assignment does not pass")),
    "constructor_error": (N_("constructor crash"), N_("__init__ raised when the class was built")),
    "refused_by_judge": (N_("refused model"), N_("the judge refused the exported model (hidden weights, an operator)")),
    "export_unreadable": (N_("unreadable export"), N_("the judge could not read the model the check process exported")),
    # shapes: a table row's layers, and forward() at the recording batch
    "padding": (N_("padding"), N_("a convolution's padding gives another side than the table's")),
    "kernel_size": (N_("kernel size"), N_("a convolution's kernel size gives another side than the table's")),
    "stride": (N_("stride"), N_("a convolution's stride gives another side than the table's")),
    "conv_arithmetic": (N_("convolution arithmetic"), N_("a convolution's side is wrong and no one of K, P, S fixes it")),
    "pool_size": (N_("pool size"), N_("a pool's kernel size or stride gives another side than the table's")),
    "out_channels": (N_("out_channels"), N_("a convolution's out_channels differs from the table's channels")),
    "out_features": (N_("out_features"), N_("a Linear's out_features differs from the table's features")),
    "in_features": (N_("in_features"), N_("a Linear's in_features differs from the features it is given")),
    "in_channels": (N_("in_channels"), N_("a convolution's in_channels differs from the channels it is given")),
    "feature_map_too_small": (N_("feature map size"), N_("a feature map got smaller than the kernel applied to it")),
    "flatten_batch": (N_("batch dimension"), N_("a flatten or view did not keep one row per image")),
    "upstream_shape": (N_("input shape"), N_("the row's input is already off, from a layer no row names")),
    "wrong_shape": (N_("output shape"), N_("the row's layers give another shape than the table's")),
    "missing_layer": (N_("missing layer"), N_("a layer the table's row names is not in the model")),
    "wrong_layer_kind": (N_("layer kind"), N_("the row holds another kind of layer than the table names")),
    "extra_layer": (N_("extra layer"), N_("a layer that is in no row of the table (where: the student's layer)")),
    "not_implemented": (N_("NotImplemented stub"), N_("a layer or method is still NotImplemented")),
    "no_forward": (N_("missing forward()"), N_("the class defines no forward() method")),
    "view_shape": (N_("view/reshape"), N_("a view or reshape asks for a shape that does not fit the data")),
    "batch_fixed": (N_("fixed batch size"), N_("the forward works for one batch size only (view(64, -1), batch_size)")),
    "skipped_name": (N_("name from code not run"), N_("uses a name set by a top-level statement the grader does not run")),
    "name_typo": (N_("misspelled name"), N_("an attribute a module does not have, such as nn.TanH")),
    "forward_error": (N_("forward() crash"), N_("forward() raised an error")),
    # params
    "param_count": (N_("parameter count"), N_("a row's parameters differ from the table's count")),
    "param_total": (N_("total parameter count"), N_("the model's parameters in total differ from the assignment's")),
    # batch, output, determinism, activations
    "batch_output_shape": (N_("output at another batch size"), N_("another batch size gives an output not (B, classes)")),
    "output_not_tensor": (N_("output type"), N_("forward() returns no (B, classes) tensor")),
    "output_not_finite": (N_("non-finite output"), N_("the output holds NaN or infinite values")),
    "output_probabilities": (N_("softmax output"), N_("the output is probabilities (softmax), not what the loss needs")),
    "output_not_log_probs": (N_("not log-probabilities"), N_("the output is not log-probabilities, as NLLLoss needs")),
    "nondeterministic": (N_("randomness in eval mode"), N_("two eval-mode passes give different outputs")),
    "activation_arg_missing": (N_("activation argument"), N_("__init__ takes no activation argument")),
    "activation_build_error": (N_("build with an activation"), N_("the class cannot be built with one activation option")),
    "activation_forward_error": (N_("forward with an activation"), N_("forward() raises with one activation option")),
    "activation_output_shape": (N_("output with an activation"), N_("one activation option gives another output shape")),
    "activation_ignored": (N_("activation not used"), N_("the activation option is taken but not used")),
    # the best.pt quiz
    "curves_missing": (N_("missing curves"), N_("no validation curves were handed in")),
    "curves_invalid": (N_("unreadable curves"), N_("the curves cannot be used (too short, not numbers, lengths differ)")),
    "curves_disagree": (N_("disagreeing curves"), N_("two sources of the curves disagree")),
    "checkpoint_missing": (N_("missing best.pt"), N_("no .pt or .pth file was handed in")),
    "checkpoint_unloadable": (N_("unloadable best.pt"), N_("the checkpoint cannot be read safely as a state_dict")),
    "checkpoint_architecture": (N_("best.pt of another model"), N_("the checkpoint's keys or shapes do not fit the class")),
    "checkpoint_not_finite": (N_("non-finite weights"), N_("the checkpoint holds NaN or infinite weights")),
    "optimizer_mismatch": (N_("optimizer state"), N_("the optimizer state does not fit the model's parameters")),
    "epoch_type": (N_("epoch type"), N_("the checkpoint's epoch is not an int")),
    "epoch_not_best": (N_("saved epoch"), N_("the checkpoint's epoch is not where the loss curve is lowest")),
    "split_seed_missing": (N_("split seed"), N_("curves.json records no split_seed, so the validation split is unknown")),
    "reeval_crash": (N_("re-evaluation crash"), N_("forward() crashed while re-evaluating best.pt")),
    "accuracy_mismatch": (N_("accuracy"), N_("best.pt's accuracy differs from the accuracy curve's")),
    "accuracy_below_floor": (N_("accuracy below the floor"), N_("the model is not trained to the assignment's accuracy")),
    "checkpoint_other_epoch": (N_("weights of another epoch"), N_("best.pt holds the weights of another epoch")),
    "reeval_mismatch": (N_("re-evaluated loss"), N_("best.pt re-evaluates to no loss of the curve, any preprocessing")),
    # a check run that could not finish (every check an error with the same cause)
    "timeout": (N_("time limit"), N_("the run took longer than its time limit")),
    "cpu_limit": (N_("CPU limit"), N_("the run used more CPU time than its limit")),
    "file_size_limit": (N_("file size limit"), N_("the code wrote a file over the size limit")),
    "output_flood": (N_("result pipe flood"), N_("the code sent more than the limit on the grader's result pipe")),
    "channel_tampered": (N_("result pipe tampering"), N_("the code wrote to the grader's own result pipe")),
    "crashed": (N_("crashed process"), N_("the check process was killed or exited without a result")),
    "unusable_submission": (N_("unusable submission"), N_("the submission could not be unpacked or read")),
    "sandbox_unavailable": (N_("no sandbox"), N_("the sandbox could not start, or would have run with the grader's rights")),
    "internal_error": (N_("grader error"), N_("the grader itself failed")),
}


@dataclass(frozen=True)
class Cause:
    """Why a check failed, typed: ``code`` one of :data:`CAUSES`, never read back from a message; ``where`` the
    table row it concerns (``conv2``), else the student's layer attribute, else "" (the submission as a whole)."""

    code: str
    where: str = ""

    def __post_init__(self):
        if self.code not in CAUSES:
            raise ValueError(f"unknown cause code {self.code!r}")

    @property
    def label(self) -> str:
        """The code's short label (``kernel size``), in the current language."""
        return cause_label(self.code)


def cause_label(code: str) -> str:
    """The short label of the cause ``code`` (a key of :data:`CAUSES`) in the current language."""
    return _(CAUSES[code][0])


def cause_meaning(code: str) -> str:
    """What the cause ``code`` means, in the current language."""
    return _(CAUSES[code][1])


def status_word(status: str) -> str:
    """How the status code ``status`` is shown to a person (``pass``; Korean ``통과``)."""
    return _(STATUS_WORDS[status])


@dataclass
class CheckResult:
    """One named check: status is pass, fail, error (could not run because of the code) or skip (with a reason).

    A failing check (fail or error) carries ``causes``: why, typed (:class:`Cause`), the first the main one."""

    name: str
    status: str
    score: float
    max_score: float
    message: str
    required: bool = True
    details: dict | None = None
    gist: str = ""  # one line on why it failed, for the gradebook's reason column ("" = the message's first line)
    causes: list[Cause] = field(default_factory=list)

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")
        if not isinstance(self.causes, list):
            raise TypeError("causes must be a list")
        self.causes = [c if isinstance(c, Cause) else Cause(**c) for c in self.causes]  # dicts: read from JSON
        if self.details is not None:
            shape = DETAILS.get(self.name)
            if shape is None or not isinstance(self.details, dict) \
                    or set(self.details) != {f.name for f in fields(shape)}:
                raise ValueError(f"the details of check {self.name!r} do not have their declared shape")

    def typed_details(self):
        """``details`` as its declared dataclass (:data:`DETAILS`), or None."""
        return DETAILS[self.name](**self.details) if self.details is not None else None


@dataclass
class Report:
    """Everything one check run found, sent from the child process to the parent as JSON."""

    assignment: str
    student: str
    checks: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the grader did: class picked, statements skipped...
    output: str = ""  # what the student's code printed (captured, truncated)
    timings: dict = field(default_factory=dict)
    fatal: str = ""  # set when the check run itself could not complete (timeout, crash, limit)
    isolation: list[str] = field(default_factory=list)  # sandbox limits that could not be applied here
    isolation_level: str = ""  # "full" (Linux namespaces), "process" (a plain child), "" (not sandboxed)
    sandbox_events: list[str] = field(default_factory=list)  # what the code tried: programs, network, writes
    # Who computed the grade: "graph" (a clean process judged the exported model), "in-process: <why>" (the
    # student's own process, flagged for the instructor), "" (not sandboxed: the notebook's self-check)
    judged: str = ""
    # submitted files whose working copy the code changed, replaced or removed while it ran (the grade reads the
    # submitted bytes, so this changes nothing but a flag); set by the grader's own process, never by the child
    changed_files: list[str] = field(default_factory=list)
    # what the judge refused to run, by flag kind ("hidden weights", "refused operator") -> the tensors or operator
    refused: dict[str, list[str]] = field(default_factory=dict)
    lang: str = field(default_factory=current_language)  # the language its sentences were rendered in

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 3)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 3)

    @property
    def passed(self) -> bool:
        """True when every required check passed (skips of optional checks do not count against)."""
        return not self.fatal and all(c.status == "pass" or (c.status == "skip" and not c.required)
                                      for c in self.checks)

    def to_dict(self) -> dict:
        return {"assignment": self.assignment, "student": self.student, "score": self.score,
                "max_score": self.max_score, "passed": self.passed,
                "checks": [asdict(c) for c in self.checks], "notes": self.notes, "output": self.output,
                "timings": self.timings, "fatal": self.fatal, "isolation": self.isolation,
                "isolation_level": self.isolation_level, "sandbox_events": self.sandbox_events,
                "judged": self.judged, "changed_files": self.changed_files, "refused": self.refused, "lang": self.lang}

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        return cls(assignment=data["assignment"], student=data["student"],
                   checks=[CheckResult(**c) for c in data.get("checks", [])], notes=data.get("notes", []),
                   output=data.get("output", ""), timings=data.get("timings", {}), fatal=data.get("fatal", ""),
                   isolation=data.get("isolation", []), isolation_level=data.get("isolation_level", ""),
                   sandbox_events=data.get("sandbox_events", []), judged=data.get("judged", ""),
                   changed_files=data.get("changed_files", []), refused=data.get("refused", {}),
                   lang=data.get("lang", "en"))  # a report cached before the grader spoke Korean


def check_types(report: Report) -> Report:
    """``report`` itself when every field holds its declared type (a report read from a child is the student's to
    write); TypeError naming the first field that does not."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise TypeError(f"report field {what} has the wrong type")

    def strings(value) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    def number(value) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    for name in ("assignment", "student", "output", "fatal", "isolation_level", "judged", "lang"):
        need(isinstance(getattr(report, name), str), name)
    for name in ("notes", "isolation", "sandbox_events", "changed_files"):
        need(strings(getattr(report, name)), name)
    need(isinstance(report.timings, dict) and all(isinstance(k, str) and (number(v) or isinstance(v, bool))
                                                  for k, v in report.timings.items()), "timings")
    need(isinstance(report.refused, dict) and all(k in REFUSAL_KINDS and strings(v) for k, v in report.refused.items()),
         "refused")
    need(isinstance(report.checks, list), "checks")
    for check in report.checks:
        for name in ("name", "status", "message", "gist"):
            need(isinstance(getattr(check, name), str), f"checks.{name}")
        need(number(check.score) and number(check.max_score), "checks.score")
        need(isinstance(check.required, bool), "checks.required")
        need(check.details is None or _details_fit(DETAILS.get(check.name), check.details), "checks.details")
        need(_causes_fit(check), "checks.causes")
    return report


def _causes_fit(check: CheckResult) -> bool:
    """Whether ``check.causes`` lists causes of known codes with text places, and only on a failing check."""
    causes = check.causes
    if not isinstance(causes, list) or len(causes) > MAX_DETAIL_ITEMS or (causes and check.status not in FAILING):
        return False
    return all(isinstance(c, Cause) and isinstance(c.code, str) and c.code in CAUSES and isinstance(c.where, str)
               for c in causes)


MAX_DETAIL_ITEMS = 10_000  # epochs of a curve (grader.quiz.curves reads no more), rows of a table
_FIELD_TYPES = {"str": lambda v: isinstance(v, str), "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
                "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                "list[dict]": lambda v: isinstance(v, list) and all(isinstance(i, dict) for i in v)}
_FIELD_TYPES["int | None"] = lambda v: v is None or _FIELD_TYPES["int"](v)
_FIELD_TYPES["list[float]"] = lambda v: isinstance(v, list) and all(_FIELD_TYPES["float"](i) for i in v)


def _details_fit(cls, details) -> bool:
    """Whether ``details`` holds exactly the fields of the dataclass ``cls``, each of its declared type."""
    if cls is None or not isinstance(details, dict):
        return False
    if any(isinstance(value, list) and len(value) > MAX_DETAIL_ITEMS for value in details.values()):
        return False
    declared = {f.name: f for f in fields(cls)}
    required = {name for name, f in declared.items() if f.default is MISSING and f.default_factory is MISSING}
    if not required <= set(details) <= set(declared):
        return False
    return all(_FIELD_TYPES[str(declared[name].type)](value) for name, value in details.items())


def details_of(report: Report, check: str):
    """The typed details of ``report``'s check named ``check`` (see :data:`DETAILS`), or None."""
    return next((c.typed_details() for c in report.checks if c.name == check and c.details is not None), None)


def exception_line(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for a one-line gist."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}"[:200] if text else type(exc).__name__


def judged_text(report: Report) -> str:
    """How the grade was computed, in words."""
    if report.judged == "graph":
        return _("the exported graph, in a clean process")
    if report.judged.startswith("in-process"):
        why = report.judged.removeprefix("in-process").removeprefix(": ")
        return _("in the student's own process: {why}", why=_(why)) if why else _("in the student's own process")
    return report.judged


def fatal_report(spec, student: str, reason: str, cause: str = "internal_error") -> Report:
    """The report of a check run that could not finish: ``reason`` for the student, every check an error at 0
    whose cause is ``cause`` (a code of :data:`CAUSES`: ``timeout``, ``crashed``...)."""
    not_run = [(n, spec.points[n], _("Not run: the check could not finish (see above).")) for n in spec.model_checks()]
    if spec.quiz.get("enabled"):
        not_run += [(n, spec.quiz["points"][n], _("Not run: the check could not finish.")) for n in QUIZ_CHECKS]
    return Report(assignment=spec.name, student=student, fatal=reason,
                  checks=[CheckResult(n, "error", 0.0, p, text, causes=[Cause(cause)]) for n, p, text in not_run])


# The flag kinds are codes (the data and the filters keep them in English); flag_label shows one to a person.
CHANGED_COPY = N_("working copy changed during the run")
FORGED_OBSERVATION = N_("forged observation")  # grader.judge.provenance: a graph of another class than the one named
REFUSAL_KINDS = (N_("hidden weights"), N_("refused operator"), FORGED_OBSERVATION)  # what the judge will not run
# What an instructor can filter report.html by; every Flag has one of these kinds.
FLAG_KINDS = (N_("identical checkpoint"), N_("identical weights"), N_("near-identical weights"), N_("identical curves"),
              N_("similar source"), N_("source not compared"), N_("sandbox"), N_("graded in-process"), CHANGED_COPY,
              N_("not on the roster"), N_("duplicate submission"), N_("no submission"), *REFUSAL_KINDS)


def flag_label(kind: str) -> str:
    """The flag kind ``kind`` (a code of :data:`FLAG_KINDS`) as a person reads it, in the current language."""
    return _(kind)


class Flag(str):
    """An instructor's flag: its text (it is a ``str``: the gradebook and JSON show the text) and ``kind``, one of
    :data:`FLAG_KINDS`, for filtering. The kind is set where the flag is raised, never read back from the text."""

    kind: str

    def __new__(cls, kind: str, text: str | None = None) -> Flag:
        if kind not in FLAG_KINDS:
            raise ValueError(f"unknown flag kind {kind!r}")
        flag = super().__new__(cls, flag_label(kind) if text is None else text)
        flag.kind = kind
        return flag


def own_flags(report: Report | None) -> list[Flag]:
    """The instructor's flags that one report raises on its own: a grade that rests on the student's own process,
    a working copy the code changed, and what the sandbox refused."""
    if report is None:
        return []
    flags = []
    if report.judged.startswith("in-process"):
        why = report.judged.removeprefix("in-process").removeprefix(": ")
        flags.append(Flag("graded in-process", _("graded in-process: {why}", why=_(why)) if why else None))
    if report.changed_files:
        flags.append(Flag(CHANGED_COPY, f"{flag_label(CHANGED_COPY)}: {', '.join(report.changed_files)}"))
    flags += [Flag(kind, f"{flag_label(kind)}: {', '.join(evidence[:4])}")
              for kind, evidence in sorted(report.refused.items())]
    return flags + [Flag("sandbox", f"{flag_label('sandbox')}: {event}") for event in report.sandbox_events]


def changed_copy_text(report: Report) -> str:
    """What the student reads when their code changed its working copy."""
    return _("your code changed {files} in its working copy while it was checked. Nothing was graded from the "
             "changed copy: the grade reads the files you submitted.", files=", ".join(report.changed_files))


def to_json(report: Report) -> str:
    """The machine-readable document ``grader check --json`` prints."""
    return json.dumps(report.to_dict(), indent=2)


STYLE = {"pass": "green", "fail": "red", "error": "red", "skip": "yellow"}
# ANSI/VT escape sequences (CSI, OSC, and single-character ones) and every other control character but newline and
# tab: printed by a student's code into a terminal, they could wipe the real report and draw another one.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|\x9b[0-?]*[ -/]*[@-~]"
                      r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """``text`` without escape sequences or control characters (newlines and tabs stay)."""
    return _CONTROL.sub("", text)


def render_text(report: Report, console=None) -> None:
    """Print the report for a person: a table of checks, then each message (colour on a terminal)."""
    from rich.console import Console
    from rich.markup import escape as escape_markup
    from rich.table import Table

    def escape(text: str) -> str:  # rich markup and terminal control both neutralised
        return escape_markup(terminal_safe(text))

    console = console or Console(highlight=False, soft_wrap=True)
    submission = escape(_("submission: {student}", student=report.student))
    console.print(f"[bold]{escape(report.assignment)}[/bold]  {submission}")
    for note in report.notes:
        console.print(f"  [dim]-[/dim] {escape(note)}")
    if report.fatal:
        console.print("[bold red]" + escape(_("The check could not finish:")) + f"[/bold red] {escape(report.fatal)}")
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column(_("check"))
    table.add_column(_("status"))
    table.add_column(_("score"), justify="right")
    for check in report.checks:
        table.add_row(escape(check.name), f"[{STYLE[check.status]}]{escape(status_word(check.status))}[/]",
                      f"{check.score:g}/{check.max_score:g}")
    console.print(table)
    for check in report.checks:
        heading = escape(_(STATUS_HEADINGS[check.status]))
        console.print(f"\n[bold {STYLE[check.status]}]{heading}[/] [bold]{check.name}[/]")
        console.print(escape(check.message))
    sandbox = escape(_("Sandbox:"))
    for event in report.sandbox_events:
        line = escape(_("your code {event} (not allowed while grading)", event=event))
        console.print(f"[bold yellow]{sandbox}[/bold yellow] {line}")
    if report.changed_files:
        console.print(f"[bold yellow]{sandbox}[/bold yellow] {escape(changed_copy_text(report))}")
    if report.output:
        console.print("\n[bold]" + escape(_("Your code printed:")) + "[/bold]")
        console.print(terminal_safe(report.output), markup=False, highlight=False)
    _render_footer(report, console, escape)


def _render_footer(report: Report, console, escape) -> None:
    """The report's last lines: the isolation, who judged, the cache, the score."""
    if report.isolation_level:
        isolation = _("isolation: {level}: {gaps}", level=report.isolation_level, gaps="; ".join(report.isolation)) \
            if report.isolation else _("isolation: {level}", level=report.isolation_level)
        console.print(f"\n[dim]{escape(isolation)}[/dim]")
    if report.judged:
        console.print("[dim]" + escape(_("judged: {how}", how=judged_text(report))) + "[/dim]")
    if report.timings.get("cached"):
        console.print("\n[dim]" + escape(_("(from the cache: this exact submission was checked before; --no-cache "
                                            "checks again)")) + "[/dim]")
    verdict = "[green]" + escape(_("all required checks pass")) + "[/green]" if report.passed \
        else "[red]" + escape(_("some checks failed")) + "[/red]"
    console.print("\n" + _("score {score:g}/{max:g}: {verdict}", score=report.score, max=report.max_score,
                           verdict=verdict))
