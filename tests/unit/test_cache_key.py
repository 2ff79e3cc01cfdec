"""Unit layer: the report cache's key frames every field, so no crafted file collides with another folder."""
import os

from grader.batch.cache import submission_key
from grader.spec import load_spec


def test_a_crafted_file_does_not_collide_with_a_folder(tmp_path):
    spec = load_spec("mlp").path
    two = tmp_path / "two"
    two.mkdir()
    (two / "a.py").write_bytes(b"x = 1\n")
    (two / "b.py").write_bytes(b"y = 2\n")
    # one file whose bytes spell out the old key's stream for "a.py" followed by "b.py"
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.py").write_bytes(b"x = 1\n\0sub:b.py\0y = 2\n")
    assert submission_key(spec, two, "s") != submission_key(spec, one, "s")
    # the same files give the same key, and a changed byte another
    assert submission_key(spec, two, "s") == submission_key(spec, two, "s")
    (two / "b.py").write_bytes(b"y = 3\n")
    assert submission_key(spec, two, "s") != submission_key(spec, one, "s")


def test_a_name_that_is_not_utf8_still_keys(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / os.fsdecode(b"mod\xff.py")).write_text("x = 1\n")
    assert len(submission_key(load_spec("mlp").path, folder, os.fsdecode(b"stu\xff"))) == 64
