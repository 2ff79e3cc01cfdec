"""Reference solutions for every network of the course, and the training code TAs run.

``NETWORKS`` maps each assignment name to its reference class and its training defaults.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from grader.i18n import _


@dataclass(frozen=True)
class Network:
    """A reference network: where its class lives and how the reference trains it."""

    module: str
    class_name: str
    epochs: int
    lr: float = 1e-3
    batch_size: int = 64
    log_probs: bool = True  # False: the network returns logits and trains with cross-entropy
    kwargs: tuple = ()  # (name, value) pairs the class is built with
    dataset: str = "mnist"  # mnist, or cifar10 (40,000 / 10,000 split of the training images by seed)
    optimizer: str = "adam"  # adam, or rmsprop (with weight_decay as L2)
    weight_decay: float = 0.0

    def build(self, **override):
        """A fresh instance of the reference class (seed torch first for reproducible weights)."""
        return getattr(importlib.import_module(self.module), self.class_name)(**{**dict(self.kwargs), **override})


NETWORKS: dict[str, Network] = {
    "mlp": Network("reference.mlp", "Net", epochs=20),
    "simple-cnn": Network("reference.simple_cnn", "SimpleCNN", epochs=5),
    "vgg-like": Network("reference.vgg_like", "VGGLike", epochs=5, lr=1e-4, log_probs=False),
    "mycnn": Network("reference.mycnn", "MyCNN", epochs=5),
    "lenet-320": Network("reference.lenet_320", "Net", epochs=5),
    "cnn-5x5": Network("reference.cnn_5x5", "CNN", epochs=5, log_probs=False),
    "cifar-cnn1": Network("reference.cifar", "CNN1", epochs=10, lr=1e-4, log_probs=False, dataset="cifar10",
                          optimizer="rmsprop", weight_decay=1e-5),
}
for _code in ("VGG11", "VGG13", "VGG16", "VGG19"):
    for _bn in (False, True):
        NETWORKS[f"cifar-{_code.lower()}{'-bn' if _bn else ''}"] = Network(
            "reference.cifar", "VGG", epochs=10, lr=1e-4, log_probs=False, dataset="cifar10", optimizer="rmsprop",
            weight_decay=1e-5, kwargs=(("model_code", _code), ("in_channels", 3), ("out_dim", 10), ("act", "relu"),
                                       ("use_bn", _bn)))


def get_network(name: str) -> Network:
    """The reference network called ``name``; KeyError names the valid ones."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise KeyError(_("unknown network {name}; choose one of: {names}", name=repr(name), names=", ".join(NETWORKS))) \
            from None
