"""Numerical differentiation of chapter 4: derivatives, gradients, gradient descent, tangents."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from mitbadak.core._checks import as_float_array, describe

__all__ = [
    "numerical_diff",
    "numerical_gradient",
    "central_difference",
    "gradient_descent",
    "DescentResult",
    "tangent_line",
]


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference: f'(x) ~= (f(x + h) - f(x - h)) / (2h).

    h = 1e-4 is the book's choice: small enough for a good slope, large enough that float64
    rounding of f(x + h) - f(x - h) does not swamp the result.
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    h: float = 1e-4,
    *,
    per_row: bool | None = None,
) -> np.ndarray:
    """The gradient of ``f`` at ``x`` by central differences, one element at a time.

    ``x`` may have any shape and must be a floating array: it is perturbed in place (so that ``f``
    may close over it, as a network's loss closes over its weights) and every element is restored
    to its exact original value afterwards. Returns an array of ``x``'s shape and dtype.

    ``f`` returns a scalar. A 2-D ``x`` may also be a set of points (``f`` is called on the whole
    ``x`` first, and what it returns says which form):

    * one value per row (the book's ``gradient_2d.py``, whose ``function_2`` sums over axis 1):
      row ``i`` of the result is the gradient of ``f`` at the point ``x[i]``, the book's
      ``_numerical_gradient_no_batch`` row by row (``f`` receives one row at a time). A square
      ``x`` is read this way.
    * one value per column (``np.array([X, Y])`` with ``f = lambda x: x[0]**2 + x[1]**2``: the
      columns are the points): column ``j`` of the result is the gradient at the point
      ``x[:, j]``, vectorised, i.e. each row of ``x`` is moved by +-h at once (``f``'s value for a
      column must depend on that column only). If some row of ``x`` does not move ``f`` at all
      (an ``f`` written for one point per row, reading ``x[0]`` and ``x[1]`` of an (N, 2) ``x``),
      the rows are used instead when every coordinate of a row moves ``f``.

    ``per_row=True`` always works row by row; ``per_row=False`` never does (a scalar, or one
    value per column).
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
    if per_row and x.ndim != 2:
        raise ValueError(f"per_row=True needs a 2-D x (one point per row), got shape {x.shape}")
    if per_row:
        return _gradient_per_row(f, x, h)
    try:
        return _gradient_whole(f, x, h)
    except _NotScalar as exc:
        whole = f"f(x) returned {exc.what} for x of shape {x.shape}"
        if x.ndim == 2:
            rows, columns = x.shape
            if exc.shape == (columns,) and (rows != columns or per_row is False):
                return _gradient_columns_or_rows(f, x, h, rows_allowed=per_row is None)
            if per_row is None:  # the book's gradient_2d.py: one point per row
                return _gradient_per_row(f, x, h, also=whole)
        raise ValueError(f"f must return a scalar (one number), but {whole}") from None


class _NotScalar(Exception):
    """f returned something that is not one number (``what`` says what it was; ``shape`` is the
    shape of the real array it returned, else None)."""

    def __init__(self, what: str, shape: tuple[int, ...] | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.shape = shape


def _as_scalar(value):
    """``value`` itself when it is one real number (a 0-d or one-element array counts)."""
    if isinstance(value, float | np.floating):
        return value  # the common case: keep its type, so the arithmetic is unchanged
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        kind = f"an array of dtype {arr.dtype}" if arr.ndim else f"a {type(value).__name__}"
        raise _NotScalar(kind)
    if arr.size != 1:
        raise _NotScalar(f"an array of shape {arr.shape}", arr.shape)
    return arr.reshape(())[()]


def _gradient_whole(f, x: np.ndarray, h: float) -> np.ndarray:
    grad = np.zeros_like(x)
    # Perturb through a flat view when there is one (fast indexing); f always receives x itself,
    # in its own shape, since f may index it (x[0], x[1]) or close over it.
    flat_x = x.reshape(-1)
    if not np.shares_memory(flat_x, x):  # non-contiguous x: index it by multi-index instead
        for idx in np.ndindex(x.shape):
            grad[idx] = central_difference(f, x, x, idx, h)
        return _checked_gradient(grad, h)
    flat_grad = grad.reshape(-1)
    for i in range(flat_x.size):
        flat_grad[i] = central_difference(f, x, flat_x, i, h)
    return _checked_gradient(grad, h)


def _checked_gradient(grad: np.ndarray, h: float) -> np.ndarray:
    if not np.all(np.isfinite(grad)):
        bad = int(grad.size - np.count_nonzero(np.isfinite(grad)))
        raise ValueError(
            f"the numerical gradient has {bad} NaN or infinite element(s): f returned NaN/inf "
            f"(or overflowed) at x +- h, h = {h:g}"
        )
    return grad


def _gradient_per_row(f, x: np.ndarray, h: float, also: str = "") -> np.ndarray:
    grad = np.zeros_like(x)
    for i in range(x.shape[0]):
        try:
            grad[i] = _gradient_whole(f, x[i], h)  # x[i] is a view: x itself is perturbed
        except _NotScalar as exc:
            raise ValueError(
                f"f must return a scalar (one number) for each row of x, but f(x[{i}]) "
                f"returned {exc.what}" + (f" (and {also})" if also else "")
            ) from None
    return grad


def _gradient_columns_or_rows(f, x: np.ndarray, h: float, *, rows_allowed: bool) -> np.ndarray:
    """Column ``j`` = the gradient at the point ``x[:, j]`` (``f`` returned one value per
    column); or, when ``rows_allowed`` and some row of ``x`` does not move ``f`` while the row
    by row reading uses every coordinate of a row, the gradient at each row."""
    grad = _gradient_per_column(f, x, h)
    if not rows_allowed or np.all(np.any(grad != 0, axis=1)):
        return grad
    try:
        by_row = _gradient_per_row(f, x, h)
    except ValueError:
        return grad
    return by_row if np.all(np.any(by_row != 0, axis=0)) else grad


def _gradient_per_column(f, x: np.ndarray, h: float) -> np.ndarray:
    """(f(x) with row k + h  -  f(x) with row k - h) / 2h, one row (coordinate) of every point
    at a time: 2 * rows calls of f, each returning one value per column."""
    grad = np.zeros_like(x)
    columns = x.shape[1]
    for k in range(x.shape[0]):
        original = x[k].copy()
        try:
            x[k] = original + h
            f_plus = _per_column(f(x), columns)
            x[k] = original - h
            f_minus = _per_column(f(x), columns)
        finally:
            x[k] = original  # restore bit-exactly
        grad[k] = (f_plus - f_minus) / (2 * h)
    return _checked_gradient(grad, h)


def _per_column(value, columns: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu" or arr.shape != (columns,):
        what = f"dtype {arr.dtype}, shape {arr.shape}"
        raise ValueError(
            f"f returned one value per column of x ({columns}) at first, then an array of "
            f"{what} with one row of x moved by h: f must return one number per column"
        )
    return arr


def central_difference(f, x: np.ndarray, arr: np.ndarray, idx, h: float = 1e-4) -> float:
    """(f(x) with arr[idx] + h  -  f(x) with arr[idx] - h) / 2h; ``arr`` is x or a view of x.

    The one partial derivative :func:`numerical_gradient` takes per element; ``arr[idx]`` is
    restored bit-exactly afterwards. ``f(x)`` must give a scalar.
    """
    original = arr[idx].copy()
    try:
        arr[idx] = original + h
        f_plus = _as_scalar(f(x))
        arr[idx] = original - h
        f_minus = _as_scalar(f(x))
    finally:
        arr[idx] = original  # restore bit-exactly: never original + h - h
    return (f_plus - f_minus) / (2 * h)


class DescentResult(np.ndarray):
    """The final point returned by :func:`gradient_descent` (without ``return_history``).

    An ordinary array in every way but one: it refuses to be unpacked or iterated, so that the
    book's ``x, x_history = gradient_descent(...)`` cannot silently split a 2-element x into its two
    coordinates. Indexing, arithmetic, ``copy``/``astype``/``reshape``/``ravel``/``flatten`` and
    ``np.asarray(x)`` give plain arrays, which iterate as usual.
    """

    def __iter__(self):
        raise TypeError(
            "gradient_descent returned only the final point x (an array), not (x, x_history). "
            "For the history write: x, x_history = gradient_descent(f, init_x, lr=..., "
            "step_num=..., return_history=True). To loop over x's elements use np.asarray(x)."
        )

    def __getitem__(self, key):
        return np.asarray(self)[key]

    def copy(self, order="C") -> np.ndarray:
        return np.asarray(self).copy(order)

    def astype(self, *args, **kwargs) -> np.ndarray:
        return np.asarray(self).astype(*args, **kwargs)

    def reshape(self, *args, **kwargs) -> np.ndarray:
        return np.asarray(self).reshape(*args, **kwargs)

    def ravel(self, order="C") -> np.ndarray:
        return np.asarray(self).ravel(order)

    def flatten(self, order="C") -> np.ndarray:
        return np.asarray(self).flatten(order)

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        arr = np.asarray(obj)
        return arr[()] if return_scalar else arr

    def __reduce__(self):  # pickles (and copies through pickle) as a plain array
        return np.asarray(self).copy().__reduce__()

    def __repr__(self) -> str:
        return repr(np.asarray(self))

    def __str__(self) -> str:
        return str(np.asarray(self))


def gradient_descent(
    f: Callable[[np.ndarray], float],
    init_x,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    return_history: bool = False,
):
    """Repeat x <- x - lr * grad f(x) ``step_num`` times from ``init_x`` (never modified).

    Returns the final x ONLY, unless ``return_history=True``::

        x = gradient_descent(f, init_x, lr=0.1, step_num=20)                 # the final point
        x, x_history = gradient_descent(f, init_x, lr=0.1, step_num=20,
                                        return_history=True)                  # the book's 4.4

    ``x_history`` is the book's: an array ``(step_num, *x.shape)`` of the points *before* each
    step (row 0 is ``init_x``; the final x is not in it). Unpacking the plain result into two
    names raises a ``TypeError`` that says to pass ``return_history=True`` (the returned
    :class:`DescentResult` cannot be iterated), instead of silently splitting x's coordinates.
    """
    if isinstance(step_num, bool) or not isinstance(step_num, numbers.Integral):
        raise TypeError(f"step_num must be an integer, got {describe(step_num)}")
    if step_num < 0:
        raise ValueError(f"step_num must be >= 0, got {step_num}")
    _check_positive(lr, "lr")
    x = np.array(as_float_array(init_x, "init_x", finite=True))  # a copy: init_x is never changed
    history = []
    for _ in range(step_num):
        if return_history:
            history.append(x.copy())
        x -= lr * numerical_gradient(f, x)
    if not np.all(np.isfinite(x)):
        raise ValueError(
            f"gradient descent diverged: after {step_num} steps of lr={lr:g}, x holds NaN or "
            "infinite values (f overflowed or returned NaN); try a smaller lr or fewer steps"
        )
    if return_history:
        return x, np.array(history).reshape(step_num, *x.shape)
    return x.view(DescentResult)


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
