"""The layer contract every layer class keeps (:class:`Layer`, :class:`ParamSpec`) and the layer
registry. Its own module, below both ``layers`` (Affine, SoftmaxWithLoss, ...) and
``activations``, so an activation is a layer without the two importing each other. The contract
is described in :mod:`mitbadak.nn.layers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = ["LAYERS", "Layer", "ParamSpec", "register_layer"]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter (or buffer) a layer declares: ``stem`` (``"W"``; the network appends the
    layer's position: ``W1``), ``shape``, ``init`` (``"zeros"``, ``"ones"``, or a standard deviation
    std: std * N(0, 1) drawn from the network's generator, in layer order) and ``decay`` (True:
    the L2 weight decay applies to it; the book decays weights only, not biases, gamma or beta)."""

    stem: str
    shape: tuple[int, ...]
    init: str | float = "zeros"
    decay: bool = False

    def initial(self, rng: np.random.Generator, dtype) -> np.ndarray:
        """The initial array (host, ``dtype``); draws from ``rng`` only for a std."""
        if isinstance(self.init, str):
            if self.init not in ("zeros", "ones"):
                raise ValueError(
                    f"ParamSpec init must be 'zeros', 'ones' or a std, got {self.init!r}"
                )
            fill = np.zeros if self.init == "zeros" else np.ones
            return fill(self.shape, dtype=dtype)
        return (float(self.init) * rng.standard_normal(self.shape)).astype(dtype)


class Layer:
    """Base class: a node with ``forward``/``backward`` and (maybe empty) ``params``/``grads``.

    The rest of the contract (``param_specs``, ``buffer_specs``, ``train_flag``, ``stochastic``,
    ``input_grad``, ``config``) is described in the module docstring.
    """

    #: True: ``forward(x, train_flg)`` takes the network's train/test flag.
    train_flag: ClassVar[bool] = False
    #: True: the network sets ``self.rng`` (a seeded Generator saved in checkpoints).
    stochastic: ClassVar[bool] = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.rng: np.random.Generator | None = None
        self.input_grad = True

    def param_specs(self) -> tuple[ParamSpec, ...]:
        """The trainable parameters this layer needs (none by default)."""
        return ()

    def buffer_specs(self) -> tuple[ParamSpec, ...]:
        """Its non-trainable state (none by default); ``decay`` is ignored."""
        return ()

    def config(self) -> dict[str, Any]:
        """The constructor's keyword arguments, JSON-serialisable (model files rebuild from it)."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new layer from :meth:`config`'s dict (parameters unbound: the network binds them)."""
        return cls(**config)

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
_FORWARD_CACHE = frozenset({"x", "y", "mask", "out", "original_x_shape", "col", "col_W", "arg_max"})

#: Layer classes a network config may name (``{"layer": "Affine", ...}``), by class name.
#: The activations are found in :data:`ACTIVATIONS` too (by class name).
LAYERS: dict[str, type[Layer]] = {}


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: model files and ``network_from_config`` find ``cls`` by its name."""
    if cls.__name__ in LAYERS and LAYERS[cls.__name__] is not cls:
        raise ValueError(f"a layer class named {cls.__name__!r} is already registered")
    LAYERS[cls.__name__] = cls
    return cls


