"""Chapter 6's experiments as library functions: each returns its data (plain dicts, lists and
NumPy arrays), the same numbers for the same seed, and never prints or writes files.

``EXPERIMENTS`` is the registry (name -> :class:`Experiment`): ``mitbadak experiment NAME`` runs
``experiment.run(seed=, full=, progress=, should_stop=, **inputs)`` and writes what it returns;
the figures that draw the data live in :mod:`mitbadak.views.plots.experiments` (views sit above
training). One module per experiment (or pair of related ones), the shared pieces in
``_common``:

* ``progress(done, total, what)`` is called as work finishes, for a bar in the clients;
* ``should_stop()`` is asked between steps: when it answers True the function returns what it
  has so far with ``"partial": True`` (every result has ``"partial"``);
* the MNIST experiments (``needs_data``) take ``x_train=, t_train=, x_test=, t_test=`` and
  ``used=`` (the line naming the images) from :func:`load_experiment_data`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mitbadak.training.experiments._common import (
    DATA_CHOICES,
    Progress,
    StopCheck,
    load_experiment_data,
)
from mitbadak.training.experiments.batchnorm import SCALES, batchnorm
from mitbadak.training.experiments.gradient_check import (
    batchnorm_gradient_check,
    load_check_images,
)
from mitbadak.training.experiments.histograms import (
    HISTOGRAM_RANGES,
    INITS,
    weight_init_histogram,
)
from mitbadak.training.experiments.mnist_curves import (
    COMPARE_INITS,
    MNIST_LRS,
    optimizer_mnist,
    weight_init_compare,
)
from mitbadak.training.experiments.overfitting import overfit_dropout, overfit_weight_decay
from mitbadak.training.experiments.paths import (
    PATH_START,
    PATH_STEPS,
    optimizer_paths,
    paths_function,
    paths_gradient,
)

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "DATA_CHOICES",
    "Progress",
    "StopCheck",
    "load_experiment_data",
    "optimizer_paths",
    "paths_function",
    "paths_gradient",
    "optimizer_mnist",
    "weight_init_histogram",
    "weight_init_compare",
    "batchnorm",
    "overfit_weight_decay",
    "overfit_dropout",
    "batchnorm_gradient_check",
    "load_check_images",
    "PATH_START",
    "PATH_STEPS",
    "HISTOGRAM_RANGES",
    "INITS",
    "MNIST_LRS",
    "COMPARE_INITS",
    "SCALES",
]


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run(seed=, full=, progress=, should_stop=, **inputs)`` returns its
    data; ``data`` says in words what it is computed from; ``figure`` names its maker in
    :mod:`mitbadak.views.plots`; ``needs_images``: the client passes ``x``, ``t`` from
    :func:`load_check_images`; ``needs_data``: ``x_train``, ``t_train``, ``x_test``, ``t_test``
    and ``used`` from :func:`load_experiment_data`."""

    name: str
    summary: str
    run: Callable[..., dict[str, Any]]
    data: str
    figure: str
    needs_images: bool = False
    needs_data: bool = False


_MNIST = "MNIST (the packaged mnist-sample when MNIST is not here; --data picks one)"

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "optimizer-paths",
            "the six optimizers on x²/20 + y² from (-7, 2), 30 steps, the book's learning rates",
            optimizer_paths,
            "no data set: the function f(x, y) = x²/20 + y² and its exact gradient",
            "optimizer_paths",
        ),
        Experiment(
            "optimizer-mnist",
            "the six optimizers training a 5-layer ReLU net (4 hidden layers of 100), batch 128",
            optimizer_mnist,
            _MNIST,
            "optimizer_mnist",
            needs_data=True,
        ),
        Experiment(
            "weight-init-histogram",
            "activation histograms of 5 layers of 100 for std 1, 0.01, Xavier, He; "
            "sigmoid, tanh, ReLU",
            weight_init_histogram,
            "no data set: 1,000 random inputs of 100 standard-normal values (from --seed)",
            "weight_init_histogram",
        ),
        Experiment(
            "weight-init-compare",
            "the 5-layer ReLU net from std 0.01, Xavier and He weights, SGD lr 0.01",
            weight_init_compare,
            _MNIST,
            "weight_init_compare",
            needs_data=True,
        ),
        Experiment(
            "batchnorm",
            "training accuracy with and without BatchNorm for 16 weight scales (1 to 1e-4)",
            batchnorm,
            _MNIST,
            "batchnorm",
            needs_data=True,
        ),
        Experiment(
            "overfit-weight-decay",
            "300 images, 6 hidden layers of 100: train vs test accuracy, weight decay 0.1 vs 0",
            overfit_weight_decay,
            _MNIST,
            "overfit_weight_decay",
            needs_data=True,
        ),
        Experiment(
            "overfit-dropout",
            "300 images, 6 hidden layers of 100: train vs test accuracy, Dropout 0.2 vs none",
            overfit_dropout,
            _MNIST,
            "overfit_dropout",
            needs_data=True,
        ),
        Experiment(
            "batchnorm-gradient-check",
            "backprop vs numerical gradients with BatchNorm: one image, then a batch of 10",
            batchnorm_gradient_check,
            "MNIST images (the built-in mnist-sample when MNIST is not here)",
            "batchnorm_gradient_check",
            needs_images=True,
        ),
    )
}
