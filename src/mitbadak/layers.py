"""Computational-graph layers of chapter 5: one node per class, each with forward and backward.

The contract every layer keeps:

* ``forward(...)`` computes the output and caches exactly what ``backward`` needs;
* ``backward(dout)`` returns the gradient with respect to the input(s) and stores the gradient of
  each parameter in ``grads`` (and as ``dW``/``db`` attributes, as the book names them);
* ``dout`` is never modified in place;
* ``params`` holds *references* to the network's parameter arrays, so an optimizer that updates
  ``network.params`` in place updates the layer too.
"""

from __future__ import annotations

import numpy as np

from mitbadak._checks import as_array, as_float_array, labels_to_indices
from mitbadak.functions import sigmoid

__all__ = ["Layer", "MulLayer", "AddLayer", "Relu", "Sigmoid", "Affine", "SoftmaxWithLoss"]


class Layer:
    """Base class: a node with ``forward``/``backward`` and (maybe empty) ``params``/``grads``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, *inputs):  # pragma: no cover - interface
        raise NotImplementedError

    def backward(self, dout):  # pragma: no cover - interface
        raise NotImplementedError

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: a cache that forward() fills is still missing.
        if name in _FORWARD_CACHE:
            raise AttributeError(
                f"{type(self).__name__}.backward needs {name!r}, which forward() stores: "
                "call forward before backward"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


# What each layer's forward() caches for its backward().
_FORWARD_CACHE = frozenset({"x", "y", "mask", "out", "original_x_shape"})


class MulLayer(Layer):
    """z = x * y; backward: dz/dx = y, dz/dy = x (the inputs are swapped)."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, dout):
        """Return ``(dout * y, dout * x)``."""
        return dout * self.y, dout * self.x


class AddLayer(Layer):
    """z = x + y; backward passes ``dout`` unchanged to both inputs."""

    def forward(self, x, y):
        return x + y

    def backward(self, dout):
        """Return ``(dout, dout)``; arrays come back as two independent copies."""
        if np.isscalar(dout):
            return dout, dout
        return np.array(dout, copy=True), np.array(dout, copy=True)


class Relu(Layer):
    """y = max(0, x); backward: dout where x > 0, else 0."""

    def forward(self, x):
        self.mask = x <= 0
        return np.maximum(x, 0)

    def backward(self, dout):
        """Return ``dout * (x > 0)`` (a new array; ``dout`` is left untouched)."""
        return np.where(self.mask, 0, dout)


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)); backward: dout * y * (1 - y), from the cached output y."""

    def forward(self, x):
        self.out = sigmoid(x)  # keeps a float dtype; integer input becomes float64, not truncated
        return self.out

    def backward(self, dout):
        """Return ``dout * (1 - y) * y``."""
        return dout * (1.0 - self.out) * self.out


class Affine(Layer):
    """y = x . W + b for a batch x of any rank >= 2 (the trailing axes are flattened).

    backward: dx = dout . W^T (reshaped to x's shape), dW = x^T . dout, db = sum_n dout.
    Set ``input_grad=False`` for a first layer: dx is then not computed and ``backward`` returns
    None, which saves one matrix product per step in training.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, *, input_grad: bool = True) -> None:
        super().__init__()
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(
                f"Affine needs W (in, out) and b (out,), got W {W.shape} and b {b.shape}"
            )
        self.params = {"W": W, "b": b}
        self.input_grad = input_grad
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    @property
    def W(self) -> np.ndarray:
        return self.params["W"]

    @property
    def b(self) -> np.ndarray:
        return self.params["b"]

    def forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"Affine expects a batch (N, ...) of rank >= 2, got shape {x.shape}")
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        if self.x.shape[1] != self.W.shape[0]:
            raise ValueError(
                f"x has {self.x.shape[1]} features per sample, but this Affine layer expects "
                f"{self.W.shape[0]}"
            )
        return self.x @ self.W + self.b

    def backward(self, dout):
        """Store dW = x^T . dout and db = sum(dout, axis=0); return dx = dout . W^T (or None)."""
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        self.grads = {"W": self.dW, "b": self.db}
        if not self.input_grad:
            return None
        return (dout @ self.W.T).reshape(self.original_x_shape)


class SoftmaxWithLoss(Layer):
    """Softmax followed by the mean cross-entropy, fused for stability and speed.

    forward(x, t): y = softmax(x); L = -1/N sum_n log y[n, t_n], computed as
    logsumexp(x_n) - x[n, t_n] so it never takes log(0). (The book adds delta = 1e-7 inside the log;
    this exact form differs from it by about 1e-7 / y[n, t_n] and makes ``backward`` its exact
    derivative.) ``t`` may be one-hot (N, C) or integer labels (N,).

    backward(dout=1): dout * (y - t) / N.
    """

    def __init__(self) -> None:
        super().__init__()
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None  # integer labels (N,)

    def forward(self, x, t):
        # (named for a network's user too, whose loss() reaches here with its scores)
        x = as_float_array(x, "x (the scores given to SoftmaxWithLoss)", finite=True)
        if x.ndim not in (1, 2) or x.shape[-1] == 0:
            raise ValueError(f"x must be scores (C,) or (N, C) with C >= 1, got shape {x.shape}")
        one_sample = x.ndim == 1
        if one_sample:
            x = x.reshape(1, -1)
        t = as_array(t, "t")
        if one_sample and t.ndim == 1 and t.shape[0] == x.shape[1] > 1:
            t = t.reshape(1, -1)  # the one-hot row of the single sample
        # checked labels: a negative or too-large label would otherwise index silently
        self.t = labels_to_indices(t, x.shape[0], x.shape[1])
        self.y, loss = softmax_cross_entropy(x, self.t)
        return loss

    def backward(self, dout=1):
        """Return dout * (y - onehot(t)) / N."""
        if self.y is None:
            raise AttributeError(
                "SoftmaxWithLoss.backward needs 'y', which forward() stores: "
                "call forward before backward"
            )
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        dx *= dout / n
        return dx


def softmax_cross_entropy(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
    """(softmax(x), mean_n [logsumexp(x_n) - x[n, t_n]]) for scores x (N, C) and labels t (N,)."""
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    y = e / s
    n = x.shape[0]
    loss = float(np.mean(np.log(s[:, 0]) - shifted[np.arange(n), t]))
    return y, loss
