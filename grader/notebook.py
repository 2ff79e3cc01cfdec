"""Self-check from inside a notebook: ``grader.check(MyCNN, assignment="mycnn")`` and ``grader.check_files(...)``.

Both run in the student's own kernel: the code under test is the student's own, on their own machine, so no
sandbox is needed (the sandbox exists to protect an instructor's grading from a class's code). The result
displays as a table in Jupyter and Colab (``_repr_html_``) and as the usual text report in a terminal.

Both take ``lang`` ("en", "ko"; None: the current language): the checks run and the result displays in it.
"""
from __future__ import annotations

import inspect
import io
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup, escape

from grader.i18n import _, use_language
from grader.report import STATUS_WORDS, STYLE, Report, render_text
from grader.spec import Spec, load_spec

COLOURS = {"green": "#1a7f37", "red": "#cf222e", "yellow": "#9a6700"}


@dataclass
class SelfCheck:
    """A self-check's report, shown as a table in a notebook and as text elsewhere, in ``lang`` (the language
    the check ran in)."""

    report: Report
    lang: str = ""  # "": the language current when it is shown

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def score(self) -> float:
        return self.report.score

    @property
    def max_score(self) -> float:
        return self.report.max_score

    def __str__(self) -> str:
        buffer = io.StringIO()
        from rich.console import Console

        # force_jupyter=False: inside a notebook rich would otherwise display each line instead of writing it here
        with use_language(self.lang):
            render_text(self.report, Console(file=buffer, width=110, highlight=False, soft_wrap=True,
                                             color_system=None, force_jupyter=False))
        return buffer.getvalue()

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        with use_language(self.lang):
            return self._html()

    def _html(self) -> str:
        """The table of ``_repr_html_`` in the current language (the student's text escaped, the markup kept)."""
        rows = Markup("").join(
            Markup("<tr><td><code>{}</code></td><td style='color:{};font-weight:bold'>{}</td><td>{:g}/{:g}</td>"
                   "<td><pre style='white-space:pre-wrap;margin:0'>{}</pre></td></tr>").format(
                check.name, COLOURS[STYLE[check.status]], _(STATUS_WORDS[check.status]), check.score,
                check.max_score, check.message)
            for check in self.report.checks)
        notes = Markup("").join(Markup("<li>{}</li>").format(note) for note in self.report.notes)
        verdict = _("all required checks pass") if self.passed else _("some checks failed")
        colour = COLOURS["green" if self.passed else "red"]
        fatal = Markup("<p style='color:{}'><b>{}</b> {}</p>").format(
            COLOURS["red"], _("The check could not finish:"), self.report.fatal) if self.report.fatal else ""
        return str(Markup(
            "<div><p><b>{}</b>: {}</p>{}<ul>{}</ul><table><thead><tr><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr></thead><tbody>{}</tbody></table><p style='color:{}'><b>{}</b></p>"
            "</div>").format(escape(self.report.assignment), escape(self.report.student), fatal, notes,
                             _("check"), _("status"), _("score"), _("message"), rows, colour,
                             _("score {score:g}/{max:g}: {verdict}", score=self.score, max=self.max_score,
                               verdict=verdict)))


def _spec(assignment: str | Spec) -> Spec:
    return assignment if isinstance(assignment, Spec) else load_spec(assignment)


def live_submission(model_class: type, root: str | Path = "."):
    """A Submission whose only code is ``model_class`` as defined in this interpreter (a notebook cell, a module).

    Its layers are traced back to the lines that created them, as for a submitted file; the module's
    ``batch_size`` / ``BATCH_SIZE``, when it defines one, is kept for the batch and Adam step checks.
    """
    from grader.inspection.load import Submission

    name = model_class.__module__
    module = types.ModuleType(name)
    setattr(module, model_class.__name__, model_class)
    home = sys.modules.get(name)
    for constant in ("batch_size", "BATCH_SIZE"):
        if home is not None and constant in vars(home):
            setattr(module, constant, vars(home)[constant])
    files = {value.__code__.co_filename for klass in model_class.__mro__ if klass.__module__ == name
             for value in vars(klass).values() if hasattr(value, "__code__")}
    sub = Submission(root=Path(root), modules={name: module}, student_files=files)
    try:
        lines, first = inspect.getsourcelines(model_class)
        sub.class_sites[(name, model_class.__name__)] = f"{inspect.getsourcefile(model_class)}:{first}"
    except (OSError, TypeError):
        pass  # defined where no source is kept (exec of a string): the checks still run, without its line
    return sub


def check(model_class: type, assignment: str | Spec, lang: str | None = None) -> SelfCheck:
    """Check a live model class against the assignment's table: class, shapes, params, batch, output, determinism.

    Runs in this interpreter (a notebook's kernel): nothing is sandboxed and nothing trains. ``lang`` ("en",
    "ko") is the language of the whole report; None keeps the current one.
    Example: ``grader.check(MyCNN, assignment="mycnn", lang="ko")``.
    """
    with use_language(lang) as language:
        if not isinstance(model_class, type):
            raise TypeError(_("grader.check takes your model class itself (MyCNN, not MyCNN()), got {value}",
                              value=repr(model_class)))
        import torch

        from grader.inspection.checks import run_model_checks

        spec = _spec(assignment)
        torch.manual_seed(0)
        report = Report(assignment=spec.name, student=model_class.__name__)
        results, notes, _ctx = run_model_checks(spec, live_submission(model_class))
        report.checks.extend(results)
        report.notes.extend(notes)
        return SelfCheck(report, language)


def _class_in_main(spec: Spec) -> type | None:
    main = sys.modules.get("__main__")
    for name in spec.classes:
        value = getattr(main, name, None)
        if isinstance(value, type):
            return value
    return None


def check_files(path: str | Path = ".", assignment: str | Spec = "mycnn", model_class: type | None = None,
                lang: str | None = None) -> SelfCheck:
    """Check the files a quiz hands in (best.pt, the curves) in ``path``: the quiz checks, re-evaluation included.

    ``model_class`` is the class best.pt is loaded into; by default the class of the assignment's name
    (``MyCNN``...) defined in the notebook. ``lang`` as for :func:`check`.
    Example: ``grader.check_files(".", assignment="mycnn")``.
    """
    with use_language(lang) as language:
        return SelfCheck(_quiz_report(Path(path), _spec(assignment), model_class), language)


def _quiz_report(folder: Path, spec: Spec, model_class: type | None) -> Report:
    import torch

    from grader.inspection.load import list_submission_files
    from grader.quiz.checks import run_quiz_checks

    if not spec.quiz.get("enabled"):
        raise ValueError(_("assignment {name} has no quiz (best.pt and curves): use grader.check(YourClass, "
                           "assignment={name})", name=repr(spec.name)))
    if not folder.is_dir():
        raise FileNotFoundError(_("{folder} is not a folder: pass the folder holding best.pt and curves.json",
                                  folder=folder))
    model_class = model_class or _class_in_main(spec)
    if model_class is None:
        raise ValueError(_("no class named {names} is defined here: run the cell that defines it, or pass "
                           "model_class=YourClass", names=_(" or ").join(spec.classes)))
    torch.manual_seed(0)
    sub = list_submission_files(folder)
    live = live_submission(model_class, folder)
    batch_size = next((getattr(m, n) for m in live.modules.values() for n in ("batch_size", "BATCH_SIZE")
                       if isinstance(getattr(m, n, None), int)), None)
    report = Report(assignment=spec.name, student=folder.resolve().name)
    report.notes.append(_("files: {files}; model class: {name}", name=model_class.__name__,
                          files=", ".join(sub.relative(f) for f in sub.other_files) or _("none")))
    from grader.inspection.checks import instantiate

    report.checks.extend(run_quiz_checks(spec, sub, lambda: instantiate(spec, model_class), model_class.__name__,
                                         batch_size))
    return report
