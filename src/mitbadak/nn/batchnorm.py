"""Batch normalization (chapter 6.3): ``BatchNormalization(gamma, beta, momentum=0.9)``.

The book's semantics: the input is read as (N, D) (a 4-D (N, C, H, W) batch as (N, C*H*W),
every element normalised on its own, not per channel), and in training mode

    mu = mean(x, axis=0),  var = mean((x - mu)^2, axis=0),  xn = (x - mu) / sqrt(var + EPS),
    y = gamma * xn + beta,
    running_mean <- momentum * running_mean + (1 - momentum) * mu   (running_var the same with var);

in test mode ``xn = (x - running_mean) / sqrt(running_var + EPS)``. The running statistics are
buffers (model files and checkpoints keep them; no optimizer sees them); gamma and beta are
parameters (``gamma1``, ``beta1``, ... in a network; never weight-decayed).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mitbadak.core.backend import array_namespace
from mitbadak.nn.layer_base import Layer, ParamSpec, register_layer

__all__ = ["EPS", "BatchNormWarning", "BatchNormalization"]

#: Added to the variance before the square root: the book's ``10e-7`` (= 1e-6).
EPS = 10e-7


class BatchNormWarning(UserWarning):
    """A batch that batch normalization cannot normalise (one sample in training mode)."""


def _vector(value, what: str) -> np.ndarray | Any:
    """``value`` as a 1-D float array (host or device), or a clear error."""
    if not hasattr(value, "shape"):
        value = np.asarray(value, dtype=np.float64)
    if len(value.shape) != 1 or value.shape[0] < 1:
        raise ValueError(
            f"BatchNormalization's {what} must be a 1-D array of one value per unit, "
            f"got shape {tuple(value.shape)}"
        )
    return value


@register_layer
class BatchNormalization(Layer):
    """y = gamma * (x - mu) / sqrt(var + EPS) + beta over the batch (training) or over the
    running statistics (test); see the module docstring. ``gamma``/``beta``: (D,) arrays, D the
    number of values per sample (C*H*W for a 4-D input)."""

    train_flag = True

    def __init__(self, gamma, beta, momentum: float = 0.9, running_mean=None, running_var=None):
        super().__init__()
        gamma, beta = _vector(gamma, "gamma"), _vector(beta, "beta")
        if tuple(gamma.shape) != tuple(beta.shape):
            raise ValueError(
                f"BatchNormalization's gamma and beta must have the same shape, got gamma "
                f"{tuple(gamma.shape)} and beta {tuple(beta.shape)}"
            )
        self.size = int(gamma.shape[0])
        self.params = {"gamma": gamma, "beta": beta}
        self._set_momentum(momentum)
        for stem, given in (("running_mean", running_mean), ("running_var", running_var)):
            if given is not None:
                given = _vector(given, stem)
                if given.shape[0] != self.size:
                    raise ValueError(
                        f"BatchNormalization's {stem} has {given.shape[0]} values, but gamma "
                        f"and beta have {self.size}"
                    )
                self.buffers[stem] = given

    def _set_momentum(self, momentum) -> None:
        m = float(momentum)
        if not 0.0 <= m <= 1.0:
            raise ValueError(f"BatchNormalization's momentum must be in [0, 1], got {momentum!r}")
        self.momentum = m

    @classmethod
    def of_size(cls, size: int, momentum: float = 0.9) -> BatchNormalization:
        """A layer for ``size`` units whose gamma/beta a network allocates (ones / zeros)."""
        if int(size) != size or size < 1:
            raise ValueError(f"BatchNormalization needs a positive number of units, got {size!r}")
        layer = cls(np.ones(int(size)), np.zeros(int(size)), momentum)
        layer.params = {}  # unbound: the network draws (ones, zeros) and binds its arrays
        return layer

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchNormalization:
        return cls.of_size(config["size"], config.get("momentum", 0.9))

    def config(self) -> dict[str, Any]:
        return {"size": self.size, "momentum": self.momentum}

    def param_specs(self) -> tuple[ParamSpec, ...]:
        return (ParamSpec("gamma", (self.size,), "ones"), ParamSpec("beta", (self.size,), "zeros"))

    def buffer_specs(self) -> tuple[ParamSpec, ...]:
        return (ParamSpec("running_mean", (self.size,), "zeros"),
                ParamSpec("running_var", (self.size,), "zeros"))  # fmt: skip

    # -- the book's attribute names -------------------------------------------------------
    @property
    def gamma(self):
        return self.params["gamma"]

    @property
    def beta(self):
        return self.params["beta"]

    @property
    def running_mean(self):
        return self.buffers.get("running_mean")

    @property
    def running_var(self):
        return self.buffers.get("running_var")

    @property
    def dgamma(self):
        return self.grads.get("gamma")

    @property
    def dbeta(self):
        return self.grads.get("beta")

    # -- math -------------------------------------------------------------------------------
    def _flat(self, x):
        """x as (N, D), checked against the layer's D."""
        x2 = x if len(x.shape) == 2 else x.reshape(x.shape[0], -1)
        if len(x2.shape) != 2 or x2.shape[1] != self.size:
            raise ValueError(
                f"BatchNormalization has {self.size} units (gamma and beta), but the input has "
                f"{x2.shape[1] if len(x2.shape) == 2 else 'no'} values per sample "
                f"(shape {tuple(x.shape)})"
            )
        return x2

    def forward(self, x, train_flg: bool = True):
        xp = array_namespace(x)
        self.input_shape = tuple(x.shape)
        x2 = self._flat(x)
        if "running_mean" not in self.buffers:  # a layer used on its own, as in the book
            self.buffers["running_mean"] = xp.zeros(self.size, dtype=x2.dtype)
            self.buffers["running_var"] = xp.zeros(self.size, dtype=x2.dtype)
        if train_flg:
            n = x2.shape[0]
            if n == 1:
                warnings.warn(
                    "BatchNormalization in training mode got a batch of one sample: its "
                    "variance over the batch is 0 and x - mean is 0, so every normalised value "
                    "is 0 and every output equals beta (as in the book); use a batch of two or "
                    "more samples, or train_flg=False for the running statistics",
                    BatchNormWarning,
                    stacklevel=2,
                )
            mu = xp.mean(x2, axis=0)
            xc = x2 - mu
            var = xp.mean(xc**2, axis=0)
            std = xp.sqrt(var + EPS)
            xn = xc / std
            self.xn, self.std = xn, std
            m = self.momentum
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            rm[...] = m * rm + (1 - m) * mu
            rv[...] = m * rv + (1 - m) * var
        else:
            rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
            xn = (x2 - rm) / xp.sqrt(rv + EPS)
        out = self.params["gamma"] * xn + self.params["beta"]
        return out.reshape(self.input_shape)

    def backward(self, dout):
        """dbeta = sum(dout), dgamma = sum(dout * xn); with g = gamma * dout,
        dx = (g - mean(g) - xn * mean(g * xn)) / std (means over the batch): the book's chain
        of dxn, dstd, dvar, dmu, collected (``mean(xn) = 0``)."""
        xp = array_namespace(dout)
        if not hasattr(self, "std"):
            raise AttributeError(
                "BatchNormalization.backward needs the batch statistics that "
                "forward(x, train_flg=True) stores: call forward in training mode first"
            )
        d2 = self._flat(dout)
        xn, std = self.xn, self.std
        self.grads = {"beta": xp.sum(d2, axis=0), "gamma": xp.sum(xn * d2, axis=0)}
        if not self.input_grad:
            return None
        g = self.params["gamma"] * d2
        dx = (g - xp.mean(g, axis=0) - xn * xp.mean(g * xn, axis=0)) / std
        return dx.reshape(self.input_shape)
