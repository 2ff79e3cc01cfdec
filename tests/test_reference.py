"""The reference side: networks against their tables, data, checkpointing, training, the reference CLI."""
import gzip
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import grader.data.mnist
from grader.data.mnist import DataError, load_mnist
from grader.quiz.curves import read_png_curves
from grader.quiz.evaluate import validate
from reference import NETWORKS, get_network
from reference.checkpoint import load_checkpoint, save_checkpoint, should_save
from reference.train import run
from tests.conftest import run_cli


def docstring_table(module) -> tuple[list[tuple], int]:
    """The layer table a reference module's docstring shows: (label, output shape, params or None) rows and the total."""
    lines = module.__doc__.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("===")]
    rows, label = [], None
    for line in lines[rules[1] + 1:rules[2]]:
        if not line.startswith(" "):
            label = line.split()[0]  # a row's label; a wrapped row continues on indented lines
        found = re.search(r"\(B((?:, \d+)+)\)\s*([\d,]*)\s*$", line)
        if found and label != "input":
            params = found.group(2).replace(",", "")
            rows.append((label, ("B", *(int(d) for d in found.group(1).split(", ")[1:])), int(params) if params else None))
    total = int(re.search(r"Total: ([\d,]+) parameters", module.__doc__).group(1).replace(",", ""))
    return rows, total


@pytest.mark.parametrize("name", ["mlp", "simple-cnn", "vgg-like", "mycnn", "lenet-320", "cnn-5x5"])
def test_the_reference_docstring_shows_the_specs_table(name):
    # the table is written in the spec (graded) and in the docstring (read by TAs): they must not drift apart
    import importlib

    from grader.spec import load_spec

    module = importlib.import_module("reference." + name.replace("-", "_"))
    rows, total = docstring_table(module)
    spec = load_spec(name)
    assert rows == [(r.label, r.shape, r.params) for r in spec.rows]
    assert total == spec.params_total


# (leaf module attribute -> output shape at B=2), total parameters: written from the course tables.
TABLES = {
    "mlp": ({"fc1": (2, 50), "fc2": (2, 50), "fc3": (2, 10)}, 42310),
    "simple-cnn": ({"conv1": (2, 20, 26, 26), "pool1": (2, 20, 13, 13), "conv2": (2, 50, 11, 11),
                    "pool2": (2, 50, 5, 5), "conv3": (2, 20, 3, 3), "fc1": (2, 100), "fc2": (2, 10)}, 37380),
    "vgg-like": ({"features.0": (2, 64, 30, 30), "features.2": (2, 64, 15, 15), "features.3": (2, 128, 17, 17),
                  "features.5": (2, 128, 8, 8), "features.8": (2, 256, 10, 10), "features.9": (2, 256, 5, 5),
                  "features.12": (2, 512, 5, 5), "features.13": (2, 512, 2, 2), "features.16": (2, 512, 2, 2),
                  "features.17": (2, 512, 1, 1), "classifier.0": (2, 512), "classifier.1": (2, 100),
                  "classifier.3": (2, 100), "classifier.5": (2, 10)}, 9281738),
    "mycnn": ({"conv1": (2, 32, 26, 26), "conv2": (2, 64, 24, 24), "pool": (2, 64, 12, 12),
               "dropout1": (2, 64, 12, 12), "fc1": (2, 128), "dropout2": (2, 128), "fc2": (2, 10)}, 1199882),
    "lenet-320": ({"conv1": (2, 10, 24, 24), "conv2": (2, 20, 8, 8), "fc": (2, 10)}, 8490),
    "cnn-5x5": ({"layer1.0": (2, 16, 24, 24), "layer1.2": (2, 32, 20, 20), "layer1.4": (2, 32, 10, 10),
                 "layer2.0": (2, 64, 6, 6), "layer2.2": (2, 128, 2, 2), "fc": (2, 10)}, 274570),
}


MNIST_NETWORKS = sorted(n for n, net in NETWORKS.items() if net.dataset == "mnist")  # CIFAR-10: tests/test_cifar.py


@pytest.mark.parametrize("name", MNIST_NETWORKS)
def test_reference_matches_its_table(name):
    shapes, total = TABLES[name]
    torch.manual_seed(0)
    model = get_network(name).build().eval()
    seen = {}
    modules = dict(model.named_modules())
    def hook(attr):
        def record(module, inputs, output):
            seen.setdefault(attr, tuple(output.shape))
        return record

    for attr in shapes:
        modules[attr].register_forward_hook(hook(attr))
    with torch.no_grad():
        out = model(torch.rand(2, 1, 28, 28))
    assert seen == shapes
    assert sum(p.numel() for p in model.parameters()) == total
    assert out.shape == (2, 10)
    if get_network(name).log_probs:
        assert torch.allclose(out.exp().sum(1), torch.ones(2), atol=1e-5)


@pytest.mark.slow
def test_every_reference_batch_size_independent():
    for name, net in NETWORKS.items():
        model = net.build().eval()
        shape = (3, 32, 32) if net.dataset == "cifar10" else (1, 28, 28)
        for batch in (1, 3, 7):
            with torch.no_grad():
                assert model(torch.rand(batch, *shape)).shape == (batch, 10), name


def test_packaged_validation_split_loads_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path))  # nothing there: falls back to the packaged copy
    val = load_mnist(False, download=False)
    assert val.images.shape == (10000, 28, 28) and val.images.dtype == torch.uint8
    assert val.labels.shape == (10000,) and int(val.labels[0]) == 7
    assert Path(val.source).is_relative_to(Path(grader.data.mnist.__file__).parent)  # shipped with the grader


def test_training_split_from_data_dir(mnist_dir):
    train = load_mnist(True, mnist_dir, download=False)
    assert train.images.shape == (60000, 28, 28) and int(train.labels[0]) == 5


def test_missing_training_data_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADER_DATA_DIR", raising=False)
    monkeypatch.setattr("grader.data.mnist.CACHE_DIR", tmp_path / "cache")
    with pytest.raises(DataError) as err:
        load_mnist(True, tmp_path / "nowhere", download=False)
    text = str(err.value)
    assert "nowhere" in text and "--data-dir" in text and "GRADER_DATA_DIR" in text


@pytest.mark.slow
def test_corrupt_data_fails_its_checksum(tmp_path, mnist_dir):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.copy(mnist_dir / "MNIST" / "raw" / name, raw / name)
    data = bytearray((raw / "t10k-images-idx3-ubyte").read_bytes())
    data[5000] ^= 0xFF
    (raw / "t10k-images-idx3-ubyte").write_bytes(bytes(data))
    with pytest.raises(DataError, match="SHA-256"):
        load_mnist(False, tmp_path)
    (raw / "t10k-images-idx3-ubyte").unlink()
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(data))[:1000])
    with pytest.raises(DataError, match="gzip"):
        load_mnist(False, tmp_path)


@pytest.mark.parametrize("losses,expected", [
    ([], False), ([0.5], True), ([0.5, 0.4], True), ([0.5, 0.6], False), ([0.5, 0.4, 0.4], False),
    ([0.5, 0.3, 0.4, 0.2], True), ([0.5, 0.3, 0.4, 0.35], False),
])
def test_save_condition(losses, expected):
    assert should_save(losses) is expected


def test_checkpoint_round_trip_and_training_resumes(tmp_path):
    torch.manual_seed(0)
    model = get_network("mycnn").build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.nll_loss(model(x), y).backward()
        opt.step()
    save_checkpoint(tmp_path / "best.pt", model, opt, 2, best_val_loss=0.5)
    raw = torch.load(tmp_path / "best.pt", weights_only=True, map_location="cpu")
    assert set(raw) == {"model", "optimizer", "epoch", "best_val_loss"} and raw["epoch"] == 2

    restored = get_network("mycnn").build()
    restored_opt = torch.optim.Adam(restored.parameters(), lr=1e-3)
    state = load_checkpoint(tmp_path / "best.pt", restored, restored_opt)
    assert state["epoch"] == 2
    model.eval(), restored.eval()
    assert torch.equal(model(x), restored(x))
    assert restored_opt.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"] == 2
    # one more step from both gives the same weights: training continues where it stopped
    for m, o in ((model, opt), (restored, restored_opt)):
        m.train()
        torch.manual_seed(1)
        o.zero_grad()
        torch.nn.functional.nll_loss(m(x), y).backward()
        o.step()
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), restored.state_dict().values(), strict=True))


def test_short_training_lowers_loss_and_writes_artifacts(tmp_path, mnist_dir):
    result = run("mlp", tmp_path, epochs=2, train_limit=3000, data_dir=mnist_dir, progress=False, log=lambda *a: None)
    assert len(result.val_loss) == 2 and result.val_loss[1] < result.val_loss[0] < 2.0
    curves = json.loads((tmp_path / "curves.json").read_text())
    assert curves["val_loss"] == result.val_loss and curves["val_accuracy"] == result.val_accuracy
    assert 80 < curves["val_accuracy"][1] <= 100
    for plot in ("val_loss.png", "val_acc.png"):
        assert read_png_curves(tmp_path / plot) == {"val_loss": result.val_loss, "val_accuracy": result.val_accuracy}
    state = torch.load(tmp_path / "best.pt", weights_only=True, map_location="cpu")
    assert state["epoch"] == 2
    model = get_network("mlp").build()
    model.load_state_dict(state["model"])
    loss, _, acc = validate(model, load_mnist(False))
    assert loss == pytest.approx(result.val_loss[1], rel=1e-5) and acc == result.val_accuracy[1]


@pytest.mark.slow
def test_training_is_deterministic_and_resume_reproduces_it(tmp_path, mnist_dir):
    kwargs = dict(train_limit=1500, data_dir=mnist_dir, progress=False, log=lambda *a: None)
    full = run("simple-cnn", tmp_path / "full", epochs=2, **kwargs)
    again = run("simple-cnn", tmp_path / "again", epochs=2, **kwargs)
    assert full.val_loss == again.val_loss
    run("simple-cnn", tmp_path / "part", epochs=1, **kwargs)
    resumed = run("simple-cnn", tmp_path / "part", epochs=2, resume=tmp_path / "part" / "best.pt", **kwargs)
    assert resumed.val_loss == full.val_loss and resumed.val_accuracy == full.val_accuracy


@pytest.mark.slow
def test_cli_reference_train(tmp_path, mnist_dir):
    done = run_cli("reference", "train", "lenet-320", "--out", tmp_path, "--epochs", "1", "--train-limit", "1000",
                   "--data-dir", mnist_dir, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "Validation set: Average loss" in done.stdout and (tmp_path / "best.pt").is_file()


@pytest.mark.slow
def test_cli_reference_errors_exit_2(tmp_path):
    bad = run_cli("reference", "train", "nope", "--out", tmp_path)
    assert bad.returncode == 2 and "mlp" in bad.stderr
    missing = run_cli("reference", "train", "mlp", "--out", tmp_path, "--data-dir", tmp_path / "none",
                      "--train-limit", "10")
    assert missing.returncode == 2 and "--data-dir" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.slow
def test_cli_reference_plot_redraws_and_overlays_without_training(tmp_path):
    from PIL import Image

    from grader.quiz.curves import read_png_curves, write_curves

    runs = {"mlp": ([0.30, 0.20, 0.25], [91.0, 94.5, 93.9]), "mycnn": ([0.09, 0.05, 0.04, 0.06], [97.1, 98.4, 98.8, 98.2])}
    for name, (loss, acc) in runs.items():
        write_curves(tmp_path / name, loss, acc, seed=1)
        for plot in ("val_loss.png", "val_acc.png"):
            (tmp_path / name / plot).unlink()
    done = run_cli("reference", "plot", tmp_path / "mlp", tmp_path / "mycnn")
    assert done.returncode == 0, done.stderr
    for name, (loss, acc) in runs.items():
        for plot in ("val_loss.png", "val_acc.png"):
            assert f"wrote {tmp_path / name / plot}" in done.stdout
            assert read_png_curves(tmp_path / name / plot) == {"val_loss": loss, "val_accuracy": acc}
    done = run_cli("reference", "plot", tmp_path / "mlp", tmp_path / "mycnn", "--out", tmp_path / "slides")
    assert done.returncode == 0, done.stderr
    for plot in ("val_loss.png", "val_acc.png"):
        with Image.open(tmp_path / "slides" / plot) as image:
            assert image.size == (700, 450)  # the wider figure of an overlay
        assert read_png_curves(tmp_path / "slides" / plot) is None  # an overlay is not one run's submission
    (tmp_path / "empty").mkdir()
    bad = run_cli("reference", "plot", tmp_path / "empty")
    assert bad.returncode == 2 and "empty: no curves.json" in bad.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "curves.json").write_text('{"val_loss": [0.1, 0.2], "val_accuracy": [90]}')
    bad = run_cli("reference", "plot", tmp_path / "broken", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "two lists of numbers of the same length" in bad.stderr


HELP_PAGES = ([], ["check"], ["grade"], ["list"], ["assign"], ["release"], ["reference"], ["reference", "train"],
              ["reference", "plot"], ["reference", "ensemble"])


@pytest.mark.parametrize("command", HELP_PAGES, ids=lambda c: " ".join(c) or "grader")
def test_cli_help_shows_examples_of_that_command(command):
    done = run_cli(*command, "--help")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:"))
    examples = []
    for line in lines[start + 1:]:
        if not line.strip().startswith("grader "):
            break  # the examples end where the options begin
        examples.append(line.strip())
    assert examples, done.stdout
    for example in examples:  # each example runs the command whose page it is on, or one below it
        assert example.split()[:len(command) + 1] == ["grader", *command], example


# --- the validation pass's optimized forward -------------------------------------------------------------------

class _BakedBatch(torch.nn.Module):
    """A forward that turns its batch size into a Python int: a trace would bake it in."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.fc = torch.nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return torch.log_softmax(self.fc(x.reshape(int(x.shape[0]), -1)), dim=1)


class _BranchesOnValues(_BakedBatch):
    """A forward whose path depends on the data: a trace would keep the path of the images it saw."""

    def forward(self, x):
        if x.mean() > 0.5:
            x = 1 - x
        return super().forward(x)


class _RefusesSmallBatches(_BakedBatch):
    def forward(self, x):
        if x.shape[0] < 10:
            raise ValueError("batch of fewer than 10 images")
        return super().forward(x)


@pytest.mark.parametrize("name", ["mycnn", "simple-cnn", "cnn-5x5", "mlp"])
def test_validation_with_optimized_copies_gives_the_models_own_results(name):
    from grader.data.mnist import Split
    val = load_mnist(False)
    val = Split(val.images[:1000], val.labels[:1000], val.source)
    torch.manual_seed(0)
    model = get_network(name).build()
    net = get_network(name)
    fast = validate(model, val, log_probs=net.log_probs)
    plain = validate(model, val, log_probs=net.log_probs, optimize=False)
    assert fast[1] == plain[1]
    assert fast[0] == pytest.approx(plain[0], rel=1e-5)


def test_mycnn_validates_through_its_optimized_copy_with_the_same_outputs():
    from grader.data.mnist import to_float
    from grader.quiz.evaluate import inference_forward
    torch.manual_seed(0)
    model = get_network("mycnn").build()
    images = to_float(load_mnist(False).images[:200])
    forward = inference_forward(model, images[:64])
    assert forward.kind == "optimized, channels_last"  # mycnn traces cleanly and accepts channels_last
    with torch.inference_mode():
        outputs = torch.cat([forward(images[i:i + 64]) for i in range(0, len(images), 64)])  # last batch: 8
        expected = model(images)
    torch.testing.assert_close(outputs, expected, rtol=1e-4, atol=1e-4)


def test_a_trace_that_bakes_in_the_batch_size_is_refused():
    from grader.data.mnist import Split, to_float
    from grader.quiz.evaluate import inference_forward
    torch.manual_seed(0)
    model = _BakedBatch()
    val = load_mnist(False)
    forward = inference_forward(model, to_float(val.images[:64]))
    assert forward.kind == "model itself, channels_last"  # the traced copy failed its check
    small = Split(val.images[:100], val.labels[:100], val.source)  # a last batch of 36 images
    assert validate(model, small) == validate(model, small, optimize=False)


def test_a_forward_that_fails_raises_its_own_error():
    from grader.data.mnist import to_float
    from grader.quiz.evaluate import inference_forward
    with pytest.raises(ValueError, match="fewer than 10 images"):
        inference_forward(_RefusesSmallBatches(), to_float(load_mnist(False).images[:64]))


def test_a_forward_that_branches_on_values_is_not_traced():
    from grader.data.mnist import to_float
    from grader.quiz.evaluate import inference_forward
    torch.manual_seed(0)
    model = _BranchesOnValues()
    images = to_float(load_mnist(False).images[:64])
    assert inference_forward(model, images).kind == "model itself, channels_last"
    inverted = 1 - images  # takes the other branch
    with torch.inference_mode():
        torch.testing.assert_close(inference_forward(model, images)(inverted), model(inverted))
