"""``weight-init-histogram``: hidden activations by weight scale (the book's section 6.2.2)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet

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
    progress: Progress = quiet,
    should_stop: StopCheck = never,
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
    30) int array, "clipped": [...], "zeros": [...], "std": float}, ...}, "partial"}``;
    ``should_stop()`` is asked before each case (those done are kept).
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, width))
    raw = [rng.standard_normal((width, width)) for _ in range(layers)]
    cases: dict[str, Any] = {}
    total = len(HISTOGRAM_RANGES) * len(INITS)
    stopped = False
    for activation, (lo, hi) in HISTOGRAM_RANGES.items():
        edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
        for init in INITS:
            stopped = stopped or should_stop()
            if stopped:
                break
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
        "cases": cases, "partial": stopped,
    }  # fmt: skip


