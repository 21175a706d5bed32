"""Optimizers: one ``update(params, grads)`` each, updating the parameter arrays in place.

In-place updates matter: the layers hold references to the same arrays as ``network.params``,
so both stay in step without any copying.

The parameters may live on a device (CuPy, or another array library): the state arrays are made
with the parameters' own module (``xp.zeros_like``), ``state_dict()`` always returns NumPy arrays
on the host, and ``load_state_dict`` puts them back beside the parameters at the next update.
"""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mitbadak.core._checks import describe
from mitbadak.core.backend import array_namespace, to_device, to_host
from mitbadak.core.expressions import Expr, compile_numpy, evaluate, scalar, sqrt, var

__all__ = [
    "Optimizer",
    "register_optimizer",
    "unregister_optimizer",
    "adam_lr_t",
    "SGD",
    "Momentum",
    "Nesterov",
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
    """Base class of the optimizers: one declared update rule, run by every engine.

    A subclass declares

    * ``rule(p, g, <state slots>, <scalars>)``: the update of one parameter as elementwise
      expressions (:mod:`mitbadak.core.expressions`), returning ``{slot: new value, ...,
      "p": new value}`` in the order they are written (usually the slots first; Nesterov writes
      ``p`` first, as the book does); an output may use the *new* value of an earlier one, never
      the old value of an output already written, since each is written in place;
    * ``slots``: the names of its per-parameter state (``v``, ``h``, ``m``...), kept as dicts of
      arrays in attributes of those names;
    * ``step_scalars()``: the host scalars of one step (``{"lr": self.lr}`` by default; any
      arithmetic on hyperparameters alone belongs here, so every engine rounds it alike);
    * ``name``, ``run_lr`` (the lr a run uses when none is given), ``compare_lr`` (the lr of the
      chapter-6 comparison of the descent page) and a one-line ``summary``.

    ``update`` (checked) and the trainer's ``_update`` run the rule with the parameters' array
    module, in place; the fused GPU step compiles the same rule into one CUDA kernel
    (``devices/cuda_kernels.py``); ``state_dict``/``load_state_dict`` resume it.
    ``@register_optimizer`` makes it known to ``make_optimizer``, the CLI, the pages and the GPU
    step: a new optimizer is one class and nothing else.
    """

    name: ClassVar[str] = ""
    slots: ClassVar[tuple[str, ...]] = ()
    run_lr: ClassVar[float] = 0.01
    compare_lr: ClassVar[float] = 0.1
    summary: ClassVar[str] = ""

    def __init__(self, lr: float) -> None:
        self.lr = _learning_rate(lr)
        for slot in self.slots:
            setattr(self, slot, None)

    @staticmethod
    def rule(p: Expr, g: Expr, **names: Expr) -> dict[str, Expr]:  # pragma: no cover
        raise NotImplementedError

    def step_scalars(self) -> dict[str, float]:
        """The host scalars the rule reads this step (after ``_advance``)."""
        return {"lr": self.lr}

    def _advance(self) -> None:
        """Count one step before ``step_scalars`` (Adam's ``t``); nothing by default."""

    @classmethod
    def _compiled_numpy(cls):
        """The rule compiled for NumPy (in place), once per class."""
        compiled = cls.__dict__.get("_numpy_rule")
        if compiled is None:
            compiled = cls._numpy_rule = compile_numpy(cls.program()[0], in_place=True)
        return compiled

    @classmethod
    def program(cls) -> tuple[tuple[tuple[str, Expr], ...], tuple[str, ...]]:
        """``((output, expression), ...)`` in writing order, and the rule's scalar names."""
        cached = cls.__dict__.get("_program")
        if cached is None:
            cached = cls._program = _compile_rule(cls)
        return cached

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
        """The rule on every parameter, in place (a plain-number parameter is stored back)."""
        xp = _xp_of(params)
        state = {}
        for slot in self.slots:
            values = getattr(self, slot)
            if values is None:
                values = {k: _zeros_like(xp, p) for k, p in params.items()}
            else:
                values = self._beside(values, params)
            setattr(self, slot, values)
            state[slot] = values
        self._advance()
        env = self.step_scalars()
        program, _ = self.program()
        compiled = self._compiled_numpy() if xp is np else None
        for key, g in grads.items():
            p = params[key]
            env["p"], env["g"] = p, g
            for slot, values in state.items():
                env[slot] = values[key]
            in_place = not _is_number(p)
            if compiled is not None and in_place:  # the same operations, compiled once
                compiled(env)
                continue
            memo: dict[int, Any] = {}
            for target, expr in program:
                out = env[target] if target != "p" or in_place else None
                value = evaluate(expr, env, xp, out=out, memo=memo)
                if target == "p" and not in_place:
                    params[key] = value

    def state_dict(self) -> dict[str, np.ndarray]:
        """Arrays of internal state, keyed by flat names (``v/W1`` ...); empty for SGD."""
        return self._flat(**{slot: getattr(self, slot) for slot in self.slots})

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` returned."""
        for slot in self.slots:
            setattr(self, slot, self._unflat(state, slot))

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


def _compile_rule(cls: type[Optimizer]) -> tuple[tuple[tuple[str, Expr], ...], tuple[str, ...]]:
    """Check ``cls.rule`` and put it in writing order (``ValueError`` naming the class)."""
    where = f"{cls.__name__}.rule"
    names = list(inspect.signature(cls.rule).parameters)
    if names[:2] != ["p", "g"] or not set(cls.slots) <= set(names[2:]):
        raise ValueError(f"{where} must take (p, g, <its slots {cls.slots}>, <scalars>)")
    scalars = tuple(n for n in names[2:] if n not in cls.slots)
    leaves = {n: var(n) for n in ("p", "g", *cls.slots)} | {n: scalar(n) for n in scalars}
    outputs = cls.rule(**leaves)
    if not isinstance(outputs, dict) or set(outputs) != {*cls.slots, "p"}:
        raise ValueError(f"{where} must return {{slot: ..., 'p': ...}} for slots {cls.slots}")
    order = list(outputs)  # the writing order is the rule's
    written: set[str] = set()
    done: set[int] = set()  # the new values already computed: their old leaves are not read
    for target in order:
        stale = _leaves(outputs[target], done) & written
        if stale:
            raise ValueError(f"{where}: {target!r} reads the old {sorted(stale)} after it is "
                             "written; use the new value the rule computed")  # fmt: skip
        written.add(target)
        done.add(id(outputs[target]))
    return tuple((k, outputs[k]) for k in order), scalars


def _leaves(expr: Expr, done: set[int]) -> set[str]:
    """The array variables ``expr`` reads, not looking inside the values in ``done``."""
    if id(expr) in done:
        return set()
    if expr.op == "var":
        return {expr.value}
    return set().union(set(), *(_leaves(a, done) for a in expr.args))


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


@dataclass(frozen=True)
class OptimizerEntry:
    """One registered optimizer: its CLI/web ``name``, ``cls``, and ``run_lr``, the learning rate a
    training run (``mitbadak train``, a web recipe) uses when it names this optimizer but no lr.
    The class's own default (``cls().lr``) stays the book's."""

    name: str
    cls: type[Optimizer]
    run_lr: float
    summary: str


#: name -> entry, filled by @register_optimizer (the CLI's --optimizer choices, --lr help, the
#: web recipes and pages read it)
REGISTRY: dict[str, OptimizerEntry] = {}
#: name -> class (the registry's view used by make_optimizer)
OPTIMIZERS: dict[str, type[Optimizer]] = {}


def register_optimizer(cls: type[Optimizer]) -> type[Optimizer]:
    """Class decorator: make ``cls`` known by ``cls.name`` to ``make_optimizer``, the CLI, the
    pages and the GPU step. Its rule is checked here (``ValueError`` naming the class)."""
    if not cls.name or not cls.name.isidentifier() or cls.name in REGISTRY:
        raise ValueError(f"optimizer name {cls.name!r} is empty, not an identifier or taken")
    if {"p", "g"} & set(cls.slots):
        raise ValueError(f"{cls.__name__}.slots may not be named 'p' or 'g'")
    cls.program()
    REGISTRY[cls.name] = OptimizerEntry(cls.name, cls, float(cls.run_lr), cls.summary)
    OPTIMIZERS[cls.name] = cls
    return cls


def unregister_optimizer(name: str) -> None:
    """Remove optimizer ``name`` (for tests that register a throw-away one)."""
    REGISTRY.pop(name, None)
    OPTIMIZERS.pop(name, None)


def adam_lr_t(lr: float, beta1: float, beta2: float, t: int) -> float:
    """Adam's bias-corrected step size at step t >= 1: lr * sqrt(1 - b2^t) / (1 - b1^t), a host
    float (a Python float, so float32 parameters are not promoted)."""
    return lr * float(np.sqrt(1.0 - beta2**t)) / (1.0 - beta1**t)


# --- the optimizers: one class each ------------------------------------------------------------


@register_optimizer
class SGD(Optimizer):
    """W <- W - lr * dL/dW"""

    name, run_lr, compare_lr, summary = "sgd", 0.05, 0.95, "W -= lr * dW"

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    @staticmethod
    def rule(p, g, lr):
        return {"p": p - lr * g}


@register_optimizer
class Momentum(Optimizer):
    """v <- momentum * v - lr * dL/dW;  W <- W + v"""

    name, run_lr, compare_lr, summary = "momentum", 0.05, 0.1, "v = m*v - lr*dW; W += v"
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _decay_rate(momentum, "momentum")

    def step_scalars(self):
        return {"lr": self.lr, "momentum": self.momentum}

    @staticmethod
    def rule(p, g, v, lr, momentum):
        v = momentum * v - lr * g
        return {"v": v, "p": p + v}


@register_optimizer
class Nesterov(Optimizer):
    """Nesterov's accelerated gradient in the book's rearranged form (Bengio et al. 2012):
    W <- W + momentum^2 * v - (1 + momentum) * lr * dL/dW;  v <- momentum * v - lr * dL/dW
    (W is written first, from the old v, then v; the same roundings as the book's code)."""

    name, run_lr, compare_lr = "nesterov", 0.05, 0.1
    summary = "W += m*m*v - (1+m)*lr*dW; v = m*v - lr*dW"
    slots = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _decay_rate(momentum, "momentum")

    def step_scalars(self):
        m = self.momentum
        return {"lr": self.lr, "momentum": m, "mm": m * m, "lr_ahead": (1 + m) * self.lr}

    @staticmethod
    def rule(p, g, v, lr, momentum, mm, lr_ahead):
        return {"p": (p + mm * v) - lr_ahead * g, "v": v * momentum - lr * g}


@register_optimizer
class AdaGrad(Optimizer):
    """h <- h + (dL/dW)^2;  W <- W - lr * dL/dW / (sqrt(h) + 1e-7)"""

    name, run_lr, compare_lr, summary = (
        "adagrad", 0.01, 1.5, "h += dW*dW; W -= lr*dW/sqrt(h)"
    )  # fmt: skip
    slots = ("h",)

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    @staticmethod
    def rule(p, g, h, lr):
        h = h + g * g
        return {"h": h, "p": p - lr * g / (sqrt(h) + 1e-7)}


@register_optimizer
class Adam(Optimizer):
    """Adam (Kingma & Ba): m <- b1 m + (1-b1) g; v <- b2 v + (1-b2) g^2;
    W <- W - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + 1e-7)"""

    name, run_lr, compare_lr = "adam", 0.001, 0.3
    summary = "bias-corrected moving averages of dW and dW*dW"
    slots = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr)
        self.beta1 = _decay_rate(beta1, "beta1")
        self.beta2 = _decay_rate(beta2, "beta2")
        self.t = 0

    def _advance(self) -> None:
        self.t += 1

    def step_scalars(self):
        return {"lr_t": adam_lr_t(self.lr, self.beta1, self.beta2, self.t),
                "c1": 1.0 - self.beta1, "c2": 1.0 - self.beta2}  # fmt: skip

    @staticmethod
    def rule(p, g, m, v, lr_t, c1, c2):
        m = m + c1 * (g - m)
        v = v + c2 * (g * g - v)
        return {"m": m, "v": v, "p": p - lr_t * m / (sqrt(v) + 1e-7)}

    def state_dict(self):
        state = super().state_dict()
        state["t"] = np.array(self.t)
        return state

    def load_state_dict(self, state) -> None:
        super().load_state_dict(state)
        self.t = int(state.get("t", 0))


@register_optimizer
class RMSprop(Optimizer):
    """The book's RMSprop: h <- decay_rate * h + (1 - decay_rate) * dW^2;
    W <- W - lr * dW / (sqrt(h) + 1e-7)"""

    name, run_lr, compare_lr = "rmsprop", 0.001, 0.1
    summary = "h = d*h + (1-d)*dW*dW; W -= lr*dW/(sqrt(h) + 1e-7)"
    slots = ("h",)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr)
        self.decay_rate = _decay_rate(decay_rate, "decay_rate")

    def step_scalars(self):
        return {"lr": self.lr, "decay_rate": self.decay_rate, "rest": 1 - self.decay_rate}

    @staticmethod
    def rule(p, g, h, lr, decay_rate, rest):
        h = decay_rate * h + rest * g * g
        return {"h": h, "p": p - lr * g / (sqrt(h) + 1e-7)}


def make_optimizer(name: str, lr: float | None = None, **kwargs) -> Optimizer:
    """An optimizer by its registered name (:data:`OPTIMIZERS`); lr=None keeps its default."""
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a string, got {type(name).__name__}")
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if lr is not None:
        kwargs["lr"] = lr
    return OPTIMIZERS[key](**kwargs)
