"""Input validation shared by the library: clear ``ValueError``s instead of silent broadcasts."""

from __future__ import annotations

import numpy as np


def describe(value) -> str:
    """A one-line account of ``value`` for error messages: its type, and its repr if scalar."""
    if value is None:
        return "None"
    if isinstance(value, str | bytes | int | float | complex):
        text = repr(value)
        return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
    return type(value).__name__


def as_array(x, name: str = "x") -> np.ndarray:
    """``np.asarray(x)``, with ragged nested lists refused by a ``ValueError`` naming ``name``."""
    try:
        return np.asarray(x)
    except (ValueError, TypeError):  # e.g. nested lists of different lengths
        raise ValueError(
            f"{name} is not a rectangular array (nested lists of different lengths?)"
        ) from None


def as_numeric_array(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a NumPy array of real numbers (bool, int or float), else a ``ValueError``.

    Ragged nested lists, strings, ``None``, objects and complex numbers are refused with a message
    naming ``name``, instead of NumPy's own errors or a silent object array.
    """
    arr = as_array(x, name)
    if arr.dtype.kind == "c":
        raise ValueError(f"{name} holds complex numbers (dtype {arr.dtype}); expected real numbers")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, but has dtype {arr.dtype}")
    return arr


def as_float_array(x, name: str = "x", *, finite: bool = False) -> np.ndarray:
    """Return ``x`` as a floating NumPy array (bools and ints become float64).

    Non-numeric input raises ``ValueError`` (see :func:`as_numeric_array`); with ``finite=True``
    so does NaN or inf (:func:`check_finite`).
    """
    arr = as_numeric_array(x, name)
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(x: np.ndarray, name: str = "x") -> None:
    """Raise if ``x`` holds NaN or inf (they would poison every later number)."""
    if x.dtype.kind not in "fc":
        return  # integers and booleans are always finite
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.sum(x)  # one cheap pass: NaN/inf anywhere make the sum non-finite
    if np.isfinite(total):
        return  # (a sum that merely overflowed falls through to the exact check below)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); expected finite numbers")


def check_batch(x: np.ndarray, n_features: int, name: str = "x") -> np.ndarray:
    """Validate a network input and return it as 2-D ``(N, n_features)``.

    Accepts one sample ``(n_features,)`` or any ``(N, ...)`` whose trailing axes hold
    ``n_features`` values (e.g. ``(N, 1, 28, 28)`` for 784).
    """
    if x.ndim == 0:
        raise ValueError(f"{name} must be an array of samples, but a scalar was given")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 samples); expected at least one sample")
    per_sample = int(np.prod(x.shape[1:]))
    if per_sample != n_features:
        raise ValueError(
            f"{name} has {per_sample} features per sample, but the network expects {n_features}"
        )
    check_finite(x, name)
    return x.reshape(x.shape[0], n_features)


def labels_to_indices(t, n_samples: int, n_classes: int, name: str = "t") -> np.ndarray:
    """Return integer class labels ``(N,)`` from integer labels or one-hot rows ``(N, C)``.

    Raises when the batch sizes differ, a label is out of range, or one-hot width != ``n_classes``.
    """
    t = as_array(t, name)
    if t.ndim == 0:
        t = t.reshape(1)
    if t.ndim == 2:
        if t.shape[1] != n_classes:
            raise ValueError(
                f"{name} is one-hot with {t.shape[1]} columns, "
                f"but the network has {n_classes} outputs"
            )
        if t.shape[0] != n_samples:
            raise ValueError(f"{name} has {t.shape[0]} labels, but x has {n_samples} samples")
        # argmax of a row that is not one-hot (all zeros, soft labels) would silently pick a class
        if t.dtype.kind not in "fiub" or not (
            np.all((t == 0) | (t == 1)) and np.all(np.sum(t, axis=1) == 1)
        ):
            raise ValueError(
                f"{name} has shape {t.shape} but is not one-hot: "
                "expected exactly one 1 and zeros elsewhere in every row"
            )
        return np.argmax(t, axis=1)
    if t.ndim != 1:
        raise ValueError(
            f"{name} must be integer labels (N,) or one-hot (N, C), got shape {t.shape}"
        )
    if t.shape[0] != n_samples:
        raise ValueError(f"{name} has {t.shape[0]} labels, but x has {n_samples} samples")
    return label_values(t, n_classes, name)


def label_values(t: np.ndarray, n_classes: int, name: str = "t", *, out_of_range=None):
    """Integer labels ``t`` (any shape) checked to be whole numbers in 0..n_classes-1, as intp.

    ``out_of_range(lo, hi)`` words the range error for callers that are not a network (default:
    "t holds labels from lo to hi, but the network has C classes (0..C-1)").
    """
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or not np.all(t == np.round(t)):
            raise ValueError(
                f"{name} holds non-integer labels; expected integers 0..{n_classes - 1}"
            )
    elif t.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer labels, but has dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= n_classes):
        lo, hi = int(t.min()), int(t.max())
        if out_of_range is not None:
            raise ValueError(out_of_range(lo, hi))
        raise ValueError(
            f"{name} holds labels from {lo} to {hi}, "
            f"but the network has {n_classes} classes (0..{n_classes - 1})"
        )
    return t.astype(np.intp, copy=False)


def check_x(x, n_features: int, name: str = "x") -> np.ndarray:
    """The edge check of a network input: real, finite numbers shaped as one sample
    ``(n_features,)`` or a batch ``(N, ...)``; returned 2-D ``(N, n_features)``."""
    return check_batch(as_numeric_array(x, name), n_features, name)


def check_xt(
    x, t, n_features: int, n_classes: int, x_name: str = "x", t_name: str = "t"
) -> tuple[np.ndarray, np.ndarray]:
    """The one edge check of an ``(x, t)`` pair: ``(x2, t_idx)`` with x as in :func:`check_x`
    and t (integer labels or one-hot rows) as integer labels ``(N,)`` in ``0..n_classes-1``.

    Networks (``prepare``), the trainer's data and ``evaluate_network`` all go through it."""
    x2 = check_x(x, n_features, x_name)
    return x2, labels_to_indices(t, x2.shape[0], n_classes, t_name)
