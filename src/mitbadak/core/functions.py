"""Pure functions of chapters 3-4: activations, softmax and the two loss functions.

Every function accepts scalars or arrays of any shape (element-wise ones) and returns NumPy values.
``sigmoid``, ``relu`` and ``softmax`` also take device arrays (CuPy, ...) and return arrays of the
same library (``xp = array_namespace(x)``): the networks use them on a device.
Names follow the book so that readers can type what they read.
"""

from __future__ import annotations

import numpy as np

from mitbadak.core._checks import as_float_array, as_numeric_array, describe, label_values
from mitbadak.core.backend import array_namespace

__all__ = [
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "identity_function",
    "softmax",
    "sum_squares_error",
    "cross_entropy_error",
    "CEE_DELTA",
]

#: The small constant the book adds inside the log of the cross-entropy, so log(0) never happens.
CEE_DELTA = 1e-7


def _numbers(x, name: str = "x") -> np.ndarray:
    """``x`` as a NumPy array of real numbers (bool, int or float). Text, ``None``, ragged nested
    lists, objects and complex numbers are a ``ValueError`` naming ``name`` and what was given."""
    try:
        return as_numeric_array(x, name)
    except ValueError as exc:
        if "expected" in str(exc):  # already says what it wants (complex numbers)
            raise
        raise ValueError(
            f"{exc}; expected a number or a list/array of numbers, got {describe(x)}"
        ) from None


def step_function(x):
    """h(x) = 1 if x > 0 else 0 (integer 0/1 values, same shape as ``x``).

    ``x``: a number or a (nested) list/array of real numbers; anything else is a ``ValueError``.
    """
    return (_numbers(x) > 0).astype(np.int64)


def sigmoid(x):
    """sigma(x) = 1 / (1 + exp(-x)), computed without overflow for any finite x (e.g. +-1000).

    For x >= 0 the textbook form is safe; for x < 0 the equal form exp(x) / (1 + exp(x)) is used.
    """
    xp = array_namespace(x)
    if xp is not np:  # device data (float, checked by the caller): the same formula with xp
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    x = _numbers(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    # exp(-|x|) is in (0, 1]: it never overflows. For |x| beyond ~745 it underflows to 0, which is
    # the correctly rounded answer, so that event is silenced even under np.errstate(all='raise').
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x):
    """d sigma / dx = (1 - sigma(x)) * sigma(x): the derivative of :func:`sigmoid` at ``x``."""
    y = sigmoid(x)
    return (1.0 - y) * y


def relu(x):
    """ReLU(x) = max(0, x), element-wise (integers stay integers, as in the book).

    ``x``: a number or a (nested) list/array of real numbers; text, ``None``, ragged lists and
    complex numbers are a ``ValueError`` naming ``x``.
    """
    xp = array_namespace(x)
    if xp is not np:  # device data (checked by the caller)
        return xp.maximum(x, 0)
    return np.maximum(_numbers(x), 0)


def identity_function(x):
    """sigma(x) = x: the output activation for regression; returns ``x`` itself.

    ``x`` is checked like :func:`relu`'s (real numbers), so a mistake fails here, not later.
    """
    if array_namespace(x) is np:
        _numbers(x)
    return x


def softmax(a):
    """y_k = exp(a_k - max(a)) / sum_i exp(a_i - max(a)), along the last axis.

    Subtracting the maximum leaves the result unchanged but keeps exp from overflowing
    (softmax([1010, 1000, 990]) is finite). Works on one vector or a batch of rows.
    """
    xp = array_namespace(a)
    if xp is not np:  # device scores (checked where they were made): the same formula with xp
        e = xp.exp(a - xp.max(a, axis=-1, keepdims=True))
        return e / xp.sum(e, axis=-1, keepdims=True)
    a = as_float_array(_numbers(a, "a"), "a", finite=True)
    if a.ndim == 0 or a.shape[-1] == 0:
        raise ValueError(
            f"softmax needs at least one score along the last axis, got shape {a.shape}"
        )
    shifted = a - np.max(a, axis=-1, keepdims=True)
    # exp of a very negative score underflows to 0: the right probability, not an error.
    with np.errstate(under="ignore"):
        e = np.exp(shifted)
        return e / np.sum(e, axis=-1, keepdims=True)


def _check_same_shape(y: np.ndarray, t: np.ndarray) -> None:
    if y.shape != t.shape:
        raise ValueError(f"y has shape {y.shape} but t has shape {t.shape}; they must match")


def sum_squares_error(y, t):
    """E = 1/2 * sum_k (y_k - t_k)^2 (t one-hot, same shape as y)."""
    y = as_float_array(_numbers(y, "y"), "y", finite=True)
    t = as_float_array(_numbers(t, "t"), "t", finite=True)
    _check_same_shape(y, t)
    return 0.5 * np.sum((y - t) ** 2)


def cross_entropy_error(y, t):
    """E = -1/N * sum_n sum_k t_nk * log(y_nk + delta), delta = 1e-7.

    ``y`` is one sample (1-D) or a batch (N, C) of probabilities. ``t`` is one-hot (same shape as y)
    or integer class labels (a scalar for one sample, (N,) for a batch). A batch gives the mean.
    """
    y = as_float_array(_numbers(y, "y"), "y", finite=True)
    if y.size and y.min() < 0:
        raise ValueError(
            f"y holds negative values (min {y.min():g}); expected probabilities (softmax output)"
        )
    t = _numbers(t, "t")
    if y.ndim == 1:
        y = y.reshape(1, -1)
        t = np.asarray(t).reshape(1, -1) if np.ndim(t) == 1 else np.asarray(t).reshape(1)
    elif y.ndim != 2:
        raise ValueError(f"y must be one sample (C,) or a batch (N, C), got shape {y.shape}")
    t = np.asarray(t)
    n, c = y.shape
    if n == 0:
        raise ValueError("y is an empty batch (0 samples)")
    if t.shape == y.shape:  # one-hot
        t = as_float_array(t, "t", finite=True)
        return -np.sum(t * np.log(y + CEE_DELTA)) / n
    if t.ndim == 2 and t.shape[1] != c:
        raise ValueError(f"t is one-hot with {t.shape[1]} columns, but y has {c} classes")
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(
            f"t must be one-hot {y.shape} or {n} integer label(s), but has shape {t.shape}"
        )
    if t.dtype.kind not in "iu" and not (
        t.dtype.kind == "f" and np.all(np.isfinite(t)) and np.all(t == np.round(t))
    ):
        raise ValueError(f"integer labels expected in t, got dtype {t.dtype}")
    # then the same label checks as every network entry point (the range error worded for y)
    t = label_values(
        t, c, out_of_range=lambda lo, hi: f"t holds labels {lo}..{hi}, but y has {c} classes"
    )
    return -np.sum(np.log(y[np.arange(n), t] + CEE_DELTA)) / n
