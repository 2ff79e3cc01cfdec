"""Reference solutions for every network of the course, and the training code TAs run.

``NETWORKS`` maps each assignment name to its reference class and its training defaults.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Network:
    """A reference network: where its class lives and how the reference trains it."""

    module: str
    class_name: str
    epochs: int
    lr: float = 1e-3
    batch_size: int = 64
    log_probs: bool = True  # False: the network returns logits and trains with cross-entropy

    def build(self):
        """A fresh instance of the reference class (seed torch first for reproducible weights)."""
        return getattr(importlib.import_module(self.module), self.class_name)()


NETWORKS: dict[str, Network] = {
    "mlp": Network("reference.mlp", "Net", epochs=20),
    "simple-cnn": Network("reference.simple_cnn", "SimpleCNN", epochs=5),
    "vgg-like": Network("reference.vgg_like", "VGGLike", epochs=3, lr=1e-4, log_probs=False),
    "mycnn": Network("reference.mycnn", "MyCNN", epochs=5),
    "lenet-320": Network("reference.lenet_320", "Net", epochs=5),
    "cnn-5x5": Network("reference.cnn_5x5", "CNN", epochs=5, log_probs=False),
}


def get_network(name: str) -> Network:
    """The reference network called ``name``; KeyError names the valid ones."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise KeyError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}") from None
