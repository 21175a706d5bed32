"""The book's ``common/functions.py``: mitbadak's functions under the book's names.

``sum_squared_error`` is the spelling of the book's code (the text says ``sum_squares_error``;
both are here). ``softmax_loss(X, t)`` is ``cross_entropy_error(softmax(X), t)``. The book's
``relu_grad`` is not provided (no chapter 3-5 script uses it).
"""

from mitbadak.core.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squares_error,
)

#: The book's code spells it ``sum_squared_error``.
sum_squared_error = sum_squares_error

__all__ = [
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "softmax",
    "sum_squared_error",
    "sum_squares_error",
    "cross_entropy_error",
    "softmax_loss",
]


def softmax_loss(X, t):
    """cross_entropy_error(softmax(X), t): the mean loss of scores ``X`` against labels ``t``."""
    return cross_entropy_error(softmax(X), t)
