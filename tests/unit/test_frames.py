"""Unit layer: the box's pure pieces without starting a box: the channel codec, the work folder (copy, unzip,
fingerprints), the file-system view, the verdict's words, the judge-side decoding of what a child sent, the config."""
import os
import zipfile

import pytest

from grader.batch import verdict
from grader.batch.job import _in_process, _readable
from grader.config import ConfigError, read_config
from grader.sandbox.channel import Reader, decode_json, frame, split_frames
from grader.sandbox.limits import Limits
from grader.sandbox.outcome import Gap, Outcome, decode_gaps
from grader.sandbox.view import python_view
from grader.sandbox.workdir import Unusable, changed_files, copy_submission, unpack, working_copy
from grader.spec import load_spec


def test_working_copy_fingerprints_see_changes_and_ignore_additions(tmp_path):
    folder = tmp_path / "submission" / "dan"
    folder.mkdir(parents=True)
    for name in ("model.py", "best.pt", "curves.json", "notes.txt"):
        (folder / name).write_text(name)
    (folder / "link").symlink_to("model.py")
    before = working_copy(tmp_path)
    assert sorted(before) == ["submission/dan/best.pt", "submission/dan/curves.json", "submission/dan/link",
                              "submission/dan/model.py", "submission/dan/notes.txt"]
    (folder / "best.pt").write_text("other")
    (folder / "curves.json").unlink()
    os.mkfifo(folder / "curves.json")  # a planted FIFO must not block the reader
    (folder / "notes.txt").unlink()
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "model.pyc").write_text("new files are not changes")
    (folder / "link").unlink()
    (folder / "link").symlink_to("best.pt")
    after = working_copy(tmp_path, before)
    assert after["submission/dan/curves.json"] == "not a regular file"
    assert after["submission/dan/notes.txt"] == "missing"
    assert changed_files(before, after) == ["best.pt", "curves.json", "link", "notes.txt"]
    assert changed_files(before, working_copy(tmp_path / "nothing", before)) == sorted(
        ["best.pt", "curves.json", "link", "model.py", "notes.txt"])


def test_special_files_and_undecodable_names_are_unusable_not_a_crash(tmp_path):
    fifo = tmp_path / "fifo-student"
    fifo.mkdir()
    (fifo / "model.py").write_text("x = 1")
    os.mkfifo(fifo / "pipe")
    with pytest.raises(Unusable, match="pipe is a special file"):
        copy_submission(fifo, tmp_path / "work1")
    odd = tmp_path / "odd-student"
    odd.mkdir()
    (odd / os.fsdecode(b"mod\xffel.py")).write_text("x = 1")
    with pytest.raises(Unusable, match="not valid UTF-8"):
        copy_submission(odd, tmp_path / "work2")


def test_a_zip_is_unpacked_bounded_and_without_escapes(tmp_path):
    run = tmp_path / "run"
    good = tmp_path / "carol.zip"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("carol/model.py", "x = 1")
    copy_submission(good, run)
    assert unpack(run) == run / "unpacked" / "carol" / "carol" and (unpack(run) / "model.py").is_file()
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../outside.py", "x = 1")
    copy_submission(evil, tmp_path / "run2")
    with pytest.raises(Unusable, match="unsafe path in the archive"):
        unpack(tmp_path / "run2")
    assert not (tmp_path / "outside.py").exists()
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    copy_submission(tmp_path / "bad.zip", tmp_path / "run3")
    with pytest.raises(Unusable, match="bad.zip is not a usable zip file"):
        unpack(tmp_path / "run3")


def test_frames_split_only_when_whole_and_deep_json_is_refused():
    data = frame(b"one") + frame(b"") + frame(b"three")
    assert split_frames(data) == [b"one", b"", b"three"]
    assert split_frames(data[:-1]) is None and split_frames(b"\x00" * 7) is None and split_frames(b"") == []
    assert decode_json(b"[" * 100_000 + b"]" * 100_000) is None
    assert decode_json(b"\xff") is None and decode_json(b'{"a": 1}') == {"a": 1}


def test_a_channel_past_its_cap_overflows_and_drops_what_it_sent():
    read, write = os.pipe()
    os.set_blocking(read, False)
    reader = Reader(read, limit=1 << 20)
    for _ in range(40):
        os.write(write, b"x" * 65536)
        reader.read_available()
        if reader.overflow:
            break
    assert reader.overflow and reader.chunks == [] and reader.received <= (1 << 20) + 65536
    os.close(write)
    os.close(read)


def _report(data, **head):
    return {"kind": "report", "data": data, **head}


def test_what_a_child_sent_is_read_as_data_of_its_declared_types():
    spec = load_spec("mycnn")
    assert _readable(spec, "s", {"assignment": "mycnn", "student": "s", "isolation": 5}) is None
    wrong = {"assignment": "mycnn", "student": "s", "checks": [
        {"name": "class", "status": "pass", "score": "lots", "max_score": 1.0, "message": "m"}]}
    assert _readable(spec, "s", wrong) is None
    forged = {"assignment": "mycnn", "student": "s", "notes": ["n"], "judged": "graph",
              "refused": {"hidden weights": ["someone else"]}, "sandbox_events": []}
    report = _in_process(_readable(spec, "s", {**forged, "student": "alice", "timings": {"cached": True}}))
    assert report.judged.startswith("in-process") and report.refused == {} and report.notes == ["n"]
    assert report.student == "s" and "cached" not in report.timings  # the job knows who; only its cache answers
    assert _readable(spec, "s", {"assignment": 3}) is None and _readable(spec, "s", [1]) is None
    curves = {"name": "curves", "status": "pass", "score": 1.0, "max_score": 1.0, "message": "m",
              "details": {"val_loss": ["boom"], "val_accuracy": [1.0], "source": "c", "best_epoch": 1}}
    assert _readable(spec, "s", {"assignment": "mycnn", "student": "s", "checks": [curves]}) is None
    curves["details"]["val_loss"] = [0.5]
    assert _readable(spec, "s", {"assignment": "mycnn", "student": "s", "checks": [curves]}) is not None


def test_gaps_decode_only_known_kinds():
    assert decode_gaps([["network", "EPERM"], ["made up", "x"], "junk", [1, 2]]) == [Gap("network", "EPERM")]
    with pytest.raises(ValueError):
        Gap("made up")


def test_the_verdict_words_each_fact_the_same_for_every_level():
    limits = Limits(wall_s=7, cpu_s=20, file_size_mb=3, isolation="process")
    for level in ("full", "process"):
        cases = {
            "did not finish within 7 s": Outcome(level, timed_out=True),
            "more than 20 s of CPU time": Outcome(level, frames=[], cpu_exceeded=True, signal=9),
            "over the 3 MB limit": Outcome(level, frames=[], file_too_large=True, signal=25),
            "killed by SIGSEGV": Outcome(level, frames=[], signal=11),
            "tampered with": Outcome(level, frames=None),
            "more than 256 MB": Outcome(level, overflow=True),
            "exit code 4": Outcome(level, frames=[], exit_code=4),
            "not a usable zip file (x). Hand in a folder, or a zip": Outcome(level, unusable="a.zip is not a usable zip file (x)"),
        }
        for words, outcome in cases.items():
            assert words in verdict.failure_text(outcome, limits, "observe"), words
    assert "judging your exported model took over 7 s" in verdict.failure_text(Outcome("full", timed_out=True),
                                                                                 limits, "judge")
    assert verdict.failure_text(Outcome("full", frames=[b"{}"]), limits, "observe") is None
    assert verdict.box_events(Outcome("full", frames=None)) == [verdict.TAMPERED]
    assert verdict.box_events(Outcome("full", frames=None, timed_out=True)) == []
    assert verdict.gap_texts([Gap("network", "EPERM"), Gap("network", "EPERM")]) == ["network not isolated (EPERM)"]


def test_the_view_holds_python_but_hides_what_is_asked(tmp_path):
    secret = tmp_path / "course" / "reference"
    secret.mkdir(parents=True)
    view = python_view([str(tmp_path / "course")], [str(secret), "/nowhere/else"])
    assert str(tmp_path / "course") in view.bind and view.hide == [str(secret)]
    assert "/etc" not in view.bind and "/etc/shadow" not in view.bind
    assert "/etc/ld.so.cache" in view.bind or not os.path.exists("/etc/ld.so.cache")
    assert not any(path.startswith(os.path.expanduser("~/.cache")) for path in view.bind)


def test_the_config_is_read_once_from_the_environment(tmp_path):
    config = read_config({"GRADER_ASSIGNMENTS": str(tmp_path), "GRADER_ISOLATION": "Process",
                          "OMP_NUM_THREADS": "3", "GRADER_CACHE_DIR": "~/c"})
    assert config.assignments == tmp_path and config.isolation == "process" and config.cores == 3
    assert str(config.cache_dir) == os.path.expanduser("~/c")
    assert read_config({}).isolation is None and read_config({}).assignments is None
    with pytest.raises(ConfigError, match="GRADER_ISOLATION='chroot': choose full or process"):
        read_config({"GRADER_ISOLATION": "chroot"})
