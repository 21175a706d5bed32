"""Optimizers: one ``update(params, grads)`` each, updating the parameter arrays in place.

In-place updates matter: the layers hold references to the same arrays as ``network.params``,
so both stay in step without any copying.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Optimizer", "SGD", "Momentum", "AdaGrad", "Adam", "make_optimizer", "OPTIMIZERS"]


class Optimizer:
    """Base class: subclasses implement ``update``; ``state_dict``/``load_state_dict`` resume it."""

    def __init__(self, lr: float) -> None:
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be a positive number, got {lr}")
        self.lr = float(lr)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays of internal state, keyed by flat names (``v/W1`` ...); empty for SGD."""
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` returned."""

    def _flat(self, **slots: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for slot, values in slots.items():
            for k, v in (values or {}).items():
                out[f"{slot}/{k}"] = v.copy()  # a snapshot: later updates must not change it
        return out

    @staticmethod
    def _unflat(state: dict[str, np.ndarray], slot: str) -> dict[str, np.ndarray] | None:
        prefix = slot + "/"
        found = {k[len(prefix):]: np.array(v) for k, v in state.items() if k.startswith(prefix)}
        return found or None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


class SGD(Optimizer):
    """W <- W - lr * dL/dW"""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def update(self, params, grads) -> None:
        for key, g in grads.items():
            params[key] -= self.lr * g


class Momentum(Optimizer):
    """v <- momentum * v - lr * dL/dW;  W <- W + v"""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = float(momentum)
        self.v: dict[str, np.ndarray] | None = None

    def update(self, params, grads) -> None:
        if self.v is None:
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        for key, g in grads.items():
            v = self.v[key]
            v *= self.momentum
            v -= self.lr * g
            params[key] += v

    def state_dict(self):
        return self._flat(v=self.v)

    def load_state_dict(self, state) -> None:
        self.v = self._unflat(state, "v")


class AdaGrad(Optimizer):
    """h <- h + (dL/dW)^2;  W <- W - lr * dL/dW / (sqrt(h) + 1e-7)"""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)
        self.h: dict[str, np.ndarray] | None = None

    def update(self, params, grads) -> None:
        if self.h is None:
            self.h = {k: np.zeros_like(p) for k, p in params.items()}
        for key, g in grads.items():
            h = self.h[key]
            h += g * g
            params[key] -= self.lr * g / (np.sqrt(h) + 1e-7)

    def state_dict(self):
        return self._flat(h=self.h)

    def load_state_dict(self, state) -> None:
        self.h = self._unflat(state, "h")


class Adam(Optimizer):
    """Adam (Kingma & Ba): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
    W <- W - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + 1e-7)"""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.t = 0
        self.m: dict[str, np.ndarray] | None = None
        self.v: dict[str, np.ndarray] | None = None

    def update(self, params, grads) -> None:
        if self.m is None:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t += 1
        # a Python float, so float32 parameters are not promoted to float64 in the arithmetic
        lr_t = self.lr * float(np.sqrt(1.0 - self.beta2**self.t)) / (1.0 - self.beta1**self.t)
        for key, g in grads.items():
            m, v = self.m[key], self.v[key]
            m += (1.0 - self.beta1) * (g - m)
            v += (1.0 - self.beta2) * (g * g - v)
            params[key] -= lr_t * m / (np.sqrt(v) + 1e-7)

    def state_dict(self):
        state = self._flat(m=self.m, v=self.v)
        state["t"] = np.array(self.t)
        return state

    def load_state_dict(self, state) -> None:
        self.m = self._unflat(state, "m")
        self.v = self._unflat(state, "v")
        self.t = int(state.get("t", 0))


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "adam": Adam}


def make_optimizer(name: str, lr: float | None = None, **kwargs) -> Optimizer:
    """An optimizer by name ('sgd', 'momentum', 'adagrad', 'adam'); lr=None keeps its default."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[key](**kwargs)
