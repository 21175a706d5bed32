"""A stand-in "device" array library for tests: like CuPy, it refuses to become NumPy silently.

``StrictArray`` wraps a private NumPy array, but ``np.asarray(x)``, ``np.maximum(x, 0)``,
``np.sum(x)`` and friends raise ``TypeError`` (``__array__`` raises and ``__array_ufunc__`` is
None), as they do for CuPy arrays. So a stray ``np.`` call on device data fails a test on a CPU
machine. The only ways back to NumPy are the explicit ones: ``x.get()`` (CuPy's spelling) and
DLPack, which is what ``mitbadak.core.backend.to_host`` uses.

``array-api-strict`` (PyPI) was considered: version 2.6 still converts silently through the
buffer protocol (``np.asarray`` of its arrays succeeds), so it would not catch the bug this module
exists for.

The module itself is the namespace (``x.__array_namespace__()`` returns it); it grows the
functions the device path needs, each a thin NumPy call on the unwrapped data.
"""

from __future__ import annotations

import sys

import numpy as np

float32 = np.float32
float64 = np.float64
int64 = np.int64
bool_ = np.bool_


def _unwrap(x):
    if isinstance(x, StrictArray):
        return x._data
    if isinstance(x, np.ndarray):
        raise TypeError(
            "strict_xp refuses NumPy arrays mixed with its own (CuPy raises "
            "'Unsupported type numpy.ndarray' here): move them with to_device first"
        )
    return x


def _wrap(value):
    if isinstance(value, np.ndarray):
        return StrictArray(value)
    if isinstance(value, np.generic):
        return StrictArray(np.asarray(value))
    return value


class StrictArray:
    """An array on the stand-in device; see the module docstring."""

    __array_ufunc__ = None  # NumPy ufuncs on it raise TypeError, as with CuPy
    __slots__ = ("_data",)

    def __init__(self, data: np.ndarray) -> None:
        self._data = data

    def __array__(self, *args, **kwargs):
        raise TypeError(
            "implicit conversion of a strict_xp array to a NumPy array is not allowed "
            "(as with CuPy): use to_host() / .get()"
        )

    def __array_namespace__(self, api_version=None):
        return sys.modules[__name__]

    def __dlpack__(self, *args, **kwargs):
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def get(self) -> np.ndarray:
        """A NumPy copy on the host (CuPy's spelling)."""
        return self._data.copy()

    # attributes
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: self._data.dtype)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    T = property(lambda self: StrictArray(self._data.T))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"StrictArray({self._data!r})"

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            key = tuple(_unwrap(k) for k in key)
        return _wrap(self._data[_unwrap(key)])

    def __setitem__(self, key, value) -> None:
        if isinstance(key, tuple):
            key = tuple(_unwrap(k) for k in key)
        self._data[_unwrap(key)] = _unwrap(value)

    def reshape(self, *shape):
        return StrictArray(self._data.reshape(*shape))

    def astype(self, dtype):
        return StrictArray(self._data.astype(dtype))

    def copy(self):
        return StrictArray(self._data.copy())

    def sum(self, axis=None, keepdims=False):
        return _wrap(self._data.sum(axis=axis, keepdims=keepdims))

    def max(self, axis=None, keepdims=False):
        return _wrap(self._data.max(axis=axis, keepdims=keepdims))


def _binary(op):
    def method(self, other):
        return _wrap(op(self._data, _unwrap(other)))

    return method


def _reflected(op):
    def method(self, other):
        return _wrap(op(_unwrap(other), self._data))

    return method


def _inplace(op):
    def method(self, other):
        op(self._data, _unwrap(other), out=self._data)
        return self

    return method


for _name, _op in {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "matmul": np.matmul, "pow": np.power, "lt": np.less, "le": np.less_equal,
    "gt": np.greater, "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal,
}.items():
    setattr(StrictArray, f"__{_name}__", _binary(_op))
    if _name in {"add", "sub", "mul", "truediv", "matmul", "pow"}:
        setattr(StrictArray, f"__r{_name}__", _reflected(_op))
    if _name in {"add", "sub", "mul", "truediv"}:
        setattr(StrictArray, f"__i{_name}__", _inplace(_op))
StrictArray.__neg__ = lambda self: StrictArray(-self._data)


# --- the namespace -------------------------------------------------------------------------------


def asarray(x, dtype=None, copy=None):
    """A strict array from host data (the one way in, like ``cupy.asarray``)."""
    if isinstance(x, StrictArray):
        if dtype is None:
            return x.copy() if copy else x
        return x.astype(dtype)
    return StrictArray(np.array(x, dtype=dtype, copy=True))


def astype(x, dtype):
    return StrictArray(_unwrap(x).astype(dtype))


def concat(arrays, axis=0):
    return StrictArray(np.concatenate([_unwrap(a) for a in arrays], axis=axis))


def stack(arrays, axis=0):
    return StrictArray(np.stack([_unwrap(a) for a in arrays], axis=axis))


def isdtype(dtype, kind):
    kinds = kind if isinstance(kind, tuple) else (kind,)
    letters = {"real floating": "f", "integral": "iu", "bool": "b", "numeric": "fiuc"}
    return any(np.dtype(dtype).kind in letters[k] for k in kinds)


def zeros(shape, dtype=float64):
    return StrictArray(np.zeros(shape, dtype=dtype))


def zeros_like(x):
    return StrictArray(np.zeros_like(_unwrap(x)))


def empty_like(x):
    return StrictArray(np.empty_like(_unwrap(x)))


def arange(*args, dtype=None):
    return StrictArray(np.arange(*args, dtype=dtype))


def _func(np_func):
    def func(*args, **kwargs):
        return _wrap(np_func(*(_unwrap(a) for a in args), **kwargs))

    func.__name__ = np_func.__name__
    return func


for _fname in ("exp", "log", "maximum", "minimum", "where", "matmul", "sum", "max", "mean",
               "isfinite", "all", "reshape", "argmax", "abs", "tanh", "sqrt", "count_nonzero"):
    globals()[_fname] = _func(getattr(np, _fname))
