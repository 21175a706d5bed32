"""Computational-graph layers of chapter 5: one node per class, each with forward and backward.

The contract every layer keeps:

* ``forward(...)`` computes the output and caches exactly what ``backward`` needs;
* ``backward(dout)`` returns the gradient with respect to the input(s) and stores the gradient of
  each parameter in ``grads`` (and as ``dW``/``db`` attributes, as the book names them);
* ``dout`` is never modified in place;
* ``params`` holds *references* to the network's parameter arrays, so an optimizer that updates
  ``network.params`` in place updates the layer too.

What a network (``mitbadak.nn.networks.LayerNet``) reads from a layer, so that a new layer is one
class and nothing else:

* ``param_specs()``: its parameters as :class:`ParamSpec` (stem, shape, initial values, weight
  decay or not). The network names them by position, stem + the count of earlier layers with the
  same stem (``W1``, ``b1``, ``gamma1``, ``W2``...), allocates them, and keeps ``layer.params``
  bound to its arrays; optimizers see exactly these.
* ``buffer_specs()``: non-trainable state (BatchNorm's running mean/var): ``layer.buffers``,
  kept by model files and checkpoints, never seen by an optimizer.
* ``train_flag = True``: ``forward(x, train_flg)`` gets the network's train/test flag (the
  book's ``train_flg``); other layers are called as ``forward(x)``.
* ``stochastic = True``: the network gives the layer ``self.rng``, a seeded NumPy Generator
  whose state goes into checkpoints (draw on it, on the host, so resume stays exact).
* ``input_grad``: False on a network's first layer (its input gradient is never used; a layer
  may skip computing it).
* ``config()`` / ``from_config(config)``: the constructor's arguments as JSON, for model files;
  a layer class is found by name in :data:`LAYERS` (``@register_layer``) or among the
  activations.
* forward/backward use the array module of their inputs (``array_namespace``): one definition
  for NumPy, CuPy and PyTorch tensors.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mitbadak.core._checks import as_array, as_float_array, labels_to_indices
from mitbadak.core.backend import array_namespace, copy_array
from mitbadak.nn.activations import (
    ACTIVATIONS,
    Activation,
    Relu,
    Sigmoid,
    Tanh,
    register_activation,
)
from mitbadak.nn.layer_base import LAYERS, Layer, ParamSpec, register_layer


class DivergedWarning(RuntimeWarning):
    """A network's scores overflowed to inf/nan (the book's code goes on with nan)."""


__all__ = [
    "ParamSpec",
    "Layer",
    "LAYERS",
    "register_layer",
    "layer_class",
    "MulLayer",
    "AddLayer",
    "Activation",
    "ACTIVATIONS",
    "register_activation",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Affine",
    "SoftmaxWithLoss",
    "DivergedWarning",
]


def layer_class(name: str) -> type[Layer]:
    """The registered layer (or activation) class called ``name``; ValueError naming the known."""
    if name in LAYERS:
        return LAYERS[name]
    for cls in ACTIVATIONS.values():
        if cls.__name__ == name:
            return cls
    known = sorted([*LAYERS, *(c.__name__ for c in ACTIVATIONS.values())])
    raise ValueError(f"unknown layer {name!r}: expected one of {known} (register it with "
                     "@register_layer)")


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
        if array_namespace(dout) is not np:
            return copy_array(dout), copy_array(dout)  # device arrays (.copy() / .clone())
        return np.array(dout, copy=True), np.array(dout, copy=True)


# The hidden activations (Sigmoid, Relu, Tanh, ...) and their registry live in
# nn/activations.py, one class each; they are re-exported here (``from mitbadak.nn.layers import
# Relu`` keeps working).


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
        self.shape = (int(W.shape[0]), int(W.shape[1]))
        self.weight_std = 0.01

    @classmethod
    def of_shape(cls, in_size: int, out_size: int, weight_std: float = 0.01) -> Affine:
        """An Affine layer for a network to build: W (in, out) from weight_std * N(0, 1), b = 0,
        allocated and bound by the network (``params`` stays empty until then)."""
        layer = cls.__new__(cls)
        Layer.__init__(layer)
        layer.dW = layer.db = None
        layer.shape = (int(in_size), int(out_size))
        if min(layer.shape) < 1:
            raise ValueError(f"Affine sizes must be positive, got {layer.shape}")
        layer.weight_std = float(weight_std)
        return layer

    def param_specs(self) -> tuple[ParamSpec, ...]:
        """W (in, out): weight_std * N(0, 1), decayed; b (out,): zeros."""
        return (
            ParamSpec("W", self.shape, self.weight_std, decay=True),
            ParamSpec("b", (self.shape[1],), "zeros"),
        )

    def config(self) -> dict[str, Any]:
        return {"in_size": self.shape[0], "out_size": self.shape[1],
                "weight_std": self.weight_std}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Affine:
        return cls.of_shape(**config)

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
        out = self.x @ self.W
        out += self.b  # into the fresh product: the same sums as x @ W + b, one array fewer
        return out

    def backward(self, dout):
        """Store dW = x^T . dout and db = sum(dout, axis=0); return dx = dout . W^T (or None)."""
        xp = array_namespace(dout)
        self.dW = self.x.T @ dout
        self.db = xp.sum(dout, axis=0)
        self.grads = {"W": self.dW, "b": self.db}
        if not self.input_grad:
            return None
        return (dout @ self.W.T).reshape(self.original_x_shape)


register_layer(Affine)


class SoftmaxWithLoss(Layer):
    """Softmax followed by the mean cross-entropy, fused for stability and speed.

    forward(x, t): y = softmax(x); L = -1/N sum_n log y[n, t_n], computed as
    logsumexp(x_n) - x[n, t_n] so it never takes log(0). (The book adds delta = 1e-7 inside the log;
    this exact form differs from it by about 1e-7 / y[n, t_n] and makes ``backward`` its exact
    derivative.) ``t`` may be one-hot (N, C) or integer labels (N,).

    backward(dout=1): dout * (y - t) / N.

    Scores that are not finite (a network that diverged) are a ``ValueError`` by default; with
    ``finite_scores = False`` (the book's faces of chapter 6) the loss is ``nan`` with a
    :class:`DivergedWarning`, and training goes on as the book's NumPy code does.
    """

    #: False: non-finite scores give a nan loss and a warning instead of an error (the book's way)
    finite_scores: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.y: np.ndarray | None = None
        self.t: np.ndarray | None = None  # integer labels (N,)

    def forward(self, x, t):
        xp = array_namespace(x, t)
        if xp is not np:
            # On a device the caller checked the data on the host before moving it (as the
            # networks and the trainer do): here x is (N, C) scores and t integer labels (N,).
            self.t = t
            self.y, loss = softmax_cross_entropy(x, t)
            return loss
        # (named for a network's user too, whose loss() reaches here with its scores)
        x = as_float_array(x, "x (the scores given to SoftmaxWithLoss)", finite=self.finite_scores)
        if not self.finite_scores and not np.isfinite(x).all():
            warnings.warn(DivergedWarning(
                "the network's scores are not finite (its weights overflowed): the loss is nan "
                "and training goes on, as in the book; a smaller learning rate or weight scale, "
                "or BatchNormalization, keeps it finite"), stacklevel=3)  # fmt: skip
        if x.ndim not in (1, 2) or x.shape[-1] == 0:
            raise ValueError(f"x must be scores (C,) or (N, C) with C >= 1, got shape {x.shape}")
        if x.shape[0] == 0:  # the mean over 0 samples would be nan
            raise ValueError(
                f"x is an empty batch (0 rows of scores, shape {x.shape}); SoftmaxWithLoss "
                "needs at least one sample"
            )
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
        xp = array_namespace(self.y)
        n = self.y.shape[0]
        dx = copy_array(self.y)  # y.copy() on any array library (PyTorch: clone)
        dx[xp.arange(n), self.t] -= 1
        dx *= dout / n
        return dx


def softmax_cross_entropy(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, float]:
    """(softmax(x), mean_n [logsumexp(x_n) - x[n, t_n]]) for scores x (N, C) and labels t (N,).

    The loss is a Python float for NumPy data; on a device it stays a 0-d device array, so a
    training step does not wait for the device (the caller reads losses back in blocks).
    """
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=1, keepdims=True)
    e = xp.exp(shifted)
    s = xp.sum(e, axis=1, keepdims=True)
    y = e / s
    n = x.shape[0]
    loss = xp.mean(xp.log(s[:, 0]) - shifted[xp.arange(n), t])
    return y, (float(loss) if xp is np else loss)
