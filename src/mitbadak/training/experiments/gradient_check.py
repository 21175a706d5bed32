"""``batchnorm-gradient-check``: backprop vs numerical gradients with BatchNorm."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import (
    Progress,
    StopCheck,
    load_experiment_data,
    never,
    quiet,
)

#: below this norm both ways a gradient is 0 (central differences leave ~1e-11 of rounding)
ZERO_GRADIENT = 1e-9


def _zero_both_ways(a: np.ndarray, b: np.ndarray) -> bool:
    """A gradient that is truly 0 (a bias feeding straight into BatchNorm, whose mean removes
    it): backprop leaves ~1e-17 of rounding and the central difference ~1e-11 of noise."""
    return bool(np.linalg.norm(a) < ZERO_GRADIENT and np.linalg.norm(b) < ZERO_GRADIENT)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a|| + ||b||, 1e-8), and 0 for a gradient that is 0 both ways (its
    rounding noise has no scale to be relative to)."""
    if _zero_both_ways(a, b):
        return 0.0
    den = max(float(np.linalg.norm(a) + np.linalg.norm(b)), 1e-8)
    return float(np.linalg.norm(a - b) / den)


def _check(net, x: np.ndarray, t: np.ndarray) -> dict[str, dict[str, float]]:
    import warnings

    from mitbadak.nn.batchnorm import BatchNormWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BatchNormWarning)
        numeric = net.numerical_gradient(x, t, method="reference")
        backprop = net.gradient(x, t)
    return {
        key: {
            "mean_abs_diff": float(np.mean(np.abs(backprop[key] - numeric[key]))),
            "relative": _relative(backprop[key], numeric[key]),
            "zero_both_ways": _zero_both_ways(backprop[key], numeric[key]),
            "backprop_abs_mean": float(np.mean(np.abs(backprop[key]))),
            "numerical_abs_mean": float(np.mean(np.abs(numeric[key]))),
        }
        for key in backprop
    }


def batchnorm_gradient_check(
    x: np.ndarray,
    t: np.ndarray,
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    batch: int = 10,
) -> dict[str, Any]:
    """The book's ``gradient_check`` of a ``MultiLayerNetExtend`` with BatchNorm (ReLU, He), on
    one image and on a batch of ``batch`` images (the first of ``x``), in float64.

    With one image each BN layer's batch mean is the input itself, so every BN output is beta
    (zero at the start) and nothing before it can change the loss: the numerical gradients of
    W1, b1, gamma1, ... are exactly 0, and beta lands on ReLU's kink at 0, where backprop takes
    the slope 0 and the central difference (relu(h) - relu(-h)) / 2h takes 1/2: beta2 disagrees
    (the book prints about 0.05). With several images BN's output varies with its input and no
    value sits on the kink, so every parameter agrees (relative error well under 1e-6).
    Sizes: the book's 784-100-100-10 with ``full``, else 784-10-10-10 (a few seconds).
    Returns ``{"hidden", "one": {param: {...}}, "batch": {...}, "batch_size"}`` where each
    parameter has ``mean_abs_diff`` (the book's number), ``relative`` (||a-b|| / (||a||+||b||))
    and the mean absolute backprop and numerical gradients; ``should_stop()`` is asked before
    each case (an interrupted check has ``"partial": True`` and only ``"one"``, or neither).
    """
    from mitbadak.nn.networks import MultiLayerNetExtend

    hidden = [100, 100] if full else [10, 10]
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    t = np.asarray(t)
    if len(x) < batch:
        raise ValueError(f"batchnorm-gradient-check needs at least {batch} images, got {len(x)}")
    out: dict[str, Any] = {"hidden": hidden, "input_size": int(x.shape[1]), "batch_size": batch,
                           "partial": False}  # fmt: skip
    for step, (key, n) in enumerate((("one", 1), ("batch", batch))):
        if should_stop():
            out["partial"] = True
            break
        net = MultiLayerNetExtend(
            x.shape[1], hidden, 10, use_batchnorm=True, seed=seed, dtype=np.float64
        )
        out[key] = _check(net, x[:n], t[:n])
        progress(step + 1, 2, f"{n} image{'s' if n > 1 else ''}")
    return out


def load_check_images(
    data_dir=None, data: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The images for ``batchnorm-gradient-check``: MNIST's training set as the book (then its
    test set, which is where only that is present), else the built-in ``mnist-sample``; ``data``
    (``'mnist'``, ``'mnist-sample'``, ``'fashion-mnist'``) asks for that set's training images.
    The third value names what was used. Never downloads."""
    from mitbadak.core.errors import MitbadakError
    from mitbadak.files.datasets import load_split

    if data is not None:
        chosen = load_experiment_data(data, data_dir)
        return chosen["x_train"][:100], chosen["t_train"][:100], (
            f"{chosen['used'].split(':')[0]}: training set (first images)")

    for name, split in (("mnist", "train"), ("mnist", "test"), ("mnist-sample", "train")):
        try:
            x, t = load_split(name, split, data_dir=data_dir, download=False)
        except (MitbadakError, OSError):
            continue
        return x[:100], t[:100], f"{name} {split} (first images)"
    raise MitbadakError("no MNIST images found, not even the built-in mnist-sample")


