"""The book's ``common/gradient.py``: ``numerical_gradient(f, x)`` for an ``x`` of any shape.

mitbadak's :func:`~mitbadak.core.differentiation.numerical_gradient` also takes a 2-D array of
points (one
per row, or one per column when ``f`` returns one value per column), so ``numerical_gradient_2d``
is the same function asked for rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mitbadak.core.differentiation import numerical_gradient

__all__ = ["numerical_gradient", "numerical_gradient_2d"]


def numerical_gradient_2d(f: Callable, X: np.ndarray) -> np.ndarray:
    """The book's batch form: the gradient of ``f`` at each row of a 2-D ``X`` (a 1-D ``X`` is
    one point): ``numerical_gradient(f, X, per_row=True)``."""
    if np.ndim(X) == 1:
        return numerical_gradient(f, X)
    return numerical_gradient(f, X, per_row=True)
