"""Unit layer: who an entry is comes from the part of its name the LMS writes, never from a name a student chose."""
from grader.batch.entries import find_entries, lms_identity


def test_lms_written_ids():
    assert lms_identity("Kim Minji_123456_assignsubmission_file_") == "123456"
    assert lms_identity("김민지_123456_assignsubmission_file_10001.py") == "123456"
    assert lms_identity("leejun_LATE_4242_99_model.py") == "4242" and lms_identity("leejun_4242_99_lab.py") == "4242"
    assert lms_identity("10001.py") is None and lms_identity("alice") is None


def test_a_file_named_after_a_classmate_does_not_take_their_row(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\n10001,Victim Park\n67890,Eve Attacker\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "Eve Attacker_67890_assignsubmission_file_10001.py").write_text("x = 1\n")  # flattened Moodle export
    (subs / "Victim Park_10001_assignsubmission_file_model.py").write_text("x = 2\n")
    found = find_entries(subs, roster)
    by_student = {entry.student: entry.path.name for entry in found.entries}
    assert by_student == {"67890": "Eve Attacker_67890_assignsubmission_file_10001.py",
                          "10001": "Victim Park_10001_assignsubmission_file_model.py"}
    assert not found.missing and all(not entry.flags for entry in found.entries)


def test_a_name_that_matches_two_rows_is_flagged_not_picked(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\nann,Ann\nbob,Bob\n")
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann_and_bob.py").write_text("x = 1\n")
    entry = find_entries(subs, roster).entries[0]
    assert entry.student == "ann_and_bob" and "matches several roster rows (ann, bob)" in entry.flags[0]
