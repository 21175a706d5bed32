"""Numerical differentiation of chapter 4: derivatives, gradients, gradient descent, tangents."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from mitbadak._checks import as_float_array, describe

__all__ = ["numerical_diff", "numerical_gradient", "gradient_descent", "tangent_line"]


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference: f'(x) ~= (f(x + h) - f(x - h)) / (2h).

    h = 1e-4 is the book's choice: small enough for a good slope, large enough that float64
    rounding of f(x + h) - f(x - h) does not swamp the result.
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4
) -> np.ndarray:
    """The gradient of ``f`` at ``x`` by central differences, one element at a time.

    ``x`` may have any shape and must be a floating array: it is perturbed in place (so that ``f``
    may close over it, as a network's loss closes over its weights) and every element is restored
    to its exact original value afterwards. Returns an array of ``x``'s shape and dtype.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"x must be a NumPy array (it is perturbed in place), got {type(x).__name__}"
        )
    if x.dtype.kind != "f":
        raise ValueError(
            f"x has dtype {x.dtype}; numerical_gradient needs a floating array, because adding "
            f"h = {h} to an integer array would silently truncate. Use x.astype(float)."
        )
    if not x.flags.writeable:
        raise ValueError(
            "x is read-only, but numerical_gradient perturbs it in place (and restores it); "
            "pass a writable array, e.g. x.copy()"
        )
    _check_positive(h, "h")
    grad = np.zeros_like(x)
    # Perturb through a flat view when there is one (fast indexing); f always receives x itself,
    # in its own shape, since f may index it (x[0], x[1]) or close over it.
    flat_x = x.reshape(-1)
    if not np.shares_memory(flat_x, x):  # non-contiguous x: index it by multi-index instead
        for idx in np.ndindex(x.shape):
            grad[idx] = _central(f, x, x, idx, h)
        return _checked_gradient(grad, h)
    flat_grad = grad.reshape(-1)
    for i in range(flat_x.size):
        flat_grad[i] = _central(f, x, flat_x, i, h)
    return _checked_gradient(grad, h)


def _checked_gradient(grad: np.ndarray, h: float) -> np.ndarray:
    if not np.all(np.isfinite(grad)):
        bad = int(grad.size - np.count_nonzero(np.isfinite(grad)))
        raise ValueError(
            f"the numerical gradient has {bad} NaN or infinite element(s): f returned NaN/inf "
            f"(or overflowed) at x +- h, h = {h:g}"
        )
    return grad


def _central(f, x: np.ndarray, arr: np.ndarray, idx, h: float) -> float:
    """(f(x) with arr[idx] + h  -  f(x) with arr[idx] - h) / 2h; ``arr`` is x or a view of x."""
    original = arr[idx].copy()
    arr[idx] = original + h
    f_plus = f(x)
    arr[idx] = original - h
    f_minus = f(x)
    arr[idx] = original  # restore bit-exactly: never original + h - h
    return (f_plus - f_minus) / (2 * h)


def gradient_descent(
    f: Callable[[np.ndarray], float],
    init_x,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    return_history: bool = False,
):
    """Repeat x <- x - lr * grad f(x) ``step_num`` times from ``init_x`` (never modified).

    Returns the final x, or ``(x, history)`` with ``return_history=True``, where ``history`` is an
    array ``(step_num + 1, *x.shape)`` of the points visited, starting with ``init_x``.
    """
    if isinstance(step_num, bool) or not isinstance(step_num, numbers.Integral):
        raise TypeError(f"step_num must be an integer, got {describe(step_num)}")
    if step_num < 0:
        raise ValueError(f"step_num must be >= 0, got {step_num}")
    _check_positive(lr, "lr")
    x = np.array(as_float_array(init_x, "init_x", finite=True))  # a copy: init_x is never changed
    history = [x.copy()]
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
        if return_history:
            history.append(x.copy())
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"gradient descent diverged: after {step_num} steps of lr={lr:g}, x holds NaN or "
            "infinite values (f overflowed or returned NaN); try a smaller lr or fewer steps"
        )
    if return_history:
        return x, np.array(history)
    return x


def _check_positive(value, name: str) -> None:
    """``value`` must be a real, finite number > 0 (a step size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def tangent_line(f: Callable[[float], float], x: float) -> Callable:
    """The tangent of ``f`` at ``x``: t -> f'(x) * (t - x) + f(x), slope by ``numerical_diff``."""
    slope = numerical_diff(f, x)
    fx = f(x)

    def line(t):
        return slope * (np.asarray(t) - x) + fx

    return line
