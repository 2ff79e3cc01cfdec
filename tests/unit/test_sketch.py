"""Unit layer: weight sketches and the class-level near-identical flag built on them (memory flat in the class size:
only candidate pairs are loaded)."""
from dataclasses import asdict

import torch

from grader.batch import integrity
from grader.batch.entries import Entry
from grader.batch.integrity import class_flags
from grader.data.mnist import load_mnist
from grader.quiz.sketch import CHUNK, cosine, decode, sketch_state
from grader.report import CheckpointDetails, CheckResult, Report
from grader.spec import load_spec
from reference import get_network
from reference.train import train_epoch


def _report(student: str, state: dict, file_sha: str) -> Report:
    weights = sketch_state(state)
    details = CheckpointDetails("best.pt", file_sha, weights.signature, weights.weights_sha256, weights.sketch)
    return Report("mycnn", student, checks=[CheckResult("checkpoint", "pass", 2, 2, "ok", details=asdict(details))])


def _save(tmp_path, name: str, state: dict) -> Entry:
    folder = tmp_path / name
    folder.mkdir()
    torch.save({"model": state, "epoch": 1}, folder / "best.pt")
    return Entry(name, folder)


def _trained(seed: int, images) -> dict:
    torch.manual_seed(seed)
    model = get_network("mycnn").build()
    train_epoch(model, torch.optim.Adam(model.parameters(), lr=1e-3), images, 64,
                torch.Generator().manual_seed(seed))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_a_checkpoint_plus_noise_is_flagged_and_an_independently_trained_one_is_not(tmp_path, mnist_dir):
    images = load_mnist(True, mnist_dir).subset(256)
    mine, theirs = _trained(0, images), _trained(1, images)
    torch.manual_seed(5)
    noisy = {k: v + 1e-4 * torch.randn_like(v) if v.is_floating_point() else v for k, v in mine.items()}
    states = {"ann": mine, "ben": noisy, "cy": theirs}
    entries = [_save(tmp_path, name, state) for name, state in states.items()]
    reports = {name: _report(name, state, f"file-{name}") for name, state in states.items()}
    assert cosine(reports["ann"].checks[0].details["sketch"], reports["ben"].checks[0].details["sketch"]) > 0.999
    assert abs(cosine(reports["ann"].checks[0].details["sketch"], reports["cy"].checks[0].details["sketch"])) < 0.9
    flags = class_flags(load_spec("mycnn"), entries, reports)
    assert [f.kind for f in flags["ann"]] == ["near-identical weights"] and "ben (" in flags["ann"][0]
    assert "ann (" in flags["ben"][0] and flags["cy"] == []


def test_only_candidate_pairs_are_loaded(tmp_path, monkeypatch):
    torch.manual_seed(0)
    layout = {"conv.weight": (8, 1, 3, 3), "conv.bias": (8,), "fc.weight": (10, 200), "fc.bias": (10,)}
    states = {f"s{i:02d}": {k: torch.randn(shape) for k, shape in layout.items()} for i in range(20)}
    states["copy"] = {k: v + 1e-5 * torch.randn_like(v) for k, v in states["s07"].items()}
    entries = [_save(tmp_path, name, state) for name, state in states.items()]
    reports = {name: _report(name, state, f"file-{name}") for name, state in states.items()}
    loaded = []
    real = integrity._exact_vector
    monkeypatch.setattr(integrity, "_exact_vector", lambda entry, *rest: loaded.append(entry.student) or real(entry, *rest))
    flags = class_flags(load_spec("mycnn"), entries, reports)
    assert sorted(loaded) == ["copy", "s07"]  # 21 students, 210 pairs: two checkpoints read again
    assert "copy (" in flags["s07"][0] and sum(bool(f) for f in flags.values()) == 2


def test_the_sketch_depends_on_the_flattened_weights_alone_and_is_linear():
    torch.manual_seed(0)
    vector = torch.randn(CHUNK + 5000)  # crosses a chunk boundary
    split_a = {"a": vector[:1000], "b": vector[1000:]}
    split_b = {"a": vector[:CHUNK + 10], "b": vector[CHUNK + 10:]}  # other tensor boundaries, same flat vector
    one, two = sketch_state(split_a), sketch_state(split_b)
    assert one.sketch == two.sketch and one.weights_sha256 == two.weights_sha256
    assert one.signature != two.signature  # another layout: never compared with each other
    other = torch.randn_like(vector)
    summed = sketch_state({"a": (vector + other)[:1000], "b": (vector + other)[1000:]}).sketch
    parts = sketch_state({"a": other[:1000], "b": other[1000:]}).sketch
    assert torch.allclose(decode(summed), decode(one.sketch) + decode(parts), atol=1e-3)  # float32 sums
    reordered = sketch_state(dict(reversed(list(split_a.items()))))
    assert reordered == one  # keys are taken in sorted order, whatever the dict's
    assert sketch_state({"steps": torch.tensor(3)}) is None  # no floating-point weights
