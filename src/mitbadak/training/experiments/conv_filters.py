"""``conv-filters``: SimpleConvNet's 30 first-layer filters before and after training (the
book's ``ch07/visualize_filter.py``, fig. 7-24)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet
from mitbadak.training.experiments._convnets import (
    SIMPLE_FILE,
    accuracy_of,
    book_net,
    optional_weights,
    short_run,
    source_line,
    test_images,
)

#: steps of the short run that stands in for the book's weights (quick, --full)
SHORT_ITERS = (150, 1200)


def conv_filters(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_train: np.ndarray | None = None,
    t_train: np.ndarray | None = None,
    x_test: np.ndarray | None = None,
    t_test: np.ndarray | None = None,
    weights=None,
    used: str | None = None,
) -> dict[str, Any]:
    """W1 (30, 1, 5, 5) of a SimpleConvNet as drawn from ``seed`` (std 0.01: noise) and after
    training: the book's ``params.pkl`` where ``weights`` is its path, else a short run of the
    book's recipe (Adam lr 0.001, batch 100; 150 steps, 1,200 with ``full``) on ``x_train``.

    Returns ``{"before", "after"}`` (30, 5, 5) arrays, ``"after_source"`` (which weights),
    ``"iterations"`` of the short run (0 for the book's), ``"test_acc"`` of the trained net on
    up to 1,000 of ``x_test`` (None without them) and ``"partial"`` (a stopped run: its filters
    so far).
    """
    from mitbadak.nn.convnets import SimpleConvNet

    before = np.asarray(SimpleConvNet(seed=seed).params["W1"])[:, 0].copy()
    partial = False
    if weights is not None:
        net = book_net(SIMPLE_FILE, weights)
        source, steps = source_line(net, weights), 0
    else:
        if x_train is None or t_train is None:
            raise ValueError("conv-filters needs the book's params.pkl or training images "
                             "(x_train, t_train) for a short run")  # fmt: skip
        iters = SHORT_ITERS[1 if full else 0]
        net, steps = short_run(x_train, t_train, seed, iters, progress, should_stop)
        partial = steps < iters
        source = f"a short run: {steps:,} steps of Adam lr 0.001, batch 100"
    test_acc = None
    if x_test is not None and t_test is not None and len(x_test):
        test_acc = accuracy_of(net, x_test[:1000], t_test[:1000])[0]
    return {"before": before, "after": np.asarray(net.params["W1"], dtype=np.float64)[:, 0],
            "after_source": source, "iterations": steps, "test_acc": test_acc,
            "partial": partial}  # fmt: skip


def load_inputs(data=None, data_dir=None, image=None) -> dict[str, Any]:
    """conv-filters' inputs: the book's params.pkl where found (then only the test images for
    its accuracy), else the training images of a short run."""
    weights = optional_weights(SIMPLE_FILE, data_dir)
    if weights is not None:
        sets = test_images(data, data_dir)
        return {"weights": weights, "x_test": sets["x_test"], "t_test": sets["t_test"],
                "used": f"{sets['used']}; weights: {weights}"}  # fmt: skip
    from mitbadak.training.experiments._common import load_experiment_data

    sets = load_experiment_data(data, data_dir)
    return {**{k: sets[k] for k in ("x_train", "t_train", "x_test", "t_test")},
            "used": f"{sets['used']}; the book's params.pkl was not found: a short run "
                    "trains the filters"}  # fmt: skip
