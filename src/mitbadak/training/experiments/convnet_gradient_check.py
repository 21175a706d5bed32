"""``convnet-gradient-check``: backprop against central differences through convolution and
pooling (the book's ``ch07/gradient_check.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet


def _compare(net, x: np.ndarray, t: np.ndarray) -> dict[str, dict[str, float]]:
    numeric = net.numerical_gradient(x, t, method="reference")
    backprop = net.gradient(x, t)
    out = {}
    for key in backprop:
        a, b = np.asarray(backprop[key]), np.asarray(numeric[key])
        den = max(float(np.linalg.norm(a) + np.linalg.norm(b)), 1e-8)
        out[key] = {"mean_abs_diff": float(np.mean(np.abs(a - b))),
                    "relative": float(np.linalg.norm(a - b) / den),
                    "backprop_abs_mean": float(np.mean(np.abs(a)))}  # fmt: skip
    return out


def convnet_gradient_check(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
) -> dict[str, Any]:
    """The book's check: a SimpleConvNet on one random 10x10 image (10 filters 3x3, 10 hidden,
    10 classes, weights 0.01·N(0, 1), float64, label 1): the mean |backprop - numerical| per
    parameter, and ||a - b|| / (||a|| + ||b||). With ``full`` also a DeepConvNet (the book's six
    convolutions, 10 hidden units) on one random 8x8 image, Dropout's masks held fixed (the
    reference differentiates in training mode with the masks of the next ``gradient``).
    Returns ``{"cases": {name: {"what", param: {...}}}, "partial"}``; ``should_stop()`` is asked
    before each case. W1/b1 of SimpleConvNet differ most (1e-8 .. 1e-5): tiny activations there
    sit near ReLU's and max pooling's kinks, which the central difference's h = 1e-4 crosses."""
    from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet

    rng = np.random.default_rng(seed)
    cases = [("simple", "SimpleConvNet (1, 10, 10), 10 filters 3x3, hidden 10",
              lambda: SimpleConvNet((1, 10, 10), {"filter_num": 10, "filter_size": 3, "pad": 0,
                                                  "stride": 1}, 10, 10, 0.01, seed=seed),
              (1, 1, 10, 10))]  # fmt: skip
    if full:
        cases.append(("deep", "DeepConvNet (1, 8, 8), hidden 10",
                      lambda: DeepConvNet((1, 8, 8), hidden_size=10, seed=seed), (1, 1, 8, 8)))
    out: dict[str, Any] = {"cases": {}, "partial": False}
    for i, (name, what, make, shape) in enumerate(cases):
        if should_stop():
            out["partial"] = True
            break
        x = rng.random(shape)
        t = np.array([[1]])
        out["cases"][name] = {"what": what, "params": _compare(make(), x, t)}
        progress(i + 1, len(cases), what)
    return out
