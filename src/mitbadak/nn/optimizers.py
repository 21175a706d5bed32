"""Optimizers: one ``update(params, grads)`` each, updating the parameter arrays in place.

In-place updates matter: the layers hold references to the same arrays as ``network.params``,
so both stay in step without any copying.

The parameters may live on a device (CuPy, or another array library): the state arrays are made
with the parameters' own module (``xp.zeros_like``), ``state_dict()`` always returns NumPy arrays
on the host, and ``load_state_dict`` puts them back beside the parameters at the next update.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from mitbadak.core._checks import describe
from mitbadak.core.backend import array_namespace, to_device, to_host

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "AdaGrad",
    "Adam",
    "make_optimizer",
    "OPTIMIZERS",
    "REGISTRY",
    "OptimizerEntry",
]


def _real(value, name: str) -> float:
    """``value`` as a float; ``TypeError`` unless it is a real number (not a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    return float(value)


def _learning_rate(lr) -> float:
    value = _real(lr, "lr")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"learning rate must be a positive number, got {lr!r}")
    return value


def _decay_rate(value, name: str) -> float:
    """A momentum or beta: a number in [0, 1) (1 would never forget; > 1 would diverge)."""
    rate = _real(value, name)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return rate


class Optimizer:
    """Base class: subclasses implement ``_update``; ``state_dict``/``load_state_dict`` resume it.

    ``update`` checks its arguments, then calls ``_update``.
    """

    def __init__(self, lr: float) -> None:
        self.lr = _learning_rate(lr)

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``params`` from ``grads``: one gradient per parameter, same shapes.

        A parameter is a floating-point array, updated in place (the layers hold the same array),
        or a plain number (a Python float, a NumPy scalar), whose new value is stored back into
        ``params[key]``, as the book's ``optimizer_compare_naive.py`` does with its x and y.
        Raises ``TypeError`` for a parameter that cannot be updated so (an integer array, which
        in-place float arithmetic cannot change; text; ...), and ``ValueError`` for missing or
        unexpected keys and for a gradient whose shape differs from its parameter's (it would
        otherwise broadcast silently, e.g. (50,) over (784, 50)). These checks are the public
        edge: the trainer calls ``_update`` directly.
        """
        if not isinstance(params, dict) or not isinstance(grads, dict):
            raise TypeError(
                f"params and grads must be dicts of arrays, got {type(params).__name__} "
                f"and {type(grads).__name__}"
            )
        if grads.keys() != params.keys():
            missing, extra = sorted(params.keys() - grads.keys()), sorted(grads.keys() - params)
            raise ValueError(
                f"grads must hold one gradient per parameter: missing {missing}, unexpected {extra}"
            )
        for key, p in params.items():
            _check_parameter(key, p)
        for key, g in grads.items():
            want = _shape_of(params[key])
            shape = _shape_of(g)
            if shape != want or not _real_dtype(g):
                if shape is None:
                    given = describe(g)
                elif _is_number(g):
                    given = f"the number {g!r}"
                else:
                    given = f"shape {shape} ({g.dtype})"
                if want == ():
                    raise ValueError(
                        f"gradient {key!r} must be a real number, like its parameter, got {given}"
                    )
                raise ValueError(
                    f"gradient {key!r} must be a real array of shape {want} (the parameter's; "
                    f"no broadcasting), got {given}"
                )
        self._update(params, grads)

    def _update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
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
                # a host snapshot: later updates must not change it (device arrays are copied
                # to the host by to_host; host arrays are copied here)
                out[f"{slot}/{k}"] = v.copy() if isinstance(v, np.ndarray) else to_host(v)
        return out

    @staticmethod
    def _unflat(state: dict[str, np.ndarray], slot: str) -> dict[str, np.ndarray] | None:
        prefix = slot + "/"
        found = {
            k[len(prefix) :]: np.array(to_host(v)) for k, v in state.items()
            if k.startswith(prefix)
        }  # fmt: skip
        return found or None

    @staticmethod
    def _beside(state: dict[str, np.ndarray] | None, params) -> dict[str, np.ndarray] | None:
        """``state`` on the device of ``params`` (e.g. host state loaded into a device run).

        One type comparison when they already sit together, so the CPU step pays nothing.
        """
        if not state:
            return state
        p = next(iter(params.values()), None)
        if type(next(iter(state.values()))) is type(p):
            return state
        return to_device(state, _xp_of(params))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr})"


def _xp_of(params) -> object:
    """The array module of the parameters (a type check first: NumPy costs nothing per step)."""
    p = next(iter(params.values()), None)
    return np if type(p) is np.ndarray else array_namespace(p)


def _is_number(value) -> bool:
    """A real number that is not an array: a Python int/float or a NumPy scalar (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _shape_of(value) -> tuple[int, ...] | None:
    """``value.shape``; () for a plain number; None for anything else (text, lists, None...)."""
    if _is_number(value):
        return ()
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else None


def _zeros_like(xp, p):
    """Optimizer state for parameter ``p``: zeros like it; a float 0-d array for a Python int
    or an integer NumPy scalar (state is updated in place, so it must hold fractions)."""
    if _is_number(p) and not isinstance(p, float | np.floating):
        return np.zeros(())
    return xp.zeros_like(p)


def _check_parameter(key, p) -> None:
    """``TypeError`` unless ``p`` is a floating-point array (in place) or a plain number."""
    if _is_number(p):
        return  # updated by storing the new value back into params[key]
    dtype = getattr(p, "dtype", None)
    if dtype is None or getattr(p, "shape", None) is None:
        raise TypeError(
            f"parameter {key!r} must be a floating-point array or a number, got {describe(p)}"
        )
    kind = getattr(dtype, "kind", None)
    if kind == "f":
        return
    if kind is None:  # e.g. torch dtypes, which have no NumPy kind
        xp = array_namespace(p)
        if xp.isdtype(dtype, "real floating"):
            return
    raise TypeError(
        f"parameter {key!r} is an array of {dtype}, which the optimizer cannot update in place "
        f"(its steps are fractions); make it floating-point first, e.g. "
        f"params[{key!r}] = params[{key!r}].astype(float)"
    )


def _real_dtype(g) -> bool:
    """True when ``g`` holds real numbers (float or integer), on the host or on a device."""
    if _is_number(g):
        return True
    kind = getattr(getattr(g, "dtype", None), "kind", None)
    if kind is not None:
        return kind in "fiu"
    if not hasattr(g, "dtype"):
        return False
    xp = array_namespace(g)  # e.g. torch dtypes, which have no NumPy kind
    return bool(xp.isdtype(g.dtype, ("real floating", "integral")))


class SGD(Optimizer):
    """W <- W - lr * dL/dW"""

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def _update(self, params, grads) -> None:
        for key, g in grads.items():
            params[key] -= self.lr * g


class Momentum(Optimizer):
    """v <- momentum * v - lr * dL/dW;  W <- W + v"""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _decay_rate(momentum, "momentum")
        self.v: dict[str, np.ndarray] | None = None

    def _update(self, params, grads) -> None:
        if self.v is None:
            xp = _xp_of(params)
            self.v = {k: _zeros_like(xp, p) for k, p in params.items()}
        else:
            self.v = self._beside(self.v, params)
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

    def _update(self, params, grads) -> None:
        xp = _xp_of(params)
        if self.h is None:
            self.h = {k: _zeros_like(xp, p) for k, p in params.items()}
        else:
            self.h = self._beside(self.h, params)
        for key, g in grads.items():
            h = self.h[key]
            h += g * g
            params[key] -= self.lr * g / (xp.sqrt(h) + 1e-7)

    def state_dict(self):
        return self._flat(h=self.h)

    def load_state_dict(self, state) -> None:
        self.h = self._unflat(state, "h")


class Adam(Optimizer):
    """Adam (Kingma & Ba): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
    W <- W - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + 1e-7)"""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1 = _decay_rate(beta1, "beta1")
        self.beta2 = _decay_rate(beta2, "beta2")
        self.t = 0
        self.m: dict[str, np.ndarray] | None = None
        self.v: dict[str, np.ndarray] | None = None

    def _update(self, params, grads) -> None:
        xp = _xp_of(params)
        if self.m is None:
            self.m = {k: _zeros_like(xp, p) for k, p in params.items()}
            self.v = {k: _zeros_like(xp, p) for k, p in params.items()}
        else:
            self.m, self.v = self._beside(self.m, params), self._beside(self.v, params)
        self.t += 1
        # a Python float, so float32 parameters are not promoted to float64 in the arithmetic
        lr_t = self.lr * float(np.sqrt(1.0 - self.beta2**self.t)) / (1.0 - self.beta1**self.t)
        for key, g in grads.items():
            m, v = self.m[key], self.v[key]
            m += (1.0 - self.beta1) * (g - m)
            v += (1.0 - self.beta2) * (g * g - v)
            params[key] -= lr_t * m / (xp.sqrt(v) + 1e-7)

    def state_dict(self):
        state = self._flat(m=self.m, v=self.v)
        state["t"] = np.array(self.t)
        return state

    def load_state_dict(self, state) -> None:
        self.m = self._unflat(state, "m")
        self.v = self._unflat(state, "v")
        self.t = int(state.get("t", 0))


@dataclass(frozen=True)
class OptimizerEntry:
    """One registered optimizer: its CLI/web ``name``, ``cls``, and ``run_lr``, the learning rate a
    training run (``mitbadak train``, a web recipe) uses when it names this optimizer but no lr.
    The class's own default (``cls().lr``) stays the book's."""

    name: str
    cls: type[Optimizer]
    run_lr: float
    summary: str


#: Every optimizer, registered once: adding one is a class above and a line here.
REGISTRY: dict[str, OptimizerEntry] = {
    e.name: e
    for e in (
        OptimizerEntry("sgd", SGD, 0.05, "W -= lr * dW"),
        OptimizerEntry("momentum", Momentum, 0.05, "v = m*v - lr*dW; W += v"),
        OptimizerEntry("adagrad", AdaGrad, 0.01, "h += dW*dW; W -= lr*dW/sqrt(h)"),
        OptimizerEntry("adam", Adam, 0.001, "bias-corrected moving averages of dW and dW*dW"),
    )
}
#: name -> class (the registry's view used by make_optimizer)
OPTIMIZERS = {name: e.cls for name, e in REGISTRY.items()}


def make_optimizer(name: str, lr: float | None = None, **kwargs) -> Optimizer:
    """An optimizer by name ('sgd', 'momentum', 'adagrad', 'adam'); lr=None keeps its default."""
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[key](**kwargs)
