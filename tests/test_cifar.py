"""CIFAR-10 track: CNN1 and VGG11-19 against their specs, the on-disk data loader, training, ensemble, quiz."""
import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from grader.batch.job import check_in_box
from grader.data.cifar import load_cifar10, split_indices, write_batches
from grader.data.mnist import DataError
from grader.inspection.checks import instantiate
from grader.spec import list_assignments, load_spec
from reference import get_network
from reference.cifar import VGG
from reference.ensemble import evaluate
from reference.train import ensemble_predict, run
from tests.conftest import ROOT

CIFAR_SPECS = [n for n in list_assignments() if n.startswith("cifar-")]
MODEL_CHECKS = ("class", "shapes", "params", "batch", "output", "determinism")


def test_there_is_a_spec_for_cnn1_and_every_cfg_with_and_without_batchnorm():
    expected = {"cifar-cnn1"} | {f"cifar-vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "-bn")}
    assert set(CIFAR_SPECS) == expected


@pytest.mark.slow
@pytest.mark.parametrize("name", CIFAR_SPECS)
def test_reference_matches_its_table(name):
    spec = load_spec(name)
    model = get_network(name).build()
    assert sum(p.numel() for p in model.parameters()) == spec.params_total
    assert sum(r.params or 0 for r in spec.rows) == spec.params_total
    report = check_in_box(spec, ROOT / "reference" / "cifar.py")
    checks = {c.name: c for c in report.checks}
    for check in MODEL_CHECKS + (("activations",) if spec.activations else ()):
        assert checks[check].status == "pass", (check, checks[check].message)
    assert f"{spec.params_total:,}" in checks["params"].message


def test_unknown_activation_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown activation 'gelu'; choose one of: relu, sigmoid, tanh"):
        VGG("VGG11", act="gelu")
    with pytest.raises(ValueError, match="unknown model_code 'VGG10'"):
        VGG("VGG10")


STUDENT_VGG = '''
import torch.nn as nn

cfg = {"VGG11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]}


class VGG(nn.Module):
    def __init__(self, model_code="VGG11", in_channels=3, out_dim=10, act="relu", use_bn=True):
        super().__init__()
        if act == "relu":
            self.act = nn.ReLU()
        elif act == "sigmoid":
            self.act = nn.Sigmoid()
        elif act == "tanh":
            self.act = nn.TanH()
        layers, channels = [], in_channels
        for x in cfg[model_code]:
            if x == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, x, 3, padding=1), nn.BatchNorm2d(x), self.act]
                channels = x
        self.layers = nn.Sequential(*layers)
        self.fcs = nn.Sequential(nn.Linear(512, 256), self.act, nn.Linear(256, out_dim))

    def forward(self, x):
        return self.fcs(self.layers(x).flatten(1))
'''


@pytest.mark.slow
def test_a_tanh_typo_is_caught_and_named(tmp_path):
    (tmp_path / "vgg.py").write_text(STUDENT_VGG)
    report = check_in_box(load_spec("cifar-vgg11-bn"), tmp_path)
    checks = {c.name: c for c in report.checks}
    assert checks["class"].status == "pass" and checks["shapes"].status == "pass"
    message = checks["activations"].message
    assert checks["activations"].status == "fail" and checks["activations"].score == pytest.approx(2 * 2 / 3, abs=0.01)
    assert "VGG(model_code='VGG11', in_channels=3, out_dim=10, act='tanh', use_bn=True) failed" in message
    assert "TanH" in message and "vgg.py" in message and "line 15" in message and "torch.nn.Tanh" in message
    assert "act = 'relu', 'sigmoid' work." in message


def _synthetic(n: int, seed: int):
    """Images whose class is a coloured square at a class-dependent place, on noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 60, (n, 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 5)
        images[i, label % 3, 4 + 12 * row: 14 + 12 * row, 2 + 6 * col: 8 + 6 * col] = 250
    return images, labels


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    """A small CIFAR-10 in torchvision's exact on-disk layout (five data batches, test batch, batches.meta)."""
    root = tmp_path_factory.mktemp("cifar")
    images, labels = _synthetic(300, 0)
    test_images, test_labels = _synthetic(100, 1)
    write_batches(root, images, labels, test_images, test_labels)
    return root


def test_loader_reads_the_on_disk_layout(cifar_dir):
    train, test = load_cifar10(True, cifar_dir), load_cifar10(False, cifar_dir)
    images, labels = _synthetic(300, 0)
    assert train.images.shape == (300, 3, 32, 32) and train.images.dtype == torch.uint8
    assert torch.equal(train.images, torch.from_numpy(images)) and torch.equal(train.labels, torch.from_numpy(labels))
    assert len(test) == 100
    train_idx, val_idx = split_indices(300, 7)
    assert len(val_idx) == 60 and len(set(train_idx.tolist()) | set(val_idx.tolist())) == 300
    generator = torch.Generator().manual_seed(7)
    _, val_set = torch.utils.data.random_split(range(300), [240, 60], generator=generator)
    assert sorted(val_set.indices) == val_idx.tolist()  # the starter's random_split gives the same validation set


def test_loader_refuses_objects_and_says_where_it_looked(tmp_path, cifar_dir):
    class Exploit:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    bad = tmp_path / "bad" / "cifar-10-batches-py"
    shutil.copytree(cifar_dir / "cifar-10-batches-py", bad)
    (bad / "data_batch_1").write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing shutil.rmtree"):
        load_cifar10(True, tmp_path / "bad")
    assert (tmp_path / "victim").is_dir()
    with pytest.raises(DataError, match="not found. Looked in: .*nowhere-here.*--data-dir"):
        load_cifar10(True, tmp_path / "nowhere-here")


@pytest.fixture(scope="module")
def trained(cifar_dir, tmp_path_factory):
    """The reference VGG11-bn trained for real on the generated data: RMSprop with L2, best.pt at the minimum."""
    out = tmp_path_factory.mktemp("vgg11bn")
    result = run("cifar-vgg11-bn", out, epochs=3, seed=3, data_dir=cifar_dir, batch_size=16, lr=3e-4, progress=False,
                 log=lambda m: None)
    return out, result


@pytest.mark.slow
def test_short_training_lowers_the_loss_and_records_the_split(trained):
    out, result = trained
    assert min(result.val_loss[1:]) < result.val_loss[0]
    doc = json.loads((out / "curves.json").read_text())
    assert doc["split_seed"] == 3 and doc["val_indices"] == split_indices(300, 3)[1].tolist()
    state = torch.load(out / "best.pt", weights_only=True)
    assert state["epoch"] == result.best_epoch and state["optimizer"]["param_groups"][0]["weight_decay"] == 1e-5
    assert "square_avg" in next(iter(state["optimizer"]["state"].values()))  # RMSprop


@pytest.mark.slow
def test_ensemble_of_identical_checkpoints_equals_the_single_model(trained, cifar_dir):
    out, _ = trained
    model = get_network("cifar-vgg11-bn").build()
    model.load_state_dict(torch.load(out / "best.pt", weights_only=True)["model"])
    x = torch.rand(20, 3, 32, 32)
    assert torch.allclose(ensemble_predict([model, model, model], x), ensemble_predict([model], x), atol=1e-6)
    with torch.no_grad():  # the inference-optimized forward gives the model's own probabilities
        assert torch.allclose(ensemble_predict([model], x), torch.softmax(model.eval()(x), dim=1), atol=1e-5)
    single = evaluate([out / "best.pt"], cifar_dir)
    triple = evaluate([out / "best.pt"] * 3, cifar_dir)
    assert triple.ensemble == pytest.approx(single.ensemble) and single.n == 100
    assert list(single.single.values())[0] == pytest.approx(single.ensemble)


@pytest.mark.slow
def test_quiz_works_on_a_cifar_submission(trained, cifar_dir, tmp_path, monkeypatch):
    out, result = trained
    monkeypatch.setenv("GRADER_CIFAR_DIR", str(cifar_dir))
    sub = tmp_path / "student"
    shutil.copytree(out, sub)
    shutil.copy(ROOT / "reference" / "cifar.py", sub / "model.py")
    spec = load_spec("cifar-vgg11-bn")
    report = check_in_box(spec, sub)
    checks = {c.name: c for c in report.checks}
    assert report.passed, "\n".join(f"{c.name}: {c.message}" for c in report.checks)
    assert "on 60 validation images with ToTensor" in checks["reeval"].message
    # The same file saved at another epoch label fails the epoch check with both numbers.
    state = torch.load(sub / "best.pt", weights_only=True)
    state["epoch"] = result.best_epoch % 3 + 1
    torch.save(state, sub / "best.pt")
    report = check_in_box(spec, sub)
    epoch = next(c for c in report.checks if c.name == "epoch")
    assert epoch.status == "fail" and f"best.pt says epoch {state['epoch']}" in epoch.message
    # Without split_seed the validation set cannot be rebuilt, and the report says so.
    doc = json.loads((sub / "curves.json").read_text())
    del doc["split_seed"]
    (sub / "curves.json").write_text(json.dumps(doc))
    (sub / "val_loss.png").unlink()
    (sub / "val_acc.png").unlink()
    reeval = next(c for c in check_in_box(spec, sub).checks if c.name == "reeval")
    assert reeval.status == "fail" and "split_seed" in reeval.message


def test_spec_builds_the_class_with_its_init_args():
    spec = load_spec("cifar-vgg16-bn")
    model = instantiate(spec, VGG)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 13
    assert spec.init_args["model_code"] == "VGG16" and spec.dataset == "cifar10"
