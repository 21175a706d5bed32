"""Fused element-wise kernels for the GPU training step, generated from the registries, each
next to a readable NumPy reference.

At the book's sizes a GPU step is launch-bound (issue 15): each small CuPy operation is one kernel
launch, and a plain port pays about 30 of them a step. The kernels here fuse what the readable
layers do in several operations into one launch each. Nothing here re-encodes an activation or
an optimizer: the kernels are built from their one declaration (``nn/activations.py``,
``nn/optimizers.py``) through :mod:`mitbadak.core.expressions`:

=================================  ================================================================
kernel (reference)                 what it computes
=================================  ================================================================
``bias_<activation>``              ``z = f(z + b)`` in place (Affine's bias, then the activation's
                                   declared ``f``), for every registered activation
``<activation>_backward``          ``dx = dout * f'`` with ``f'`` declared from the output y
``<optimizer>_update``             the optimizer's declared ``rule`` over one flat buffer of all
                                   parameters (and of each state slot); arguments ``(p, g,
                                   *slots, *scalars)`` in the rule's order, the scalars from
                                   ``optimizer.step_scalars()``
``softmax_ce_grad``                ``dx = (softmax(x) - onehot(t)) / N`` and the per-row losses
                                   ``logsumexp(x_n) - x[n, t_n]`` (the loss stays on the device)
``bias_softmax_ce``                the last Affine's bias, then the above, and the *mean* loss
                                   written into a 0-d array: one single-block launch on the GPU
``weight_decay``                   ``g += lam * p`` (the L2 term of ``dW``), over the weights' range
=================================  ================================================================

The generated kernels' NumPy references evaluate the same declaration with NumPy (old names such
as ``bias_relu_ref`` or ``adam_update_ref`` still resolve, from the registries). The softmax
references are written here, and ``tests/test_gpu_kernels.py`` holds them to ``SoftmaxWithLoss``.
A kernel name of nothing registered is a ``KeyError`` that names what is registered: no engine
falls back silently.

The references are the truth the tests hold the kernels to (tests/test_gpu_kernels.py: the
references against mitbadak's layers and optimizers on the CPU, always; the CuPy kernels against
the references only where CuPy finds a GPU). ``flat_buffer`` lays all parameters (or gradients,
or velocities) out in one contiguous array with per-name views, so one optimizer launch updates
them all.

GPU-only: ``cupy_kernels()`` compiles the CUDA sources on first use and needs CuPy and a CUDA GPU;
nothing here imports CuPy at module import. The sources are float32/float64 generic
(``ElementwiseKernel``'s type ``T``); the softmax kernels are one ``RawKernel`` per dtype.
``mitbadak.devices.fused_step.FusedStep`` is the training step built from these kernels.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from mitbadak.core.backend import to_device
from mitbadak.core.expressions import C_PREAMBLE, evaluate, to_c
from mitbadak.nn.activations import ACTIVATIONS
from mitbadak.nn.optimizers import REGISTRY, adam_lr_t

__all__ = [  # and KERNEL_SOURCES (module __getattr__: the registries now)
    "activation_kernels",
    "adam_lr_t",
    "bias_softmax_ce_ref",
    "cupy_kernels",
    "flat_buffer",
    "kernel_sources",
    "per_dtype",
    "reference_kernels",
    "softmax_ce_grad_ref",
    "update_kernel",
    "weight_decay_ref",
]


# --- readable references (NumPy, in place where the kernel is) -----------------------------------


def softmax_ce_grad_ref(
    x: np.ndarray, t: np.ndarray, dx: np.ndarray | None = None, loss: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(dx, per-row loss) for scores x (N, C) and integer labels t (N,).

    dx[n] = (softmax(x[n]) - onehot(t[n])) / N; loss[n] = logsumexp(x[n]) - x[n, t[n]].
    The mean loss is ``loss.mean()``; the trainer reads it back in blocks, not every step.
    """
    n = x.shape[0]
    if dx is None:
        dx = np.empty_like(x)
    if loss is None:
        loss = np.empty(n, dtype=x.dtype)
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    np.log(s[:, 0], out=loss)
    loss -= shifted[rows, t]
    np.divide(e, s, out=dx)
    dx[rows, t] -= 1
    dx /= n
    return dx, loss


def bias_softmax_ce_ref(
    x: np.ndarray, b: np.ndarray, t: np.ndarray, dx: np.ndarray, loss: np.ndarray
) -> np.ndarray:
    """dx <- (softmax(x + b) - onehot(t)) / N; the 0-d ``loss`` <- mean_n [logsumexp - target].

    ``x`` (N, C) holds the last layer's ``h . W`` without its bias ``b`` (C,) and is left
    unchanged; ``t`` integer labels (N,). Returns ``loss``. On the GPU this is one launch of one
    block that also reduces the mean, so the step's loss costs no extra launch.
    """
    _, rows = softmax_ce_grad_ref(x + b, t, dx=dx)
    loss[...] = rows.mean()
    return loss


def weight_decay_ref(g: np.ndarray, p: np.ndarray, lam: float) -> np.ndarray:
    """g <- g + lam * p, in place: the L2 penalty's gradient added to dW (as ``loss_and_gradient_
    layers``: ``dW + lam * W``). Called on the weights' range of the flat buffers only."""
    g += g.dtype.type(lam) * p
    return g


def flat_buffer(
    arrays: Mapping[str, Any], xp: Any = np
) -> tuple[Any, dict[str, Any]]:
    """One contiguous 1-D buffer holding ``arrays`` one after the other, and a view of it per name.

    ``buffer, views = flat_buffer(net.params, xp)``; ``views[k]`` has ``arrays[k]``'s shape and
    values and shares memory with ``buffer``, so one update of ``buffer`` updates every view.
    All arrays must share one dtype. Build it once per run (after ``to_device``), not per step.
    """
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) != 1:
        names = sorted(map(str, dtypes))
        raise ValueError(f"flat_buffer needs one dtype for all arrays, got {names}")
    total = sum(int(np.prod(a.shape)) for a in arrays.values())
    buffer = xp.zeros(total, dtype=dtypes.pop())
    views: dict[str, Any] = {}
    start = 0
    for key, a in arrays.items():
        size = int(np.prod(a.shape))
        view = buffer[start : start + size].reshape(a.shape)
        view[...] = a if xp is np else to_device(a, xp)  # host data moves explicitly
        views[key] = view
        start += size
    return buffer, views


def reference_kernels() -> dict[str, Any]:
    """The NumPy references with the call signatures of :func:`cupy_kernels` (CPU, always there).

    A step written against these names runs on the CPU with NumPy arrays and on the GPU with
    CuPy arrays; tests run the benchmark's fused step through it (tests/test_gpu_kernels.py).
    """

    table = _KernelTable(_reference_kernel)
    table.update({"softmax_ce_grad": softmax_ce_grad_ref, "bias_softmax_ce": bias_softmax_ce_ref,
                  "weight_decay": weight_decay_ref})  # fmt: skip
    for name in kernel_sources():
        table[name]  # noqa: B018 - builds every registered kernel now (set(table) lists them)
    return table


class _KernelTable(dict):
    """Kernels by name; one of a registered activation or optimizer added after the table was
    made is built on first use; any other name is a ``KeyError`` naming what is registered."""

    def __init__(self, build) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, name: str):
        sources = kernel_sources()
        if name not in sources:
            raise KeyError(
                f"no kernel {name!r}: the kernels are built from the registered activations "
                f"{sorted(ACTIVATIONS)} and optimizers {sorted(REGISTRY)} "
                "(register it with @register_activation / @register_optimizer)"
            )
        self[name] = kernel = self._build(name)
        return kernel


def _reference_kernel(name: str):
    """The NumPy reference of generated kernel ``name`` (calls as :func:`cupy_kernels`)."""
    kind, entry = _generated()[name]
    if kind == "bias":
        return functools.partial(_bias_ref, entry)
    if kind == "backward":
        return functools.partial(_backward_ref, entry)
    return functools.partial(_update_ref, entry)


def _bias_ref(act, z, b, out=None):
    """out <- f(z + b) (in place when ``out is z``): Affine's bias, then the activation."""
    if out is None:
        out = z
    elif out is not z:
        out[...] = z
    out += b
    evaluate(act.forward_expr(), {"a": out}, np, out=out)
    return out


def _backward_ref(act, dout, y, out=None):
    """dx = dout * f'(a), f' written from the output y."""
    if out is None:
        out = np.empty_like(dout)
    np.multiply(dout, evaluate(act.derivative_expr(), {"y": y}, np), out=out)
    return out


def _update_ref(cls, p, g, *args):
    """The optimizer's rule over flat buffers, in place: ``(p, g, *slots, *scalars)`` in the
    order of ``cls.rule``'s arguments; returns p."""
    program, scalars = cls.program()
    env = {"p": p, "g": g, **dict(zip(cls.slots, args, strict=False))}
    env.update({n: float(v) for n, v in zip(scalars, args[len(cls.slots) :], strict=True)})
    memo: dict[int, Any] = {}
    for target, expr in program:
        evaluate(expr, env, np, out=env[target], memo=memo)
    return p


# --- CUDA sources (GPU-only) ---------------------------------------------------------------------

# ElementwiseKernel pieces: (input params, output params, body). The in-place kernels take the
# array as input and output at once (k(z, b, z)): each element is read and written by one thread.
_FIXED_SOURCES: dict[str, tuple[str, str, str]] = {
    "weight_decay": ("T g_in, T p, float64 lam", "T g", "g = ADD(g_in, MUL((T)lam, p));"),
}


def _generated() -> dict[str, tuple[str, Any]]:
    """kernel name -> (kind, activation or optimizer class), from the registries."""
    out: dict[str, tuple[str, Any]] = {}
    for name, act in ACTIVATIONS.items():
        out[f"bias_{name}"] = ("bias", act)
        out[f"{name}_backward"] = ("backward", act)
    for name, entry in REGISTRY.items():
        out[f"{name}_update"] = ("update", entry.cls)
    return out


def activation_kernels(name: str) -> tuple[str, str]:
    """(forward kernel with the bias, backward kernel from the output) of activation ``name``;
    ``KeyError`` naming the registered ones when it is not registered."""
    if name not in ACTIVATIONS:
        raise KeyError(f"activation {name!r} is not registered (registered: {sorted(ACTIVATIONS)})")
    return f"bias_{name}", f"{name}_backward"


def update_kernel(cls: type) -> str:
    """The kernel name of a registered optimizer class; ``KeyError`` naming it otherwise."""
    name = getattr(cls, "name", "")
    if REGISTRY.get(name) is None or REGISTRY[name].cls is not cls:
        raise KeyError(f"optimizer {cls.__name__} is not registered, so it has no fused kernel "
                       f"(registered: {sorted(REGISTRY)})")  # fmt: skip
    return f"{name}_update"


def _c_with_names(expr, rename: dict[str, str], names: dict[int, str], rounded: bool) -> str:
    """``to_c`` with array variables renamed (``p`` -> ``p_in``) and computed values named."""
    table = dict(names)
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.op == "var" and node.value in rename:
            table[id(node)] = rename[node.value]
        stack.extend(node.args)
    return to_c(expr, table, rounded=rounded)


def _source(name: str) -> tuple[str, str, str]:
    """(input params, output params, body) of kernel ``name``, generated from its declaration."""
    if name in _FIXED_SOURCES:
        return _FIXED_SOURCES[name]
    kind, entry = _generated()[name]
    if kind == "bias":
        return ("T z, T b", "T y", f"T a = z + b; y = {to_c(entry.forward_expr())};")
    if kind == "backward":
        return ("T dout, T y", "T dx", f"dx = dout * {to_c(entry.derivative_expr())};")
    program, scalars = entry.program()
    slots = entry.slots
    ins = ", ".join(["T p_in", "T g", *(f"T {s}_in" for s in slots),
                     *(f"float64 {n}" for n in scalars)])  # fmt: skip
    outs = ", ".join(["T p", *(f"T {s}" for s in slots)])
    rename = {"p": "p_in", **{s: f"{s}_in" for s in slots}}
    names: dict[int, str] = {}
    body = []
    for target, expr in program:
        c = _c_with_names(expr, rename, names, rounded=True)
        if target == "p":
            body.append(f"p = {c};")
        else:
            body.append(f"T n{target} = {c}; {target} = n{target};")
            names[id(expr)] = f"n{target}"
    return ins, outs, " ".join(body)


def kernel_sources() -> dict[str, tuple[str, str, str]]:
    """Every ElementwiseKernel source by name, (input params, output params, body): generated
    from the registered activations and optimizers (and the weight-decay term). The in-place
    kernels take the array as input and output at once (``k(z, b, z)``)."""
    return {name: _source(name) for name in (*_generated(), *_FIXED_SOURCES)}


def per_dtype() -> tuple[str, ...]:
    """The kernels compiled once per dtype, with round-to-nearest intrinsics (the optimizer
    updates and the weight decay): NumPy's rounding, never an FMA."""
    return (*(f"{n}_update" for n in REGISTRY), *_FIXED_SOURCES)


def __getattr__(name: str):
    """``KERNEL_SOURCES``/``_PER_DTYPE`` (read the registries now) and the NumPy references by
    their names of 0.1 (``bias_relu_ref``, ``tanh_backward_ref``, ``adam_update_ref``...)."""
    if name == "KERNEL_SOURCES":
        return kernel_sources()
    if name == "_PER_DTYPE":
        return per_dtype()
    if name.endswith("_ref") and name.removesuffix("_ref") in _generated():
        return _reference_kernel(name.removesuffix("_ref"))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# One thread per row: the rows of MNIST scores are 10 wide, so a row loop is cheap.
SOFTMAX_CE_SOURCE = r"""
extern "C" __global__ void mitbadak_softmax_ce_grad_{T}(
    const {T}* x, const long long* t, {T}* dx, {T}* loss, const long long n, const long long c)
{
    long long i = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= n) return;
    const {T}* row = x + i * c;
    {T}* drow = dx + i * c;
    {T} m = row[0];
    for (long long j = 1; j < c; ++j) m = row[j] > m ? row[j] : m;
    {T} s = 0;
    for (long long j = 0; j < c; ++j) s += exp(row[j] - m);
    const {T} inv_n = ({T})1 / ({T})n;
    for (long long j = 0; j < c; ++j)
        drow[j] = (exp(row[j] - m) / s - (j == t[i] ? ({T})1 : ({T})0)) * inv_n;
    loss[i] = log(s) - (row[t[i]] - m);
}
"""


# One block reduces the mean loss in shared memory, so the whole head of the step (the last bias,
# softmax, cross-entropy gradient, mean loss) is one launch. Each thread takes rows i, i + 256, ...
# MITBADAK_THREADS must be a power of two and equal the launch's block size.
BIAS_SOFTMAX_CE_SOURCE = r"""
#define MITBADAK_THREADS 256
extern "C" __global__ void mitbadak_bias_softmax_ce_{T}(
    const {T}* x, const {T}* b, const long long* t, {T}* dx, {T}* loss,
    const long long n, const long long c)
{
    __shared__ {T} part[MITBADAK_THREADS];
    const {T} inv_n = ({T})1 / ({T})n;
    {T} acc = 0;
    for (long long i = threadIdx.x; i < n; i += MITBADAK_THREADS) {
        const {T}* row = x + i * c;
        {T}* drow = dx + i * c;
        const long long ti = t[i];
        {T} m = row[0] + b[0];
        for (long long j = 1; j < c; ++j) {
            const {T} a = row[j] + b[j];
            m = a > m ? a : m;
        }
        {T} s = 0;
        for (long long j = 0; j < c; ++j) s += exp(row[j] + b[j] - m);
        for (long long j = 0; j < c; ++j)
            drow[j] = (exp(row[j] + b[j] - m) / s - (j == ti ? ({T})1 : ({T})0)) * inv_n;
        acc += log(s) - (row[ti] + b[ti] - m);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int stride = MITBADAK_THREADS / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) part[threadIdx.x] += part[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) loss[0] = part[0] * inv_n;
}
"""
BIAS_SOFTMAX_CE_THREADS = 256


# Per dtype: the CUDA intrinsics that round one operation to nearest, never fused.
_ROUNDED = {
    "float32": {
        "MUL(": "__fmul_rn(", "SUB(": "__fsub_rn(", "ADD(": "__fadd_rn(",
        "DIV(": "__fdiv_rn(", "SQRT(": "__fsqrt_rn(",
    },
    "float64": {
        "MUL(": "__dmul_rn(", "SUB(": "__dsub_rn(", "ADD(": "__dadd_rn(",
        "DIV(": "__ddiv_rn(", "SQRT(": "__dsqrt_rn(",
    },
}  # fmt: skip


def rounded_body(name: str, dtype: str) -> str:
    """The body of optimizer kernel ``name`` for ``dtype`` ("float32"/"float64")."""
    body = _source(name)[2]
    for macro, intrinsic in _ROUNDED[dtype].items():
        body = body.replace(macro, intrinsic)
    return body


@functools.cache
def cupy_kernels() -> dict[str, Any]:
    """The compiled CuPy kernels by name (GPU-only; imports CuPy, compiles on first launch).

    Calls, for every registered activation and optimizer: ``k["bias_relu"](z, b, z)``,
    ``k["relu_backward"](dout, y, dx)``, ``k["adam_update"](p, g, m, v, lr_t, c1, c2)`` (the
    rule's arguments after p and g: its slots, then its scalars), ``k["weight_decay"](g, p, lam)``
    (the updates wrap one ElementwiseKernel per dtype, ``k["adam_update"].compiled``), built on
    first use for one registered after the table was made; and for the RawKernels
    ``softmax_ce_grad(x, t, dx, loss)`` and ``bias_softmax_ce(x, b, t, dx, loss)`` (t int64,
    x float32/float64, loss 0-d).
    """
    import cupy as cp

    def build(name: str):
        ins, outs, body = _source(name)
        if name not in per_dtype():
            return cp.ElementwiseKernel(ins, outs, body, f"mitbadak_{name}", preamble=C_PREAMBLE)
        compiled = {
            np.dtype(dtype): cp.ElementwiseKernel(
                ins, outs, rounded_body(name, dtype), f"mitbadak_{name}_{dtype}"
            )
            for dtype in _ROUNDED
        }
        n_slots = 0 if name in _FIXED_SOURCES else len(_generated()[name][1].slots)

        def update(p, g, *args):
            """p (and the state) <- the kernel, in place over flat buffers of one dtype."""
            states = args[:n_slots]
            compiled[np.dtype(p.dtype)](p, g, *args, p, *states)
            return p

        update.compiled = compiled
        return update

    kernels: dict[str, Any] = _KernelTable(build)
    for name in kernel_sources():
        kernels[name]  # noqa: B018 - compile the registered ones now

    raw = {
        np.dtype(np.float32): cp.RawKernel(
            SOFTMAX_CE_SOURCE.replace("{T}", "float"), "mitbadak_softmax_ce_grad_float"
        ),
        np.dtype(np.float64): cp.RawKernel(
            SOFTMAX_CE_SOURCE.replace("{T}", "double"), "mitbadak_softmax_ce_grad_double"
        ),
    }

    def softmax_ce_grad(x, t, dx, loss, threads: int = 128):
        """dx, loss <- the kernel of softmax_ce_grad_ref; x (N, C) C-contiguous, t int64 (N,)."""
        n, c = x.shape
        blocks = (n + threads - 1) // threads
        raw[np.dtype(x.dtype)]((blocks,), (threads,), (x, t, dx, loss, np.int64(n), np.int64(c)))
        return dx, loss

    kernels["softmax_ce_grad"] = softmax_ce_grad

    head = {
        np.dtype(np.float32): cp.RawKernel(
            BIAS_SOFTMAX_CE_SOURCE.replace("{T}", "float"), "mitbadak_bias_softmax_ce_float"
        ),
        np.dtype(np.float64): cp.RawKernel(
            BIAS_SOFTMAX_CE_SOURCE.replace("{T}", "double"), "mitbadak_bias_softmax_ce_double"
        ),
    }

    def bias_softmax_ce(x, b, t, dx, loss):
        """dx, 0-d loss <- the kernel of bias_softmax_ce_ref; x (N, C) and dx C-contiguous,
        t int64 (N,); one block of BIAS_SOFTMAX_CE_THREADS threads."""
        n, c = x.shape
        head[np.dtype(x.dtype)](
            (1,), (BIAS_SOFTMAX_CE_THREADS,), (x, b, t, dx, loss, np.int64(n), np.int64(c))
        )
        return loss

    kernels["bias_softmax_ce"] = bias_softmax_ce

    return kernels
