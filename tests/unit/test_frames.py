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
