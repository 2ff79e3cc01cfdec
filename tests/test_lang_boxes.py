"""The language across processes: every box (spawned, forked, or forked by the fork server) renders in the language
of the process that asked, the box's own facts are worded in it by the verdict, and a cached report (text in one
language) is keyed by its language and catalog."""
import re

import pytest

from grader.batch import verdict
from grader.batch.cache import submission_key
from grader.batch.entries import Entry
from grader.batch.job import JudgeTask, ObserveTask, check_in_box
from grader.batch.pool import job_key
from grader.batch.resident import full_isolation_works, request_for
from grader.batch.store import KEY_CHANGED, Store
from grader.i18n import current_language, use_language
from grader.report import Report
from grader.sandbox import workdir
from grader.sandbox.limits import IsolationError, Limits, check_isolation
from grader.sandbox.outcome import Outcome
from grader.sandbox.process import GAPS
from grader.sandbox.zygote import Zygote
from grader.spec import load_spec
from tests.conftest import CORPUS

HANGUL = re.compile(r"[\uac00-\ud7a3]")
CASE, ASSIGNMENT = CORPUS / "fail_wrong_kernel_simplecnn.py", "simple-cnn"


def korean(text: str) -> bool:
    return bool(HANGUL.search(text))


def test_a_cached_report_is_keyed_by_its_language(tmp_path):
    spec = load_spec("mlp")
    (tmp_path / "net.py").write_text("x = 1\n")
    with use_language("en"):
        english, english_job = submission_key(spec.path, tmp_path, "s"), job_key(spec, Entry("s", tmp_path), Limits())
        assert submission_key(spec.path, tmp_path, "s") == english  # the same language, the same key
    with use_language("ko"):
        korean_key, korean_job = submission_key(spec.path, tmp_path, "s"), job_key(spec, Entry("s", tmp_path), Limits())
    assert korean_key != english and korean_job != english_job


def test_a_regrade_for_another_language_says_so(tmp_path):
    store = Store(tmp_path / "results.sqlite")
    store.put("ann", "k-en", "ann.py", Report("mlp", "ann"), files="f1")
    store.put("ann", "k-ko", "ann.py", Report("mlp", "ann"), files="f1")
    assert [g.cause for g in store.history("ann")] == [KEY_CHANGED] == ["spec, grader, limits or language changed"]
    store.close()


def test_tasks_and_requests_carry_the_language_of_the_process_that_builds_them():
    spec = load_spec("mlp")
    with use_language("ko"):
        tasks = [ObserveTask(spec, "s"), JudgeTask(spec, "s", b"{}", b"")]
        request = request_for(spec, "", "s", Limits())
    assert current_language() == "en"
    assert [task.lang for task in tasks] == ["ko", "ko"] and request["lang"] == "ko"
    assert ObserveTask(spec, "s").lang == "en"


def _ko(function, *args) -> str:
    with use_language("ko"):
        return function(*args) or ""


needs_korean = pytest.mark.skipif(
    not korean(_ko(verdict.failure_text, Outcome("full", timed_out=True), Limits(), "observe")),
    reason="the Korean catalog is not built (python -m grader.i18n.catalog update --lang ko)")


@needs_korean
def test_the_box_states_facts_and_the_verdict_words_them(tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "work.zip").write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(workdir.Unusable) as raised:
        workdir.unpack(tmp_path)
    fact = str(raised.value)
    assert fact.startswith("work.zip is not a usable zip file (")  # the box's own words: English, always
    outcome = Outcome("full", unusable=fact)
    assert verdict.failure_text(outcome, Limits(), "observe").startswith(fact + ". Hand in a folder")
    worded = _ko(verdict.failure_text, outcome, Limits(), "observe")
    assert korean(worded) and "work.zip" in worded and "not a usable" not in worded
    assert all(korean(text) for text in _ko(verdict.gap_texts, GAPS))
    assert verdict.gap_texts(GAPS)[1] == "network not isolated (not isolated at the process level)"
    with pytest.raises(IsolationError) as level:
        check_isolation("docker")
    assert korean(_ko(verdict.fact_words, str(level.value))) and "'docker'" in _ko(verdict.fact_words,
                                                                                   str(level.value))
    assert verdict.fact_words("[Errno 1] Operation not permitted") == "[Errno 1] Operation not permitted"


def _same_grade(translated, english) -> None:
    assert translated.judged == english.judged == "graph", translated.fatal
    assert [(c.name, c.status, c.score, c.max_score) for c in translated.checks] == \
        [(c.name, c.status, c.score, c.max_score) for c in english.checks]
    assert translated.score == english.score and translated.passed == english.passed
    for check in translated.checks:
        assert not check.message or korean(check.message), f"{check.name}: {check.message}"
    assert next(c for c in translated.checks if c.name == "shapes").status == "fail"
    assert all(not korean(c.message) for c in english.checks)


@pytest.mark.slow
@needs_korean
def test_a_submission_graded_in_korean_in_the_process_boxes():
    """Both stages spawn a fresh interpreter at the process level: only the task tells it the language."""
    spec = load_spec(ASSIGNMENT)
    limits = Limits(wall_s=spec.timeout, isolation="process")
    english = check_in_box(spec, CASE, limits=limits)
    with use_language("ko"):
        translated = check_in_box(spec, CASE, limits=limits)
    _same_grade(translated, english)
    assert all(korean(text) for text in translated.isolation)


@pytest.mark.slow
@pytest.mark.skipif(not full_isolation_works(), reason="the full box needs Linux namespaces")
@needs_korean
def test_a_submission_graded_in_korean_through_the_fork_server():
    """The observe box is forked by a fork server started in English: the task alone carries the language."""
    spec = load_spec(ASSIGNMENT)
    limits = Limits(wall_s=spec.timeout, isolation="full")
    zygote = Zygote()
    zygote.start("grader.batch.job:prepare_parent")
    try:
        english = check_in_box(spec, CASE, limits=limits, launcher=zygote)
        with use_language("ko"):
            translated = check_in_box(spec, CASE, limits=limits, launcher=zygote)
    finally:
        zygote.close()
    _same_grade(translated, english)


@pytest.mark.slow
def test_outputs_rebuilt_in_another_language_stay_in_the_language_the_class_was_graded_in(tmp_path):
    from grader.grading import grade, rebuild_outputs

    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.py").write_text(CASE.read_text())
    spec = load_spec(ASSIGNMENT)
    with use_language("ko"):
        graded = grade(spec, subs, tmp_path / "out", workers=1, limits=Limits(wall_s=60, isolation="process"),
                       progress=False, log=lambda m: None)
    korean_feedback = (tmp_path / "out" / "feedback" / "ann.md").read_text()
    assert graded.reports["ann"].lang == "ko" and korean("\n".join(korean_feedback.splitlines()[:3]))
    built = rebuild_outputs(spec, tmp_path / "out")  # asked in English
    assert built.warning_codes == ["graded_in_other_language"] and "grader grade --lang en" in built.warnings[0]
    assert (tmp_path / "out" / "feedback" / "ann.md").read_text() == korean_feedback  # never half English
