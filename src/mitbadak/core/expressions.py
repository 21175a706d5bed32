"""A tiny elementwise expression language: one formula, evaluated with any array module or
rendered as CUDA C.

An activation or an optimizer declares its math once with these primitives (tinygrad-style):
arithmetic (``+ - * /``, unary ``-``), comparisons (``> >= < <=``, used as conditions or as 0/1),
``exp``, ``log``, ``tanh``, ``sqrt``, ``absolute``, ``maximum``, ``minimum`` and ``where``.
Every engine derives its code from the same tree:

* :func:`evaluate` runs it with an array module ``xp`` (NumPy, CuPy, PyTorch through the array
  API, the tests' strict stand-in), optionally writing the result into ``out`` (in place);
* :func:`to_c` renders it as a C expression for a ``cupy.ElementwiseKernel`` body (``rounded=True``
  spells + - * / sqrt as ``ADD(``/``SUB(``/``MUL(``/``DIV(``/``SQRT(``, which the kernel module
  turns into round-to-nearest intrinsics, so a GPU update rounds as NumPy does).

Leaves are array variables (:func:`var`), host scalars (:func:`scalar`: hyperparameters, passed
as Python floats so NumPy keeps the arrays' dtype) and numeric constants. An operation on host
scalars only must be computed on the host (the C renderer refuses it, naming it), so every
engine rounds it the same way.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = [
    "C_PREAMBLE",
    "Expr",
    "absolute",
    "compile_numpy",
    "evaluate",
    "exp",
    "log",
    "maximum",
    "minimum",
    "scalar",
    "sqrt",
    "tanh",
    "to_c",
    "var",
    "variables",
    "where",
]

_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/", "gt": ">", "ge": ">=", "lt": "<",
           "le": "<="}  # fmt: skip
_UFUNCS = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "neg": "negative",
           "exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt", "abs": "abs",
           "max": "maximum", "min": "minimum", "gt": "greater", "ge": "greater_equal",
           "lt": "less", "le": "less_equal"}  # fmt: skip
_ROUNDED = {"add": "ADD", "sub": "SUB", "mul": "MUL", "div": "DIV", "sqrt": "SQRT"}
_C_FUNCS = {"exp": "exp", "log": "log", "tanh": "tanh", "sqrt": "sqrt", "abs": "fabs"}


class Expr:
    """A node: ``op`` with ``args`` (sub-expressions), or a leaf ``var``/``scalar``/``const``."""

    __slots__ = ("op", "args", "value")

    def __init__(self, op: str, *args: Any, value: Any = None) -> None:
        self.op, self.args, self.value = op, tuple(map(_lift, args)), value

    def __add__(self, other):
        return Expr("add", self, other)
    def __radd__(self, other):
        return Expr("add", other, self)
    def __sub__(self, other):
        return Expr("sub", self, other)
    def __rsub__(self, other):
        return Expr("sub", other, self)
    def __mul__(self, other):
        return Expr("mul", self, other)
    def __rmul__(self, other):
        return Expr("mul", other, self)
    def __truediv__(self, other):
        return Expr("div", self, other)
    def __rtruediv__(self, other):
        return Expr("div", other, self)
    def __neg__(self):
        return Expr("neg", self)
    def __gt__(self, other):
        return Expr("gt", self, other)
    def __ge__(self, other):
        return Expr("ge", self, other)
    def __lt__(self, other):
        return Expr("lt", self, other)
    def __le__(self, other):
        return Expr("le", self, other)
    __hash__ = object.__hash__

    @property
    def is_host(self) -> bool:
        """True when no array variable occurs below (a value the host computes)."""
        return self.op != "var" and all(a.is_host for a in self.args)

    def __repr__(self) -> str:
        if self.op in ("var", "scalar"):
            return str(self.value)
        if self.op == "const":
            return repr(self.value)
        if self.op in _BINARY:
            return f"({self.args[0]!r} {_BINARY[self.op]} {self.args[1]!r})"
        if self.op == "neg":
            return f"-{self.args[0]!r}"
        return f"{self.op}({', '.join(map(repr, self.args))})"


def _lift(x: Any) -> Expr:
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"an expression takes numbers and expressions, got {type(x).__name__}")
    return Expr("const", value=float(x))


def var(name: str) -> Expr:
    """An array variable (an input of the kernel, one element per thread)."""
    return Expr("var", value=name)


def scalar(name: str) -> Expr:
    """A host scalar (a hyperparameter), a Python float when evaluated."""
    return Expr("scalar", value=name)


def exp(x) -> Expr:
    return Expr("exp", x)


def log(x) -> Expr:
    return Expr("log", x)


def tanh(x) -> Expr:
    return Expr("tanh", x)


def sqrt(x) -> Expr:
    return Expr("sqrt", x)


def absolute(x) -> Expr:
    return Expr("abs", x)


def maximum(x, y) -> Expr:
    return Expr("max", x, y)


def minimum(x, y) -> Expr:
    return Expr("min", x, y)


def where(cond, x, y) -> Expr:
    """``x`` where ``cond`` holds, else ``y`` (both are evaluated: keep each branch finite)."""
    return Expr("where", cond, x, y)


def variables(expr: Expr, kind: str = "var") -> set[str]:
    """The names of the leaves of ``kind`` ('var' or 'scalar') in ``expr``."""
    if expr.op == kind:
        return {expr.value}
    return set().union(*(variables(a, kind) for a in expr.args)) if expr.args else set()


# --- evaluation with an array module ------------------------------------------------------------


def evaluate(expr: Expr, env: dict[str, Any], xp: Any = np, *, out: Any = None,
             memo: dict[int, Any] | None = None) -> Any:  # fmt: skip
    """The value of ``expr`` with ``env`` (name -> array or Python float) and module ``xp``.

    With ``out`` (an array of the result's shape) the result is written into it and ``out`` is
    returned: NumPy and CuPy through the top operation's ``out=``, other modules by assignment.
    ``memo`` (node id -> value) shares values between expressions evaluated one after another.
    """
    memo = {} if memo is None else memo
    if xp is np:
        with np.errstate(under="ignore"):  # exp(-|a|) underflowing to 0 is the right answer
            return _evaluate(expr, env, xp, out, memo)
    return _evaluate(expr, env, xp, out, memo)


def _evaluate(expr: Expr, env, xp, out, memo):
    key = id(expr)
    if key in memo:
        value = memo[key]
        if out is not None and value is not out:
            out[...] = value
            return out
        return value
    args = [_evaluate(a, env, xp, None, memo) for a in expr.args]
    op = expr.op
    if op in ("var", "scalar"):
        if expr.value not in env:
            raise KeyError(f"the expression needs {expr.value!r}, which was not given")
        value = env[expr.value]
    elif op == "const":
        value = expr.value
    elif out is not None and op in _UFUNCS and _has_out(xp):
        value = getattr(xp, _UFUNCS[op])(*args, out=out)
    else:
        value = _apply(op, args, xp)
    if out is not None and value is not out:
        out[...] = value
        value = out
    memo[key] = value
    return value


def _has_out(xp: Any) -> bool:
    return xp is np or getattr(xp, "__name__", "") == "cupy"


def _apply(op: str, args: list, xp: Any) -> Any:
    if op in _BINARY:
        a, b = args
        return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
                "div": lambda: a / b, "gt": lambda: a > b, "ge": lambda: a >= b,
                "lt": lambda: a < b, "le": lambda: a <= b}[op]()  # fmt: skip
    if op == "neg":
        return -args[0]
    if all(isinstance(a, float) for a in args):  # host scalars only
        return float(getattr(np, _UFUNCS.get(op, op))(*args))
    if op == "abs":
        return xp.abs(args[0])
    if op in ("max", "min"):
        return getattr(xp, _UFUNCS[op])(*args)
    if op == "where":
        return xp.where(*args)
    return getattr(xp, op)(args[0])


# --- compiled for NumPy ------------------------------------------------------------------------


_COMPILED: dict[tuple, tuple[Any, list]] = {}


def compile_numpy(program, *, in_place: bool = False) -> Any:
    """``program`` (pairs of (target, expression)) as one Python function for NumPy, built once.

    ``fn(env)`` computes the targets in order exactly as :func:`evaluate` with one shared ``memo``
    would (the same ufuncs and operators in the same order, so the same bits) and returns their
    values as a tuple; with ``in_place`` each target is written into the array ``env[target]``
    (the top operation's ``out=``), as ``evaluate(..., out=env[target])`` does. It is the
    interpreter without its per-node Python overhead: the CPU fast path and the optimizers run
    it on every step. Cached by the expressions' identity (they are kept alive).
    """
    key = (in_place, *((target, id(expr)) for target, expr in program))
    cached = _COMPILED.get(key)
    if cached is None:
        cached = _COMPILED[key] = (_build_numpy(program, in_place), [e for _, e in program])
    return cached[0]


_COMPARISONS = frozenset({"gt", "ge", "lt", "le"})


def _build_numpy(program, in_place: bool) -> Any:
    # How often each node is read (by a parent or as a result): a temporary read once may be
    # overwritten by its reader (``out=`` the temporary), so a chain of operations fills one new
    # array, as the hand-written in-place code did. All array variables of a program share one
    # shape (they are elementwise kernels); a dtype check keeps the bits exact otherwise.
    reads: dict[int, int] = {}

    def count(expr: Expr) -> None:
        reads[id(expr)] = reads.get(id(expr), 0) + 1
        if reads[id(expr)] == 1:
            for a in expr.args:
                count(a)

    for _, expr in program:
        count(expr)
        reads[id(expr)] += 1  # a result is read by the caller too
    lines: list[str] = []
    names: dict[int, str] = {}
    fresh: set[int] = set()  # nodes whose value is a new float array of the program's shape

    def emit(expr: Expr, out: str | None = None) -> str:
        if id(expr) in names:
            return names[id(expr)]
        args = [emit(a) for a in expr.args]
        name = names[id(expr)] = f"v{len(names)}"
        op = expr.op
        if op in ("var", "scalar"):
            rhs = f"env[{expr.value!r}]"
        elif op == "const":
            rhs = repr(expr.value)
        elif expr.is_host or op not in _UFUNCS:
            rhs = _python_apply(op, args, host=expr.is_host)
        elif out is not None:
            rhs = f"np.{_UFUNCS[op]}({', '.join(args)}, out={out})"
        else:
            rhs = _python_apply(op, args, host=False)
            if op not in _COMPARISONS:
                rhs = _into_a_temporary(expr, args, rhs, fresh, reads)
        if op not in ("var", "scalar", "const") and op not in _COMPARISONS and not expr.is_host:
            fresh.add(id(expr))
        lines.append(f"{name} = {rhs}")
        return name

    results = []
    for target, expr in program:
        if not in_place:
            results.append(emit(expr))
            continue
        out = f"env[{target!r}]"
        name = emit(expr, out)
        lines.append(f"if {name} is not {out}:")
        lines.append(f"    {out}[...] = {name}")
        lines.append(f"    {name} = {out}")
        results.append(name)
    lines = _free_after_last_use(lines, set(results))
    # exp(-|a|) underflowing to 0 is the right answer: never warn about it (as evaluate does)
    guard = any("np.exp(" in line for line in lines)
    indent = "        " if guard else "    "
    body = f"\n{indent}".join(lines)
    source = "def compiled(env):\n"
    if guard:
        source += "    with np.errstate(under='ignore'):\n"
    source += f"{indent}{body}\n    return ({', '.join(results)},)\n"
    scope: dict[str, Any] = {"np": np}
    exec(compile(source, "<mitbadak.core.expressions>", "exec"), scope)  # noqa: S102
    return scope["compiled"]


def _free_after_last_use(lines: list[str], keep: set[str]) -> list[str]:
    """``del`` each value after the line that reads it last, so a temporary is freed at once
    (as in a hand-written expression) and the next one reuses memory that is still in cache."""
    names = [set(re.findall(r"\bv\d+\b", line)) for line in lines]
    last: dict[str, int] = {}
    for k, used in enumerate(names):
        for name in used:
            last[name] = k
    out: list[str] = []
    for k, line in enumerate(lines):
        out.append(line)
        done = sorted(n for n, at in last.items() if at == k and n not in keep)
        if done and not line.startswith(" ") and not line.endswith(":"):  # not in an `if`
            out.append(f"del {', '.join(done)}")
        elif done:
            last.update({n: k + 1 for n in done})  # free after the block's next line
    return out


def _into_a_temporary(expr: Expr, args: list[str], plain: str, fresh: set[int],
                      reads: dict[int, int]) -> str:  # fmt: skip
    """The ufunc call writing into an argument that is a temporary read only here (an ndarray;
    with another array argument, of the same dtype: the same bits), else ``plain``."""
    for k, child in enumerate(expr.args):
        if id(child) in fresh and reads[id(child)] == 1:
            others = [a for j, (a, c) in enumerate(zip(args, expr.args, strict=True))
                      if j != k and not c.is_host]  # fmt: skip
            call = f"np.{_UFUNCS[expr.op]}({', '.join(args)}, out={args[k]})"
            # a 0-d input gives NumPy scalars, which are no buffers
            checks = [f"type({args[k]}) is np.ndarray"]
            checks += [f"{o}.dtype == {args[k]}.dtype" for o in others]
            return f"{call} if {' and '.join(checks)} else {plain}"
    return plain


def _python_apply(op: str, args: list[str], *, host: bool) -> str:
    """The Python text of :func:`_apply` for one node (argument names already bound)."""
    if op in _BINARY:
        return f"({args[0]} {_BINARY[op]} {args[1]})"
    if op == "neg":
        return f"(-{args[0]})"
    if host:
        return f"float(np.{_UFUNCS.get(op, op)}({', '.join(args)}))"
    if op == "abs":
        return f"np.abs({args[0]})"
    if op in ("max", "min"):
        return f"np.{_UFUNCS[op]}({', '.join(args)})"
    if op == "where":
        return f"np.where({', '.join(args)})"
    return f"np.{op}({args[0]})"


# --- CUDA C --------------------------------------------------------------------------------------


def to_c(expr: Expr, names: dict[int, str] | None = None, *, rounded: bool = False) -> str:
    """``expr`` as a C expression over the kernel's variables (``T`` is the element type).

    ``names`` maps node ids to the C name of a value computed before (e.g. a new optimizer
    state). Constants become ``(T)c``, a host scalar ``(T)name``; ``rounded`` spells the rounded
    operations as macros (``MUL(a, b)``). Raises ``ValueError`` for an operation on host scalars
    only (compute it on the host and pass it as a scalar).
    """
    names = names or {}
    if id(expr) in names:
        return names[id(expr)]
    op, args = expr.op, expr.args
    if op == "var":
        return expr.value
    if op == "scalar":
        return f"(T){expr.value}"
    if op == "const":
        return f"(T){_c_number(expr.value)}"
    if expr.is_host:
        raise ValueError(
            f"{expr!r} uses host scalars only: compute it on the host and pass it as a scalar"
        )
    c = [to_c(a, names, rounded=rounded) for a in args]
    if rounded and op in _ROUNDED:
        return f"{_ROUNDED[op]}({', '.join(c)})"
    if op in _BINARY:
        return f"({c[0]} {_BINARY[op]} {c[1]})"
    if op == "neg":
        return f"(-{c[0]})"
    if op in ("where", "max", "min"):  # macros of the kernels' preamble (C_PREAMBLE)
        return f"{op.upper()}({', '.join(c)})"
    return f"{_C_FUNCS[op]}({c[0]})"


#: what a kernel body rendered by :func:`to_c` needs before it (CuPy's ``preamble=``)
C_PREAMBLE = """#ifndef MITBADAK_EXPR
#define MITBADAK_EXPR
#define WHERE(c, a, b) ((c) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
"""


def _c_number(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
