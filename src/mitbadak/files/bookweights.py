"""The book's pickles (``sample_weight.pkl``, ``dataset/mnist.pkl``), read without running them.

A pickle is a program: ``pickle.load`` will call whatever it names. This module never hands a
pickle to :mod:`pickle`. It walks the opcode stream itself (:func:`pickletools.genops` only
splits the bytes into opcodes) and interprets a small, fixed subset of the language:

* plain data: ``None``, bools, ints, floats, str, bytes, bytearray, lists, tuples, dicts with
  str/bytes keys, sets of str/bytes, the memo (``PUT``/``GET``/``MEMOIZE``) and marks;
* six globals, each replaced by an inert token (nothing is imported or called):
  ``numpy.ndarray``, ``numpy.dtype``, ``numpy[._]core.multiarray._reconstruct``,
  ``numpy[._]core.numeric._frombuffer`` (protocol 5), ``_codecs.encode`` and ``bytes()``
  (how protocols 0-2 write byte strings);
* ``REDUCE`` only on those tokens, ``BUILD`` only on a dtype or array token, once each.

No real ``numpy.dtype`` or array is reachable from the stream. A dtype token holds a type code
and a byte order, both checked against :data:`DTYPE_CODES`; an array is created (by this module,
with ``np.frombuffer(...).copy()``) only once its whole state has been validated: format
version, shape (a tuple of non-negative ints), a completed dtype token, a bool Fortran flag and
raw bytes whose length is exactly ``prod(shape) * itemsize``. The bytes must be in the stream,
so the arrays built (and bytes decoded) from one pickle never exceed twice its size
(:data:`MAX_PICKLE_BYTES` at most). The stream is limited to :data:`MAX_OPCODES` opcodes and
the result to :data:`MAX_DEPTH` levels of nesting. Every refusal is a :class:`BookPickleError`
(a :class:`~mitbadak.core.errors.ModelFileError`); the module keeps no state between loads.
"""

from __future__ import annotations

import enum
import hashlib
import math
import os
import pickletools
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mitbadak.core.errors import ModelFileError
from mitbadak.nn.networks import MultiLayerNet

__all__ = [
    "BOOK_WEIGHTS_SHA256",
    "BookPickleError",
    "DTYPE_CODES",
    "MAX_OPCODES",
    "MAX_DEPTH",
    "MAX_PICKLE_BYTES",
    "read_array_pickle",
    "load_array_pickle",
    "load_book_weights",
    "import_book_weights",
]

# SHA-256 of the book's sample_weight.pkl (784-50-100-10, float32, sigmoid).
BOOK_WEIGHTS_SHA256 = "b7f55a27988ba34c3777b0f1bbd464817c8a4db855723e6ff26f703501917a13"

DTYPE_CODES: frozenset[str] = frozenset(
    ["b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]
)
"""The dtypes an array may have: NumPy's ``kind + itemsize`` codes (bool, ints, floats)."""

MAX_OPCODES = 100_000  # a dict of arrays needs about 25 opcodes per array
MAX_DEPTH = 32  # nesting of containers in the result
MAX_NDIM = 32
MAX_PICKLE_BYTES = 256 << 20  # the book's full mnist.pkl is about 55 MB
_MAX_ITEMS = 1 << 40  # per dimension, and the product of the non-zero ones

_BOOK_PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


class BookPickleError(ModelFileError):
    """A pickle was refused: not a plain pickle of NumPy arrays, corrupt, or too large."""


class _Global(enum.Enum):
    """The only globals a pickle may name; each stands for an action of this module."""

    NDARRAY = "numpy.ndarray"
    DTYPE = "numpy.dtype"
    RECONSTRUCT = "numpy.core.multiarray._reconstruct"
    FROMBUFFER = "numpy.core.numeric._frombuffer"
    ENCODE = "_codecs.encode"
    BYTES = "builtins.bytes"


_ALLOWED_GLOBALS = MappingProxyType(
    {
        ("numpy", "ndarray"): _Global.NDARRAY,
        ("numpy", "dtype"): _Global.DTYPE,
        ("numpy.core.multiarray", "_reconstruct"): _Global.RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _Global.RECONSTRUCT,
        ("numpy.core.numeric", "_frombuffer"): _Global.FROMBUFFER,
        ("numpy._core.numeric", "_frombuffer"): _Global.FROMBUFFER,
        ("_codecs", "encode"): _Global.ENCODE,
        ("builtins", "bytes"): _Global.BYTES,  # protocol 0-2 write b"" as bytes()
        ("__builtin__", "bytes"): _Global.BYTES,
    }
)


class _Refused(Exception):
    """Internal: why a stream was refused (turned into a BookPickleError naming the file)."""


class _DtypeToken:
    """``numpy.dtype(code, align, copy)`` as data: the code now, the byte order at BUILD."""

    __slots__ = ("code", "byteorder")

    def __init__(self, code: str) -> None:
        self.code = code
        self.byteorder: str | None = None

    def build(self, state: Any) -> None:
        """Accept only the state NumPy writes for a plain numeric dtype (version 3)."""
        if self.byteorder is not None:
            raise _Refused(f"dtype {self.code!r} is built twice")
        if not (type(state) is tuple and len(state) == 8):
            raise _Refused(f"dtype state must be an 8-tuple, found {_describe(state)}")
        version, byteorder, subarray, names, fields, elsize, alignment, flags = state
        if _plain_int(version) != 3:
            raise _Refused(f"dtype state version {_describe(version)}; expected 3")
        if (subarray, names, fields) != (None, None, None):
            raise _Refused("dtype state with sub-arrays or fields; expected a plain number type")
        if _plain_int(elsize) != -1 or _plain_int(alignment) != -1 or _plain_int(flags) != 0:
            raise _Refused(
                f"dtype state elsize={_describe(elsize)}, alignment={_describe(alignment)}, "
                f"flags={_describe(flags)}; a plain number type has -1, -1, 0"
            )
        allowed = ("|",) if self.code[1:] == "1" else ("<", ">", "=")
        if type(byteorder) is not str or byteorder not in allowed:
            raise _Refused(
                f"dtype {self.code!r} with byte order {_describe(byteorder)}; "
                f"expected one of {list(allowed)}"
            )
        self.byteorder = byteorder

    def to_numpy(self) -> np.dtype:
        if self.byteorder is None:
            raise _Refused(f"dtype {self.code!r} was never given its byte order (no BUILD)")
        return np.dtype(("" if self.byteorder == "|" else self.byteorder) + self.code)


class _ArrayToken:
    """An array in the making: created by ``_reconstruct``, filled by one validated BUILD."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray | None = None) -> None:
        self.array = array


class _Budget:
    """Bytes the load may still create (decoded byte strings and arrays)."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self, n: int, what: str) -> None:
        if n > self.left:
            raise _Refused(f"{what} would need {n} more bytes than the pickle can hold")
        self.left -= n


def _plain_int(value: Any) -> int | None:
    return value if type(value) is int else None


def _describe(value: Any) -> str:
    """A short description of a stream value, safe for huge ints and strings."""
    if type(value) is int:
        return str(value) if value.bit_length() <= 64 else f"a {value.bit_length()}-bit integer"
    if isinstance(value, str | bytes | bytearray):
        text = repr(value[:40])
        return text + ("..." if len(value) > 40 else "")
    if value is None or type(value) in (bool, float):
        return repr(value)
    if isinstance(value, _Global):
        return value.value
    if isinstance(value, _DtypeToken):
        return f"dtype {value.code!r}"
    if isinstance(value, _ArrayToken):
        return "an array"
    return f"a {type(value).__name__}"


def _check_shape(shape: Any, limit: int) -> tuple[int, ...]:
    """A tuple of at most MAX_NDIM ints in [0, limit] whose non-zero product is at most limit."""
    if type(shape) is not tuple or len(shape) > MAX_NDIM:
        raise _Refused(
            f"array shape must be a tuple of at most {MAX_NDIM} ints, found {_describe(shape)}"
        )
    product = 1
    for dim in shape:
        if type(dim) is not int or dim < 0 or dim > limit:
            raise _Refused(f"array dimension {_describe(dim)} is not a plausible size")
        product *= max(dim, 1)
        if product > limit:
            raise _Refused(f"array shape of more than {limit} elements is not plausible")
    return shape


def _make_array(
    raw: Any, dtype_token: Any, shape: Any, fortran: bool, budget: _Budget
) -> _ArrayToken:
    """The array ``raw`` holds, once every part of its description has been checked."""
    if not isinstance(dtype_token, _DtypeToken):
        raise _Refused(f"array dtype must be a numpy.dtype, found {_describe(dtype_token)}")
    dtype = dtype_token.to_numpy()
    if type(raw) is str:  # Python 2 pickles (read as latin-1) and _codecs.encode's input
        if not raw.isascii() and max(raw) > "\xff":
            raise _Refused("array data is text beyond latin-1; expected raw bytes")
        budget.take(len(raw), "decoding the array data")
        raw = raw.encode("latin-1")
    if type(raw) not in (bytes, bytearray):
        raise _Refused(f"array data must be bytes, found {_describe(raw)}")
    shape = _check_shape(shape, _MAX_ITEMS)
    count = math.prod(shape)
    if count * dtype.itemsize != len(raw):
        raise _Refused(
            f"array of shape {shape} and dtype {dtype.str} needs {count * dtype.itemsize} "
            f"bytes; the pickle holds {len(raw)}"
        )
    budget.take(len(raw), f"an array of shape {shape}")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return _ArrayToken(flat.reshape(shape, order="F" if fortran else "C").copy(order="K"))


def _reduce(func: Any, args: Any, budget: _Budget) -> Any:
    """``func(*args)`` for the allowed globals, on validated arguments only."""
    if not isinstance(func, _Global):
        raise _Refused(f"REDUCE calls {_describe(func)}; only NumPy's array rebuilders may be")
    if type(args) is not tuple:
        raise _Refused(f"REDUCE arguments must be a tuple, found {_describe(args)}")
    if func is _Global.DTYPE:
        if not 1 <= len(args) <= 3 or type(args[0]) is not str:
            raise _Refused("numpy.dtype must be called with a type code string")
        if args[0] not in DTYPE_CODES:
            raise _Refused(
                f"dtype {_describe(args[0])} is not allowed; expected one of {sorted(DTYPE_CODES)}"
            )
        if any(type(a) not in (bool, int) or a not in (0, 1) for a in args[1:]):
            raise _Refused("numpy.dtype's align/copy flags must be booleans")
        if len(args) > 1 and args[1]:
            raise _Refused("aligned dtypes are not expected")
        return _DtypeToken(args[0])
    if func is _Global.RECONSTRUCT:
        if len(args) != 3 or args[0] is not _Global.NDARRAY:
            raise _Refused("_reconstruct must rebuild a plain numpy.ndarray")
        _check_shape(args[1], 1 << 20)  # the initial shape, always (0,); the state sets it
        if args[2] not in (b"b", "b"):
            raise _Refused(f"_reconstruct with type code {_describe(args[2])}; expected 'b'")
        return _ArrayToken()
    if func is _Global.FROMBUFFER:
        if len(args) != 4 or args[3] not in ("C", "F"):
            raise _Refused("_frombuffer needs (bytes, dtype, shape, 'C' or 'F')")
        buf, dtype_token, shape, order = args
        if type(buf) is str:
            raise _Refused("_frombuffer data must be bytes, found text")
        return _make_array(buf, dtype_token, shape, order == "F", budget)
    if func is _Global.ENCODE:
        if len(args) != 2 or type(args[0]) is not str or args[1] not in ("latin1", "latin-1"):
            raise _Refused("_codecs.encode is only allowed as (text, 'latin1')")
        text = args[0]
        budget.take(len(text), "decoding a byte string")
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError:
            raise _Refused("_codecs.encode of text beyond latin-1") from None
    if func is _Global.BYTES:
        if args != ():
            raise _Refused("bytes(...) is only allowed without arguments (an empty byte string)")
        return b""
    raise _Refused(f"{func.value} cannot be called; it is only an argument of _reconstruct")


def _build(obj: Any, state: Any, budget: _Budget) -> None:
    """BUILD (``__setstate__``): only a dtype token, or an array token with a valid state."""
    if isinstance(obj, _DtypeToken):
        obj.build(state)
        return
    if not isinstance(obj, _ArrayToken):
        raise _Refused(f"BUILD on {_describe(obj)}; only NumPy arrays and dtypes are rebuilt")
    if obj.array is not None:
        raise _Refused("an array is built twice")
    if type(state) is not tuple or len(state) not in (4, 5):
        raise _Refused(f"array state must be a 5-tuple, found {_describe(state)}")
    if len(state) == 5:
        if _plain_int(state[0]) != 1:
            raise _Refused(f"array state version {_describe(state[0])}; expected 1")
        state = state[1:]
    shape, dtype_token, fortran, raw = state
    if type(fortran) not in (bool, int) or fortran not in (0, 1):
        raise _Refused(f"array Fortran flag must be a bool, found {_describe(fortran)}")
    obj.array = _make_array(raw, dtype_token, shape, bool(fortran), budget).array


_KEY_TYPES = (str, bytes)  # hashes are randomised: no crafted collisions


def _key(value: Any) -> Any:
    if type(value) not in _KEY_TYPES:
        raise _Refused(f"dict keys and set items must be str or bytes, found {_describe(value)}")
    return value


class _Machine:
    """The pickle machine's state for one load: the stack, the marks, the memo and the budget.

    ``stack`` is the list under the newest MARK; ``marks`` keeps the lists under the older ones.
    Every read of the stack goes through :meth:`pop`, :meth:`top` or :meth:`pop_mark`, which
    refuse an empty stack or a missing MARK instead of raising IndexError.
    """

    __slots__ = ("stack", "marks", "memo", "budget")

    def __init__(self, budget: _Budget) -> None:
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.budget = budget

    def pop(self) -> Any:
        if not self.stack:
            raise _Refused("the stack is empty")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _Refused("the stack is empty")
        return self.stack[-1]

    def pop_n(self, n: int) -> list[Any]:
        if len(self.stack) < n:
            raise _Refused("the stack is empty")
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def pop_mark(self) -> list[Any]:
        """The items pushed since the newest MARK; the stack below it becomes current again."""
        if not self.marks:
            raise _Refused("a MARK is missing")
        items, self.stack = self.stack, self.marks.pop()
        return items

    def top_of_type(self, kind: type, what: str) -> Any:
        """The top of the stack, which ``what`` (an opcode name) requires to be a ``kind``."""
        target = self.top()
        if type(target) is not kind:
            raise _Refused(f"{what} to {_describe(target)}")
        return target


def _memo_key(index: Any) -> int:
    if type(index) is not int or not 0 <= index < MAX_OPCODES * 4:
        raise _Refused(f"memo index {_describe(index)} out of range")
    return index


# One handler per opcode: ``handler(machine, arg)`` where ``arg`` is what pickletools.genops
# decoded. A handler returns True only for STOP. Opcodes missing from _OPCODE_HANDLERS are refused.


def _op_ignore(m: _Machine, arg: Any) -> None:
    """PROTO, FRAME: framing only."""


def _op_stop(m: _Machine, arg: Any) -> bool:
    return True


def _op_mark(m: _Machine, arg: Any) -> None:
    m.marks.append(m.stack)
    m.stack = []


def _op_pop(m: _Machine, arg: Any) -> None:
    m.pop()


def _op_pop_mark(m: _Machine, arg: Any) -> None:
    m.pop_mark()


def _op_dup(m: _Machine, arg: Any) -> None:
    m.stack.append(m.top())


def _op_push_arg(m: _Machine, arg: Any) -> None:
    """Ints, floats, str and bytes: genops has decoded (and length-checked) them already."""
    m.stack.append(arg)


def _push_constant(value: Any) -> Callable[[_Machine, Any], None]:
    def handler(m: _Machine, arg: Any) -> None:
        m.stack.append(value)

    return handler


def _push_empty(kind: type) -> Callable[[_Machine, Any], None]:
    def handler(m: _Machine, arg: Any) -> None:
        m.stack.append(kind())

    return handler


def _op_bytearray8(m: _Machine, arg: Any) -> None:
    m.stack.append(arg if type(arg) is bytearray else bytearray(arg))


def _op_append(m: _Machine, arg: Any) -> None:
    item = m.pop()
    m.top_of_type(list, "APPEND").append(item)


def _op_appends(m: _Machine, arg: Any) -> None:
    items = m.pop_mark()
    m.top_of_type(list, "APPENDS").extend(items)


def _op_list(m: _Machine, arg: Any) -> None:
    items = m.pop_mark()  # before reading m.stack: pop_mark replaces it
    m.stack.append(items)


def _op_tuple(m: _Machine, arg: Any) -> None:
    items = m.pop_mark()
    m.stack.append(tuple(items))


def _pop_tuple(n: int) -> Callable[[_Machine, Any], None]:
    def handler(m: _Machine, arg: Any) -> None:
        items = m.pop_n(n)
        m.stack.append(tuple(items))

    return handler


def _pairs(items: list[Any]) -> zip:
    return zip(items[::2], items[1::2], strict=True)


def _op_dict(m: _Machine, arg: Any) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        raise _Refused("DICT with an odd number of items")
    m.stack.append({_key(k): v for k, v in _pairs(items)})


def _set_items(m: _Machine, items: list[Any], what: str) -> None:
    target = m.top()
    if type(target) is not dict or len(items) % 2:
        raise _Refused(f"{what} on {_describe(target)}")
    for k, v in _pairs(items):
        target[_key(k)] = v


def _op_setitem(m: _Machine, arg: Any) -> None:
    value = m.pop()
    _set_items(m, [m.pop(), value], "SETITEM")


def _op_setitems(m: _Machine, arg: Any) -> None:
    _set_items(m, m.pop_mark(), "SETITEMS")


def _op_additems(m: _Machine, arg: Any) -> None:
    items = m.pop_mark()
    m.top_of_type(set, "ADDITEMS").update(_key(k) for k in items)


def _op_frozenset(m: _Machine, arg: Any) -> None:
    items = m.pop_mark()
    m.stack.append(frozenset(_key(k) for k in items))


def _op_put(m: _Machine, arg: Any) -> None:
    m.memo[_memo_key(arg)] = m.top()


def _op_memoize(m: _Machine, arg: Any) -> None:
    m.memo[len(m.memo)] = m.top()


def _op_get(m: _Machine, arg: Any) -> None:
    try:
        m.stack.append(m.memo[_memo_key(arg)])
    except KeyError:
        raise _Refused(f"memo entry {_describe(arg)} was never stored") from None


def _push_global(m: _Machine, module: str, qualname: str) -> None:
    found = _ALLOWED_GLOBALS.get((module, qualname))
    if found is None:
        raise BookPickleError(
            f"refusing to load: the pickle references {module[:80]}.{qualname[:80]}, which is "
            "not part of a NumPy array (a pickle can run code; only NumPy arrays in a dict are "
            "allowed)"
        )
    m.stack.append(found)


def _op_global(m: _Machine, arg: Any) -> None:
    module, _, qualname = arg.partition(" ")
    _push_global(m, module, qualname)


def _op_stack_global(m: _Machine, arg: Any) -> None:
    qualname, module = m.pop(), m.pop()
    if type(module) is not str or type(qualname) is not str:
        raise _Refused("STACK_GLOBAL needs two strings")
    _push_global(m, module, qualname)


def _op_reduce(m: _Machine, arg: Any) -> None:
    args = m.pop()
    m.stack.append(_reduce(m.pop(), args, m.budget))


def _op_build(m: _Machine, arg: Any) -> None:
    state = m.pop()
    _build(m.top(), state, m.budget)


_OPCODE_HANDLERS: Mapping[str, Callable[[_Machine, Any], bool | None]] = MappingProxyType(
    {
        "PROTO": _op_ignore, "FRAME": _op_ignore, "STOP": _op_stop,
        "MARK": _op_mark, "POP": _op_pop, "POP_MARK": _op_pop_mark, "DUP": _op_dup,
        "NONE": _push_constant(None),
        "NEWTRUE": _push_constant(True), "NEWFALSE": _push_constant(False),
        **dict.fromkeys(
            [
                "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
                "FLOAT", "BINFLOAT",
                "STRING", "BINSTRING", "SHORT_BINSTRING",
                "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
                "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
            ],
            _op_push_arg,
        ),
        "BYTEARRAY8": _op_bytearray8,
        "EMPTY_LIST": _push_empty(list), "EMPTY_TUPLE": _push_empty(tuple),
        "EMPTY_DICT": _push_empty(dict), "EMPTY_SET": _push_empty(set),
        "APPEND": _op_append, "APPENDS": _op_appends,
        "LIST": _op_list, "TUPLE": _op_tuple,
        "TUPLE1": _pop_tuple(1), "TUPLE2": _pop_tuple(2), "TUPLE3": _pop_tuple(3),
        "DICT": _op_dict, "SETITEM": _op_setitem, "SETITEMS": _op_setitems,
        "ADDITEMS": _op_additems, "FROZENSET": _op_frozenset,
        "PUT": _op_put, "BINPUT": _op_put, "LONG_BINPUT": _op_put, "MEMOIZE": _op_memoize,
        "GET": _op_get, "BINGET": _op_get, "LONG_BINGET": _op_get,
        "GLOBAL": _op_global, "STACK_GLOBAL": _op_stack_global,
        "REDUCE": _op_reduce, "BUILD": _op_build,
    }
)  # fmt: skip
"""Every opcode the reader runs, by :mod:`pickletools` name; any other opcode is refused."""


def _interpret(data: bytes, budget: _Budget) -> Any:
    """Run the allowed subset of the pickle machine over ``data``; return the unfinished result."""
    machine = _Machine(budget)
    handlers = _OPCODE_HANDLERS
    end = None
    try:
        for count, (op, arg, pos) in enumerate(pickletools.genops(data), 1):
            if count > MAX_OPCODES:
                raise _Refused(f"more than {MAX_OPCODES} opcodes; not a pickle of a few arrays")
            name = op.name
            try:
                handler = handlers.get(name)
                if handler is None:
                    raise _Refused(f"opcode {name} is not used by pickles of NumPy arrays")
                if handler(machine, arg):
                    end = pos + 1
                    break
            except _Refused as exc:
                raise _Refused(f"{exc} (opcode {name} at byte {pos})") from None
    except (_Refused, BookPickleError):
        raise
    except Exception as exc:  # noqa: BLE001 - genops reports a corrupt stream in several ways
        raise _Refused(f"{type(exc).__name__}: {exc}") from None
    if end is None:
        raise _Refused("the pickle ends before its STOP opcode")
    if machine.marks or len(machine.stack) != 1:
        raise _Refused("the pickle stops with an unbalanced stack")
    if end != len(data):
        raise BookPickleError(f"{len(data) - end} unexpected bytes after the pickle's end")
    return machine.stack[0]


def _finish(obj: Any, depth: int, done: dict[int, Any], active: set[int]) -> Any:
    """Replace array tokens by their arrays; refuse anything else that is not plain data."""
    if obj is None or type(obj) in (bool, int, float, str, bytes, bytearray):
        return obj
    if isinstance(obj, _ArrayToken):
        if obj.array is None:
            raise _Refused("an array was started but never given its data (no BUILD)")
        return obj.array
    if type(obj) not in (list, tuple, dict, set, frozenset):
        raise _Refused(f"the result contains {_describe(obj)} outside an array")
    key = id(obj)
    if key in done:
        return done[key]
    if key in active:
        raise _Refused("the result refers to itself")
    if depth >= MAX_DEPTH:
        raise _Refused(f"the result is nested more than {MAX_DEPTH} levels deep")
    active.add(key)
    if type(obj) is dict:
        out: Any = {k: _finish(v, depth + 1, done, active) for k, v in obj.items()}
    elif type(obj) is list:
        out = [_finish(v, depth + 1, done, active) for v in obj]
    else:
        out = type(obj)(_finish(v, depth + 1, done, active) for v in obj)
    active.discard(key)
    done[key] = out
    return out


def read_array_pickle(data: bytes, where: str = "<pickle>") -> Any:
    """Unpickle ``data``, which may hold only NumPy arrays in lists, tuples and dicts.

    Arrays come back as writable, C- or Fortran-ordered copies in the pickled dtype (one of
    :data:`DTYPE_CODES`, either byte order). Anything else, or any inconsistency, raises
    :class:`BookPickleError` with a message starting with ``where``; nothing in ``data`` is run.
    """
    data = bytes(data)
    if len(data) > MAX_PICKLE_BYTES:
        raise BookPickleError(
            f"{where}: is {len(data)} bytes; at most {MAX_PICKLE_BYTES} are read as a pickle"
        )
    # Every array's bytes are in the stream; decoding protocol-2 text can double them once.
    budget = _Budget(2 * len(data) + 4096)
    try:
        obj = _interpret(data, budget)
        return _finish(obj, 0, {}, set())
    except BookPickleError as exc:
        raise BookPickleError(f"{where}: {exc}") from None
    except _Refused as exc:
        raise BookPickleError(f"{where}: not a readable pickle of NumPy arrays ({exc})") from None
    except MemoryError:
        raise BookPickleError(f"{where}: not enough memory to read the pickle") from None


def _read_file(
    path: str | os.PathLike, what: str, limit: int = MAX_PICKLE_BYTES, hint: str = ""
) -> bytes:
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise BookPickleError(f"{where}: is a directory; expected {what}")
    try:
        size = path.stat().st_size
        if size > limit:
            raise BookPickleError(f"{where}: is {size} bytes; {what} should be far smaller")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise BookPickleError(f"{where}: no such file{hint}") from None
    except OSError as exc:
        raise BookPickleError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise BookPickleError(f"{where}: grew past {limit} bytes while being read")
    return data


def load_array_pickle(path: str | os.PathLike) -> Any:
    """:func:`read_array_pickle` of a file; a missing or unreadable file is a BookPickleError."""
    return read_array_pickle(_read_file(path, "a pickle of NumPy arrays"), str(path))


# ---------------------------------------------------------------------------------------------
# The book's sample_weight.pkl


def _book_arrays(obj: Any, where: str) -> tuple[dict[str, np.ndarray], list[int], np.dtype]:
    """Check the book's dict: W1..b3, float arrays of one dtype, chained 2-D/1-D shapes."""
    if not isinstance(obj, dict):
        raise BookPickleError(
            f"{where}: the pickle holds a {type(obj).__name__}; expected a dict of arrays"
        )
    if set(obj) != set(_BOOK_PARAM_NAMES):
        raise BookPickleError(
            f"{where}: the pickle's dict has keys {sorted(map(str, obj))}; "
            f"expected {list(_BOOK_PARAM_NAMES)}"
        )
    for name in _BOOK_PARAM_NAMES:
        value = obj[name]
        if type(value) is not np.ndarray:
            raise BookPickleError(
                f"{where}: {name} is a {type(value).__name__}; expected a NumPy array"
            )
        if value.dtype.kind != "f":
            raise BookPickleError(f"{where}: {name} has dtype {value.dtype}; expected floats")
        if value.ndim != (2 if name.startswith("W") else 1):
            raise BookPickleError(
                f"{where}: {name} has shape {value.shape}; "
                f"expected a {'matrix' if name[0] == 'W' else 'vector'}"
            )
        if not np.all(np.isfinite(value)):
            raise BookPickleError(f"{where}: {name} contains NaN or infinite values")
    dtypes = {obj[n].dtype.newbyteorder("=") for n in _BOOK_PARAM_NAMES}
    if len(dtypes) != 1:
        raise BookPickleError(
            f"{where}: the arrays mix dtypes {sorted(d.name for d in dtypes)}; expected one"
        )
    dtype = dtypes.pop()
    sizes = [obj["W1"].shape[0], obj["W1"].shape[1], obj["W2"].shape[1], obj["W3"].shape[1]]
    expected = {
        "W1": (sizes[0], sizes[1]), "b1": (sizes[1],),
        "W2": (sizes[1], sizes[2]), "b2": (sizes[2],),
        "W3": (sizes[2], sizes[3]), "b3": (sizes[3],),
    }  # fmt: skip
    for name, shape in expected.items():
        if obj[name].shape != shape:
            raise BookPickleError(
                f"{where}: {name} has shape {obj[name].shape}, but W1..W3 imply {shape} "
                f"for a {'-'.join(map(str, sizes))} network"
            )
    if min(sizes) < 1:
        raise BookPickleError(f"{where}: a layer of size 0 in {'-'.join(map(str, sizes))}")
    arrays = {name: obj[name].astype(dtype) for name in _BOOK_PARAM_NAMES}
    return arrays, sizes, dtype


def _book_file_path(path: str | os.PathLike) -> Path:
    """``path``, or, when it is the bare name of one of the book's files (``sample_weight.pkl``)
    and the current folder lacks it, where :func:`mitbadak.find_book_weights` finds it
    (``$MITBADAK_DATA``, the user cache's ``book-weights/``). A miss there is a BookPickleError
    of two lines: the folders searched, then ``get it with: mitbadak data download ...``."""
    from mitbadak.core.errors import DatasetUnavailable
    from mitbadak.files.datasets.registry import BOOK_FILES
    from mitbadak.files.datasets.sources import find_book_weights

    path = Path(path)
    if path.exists() or str(path) != path.name or path.name not in BOOK_FILES:
        return path
    try:
        return find_book_weights(path.name)
    except DatasetUnavailable as exc:
        env = "" if os.environ.get("MITBADAK_DATA") else " ($MITBADAK_DATA is not set)"
        raise BookPickleError(
            f"{path.name}: no such file in the current folder, nor in "
            f"{', '.join(exc.searched)}{env}\n"
            f"get it with: mitbadak data download {exc.dataset} "
            f"(the book's repository has it in its {BOOK_FILES[path.name].path.split('/')[0]} "
            "folder)"
        ) from None


def load_book_weights(path: str | os.PathLike = "sample_weight.pkl") -> dict[str, np.ndarray]:
    """The book's ``init_network()``: the dict ``{'W1', 'b1', 'W2', 'b2', 'W3', 'b3'}`` of arrays.

    Reads ``path`` (default: ``sample_weight.pkl`` in the current folder, where the book's
    chapter-3 code expects it, else where ``mitbadak data download book-weights`` put it: see
    :func:`mitbadak.find_book_weights`) without executing pickle code and checks that it is the
    book's kind of network: float arrays of one dtype, W (in, out) and b (out,) chained layer to
    layer.
    Arrays are writable copies in native byte order, bit-identical to the pickled values, so
    ``network = load_book_weights(); forward(network, x)`` is the book's chapter-3 flow. Any
    problem raises :class:`BookPickleError` (a ``ModelFileError``) naming the file.
    """
    path = _book_file_path(path)
    where = str(path)
    hint = (
        " (the book's repository has it in its ch03 folder; pass its path)"
        if Path(path).name == "sample_weight.pkl"
        else ""
    )
    data = _read_file(path, "the book's sample_weight.pkl", hint=hint)
    return _book_arrays(read_array_pickle(data, where), where)[0]


def import_book_weights(path: str | os.PathLike) -> MultiLayerNet:
    """The book's pretrained network from ``sample_weight.pkl``, read without executing pickle code.

    The pickle must be a dict of exactly W1, b1, W2, b2, W3, b3 (float arrays of one dtype, chained
    shapes, e.g. 784-50-100-10). Returns ``MultiLayerNet(n_in, [h1, h2], n_out,
    activation='sigmoid')`` in the arrays' dtype, holding bit-identical copies of them; softmax of
    ``predict`` is the book's output. ``network.metadata['source']`` records the file's SHA-256 and
    whether it matches the book's (``BOOK_WEIGHTS_SHA256``); a different but valid file is accepted.
    """
    path = Path(path)
    where = str(path)
    data = _read_file(path, "the book's sample_weight.pkl")
    digest = hashlib.sha256(data).hexdigest()
    arrays, sizes, dtype = _book_arrays(read_array_pickle(data, where), where)
    network = MultiLayerNet(
        sizes[0],
        sizes[1:3],
        sizes[3],
        activation="sigmoid",
        weight_init="xavier",
        seed=0,
        dtype=dtype,
    )
    # set_params copies into the network's dtype; a same-dtype copy keeps every bit.
    network.set_params(arrays)
    network.metadata = {
        "source": {
            "kind": "book sample_weight.pkl",
            "file": path.name,
            "sha256": digest,
            "sha256_expected": BOOK_WEIGHTS_SHA256,
            "sha256_matches": digest == BOOK_WEIGHTS_SHA256,
        }
    }
    return network
