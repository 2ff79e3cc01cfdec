import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader.data.mnist import load_mnist
from grader.quiz.curves import write_curves
from grader.quiz.evaluate import validate
from reference import get_network
from reference.checkpoint import save_checkpoint, should_save
from reference.train import train_epoch

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
SHIPPED_ASSIGNMENTS = ROOT / "assignments"
MNIST_DIR = Path(os.environ.get("GRADER_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))


# Fixtures that train a model or grade a whole class: every test that uses one is slow, whatever its own time.
HEAVY_FIXTURES = {"honest", "hostile", "quiz_class", "forgery", "kit", "trained", "dask_cluster", "classes"}


def pytest_collection_modifyitems(config, items):
    """Mark slow every test that uses a heavy fixture (the rest carry ``@pytest.mark.slow`` themselves)."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


FLOOR = re.compile(r"^min_val_accuracy = .*$", re.M)


@pytest.fixture(scope="session", autouse=True)
def _assignments_with_lowered_floors(tmp_path_factory):
    """The tests' own copy of the shipped assignments, with every quiz's accuracy floor (``min_val_accuracy``)
    lowered to 0: their checkpoints train on small subsets to save time. tests/test_quiz.py tests the shipped
    floors on the shipped specs (SHIPPED_ASSIGNMENTS)."""
    copy = tmp_path_factory.mktemp("course") / "assignments"
    shutil.copytree(SHIPPED_ASSIGNMENTS, copy)
    for spec in copy.glob("*/spec.toml"):
        spec.write_text(FLOOR.sub("min_val_accuracy = 0.0  # lowered for the tests (tests/conftest.py)",
                                  spec.read_text()))
    os.environ["GRADER_ASSIGNMENTS"] = str(copy)


@pytest.fixture(scope="session", autouse=True)
def _english_unless_asked():
    """The tests read English unless a test asks for Korean (--lang, GRADER_LANG, use_language): the machine's own
    locale (a Korean LANG) never changes what they see."""
    os.environ.pop("GRADER_LANG", None)
    os.environ["LANGUAGE"] = "en"


@pytest.fixture(scope="session", autouse=True)
def _private_report_cache(tmp_path_factory):
    """Every test (and every grader it starts) caches reports in a fresh folder, never in the user's home."""
    os.environ["GRADER_CACHE_DIR"] = str(tmp_path_factory.mktemp("report-cache"))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Full MNIST in torchvision's layout (../shared/data/mnist); the tests need it and say so if it is missing."""
    if not (MNIST_DIR / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        raise RuntimeError(f"MNIST not found at {MNIST_DIR}: set GRADER_TEST_MNIST to a folder holding MNIST/raw/")
    return MNIST_DIR


def run_cli(*args, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    """Run the installed ``grader`` command as a user would."""
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def honest(tmp_path_factory, mnist_dir):
    """Train MyCNN briefly for real: epochs 1-2 improve, epoch 3 (a too-large learning rate) gets worse.

    Curves are recorded on the full validation split; best.pt is saved only at the minimum (epoch 2).
    Every epoch's checkpoint is kept aside for the forgeries.
    """
    root = tmp_path_factory.mktemp("honest")
    sub = root / "student"
    train = load_mnist(True, mnist_dir).subset(1200)
    val = load_mnist(False)
    torch.manual_seed(0)
    model = get_network("mycnn").build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, accs, per_epoch = [], [], {}
    for epoch in (1, 2, 3):
        if epoch == 3:
            for group in opt.param_groups:
                group["lr"] = 0.05
        train_epoch(model, opt, train, 64, torch.Generator().manual_seed(epoch))
        loss, _, acc = validate(model, val)
        losses.append(loss)
        accs.append(acc)
        save_checkpoint(root / f"epoch{epoch}.pt", model, opt, epoch)
        per_epoch[epoch] = root / f"epoch{epoch}.pt"
        if should_save(losses):
            save_checkpoint(sub / "best.pt", model, opt, epoch)
    assert losses[2] > losses[1], "the test needs a last epoch that is worse than the best"
    write_curves(sub, losses, accs)
    shutil.copy(ROOT / "reference" / "mycnn.py", sub / "model.py")
    return sub, per_epoch, losses
