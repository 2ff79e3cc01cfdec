"""Unit layer: reading a submitted best.pt safely (never unpickling an object), in each layout students save."""
import os
import pickle
import zipfile

import pytest
import torch

from grader.quiz.checkpoint import CheckpointError, load_checkpoint_file

STATE = {"fc.weight": torch.ones(2, 3), "fc.bias": torch.zeros(2)}


class Payload:
    """Would run code if unpickled."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_the_courses_layout_and_a_bare_state_dict(tmp_path):
    torch.save({"model": STATE, "optimizer": {"state": {}, "param_groups": []}, "epoch": 3}, tmp_path / "a.pt")
    ckpt = load_checkpoint_file(tmp_path / "a.pt")
    assert ckpt.epoch == 3 and set(ckpt.state_dict) == set(STATE) and ckpt.optimizer is not None
    torch.save({"module." + k: v for k, v in STATE.items()}, tmp_path / "b.pt")  # saved from DataParallel
    bare = load_checkpoint_file(tmp_path / "b.pt")
    assert set(bare.state_dict) == set(STATE) and bare.epoch is None and "bare state_dict" in bare.layout


def test_an_object_in_the_file_is_refused_and_never_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"model": STATE, "epoch": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_checkpoint_file(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"not a zip at all", "not a PyTorch checkpoint"),
    (pickle.dumps({"model": 1}), "not a PyTorch checkpoint"),  # a legacy pickle: refused before any loading
])
def test_unusable_files_say_what_to_do(tmp_path, content, message):
    (tmp_path / "best.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint_file(tmp_path / "best.pt")


def test_a_truncated_checkpoint_and_missing_weights(tmp_path):
    torch.save({"model": STATE}, tmp_path / "whole.pt")
    data = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint_file(tmp_path / "cut.pt")
    torch.save({"weights_are_elsewhere": 1, "epoch": 2}, tmp_path / "keys.pt")
    with pytest.raises(CheckpointError, match="none holds the model's weights"):
        load_checkpoint_file(tmp_path / "keys.pt")
    assert zipfile.is_zipfile(tmp_path / "keys.pt")


def test_a_checkpoint_that_inflates_past_its_limit_is_refused_before_loading(tmp_path):
    import zipfile

    import pytest
    import torch

    from grader.quiz.checkpoint import CheckpointError, byte_limit, load_checkpoint_file

    plain = tmp_path / "plain.pt"
    torch.save({"model": {"w": torch.zeros(4_000_000)}}, plain)  # 16 MB of zeros
    small = tmp_path / "best.pt"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    assert small.stat().st_size < 1_000_000  # a small file...
    with pytest.raises(CheckpointError, match="16 MB once unpacked, over the 9 MB"):  # ...that inflates
        load_checkpoint_file(small, byte_limit(20_000))
    assert load_checkpoint_file(small).state_dict["w"].numel() == 4_000_000  # within the default cap it loads


def test_a_tensor_larger_than_its_storage_is_refused(tmp_path):
    import torch

    from grader.quiz.checkpoint import CheckpointError, load_checkpoint_file

    bomb = torch.zeros(1).expand(50_000_000)  # 4 bytes stored, 200 MB once copied
    torch.save({"model": {"fc.weight": bomb}, "epoch": 1}, tmp_path / "best.pt")
    assert (tmp_path / "best.pt").stat().st_size < 10_000
    with pytest.raises(CheckpointError, match="repeated strides"):
        load_checkpoint_file(tmp_path / "best.pt")
