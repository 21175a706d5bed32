"""Hidden activations: one class each, declared once, compiled for every engine.

An activation declares

* ``f(a)``: y = f(a) as an elementwise expression of the pre-activation ``a``
  (:mod:`mitbadak.core.expressions`: ``exp``, ``log``, ``tanh``, ``where``, ``maximum``, ...);
* ``df(y)``: f'(a) written from the *output* y (sigmoid y(1 - y), ReLU y > 0,
  tanh 1 - y^2), so no engine keeps the pre-activation;
* ``max_slope`` (max |f'|, for the gradient check), ``default_init`` ('he' or 'xavier'), and the
  same function's ONNX operator and ``torch.nn`` class (``onnx_op``, ``torch_name``, for export).

Everything else derives from those two formulas: the chapter-5 layer (``forward``/``backward``
on any array module), the CPU fast path's in-place ``forward_``/``backward_from_output_``, the
NumPy references and the CUDA ``ElementwiseKernel`` bodies of the fused GPU step
(``devices/cuda_kernels.py``), the PyTorch step, and every list of choices (CLI, recipes, pages,
computational graphs): they all read :data:`ACTIVATIONS`. A new activation is one class below
with ``@register_activation``, and nothing else.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mitbadak.core._checks import as_float_array
from mitbadak.core.backend import array_namespace
from mitbadak.core.expressions import (
    Expr,
    compile_numpy,
    evaluate,
    exp,
    maximum,
    minimum,
    tanh,
    var,
    variables,
    where,
)
from mitbadak.nn.layer_base import Layer

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Relu",
    "Sigmoid",
    "Tanh",
    "register_activation",
    "unregister_activation",
]

#: name -> class: the one registry every other module reads
ACTIVATIONS: dict[str, type[Activation]] = {}


def register_activation(cls: type[Activation]) -> type[Activation]:
    """Class decorator: make ``cls`` a hidden activation known by ``cls.name`` everywhere.

    Checks the declaration once: a name not taken, ``f`` an expression of ``a`` only and ``df``
    of ``y`` only (``ValueError`` naming the class otherwise).
    """
    if not cls.name or cls.name in ACTIVATIONS:
        raise ValueError(f"activation name {cls.name!r} is empty or already registered")
    if not cls.name.isidentifier():
        raise ValueError(f"activation name {cls.name!r} must be an identifier (kernel names)")
    for method, arg in (("forward_expr", "a"), ("derivative_expr", "y")):
        expr = getattr(cls, method)()
        if not isinstance(expr, Expr) or variables(expr) - {arg} or variables(expr, "scalar"):
            raise ValueError(
                f"{cls.__name__}.{'f' if arg == 'a' else 'df'} must be an expression of "
                f"{arg!r} only (mitbadak.core.expressions), got {expr!r}"
            )
    ACTIVATIONS[cls.name] = cls
    return cls


def unregister_activation(name: str) -> None:
    """Remove activation ``name`` (for tests that register a throw-away one)."""
    ACTIVATIONS.pop(name, None)


class Activation(Layer):
    """An elementwise hidden activation y = f(a): a layer of chapter 5 (no parameters), and the
    declaration every engine compiles (module docstring). Subclasses write ``f`` and ``df`` as
    static methods building expressions; everything below is derived from them."""

    name: ClassVar[str] = ""
    onnx_op: ClassVar[str] = ""  # the ONNX operator (export)
    torch_name: ClassVar[str] = ""  # the torch.nn module class (export)
    max_slope: ClassVar[float] = 1.0
    default_init: ClassVar[str] = "xavier"
    formula: ClassVar[str] = ""

    @staticmethod
    def f(a: Expr) -> Expr:  # pragma: no cover - interface
        """y = f(a), an expression of the pre-activation ``a``."""
        raise NotImplementedError

    @staticmethod
    def df(y: Expr) -> Expr:  # pragma: no cover - interface
        """f'(a) written from the output ``y``."""
        raise NotImplementedError

    # -- the declaration as expression trees (built once per class) -----------------------------
    @classmethod
    def forward_expr(cls) -> Expr:
        """f as an expression of ``a``."""
        return cls._exprs()[0]

    @classmethod
    def derivative_expr(cls) -> Expr:
        """f' as an expression of the output ``y``."""
        return cls._exprs()[1]

    @classmethod
    def _exprs(cls) -> tuple[Expr, Expr]:
        cached = cls.__dict__.get("_cached_exprs")
        if cached is None:
            cached = cls._cached_exprs = (cls.f(var("a")), cls.df(var("y")))
        return cached

    # -- the layer (chapter 5), on any array module ----------------------------------------------
    def __init__(self) -> None:
        super().__init__()  # no parameters, buffers or generator: an elementwise function

    def forward(self, x):
        """y = f(x), cached for ``backward``; integer NumPy input becomes float64."""
        xp = array_namespace(x)
        if xp is np:
            (self.out,) = self._numpy("f")({"a": as_float_array(x)})
        else:
            self.out = evaluate(self.forward_expr(), {"a": x}, xp)
        return self.out

    def backward(self, dout):
        """Return ``dout * f'(a)``, f' written from the cached output (a new array)."""
        if "out" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.backward needs 'out', which forward() stores: "
                "call forward before backward"
            )
        xp = array_namespace(self.out)
        if xp is np:
            return dout * self._numpy("df")({"y": self.out})[0]
        return dout * evaluate(self.derivative_expr(), {"y": self.out}, xp)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- the CPU fast path: in place on float NumPy arrays --------------------------------------
    @classmethod
    def forward_(cls, a: np.ndarray) -> None:
        """a <- f(a), in place (f compiled once for NumPy by ``compile_numpy``: the same
        operations as ``evaluate``, without its per-node Python overhead)."""
        cls._numpy("forward_")({"a": a})

    @classmethod
    def backward_from_output_(cls, dout: np.ndarray, y: np.ndarray) -> None:
        """dout <- dout * f'(a), in place, written from y = f(a)."""
        np.multiply(dout, cls._numpy("df")({"y": y})[0], out=dout)

    @classmethod
    def _numpy(cls, which: str):
        """The class's formulas compiled for NumPy, once per class: 'forward_' (in place into
        ``a``), 'f' and 'df' (new arrays)."""
        compiled = cls.__dict__.get("_compiled_numpy")
        if compiled is None:
            f, df = cls.forward_expr(), cls.derivative_expr()
            compiled = cls._compiled_numpy = {
                "forward_": compile_numpy([("a", f)], in_place=True),
                "f": compile_numpy([("y", f)]),
                "df": compile_numpy([("dy", df)]),
            }
        return compiled[which]

    @classmethod
    def apply(cls, a: np.ndarray) -> np.ndarray:
        """f(a) as a new float array (``a`` is left untouched)."""
        out = np.array(a, dtype=np.result_type(a, np.float32), copy=True)
        cls.forward_(out)
        return out


# --------------------------------------------------------------------------------------------
# The activations. Keep every branch of a `where` finite (both are evaluated).


@register_activation
class Sigmoid(Activation):
    """y = 1 / (1 + exp(-max(a, -80))); f' = y (1 - y).

    The clamp keeps exp below float32's overflow (exp(80) = 5.5e34) in five passes; below -80,
    y = 1.8e-35 stands for the true value, which is smaller still (no loss or gradient can tell).
    """

    name = "sigmoid"
    onnx_op = "Sigmoid"
    torch_name = "Sigmoid"
    max_slope = 0.25
    default_init = "xavier"
    formula = "1 / (1 + exp(-a))"

    @staticmethod
    def f(a):
        return 1 / (1 + exp(-maximum(a, -80)))

    @staticmethod
    def df(y):
        return (1 - y) * y


@register_activation
class Relu(Activation):
    """y = max(0, a); f' = 1 where y > 0, else 0."""

    name = "relu"
    onnx_op = "Relu"
    torch_name = "ReLU"
    max_slope = 1.0
    default_init = "he"
    formula = "max(0, a)"

    @staticmethod
    def f(a):
        return maximum(a, 0)

    @staticmethod
    def df(y):
        return y > 0


@register_activation
class Tanh(Activation):
    """y = tanh(a) = (e^a - e^-a) / (e^a + e^-a); f' = 1 - y^2."""

    name = "tanh"
    onnx_op = "Tanh"
    torch_name = "Tanh"
    max_slope = 1.0
    default_init = "xavier"
    formula = "tanh(a)"

    @staticmethod
    def f(a):
        return tanh(a)

    @staticmethod
    def df(y):
        return 1 - y * y


@register_activation
class Elu(Activation):
    """y = a for a > 0, alpha (e^a - 1) otherwise (alpha = 1); f' = 1 where y > 0, else
    y + alpha."""

    name = "elu"
    onnx_op = "Elu"  # ONNX's default alpha is 1.0, as torch.nn.ELU's
    torch_name = "ELU"
    max_slope = 1.0
    default_init = "he"
    formula = "a if a > 0 else exp(a) - 1"

    @staticmethod
    def f(a, alpha=1.0):
        return where(a > 0, a, alpha * (exp(minimum(a, 0)) - 1))

    @staticmethod
    def df(y, alpha=1.0):
        return where(y > 0, 1, y + alpha)
