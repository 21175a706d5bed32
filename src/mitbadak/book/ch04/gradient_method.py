"""The book's ``ch04/gradient_method.py``: ``gradient_descent(f, init_x, lr=0.01,
step_num=100)`` returning ``(x, x_history)`` as the book's file does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mitbadak.core import differentiation as gradient

__all__ = ["gradient_descent"]


def gradient_descent(
    f: Callable, init_x, lr: float = 0.01, step_num: int = 100
) -> tuple[np.ndarray, np.ndarray]:
    """x <- x - lr * grad f(x), ``step_num`` times; returns ``(x, x_history)``, the history being
    the points before each step (:func:`mitbadak.gradient_descent` with ``return_history=True``;
    ``init_x`` is never modified)."""
    return gradient.gradient_descent(f, init_x, lr=lr, step_num=step_num, return_history=True)
