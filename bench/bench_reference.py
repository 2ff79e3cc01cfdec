"""Reference training and validation loops vs the seed-style loops, side by side in one process.

    python bench/bench_reference.py --data-dir ../shared/data/mnist [--train-images 12800] [--repeats 2]
    python bench/bench_reference.py --models mycnn --loops validate --repeats 3    # the validation pass only
    python bench/bench_reference.py --quick    # a smoke run: 640 training and 1,000 validation images, one run

Prints images/s for each loop and the ratio reference / seed-style, per model. Both loops run the same model
class from the same seed; the best of ``--repeats`` runs counts for each, so a noisy neighbour hurts both alike.
"validate, model itself" is the reference pass without its inference-optimized copies (``optimize=False``), to
show what the data path alone gives and what the optimized copies add.

``--quick`` trains on 640 images, validates on the first 1,000 (``--val-images``), one run per loop: the same loops,
the same ratios printed (the test suite runs it: tests/test_bench.py).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed_style  # noqa: E402

from grader.data.mnist import load_mnist  # noqa: E402
from grader.quiz.evaluate import validate  # noqa: E402
from reference import get_network  # noqa: E402
from reference.train import train_epoch  # noqa: E402


def best_rate(fn, images: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        rates.append(images / (time.perf_counter() - began))
    return max(rates)


def fresh(name: str):
    torch.manual_seed(0)
    model = get_network(name).build()
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data/mnist", help="MNIST folder (default: %(default)s)")
    parser.add_argument("--models", default="mycnn,mlp", help="comma-separated networks (default: %(default)s)")
    parser.add_argument("--train-images", type=int, default=12800, help="images per training run (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per loop, best counts (default: %(default)s)")
    parser.add_argument("--loops", default="train,validate", help="which loops to time (default: %(default)s)")
    parser.add_argument("--val-images", type=int, default=None, help="validation images (default: all 10,000)")
    parser.add_argument("--quick", action="store_true", help="640 training and 1,000 validation images, one run per "
                        "loop (a smoke run: the test suite's mode)")
    args = parser.parse_args()
    if args.quick:
        args.train_images, args.val_images, args.repeats = 640, 1000, 1
    loops = set(args.loops.split(","))

    train_split = load_mnist(True, args.data_dir).subset(args.train_images)
    val_split = load_mnist(False, args.data_dir).subset(args.val_images)  # the first N, as the seed-style side
    seed_train = seed_style.loader(args.data_dir, True, limit=args.train_images, shuffle=True)
    seed_val = seed_style.loader(args.data_dir, False, limit=args.val_images)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; training on {args.train_images} images, "
          f"validating on {len(val_split)}")
    print(f"{'model':8} {'loop':24} {'seed-style img/s':>17} {'reference img/s':>16} {'ratio':>6}")
    for name in args.models.split(","):
        if "train" in loops:
            time_training(name, seed_train, train_split, args)
        if "validate" in loops:
            time_validation(name, seed_val, val_split, args)


def time_training(name, seed_train, train_split, args) -> None:
    """Print the seed-style and reference training rates of ``name`` and their ratio."""
    model, opt = fresh(name)
    seed_rate = best_rate(lambda: seed_style.train(model, seed_train, opt), args.train_images, args.repeats)
    model, opt = fresh(name)
    gen = torch.Generator().manual_seed(0)
    ref_rate = best_rate(lambda: train_epoch(model, opt, train_split, 64, gen), args.train_images, args.repeats)
    print(f"{name:8} {'train':24} {seed_rate:17.0f} {ref_rate:16.0f} {ref_rate / seed_rate:5.2f}x", flush=True)


def time_validation(name, seed_val, val_split, args) -> None:
    """Print the seed-style validation rate of ``name``, the reference's without and with its optimized copy."""
    model, _ = fresh(name)
    seed_rate = best_rate(lambda: seed_style.validate(model, seed_val), len(val_split), args.repeats)
    model, _ = fresh(name)
    eager_rate = best_rate(lambda: validate(model, val_split, optimize=False), len(val_split), args.repeats)
    print(f"{name:8} {'validate, model itself':24} {seed_rate:17.0f} {eager_rate:16.0f} "
          f"{eager_rate / seed_rate:5.2f}x", flush=True)
    model, _ = fresh(name)
    ref_rate = best_rate(lambda: validate(model, val_split), len(val_split), args.repeats)
    print(f"{name:8} {'validate':24} {seed_rate:17.0f} {ref_rate:16.0f} {ref_rate / seed_rate:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
