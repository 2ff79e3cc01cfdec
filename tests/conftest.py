import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
MNIST_DIR = Path(os.environ.get("GRADER_TEST_MNIST", ROOT.parent / "shared" / "data" / "mnist"))


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
