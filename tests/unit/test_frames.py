"""Unit layer: the sandbox's result channel and its working-copy fingerprints, without starting a sandbox."""
import os


def test_working_copy_fingerprints_see_changes_and_ignore_additions(tmp_path):
    from grader.batch.sandbox import changed_files, working_copy

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


def test_only_the_last_frame_can_be_the_supervisors_trailer():
    from grader.batch.sandbox import message, split_frames, take_trailer, trailer

    report = message("report", {"assignment": "mycnn"})
    data, changed = take_trailer(report + trailer(["best.pt"]))
    assert data == report and changed == ["best.pt"]
    forged = trailer([]) + report  # written by the student's code before the checker's report
    data, changed = take_trailer(forged + trailer(["best.pt"]))
    assert changed == ["best.pt"] and len(split_frames(data)) == 2  # the forged one stays: a tampered channel
    assert take_trailer(report) == (report, None)


def _report_frame(data, **head):
    import json

    from grader.batch.sandbox import _frame
    return _frame(json.dumps({"kind": "report", "data": data, "isolation": [], "events": [], **head}).encode())


def test_a_frame_too_deep_or_of_the_wrong_types_is_a_fatal_row_not_a_crash():
    from grader.batch.sandbox import _frame, _parse_frame
    from grader.spec import load_spec

    spec = load_spec("mlp")
    deep = _frame(b'{"kind": "report", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert "tampered" in _parse_frame(deep, spec, "s").fatal
    assert "tampered" in _parse_frame(_report_frame({"assignment": "mlp", "student": "s"}, isolation=5), spec, "s").fatal
    wrong = {"assignment": "mlp", "student": "s", "checks": [
        {"name": "class", "status": "pass", "score": "lots", "max_score": 1.0, "message": "m"}]}
    assert "unreadable" in _parse_frame(_report_frame(wrong), spec, "s").fatal
    fine = _parse_frame(_report_frame({"assignment": "mlp", "student": "s", "notes": ["n"]}), spec, "s")
    assert not fine.fatal and fine.notes == ["n"]


def test_a_channel_past_its_cap_stops_the_job_and_drops_what_it_sent(monkeypatch, tmp_path):
    import time

    from grader.batch import sandbox

    monkeypatch.setattr(sandbox, "MAX_CHANNEL_BYTES", 1 << 20)
    read, write = os.pipe()
    os.set_blocking(read, False)
    job = sandbox.Running(pid=os.getpid(), read_fd=read, capture=open(tmp_path / "out", "w+b"), work=str(tmp_path),
                          cgroup=None, student="s", deadline=time.monotonic() + 60, began=time.monotonic())
    job.status = 0  # as if reaped: only the channel is under test
    for _ in range(40):
        os.write(write, b"x" * 65536)
        sandbox._read_available(job)
        if job.overflow:
            break
    assert job.overflow and job.chunks == [] and job.received <= (1 << 20) + 65536
    assert sandbox._poll_child(job)
    os.close(write)
    os.close(read)
    job.capture.close()
