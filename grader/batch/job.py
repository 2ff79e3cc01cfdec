"""One submission through the box, as two stages: observe (runs the student's code), then judge (runs none).

Public interface:

* :class:`SubmissionJob`: ``start()``, ``poll()`` (True once the report is ready), ``fd`` (to select on; it changes
  when the judge stage starts), ``finish()`` (the :class:`~grader.report.Report`), ``abandon()``. The same for both
  isolation levels and for every caller: ``grader check``, the local pool, a cluster worker.
* :class:`ObserveTask` and :class:`JudgeTask`: what runs inside the box at each stage.
* :func:`check_in_box`: one submission, start to end (``grader check``), optionally through the report cache.

The observe stage loads, builds and exports the model (:func:`grader.pipeline.observe_submission`) and sends an
observation and the exported weights, or, when the model cannot be exported, its own report (marked in-process).
What it sends is the student's to write: it is decoded as data and verified, never trusted as a fact. The judge
stage runs in a box of its own, forked afresh, on the observation and the submitted files
(:func:`grader.judge.judge.judge`). The facts about each run (how it ended, what it used, what it changed, what
could not be isolated) come from the box's :class:`~grader.sandbox.outcome.Outcome`, and
:mod:`grader.batch.verdict` alone turns them into words.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import grader
from grader.batch import guard, verdict
from grader.batch.cache import cache_dir
from grader.config import path_setting
from grader.i18n import LANGUAGES, N_, _, current_language, set_language, translations
from grader.report import MAX_OUTPUT, Report, check_types, fatal_report
from grader.sandbox.channel import MAX_CHANNEL_BYTES, decode_json
from grader.sandbox.full import FullJob
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Outcome
from grader.sandbox.process import ProcessJob
from grader.sandbox.view import View, python_view
from grader.spec import QUIZ_CHECKS, Spec

DATA_ENV = ("GRADER_DATA_DIR", "GRADER_CIFAR_DIR")
DATASET_FOLDERS = ("MNIST", "cifar-10-batches-py")  # what a download leaves in ~/.cache/grader
# Why a report was computed in the student's own process (Report.judged is "in-process: " and this, in English:
# grader.report.judged_text translates it where it is shown).
SENT_A_REPORT = N_("the sandbox sent a finished report instead of the model")


MAX_HEAD_BYTES = 1024  # a frame that only says what follows
MAX_REPORT_BYTES = 4 * 1024 * 1024  # a report's JSON: parsing it here must stay cheap whatever a child sent
MAX_OBSERVATION_BYTES = 64 * 1024 * 1024  # parsed by the judge, in its own box, never here


def _message(kind: str, data: dict) -> tuple[bytes, bytes]:
    """A message as its two frames: a small head naming its kind, and the data's JSON."""
    return json.dumps({"kind": kind}).encode(), json.dumps(data).encode()


def _send(send, message: tuple[bytes, bytes], *more: bytes) -> None:
    for part in (*message, *more):
        send(part)


def _set_up(threads: int, device: str, env: dict) -> None:
    os.environ.update(env)
    import torch

    from grader.quiz.evaluate import use_device

    torch.set_num_threads(max(1, threads))
    use_device(device)


@dataclass
class ObserveTask:
    """Inside the box: the student's code loaded, built and exported; one or two frames sent."""

    spec: Spec
    student: str
    threads: int = 1
    device: str = "cpu"
    env: dict = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)  # reference folders to refuse (process level: no view)
    lang: str = field(default_factory=current_language)  # the box's process renders its sentences in the owner's

    def __call__(self, path: Path, send) -> None:
        set_language(self.lang)
        _set_up(self.threads, self.device, self.env)
        guard.forget_reference()
        if self.blocked:
            guard.block_reference(self.blocked)
        from grader.pipeline import Observation, observe_submission

        try:
            result, weights = observe_submission(self.spec, path, self.student)
        except BaseException as exc:  # noqa: BLE001 - a report must reach the owner whatever the student did
            error = f"{type(exc).__name__}: {exc}"
            result, weights = fatal_report(self.spec, self.student, _("internal error while checking: {error}",
                                                                      error=error)), b""
        if isinstance(result, Observation):
            _send(send, _message("observation", result.to_dict()), weights)
        else:
            _send(send, _message("report", result.to_dict()))


@dataclass
class JudgeTask:
    """Inside a fresh box: the judge's report of one observation (no student code runs here)."""

    spec: Spec
    student: str
    observation: bytes  # the observe stage's JSON, as it sent it: parsed here, in the judge's box
    weights: bytes
    threads: int = 1
    device: str = "cpu"
    env: dict = field(default_factory=dict)
    lang: str = field(default_factory=current_language)  # the judge's sentences, in the owner's language

    def __call__(self, path: Path, send) -> None:
        set_language(self.lang)
        _set_up(self.threads, self.device, self.env)
        from grader.judge.judge import judge
        from grader.pipeline import ObservationError

        try:
            observation = _observation(self.observation, self.student)
        except ObservationError as exc:
            _send(send, _message("report", self._forged(exc).to_dict()))
            return
        try:
            report = judge(self.spec, path, observation, self.weights)
        except ObservationError as exc:
            report = self._forged(exc)
        except Exception as exc:  # noqa: BLE001 - the judge's own failure is an internal error, said as such
            error = f"{type(exc).__name__}: {exc}"
            report = fatal_report(self.spec, self.student, _("internal error while judging: {error}", error=error))
        _send(send, _message("report", report.to_dict()))

    def _forged(self, exc: Exception) -> Report:
        return fatal_report(self.spec, self.student, _(
            "the observation your code's process sent is not one the grader accepts ({error}): your code wrote to the "
            "grader's own pipe.", error=exc), "channel_tampered")


def _observation(data: bytes, student: str):
    """The observation in ``data`` (the observe stage's JSON), as the job's ``student``; ObservationError else."""
    from grader.pipeline import Observation, ObservationError

    if len(data) > MAX_OBSERVATION_BYTES:
        raise ObservationError(_("over {mb} MB", mb=MAX_OBSERVATION_BYTES // 2**20))
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ObservationError(_("not JSON: {error}", error=type(exc).__name__)) from None
    if not isinstance(parsed, dict):
        raise ObservationError(_("not a record"))
    parsed["student"] = student  # who this is, the job knows; the observation's word is not taken
    return Observation.from_dict(parsed)


def observe_channel_limit(spec: Spec) -> int:
    """What the observe stage may send: the exported weights of a model of the spec's parameter count (8 bytes a
    number at most, half again for buffers), the graph's JSON beside them; the channel's own cap when the spec
    gives no count. A flood past it is stopped early, so the grader's memory stays near an honest class's."""
    params = spec.params_total or spec.params_max
    return MAX_CHANNEL_BYTES if params is None else min(MAX_CHANNEL_BYTES, 12 * params + 16 * 2**20)


def task_environment() -> dict[str, str]:
    """The environment a task needs inside the box: where the datasets are."""
    return {name: str(folder) for name in DATA_ENV if (folder := path_setting(name)) is not None}


def box_view(limits: Limits) -> View:
    """What the full box shows: Python and its packages, the grader, the datasets; not the reference solutions,
    the report cache, or anything of other students or of the instructor."""
    extra = [os.path.dirname(os.path.abspath(grader.__file__))] + list(task_environment().values())
    home_cache = Path.home() / ".cache" / "grader"
    extra += [str(home_cache / name) for name in DATASET_FOLDERS if (home_cache / name).is_dir()]
    return python_view(extra, guard.reference_locations() + [str(cache_dir())], cuda=limits.device == "cuda")


def _output(text: str) -> str:
    return text[:MAX_OUTPUT] + "\n" + _("... (output truncated)") if len(text) > MAX_OUTPUT else text


class SubmissionJob:
    """One submission: the observe stage, then (when it sent a model) the judge stage; see the module docstring."""

    def __init__(self, spec: Spec, source: str | Path, student: str, limits: Limits, group=None, launcher=None):
        self.spec, self.source, self.student, self.limits = spec, Path(source).resolve(), student, limits
        self.group, self.launcher = group, launcher
        self.stage = "observe"
        self.box: FullJob | ProcessJob | None = None
        self.observed: Outcome | None = None
        self.report: Report | None = None
        self.began = 0.0
        self.lang = current_language()  # the owner's: every box renders in it, and the report records it

    @property
    def fd(self) -> int:
        """The descriptor of the running stage's channel (-1 at the process level: poll instead)."""
        return self.box.fd if self.box is not None else -1

    def _start_box(self, task) -> None:
        limit = observe_channel_limit(self.spec) if self.stage == "observe" else MAX_REPORT_BYTES + (1 << 20)
        if self.limits.isolation == "process":
            self.box = ProcessJob(task, self.source, self.limits, limit, as_nobody=self.stage == "observe")
        else:
            # Only the observe stage runs student code: it alone needs the fork server's clean memory.
            # The judge keeps uid 0 of a root grader (without any capability) to read root-only data folders.
            observing = self.stage == "observe"
            self.box = FullJob(task, self.source, self.limits, box_view(self.limits), self.group,
                               self.launcher if observing else None, as_nobody=observing, channel_limit=limit)
        self.box.start()

    def start(self) -> None:
        """Start the observe stage; returns at once."""
        self.began = time.monotonic()
        blocked = guard.reference_locations() if self.limits.isolation == "process" else []
        self._start_box(ObserveTask(self.spec, self.student, self.limits.threads, self.limits.device,
                                    task_environment(), blocked, lang=self.lang))

    def poll(self) -> bool:
        """Advance; True once the report is ready (``finish`` returns it)."""
        if self.report is not None:
            return True
        assert self.box is not None, "start() first"
        if not self.box.poll():
            return False
        outcome = self.box.outcome()
        if self.stage == "observe":
            self._after_observe(outcome)
        else:
            self._after_judge(outcome)
        return self.report is not None

    def _after_observe(self, outcome: Outcome) -> None:
        self.observed = outcome
        failure = verdict.failure(outcome, self.limits, "observe")
        if failure is not None:
            cause, text = failure
            self.report = self._finished(fatal_report(self.spec, self.student, text, cause))
            return
        frames = outcome.frames
        assert frames is not None  # failure_text said so
        kind = _kind(frames)
        if kind == "observation" and len(frames) == 3:
            self.stage = "judge"
            self._start_box(JudgeTask(self.spec, self.student, frames[1], frames[2], self.limits.threads,
                                      self.limits.device, task_environment(), lang=self.lang))
        elif kind == "report" and len(frames) == 2 and len(frames[1]) <= MAX_REPORT_BYTES \
                and (report := _readable(self.spec, self.student, decode_json(frames[1]), self.lang)) is not None:
            self.report = self._finished(_in_process(report))
        else:  # an honest observe stage sends exactly one well-formed message: this one was written by the code
            self.report = self._finished(fatal_report(self.spec, self.student, verdict.tampered_text(),
                                                      "channel_tampered"), tampered=True)

    def _after_judge(self, outcome: Outcome) -> None:
        failure = verdict.failure(outcome, self.limits, "judge")
        report = None
        frames = outcome.frames
        if failure is None and frames and len(frames) == 2 and _kind(frames) == "report" \
                and len(frames[1]) <= MAX_REPORT_BYTES:
            report = _readable(self.spec, self.student, decode_json(frames[1]), self.lang)
        if report is None:
            cause, text = failure or ("internal_error", _("internal error: the judge sent no report."))
            report = fatal_report(self.spec, self.student, text, cause)
        elif not report.fatal:
            report.judged = "graph"
        self.report = self._finished(report)

    def _finished(self, report: Report, tampered: bool = False) -> Report:
        """``report`` with the observe stage's facts: what it printed, could not isolate, did and changed."""
        seen = self.observed or Outcome(self.limits.isolation)
        report.output = _output(seen.output)
        report.isolation = verdict.gap_texts(seen.gaps)
        report.sandbox_events = verdict.box_events(seen) or ([_(verdict.TAMPERED)] if tampered else [])
        report.changed_files = verdict.changed_texts(seen)
        report.isolation_level = seen.level
        report.timings["wall_s"] = round(time.monotonic() - self.began, 3)
        return report

    def finish(self) -> Report:
        """The report of a job that ``poll`` said is ready."""
        assert self.report is not None, "poll() until it says True"
        return self.report

    def abandon(self) -> None:
        """Stop a job whose result is no longer wanted (Ctrl-C) and clean up after it."""
        if self.box is not None and self.report is None:
            self.box.abandon()


def _kind(frames: list[bytes]) -> str | None:
    """The kind a message's head frame names (a head longer than a head can be names nothing)."""
    head = decode_json(frames[0]) if frames and len(frames[0]) <= MAX_HEAD_BYTES else None
    return head.get("kind") if isinstance(head, dict) and isinstance(head.get("kind"), str) else None


def _readable(spec: Spec, student: str, data, lang: str | None = None) -> Report | None:
    """The report in ``data``, of its declared types, as this job's student in the job's language ``lang``
    (default: the current one); None when it is not one. The language is the job's word, never the box's: the
    observe box runs the student's code, which may set any language there (and rebuilt outputs are written in
    the language the reports record)."""
    if not isinstance(data, dict):
        return None
    try:
        report = check_types(Report.from_dict(data))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if not _fits_spec(spec, report):
        return None
    report.assignment, report.student, report.lang = spec.name, student, lang or current_language()
    report.timings.pop("cached", None)  # only this process's cache answers "from the cache"
    return report


def _fits_spec(spec: Spec, report: Report) -> bool:
    """Whether every check of ``report`` is one of ``spec``'s, once, with the spec's points as its maximum and a
    score between 0 and that maximum (a report a box sends is the box's to write)."""
    points = {name: float(spec.points[name]) for name in spec.model_checks()}
    if spec.quiz.get("enabled"):
        points.update({name: float(spec.quiz["points"][name]) for name in QUIZ_CHECKS})
    names = [check.name for check in report.checks]
    return len(names) == len(set(names)) and all(
        check.name in points and check.max_score == points[check.name] and 0 <= check.score <= check.max_score
        for check in report.checks)


def _in_process(report: Report) -> Report:
    """A report the observe stage computed in the student's own process: marked so, whatever it says."""
    report.refused = {}  # only the judge refuses
    if report.fatal and report.score == 0:
        report.judged = ""
    elif not report.judged.startswith("in-process"):
        report.judged = "in-process: " + SENT_A_REPORT  # English, as every Report.judged (a code and its why)
    return report


def run_job(job: SubmissionJob, pause: float = 0.02) -> Report:
    """Start ``job`` and wait for its report."""
    job.start()
    while not job.poll():
        time.sleep(pause)
    return job.finish()


def check_in_box(spec: Spec, path: str | Path, student: str | None = None, limits: Limits | None = None,
                 use_cache: bool = False, launcher=None, cache_dir: Path | None = None) -> Report:
    """Check ``path`` against ``spec`` in the box; a timeout or crash becomes a report with ``fatal`` set.

    With ``use_cache``, an unchanged submission (same files, spec and grader code) is answered from the cache
    (``cache_dir``, default :func:`grader.batch.cache.cache_dir`). The boxes fork from this process (the observe
    box from ``launcher`` when given): a caller holding other students' data passes a zygote."""
    from grader.batch import cache
    from grader.sandbox import cgroup

    path = Path(path).resolve()
    student = student or path.stem
    limits = limits or Limits(wall_s=spec.timeout)
    key = cache.submission_key(spec.sources or spec.path, path, f"{student}\0{limits.isolation}") if use_cache else ""
    if key:
        cached = cache.load(key, cache_dir)
        if cached is not None:
            return cached
    group = None
    if limits.isolation == "full":
        # torch.export (1 s) is imported by the observe box itself, while this process imports the rest: the
        # judge's box forks from here and needs none of it
        prepare_parent(export=False)
        cgroup.clean_stale()
        group = cgroup.make_cgroup(0, limits.processes)
    try:
        report = run_job(SubmissionJob(spec, path, student, limits, group, launcher))
    finally:
        cgroup.remove_cgroup(group)
    if key:
        cache.store(key, report, cache_dir)
    return report


def prepare_parent(export: bool = True) -> None:
    """Import what every box needs once, in the process it is forked from, so a fork pays for none of it.
    ``export``: torch.export too (about 1 s), which only the observe stage uses."""
    import matplotlib
    import torch  # noqa: F401

    if export:
        import torch.export._trace  # noqa: F401 - imports torch._dynamo: once, not in every child

    matplotlib.use("Agg")
    import matplotlib.font_manager  # noqa: F401 - the font list, read once: a child importing pyplot would build

    # it again (running fc-list), so a report would depend on the parent's state.
    import grader.inspection.checks  # noqa: F401
    import grader.judge.judge  # noqa: F401
    import grader.pipeline  # noqa: F401
    import grader.quiz.checks  # noqa: F401
    from grader.data.mnist import DataError, load_mnist

    for lang in LANGUAGES:  # every catalog compiled once: a box renders in its task's language without reading one
        translations(lang)

    try:
        load_mnist(False)  # the quiz's validation split, read once and shared with every child
    except DataError:
        pass  # the quiz will say so in each report
