"""Smoothing a noisy curve (a loss per step) for plotting, as the book's ``common/util.py``."""

from __future__ import annotations

import numpy as np

__all__ = ["smooth_curve", "SMOOTH_WINDOW"]

#: the book's window: 11 points of a Kaiser window with beta 2
SMOOTH_WINDOW = 11
_BETA = 2.0


def smooth_curve(values) -> np.ndarray:
    """``values`` (one number per step, at least 11) averaged under a normalised Kaiser window
    (11 points, beta 2), as long as the input: the ends are mirrored first (the 10 values after
    the first one, reversed, before it; the last 10 reversed after it), so every output point
    is a centred weighted mean; the book's numbers. ``ValueError`` for fewer than 11 values or
    anything but a flat list of real numbers."""
    x = np.asarray(values)
    if x.ndim != 1 or x.dtype.kind not in "fiu":
        raise ValueError(f"smooth_curve needs a flat list of numbers, got an array of shape "
                         f"{x.shape} ({x.dtype})")  # fmt: skip
    n, half = x.shape[0], SMOOTH_WINDOW // 2
    if n < SMOOTH_WINDOW:
        raise ValueError(f"smooth_curve needs at least {SMOOTH_WINDOW} values (its window), "
                         f"got {n}")  # fmt: skip
    head = x[1:SMOOTH_WINDOW][::-1]  # x[10], ..., x[1]
    tail = x[n - SMOOTH_WINDOW + 1 :][::-1]  # x[-1], ..., x[-10]
    padded = np.concatenate([head, x, tail])
    window = np.kaiser(SMOOTH_WINDOW, _BETA)
    smoothed = np.convolve(window / window.sum(), padded, mode="valid")
    return smoothed[half : half + n]
