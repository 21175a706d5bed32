"""Chapter 6's experiments as library functions: each returns its data (plain dicts, lists and
NumPy arrays), the same numbers for the same seed, and never prints or writes files.

``EXPERIMENTS`` is the registry (name -> :class:`Experiment`): ``mitbadak experiment NAME`` runs
``experiment.run(seed=, full=, progress=, **inputs)`` and writes what it returns; the figures
that draw the data live in :mod:`mitbadak.views.plots.experiments` (views sit above training).

``progress(done, total, what)`` is called as work finishes, for a bar in the clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mitbadak.nn.optimizers import OPTIMIZERS, REGISTRY

__all__ = [
    "Experiment",
    "EXPERIMENTS",
    "optimizer_paths",
    "weight_init_histogram",
    "batchnorm_gradient_check",
    "load_check_images",
    "PATH_START",
    "PATH_STEPS",
    "HISTOGRAM_RANGES",
    "INITS",
]

Progress = Callable[[int, int, str], None]


def _quiet(done: int, total: int, what: str) -> None:
    """The default progress callback: nothing."""


# --- optimizer-paths ----------------------------------------------------------------------------

PATH_START = (-7.0, 2.0)
PATH_STEPS = 30


def paths_function(x: float, y: float) -> float:
    """f(x, y) = x²/20 + y² (the book's section 6.1.3)."""
    return x * x / 20.0 + y * y


def paths_gradient(x: float, y: float) -> tuple[float, float]:
    """(df/dx, df/dy) = (x/10, 2y)."""
    return x / 10.0, 2.0 * y


def optimizer_paths(
    seed: int = 0, full: bool = False, progress: Progress = _quiet
) -> dict[str, Any]:
    """Every registered optimizer on f(x, y) = x²/20 + y² from (-7, 2) for 30 steps, each with its
    ``compare_lr`` (SGD 0.95, Momentum 0.1, Nesterov 0.1, AdaGrad 1.5, Adam 0.3, RMSprop 0.1).

    As the book's ``optimizer_compare_naive.py``: x and y are plain floats updated by
    ``optimizer.update``, the gradient taken analytically at the current point. Returns
    ``{"start", "steps", "optimizers": {name: {"lr", "x": [31 floats], "y": [...]}}}``: the start
    and the point after each step (the book's plot shows the first 30 of these 31 points).
    Nothing is random: ``seed`` and ``full`` change nothing.
    """
    result: dict[str, Any] = {"start": list(PATH_START), "steps": PATH_STEPS, "optimizers": {}}
    names = list(REGISTRY)
    for i, name in enumerate(names):
        lr = float(OPTIMIZERS[name].compare_lr)
        opt = OPTIMIZERS[name](lr=lr)
        params = {"x": PATH_START[0], "y": PATH_START[1]}
        xs, ys = [float(params["x"])], [float(params["y"])]
        for _ in range(PATH_STEPS):
            gx, gy = paths_gradient(params["x"], params["y"])
            opt.update(params, {"x": gx, "y": gy})
            xs.append(float(params["x"]))
            ys.append(float(params["y"]))
        result["optimizers"][name] = {"lr": lr, "x": xs, "y": ys}
        progress(i + 1, len(names), name)
    return result


# --- weight-init-histogram ----------------------------------------------------------------------

#: the weight scales compared (the book's figures 6-10 to 6-14); None: by layer width n
INITS = ("std=1", "std=0.01", "xavier", "he")
#: histogram range per activation: 30 bins; values outside are counted in the end bins
HISTOGRAM_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "relu": (0.0, 3.0)}
HISTOGRAM_BINS = 30


def _init_std(init: str, n: int) -> float:
    return {"std=1": 1.0, "std=0.01": 0.01, "xavier": 1.0 / np.sqrt(n), "he": np.sqrt(2.0 / n)}[
        init
    ]


def _activate(name: str, a: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-a))
    if name == "tanh":
        return np.tanh(a)
    return np.maximum(a, 0.0)


def weight_init_histogram(
    seed: int = 0,
    full: bool = False,
    progress: Progress = _quiet,
    *,
    samples: int = 1000,
    width: int = 100,
    layers: int = 5,
) -> dict[str, Any]:
    """The book's activation histograms (section 6.2.2): ``samples`` inputs of ``width`` standard
    normal values through ``layers`` layers of ``width`` units, a = z @ W, z = activation(a), with
    W = standard normal × std for std 1, 0.01, Xavier (1/sqrt(n)) and He (sqrt(2/n)), for sigmoid,
    tanh and ReLU. The input and the standard-normal draws of W come from ``seed`` once and are
    shared by every case, so the cases differ only by scale and activation.

    Histogram: 30 equal bins over ``HISTOGRAM_RANGES`` (sigmoid [0, 1] as the book, tanh [-1, 1],
    ReLU [0, 3]: He keeps ReLU's second moment near the input's 1, so its values fall there);
    values outside the range are counted in the end bins (the book's ``hist(range=)`` drops
    them), so each layer's counts sum to samples × width, and ``clipped`` says how many were
    moved. ``zeros`` is each layer's fraction of exact zeros (ReLU's dead half).
    Returns ``{"edges": {activation: 31 floats}, "cases": {"sigmoid/std=1": {"counts": (layers,
    30) int array, "clipped": [...], "zeros": [...], "std": float}, ...}}``.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, width))
    raw = [rng.standard_normal((width, width)) for _ in range(layers)]
    cases: dict[str, Any] = {}
    total = len(HISTOGRAM_RANGES) * len(INITS)
    for activation, (lo, hi) in HISTOGRAM_RANGES.items():
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
        for init in INITS:
            std = float(_init_std(init, width))
            z = x
            counts = np.zeros((layers, HISTOGRAM_BINS), dtype=np.int64)
            clipped, zeros = [], []
            with np.errstate(over="ignore"):
                for i in range(layers):
                    z = _activate(activation, z @ (raw[i] * std))
                    flat = z.ravel()
                    outside = int(np.count_nonzero((flat < lo) | (flat > hi)))
                    counts[i] = np.histogram(np.clip(flat, lo, hi), bins=edges)[0]
                    clipped.append(outside)
                    zeros.append(float(np.count_nonzero(flat == 0.0) / flat.size))
            cases[f"{activation}/{init}"] = {
                "activation": activation, "init": init, "std": std,
                "counts": counts, "clipped": clipped, "zeros": zeros,
            }  # fmt: skip
            progress(len(cases), total, f"{activation}/{init}")
    return {
        "samples": samples, "width": width, "layers": layers, "bins": HISTOGRAM_BINS,
        "edges": {a: np.linspace(lo, hi, HISTOGRAM_BINS + 1).tolist()
                  for a, (lo, hi) in HISTOGRAM_RANGES.items()},
        "cases": cases,
    }  # fmt: skip


# --- batchnorm-gradient-check -------------------------------------------------------------------


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
    progress: Progress = _quiet,
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
    and the mean absolute backprop and numerical gradients.
    """
    from mitbadak.nn.networks import MultiLayerNetExtend

    hidden = [100, 100] if full else [10, 10]
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    t = np.asarray(t)
    if len(x) < batch:
        raise ValueError(f"batchnorm-gradient-check needs at least {batch} images, got {len(x)}")
    out: dict[str, Any] = {"hidden": hidden, "input_size": int(x.shape[1]), "batch_size": batch}
    for step, (key, n) in enumerate((("one", 1), ("batch", batch))):
        net = MultiLayerNetExtend(
            x.shape[1], hidden, 10, use_batchnorm=True, seed=seed, dtype=np.float64
        )
        out[key] = _check(net, x[:n], t[:n])
        progress(step + 1, 2, f"{n} image{'s' if n > 1 else ''}")
    return out


def load_check_images(data_dir=None) -> tuple[np.ndarray, np.ndarray, str]:
    """The images for ``batchnorm-gradient-check``: MNIST's training set as the book (then its
    test set, which is where only that is present), else the built-in ``mnist-sample``; the third
    value names what was used. Never downloads."""
    from mitbadak.core.errors import MitbadakError
    from mitbadak.files.datasets import load_split

    for name, split in (("mnist", "train"), ("mnist", "test"), ("mnist-sample", "train")):
        try:
            x, t = load_split(name, split, data_dir=data_dir, download=False)
        except (MitbadakError, OSError):
            continue
        return x[:100], t[:100], f"{name} {split} (first images)"
    raise MitbadakError("no MNIST images found, not even the built-in mnist-sample")


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run(seed=, full=, progress=, **inputs)`` returns its data; ``data``
    says in words what it is computed from; ``figure`` names its maker in
    :mod:`mitbadak.views.plots`; ``needs_images``: the client passes ``x``, ``t`` from
    :func:`load_check_images`."""

    name: str
    summary: str
    run: Callable[..., dict[str, Any]]
    data: str
    figure: str
    needs_images: bool = False


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
            "weight-init-histogram",
            "activation histograms of 5 layers of 100 for std 1, 0.01, Xavier, He; "
            "sigmoid, tanh, ReLU",
            weight_init_histogram,
            "no data set: 1,000 random inputs of 100 standard-normal values (from --seed)",
            "weight_init_histogram",
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
