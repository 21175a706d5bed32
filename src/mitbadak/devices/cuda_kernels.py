"""Fused element-wise kernels for the GPU training step, each next to a readable NumPy reference.

At the book's sizes a GPU step is launch-bound (issue 15): each small CuPy operation is one kernel
launch, and a plain port pays about 30 of them a step. The kernels here fuse what the readable
layers do in several operations into one launch each:

============================  =====================================================================
reference (NumPy)             what it computes
============================  =====================================================================
``bias_relu_ref``             ``z = max(z + b, 0)`` in place (Affine's bias, then ReLU)
``relu_backward_ref``         ``dx = dout * (y > 0)`` from the ReLU *output* y (no stored mask)
``bias_sigmoid_ref``          ``z = 1 / (1 + exp(-(z + b)))`` in place (the stable two-sided form)
``sigmoid_backward_ref``      ``dx = dout * (1 - y) * y``
``bias_tanh_ref``             ``z = tanh(z + b)`` in place
``tanh_backward_ref``         ``dx = dout * (1 - y * y)``
``softmax_ce_grad_ref``       ``dx = (softmax(x) - onehot(t)) / N`` and the per-row losses
                              ``logsumexp(x_n) - x[n, t_n]`` (the loss stays on the device)
``bias_softmax_ce_ref``       the last Affine's bias, then the above, and the *mean* loss written
                              into a 0-d array: one single-block launch on the GPU
``sgd_update_ref``            ``p -= lr * g`` over all parameters as one flat buffer
``momentum_update_ref``       ``v = mu * v - lr * g; p += v`` over one flat buffer
``adagrad_update_ref``        ``h += g * g; p -= lr * g / (sqrt(h) + 1e-7)`` (as ``AdaGrad``)
``adam_update_ref``           ``m += (1 - b1)(g - m); v += (1 - b2)(g*g - v);
                              p -= lr_t * m / (sqrt(v) + 1e-7)`` (as ``Adam``; ``adam_lr_t``)
``weight_decay_ref``          ``g += lam * p`` (the L2 term of ``dW``), over the weights' range
============================  =====================================================================

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

__all__ = [
    "KERNEL_SOURCES",
    "adagrad_update_ref",
    "adam_lr_t",
    "adam_update_ref",
    "bias_relu_ref",
    "bias_sigmoid_ref",
    "bias_softmax_ce_ref",
    "bias_tanh_ref",
    "cupy_kernels",
    "flat_buffer",
    "reference_kernels",
    "momentum_update_ref",
    "relu_backward_ref",
    "sgd_update_ref",
    "sigmoid_backward_ref",
    "softmax_ce_grad_ref",
    "tanh_backward_ref",
    "weight_decay_ref",
]


# --- readable references (NumPy, in place where the kernel is) -----------------------------------


def bias_relu_ref(z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z <- max(z + b, 0), in place; returns z. z is (N, H), b is (H,)."""
    z += b
    np.maximum(z, 0, out=z)
    return z


def relu_backward_ref(dout: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """dx = dout where y > 0 else 0, with y = max(x, 0) the ReLU output (y > 0 iff x > 0)."""
    if out is None:
        out = np.empty_like(dout)
    np.multiply(dout, y > 0, out=out)
    return out


def bias_sigmoid_ref(z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z <- sigma(z + b), in place; sigma(a) = 1/(1+exp(-a)) for a >= 0, exp(a)/(1+exp(a)) else."""
    z += b
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
    np.copyto(z, np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False))
    return z


def sigmoid_backward_ref(
    dout: np.ndarray, y: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """dx = dout * (1 - y) * y, with y the sigmoid output."""
    if out is None:
        out = np.empty_like(dout)
    np.multiply(dout, (1 - y) * y, out=out)
    return out


def bias_tanh_ref(z: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z <- tanh(z + b), in place; returns z (as the ``Tanh`` layer after ``Affine``)."""
    z += b
    np.tanh(z, out=z)
    return z


def tanh_backward_ref(dout: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """dx = dout * (1 - y * y), with y = tanh(x) the output."""
    if out is None:
        out = np.empty_like(dout)
    np.multiply(dout, 1 - y * y, out=out)
    return out


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


def sgd_update_ref(p: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """p <- p - lr * g, in place over one flat buffer of all parameters."""
    p -= p.dtype.type(lr) * g
    return p


def momentum_update_ref(
    p: np.ndarray, g: np.ndarray, v: np.ndarray, lr: float, momentum: float
) -> np.ndarray:
    """v <- momentum * v - lr * g; p <- p + v, in place over flat buffers (as ``Momentum``)."""
    v *= v.dtype.type(momentum)
    v -= v.dtype.type(lr) * g
    p += v
    return p


def adagrad_update_ref(p: np.ndarray, g: np.ndarray, h: np.ndarray, lr: float) -> np.ndarray:
    """h <- h + g * g; p <- p - lr * g / (sqrt(h) + 1e-7), in place over flat buffers (as
    ``AdaGrad``, operation for operation)."""
    h += g * g
    p -= p.dtype.type(lr) * g / (np.sqrt(h) + p.dtype.type(1e-7))
    return p


def adam_lr_t(lr: float, beta1: float, beta2: float, t: int) -> float:
    """Adam's bias-corrected step size at step t >= 1: lr * sqrt(1 - b2^t) / (1 - b1^t).

    A host float computed as ``optimizers.Adam`` computes it (the same rounding), so the kernel
    gets it as a scalar argument and the step needs no device work for it.
    """
    return lr * float(np.sqrt(1.0 - beta2**t)) / (1.0 - beta1**t)


def adam_update_ref(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    lr_t: float,
    beta1: float,
    beta2: float,
) -> np.ndarray:
    """m <- m + (1 - b1)(g - m); v <- v + (1 - b2)(g * g - v); p <- p - lr_t m / (sqrt(v) + 1e-7).

    In place over flat buffers, operation for operation as ``Adam``; ``lr_t`` from ``adam_lr_t``
    (the caller counts the steps).
    """
    T = p.dtype.type
    m += T(1.0 - beta1) * (g - m)
    v += T(1.0 - beta2) * (g * g - v)
    p -= T(lr_t) * m / (np.sqrt(v) + T(1e-7))
    return p


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

    def in_place(ref):
        def kernel(z, b, out):
            if out is not z:
                out[...] = z
            return ref(out, b)

        return kernel

    return {
        "bias_relu": in_place(bias_relu_ref),
        "bias_sigmoid": in_place(bias_sigmoid_ref),
        "bias_tanh": in_place(bias_tanh_ref),
        "relu_backward": lambda dout, y, out: relu_backward_ref(dout, y, out=out),
        "sigmoid_backward": lambda dout, y, out: sigmoid_backward_ref(dout, y, out=out),
        "tanh_backward": lambda dout, y, out: tanh_backward_ref(dout, y, out=out),
        "softmax_ce_grad": softmax_ce_grad_ref,
        "bias_softmax_ce": bias_softmax_ce_ref,
        "sgd_update": sgd_update_ref,
        "momentum_update": momentum_update_ref,
        "adagrad_update": adagrad_update_ref,
        "adam_update": adam_update_ref,
        "weight_decay": weight_decay_ref,
    }


# --- CUDA sources (GPU-only) ---------------------------------------------------------------------

# ElementwiseKernel pieces: (input params, output params, body). The in-place kernels take the
# array as input and output at once (k(z, b, z)): each element is read and written by one thread.
KERNEL_SOURCES: dict[str, tuple[str, str, str]] = {
    "bias_relu": ("T z, T b", "T y", "T a = z + b; y = a > (T)0 ? a : (T)0;"),
    "relu_backward": ("T dout, T y", "T dx", "dx = y > (T)0 ? dout : (T)0;"),
    "bias_sigmoid": (
        "T z, T b",
        "T y",
        "T a = z + b; T e = exp(-fabs(a)); y = a >= (T)0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);",
    ),
    "sigmoid_backward": ("T dout, T y", "T dx", "dx = dout * ((T)1 - y) * y;"),
    "bias_tanh": ("T z, T b", "T y", "y = tanh(z + b);"),
    "tanh_backward": ("T dout, T y", "T dx", "dx = dout * ((T)1 - y * y);"),
    # The optimizer updates round each operation as NumPy does (MUL/SUB/ADD become __fmul_rn &
    # co. per dtype), so nvcc cannot contract them into an FMA: the same numbers as optimizers.py.
    "sgd_update": ("T p_in, T g, float64 lr", "T p", "p = SUB(p_in, MUL((T)lr, g));"),
    "momentum_update": (
        "T p_in, T g, T v_in, float64 lr, float64 mu",
        "T p, T v",
        "T nv = SUB(MUL((T)mu, v_in), MUL((T)lr, g)); v = nv; p = ADD(p_in, nv);",
    ),
    "adagrad_update": (
        "T p_in, T g, T h_in, float64 lr",
        "T p, T h",
        "T nh = ADD(h_in, MUL(g, g)); h = nh;"
        " p = SUB(p_in, DIV(MUL((T)lr, g), ADD(SQRT(nh), (T)1e-7)));",
    ),
    "adam_update": (
        "T p_in, T g, T m_in, T v_in, float64 lr_t, float64 c1, float64 c2",
        "T p, T m, T v",
        "T nm = ADD(m_in, MUL((T)c1, SUB(g, m_in)));"
        " T nv = ADD(v_in, MUL((T)c2, SUB(MUL(g, g), v_in))); m = nm; v = nv;"
        " p = SUB(p_in, DIV(MUL((T)lr_t, nm), ADD(SQRT(nv), (T)1e-7)));",
    ),
    "weight_decay": ("T g_in, T p, float64 lam", "T g", "g = ADD(g_in, MUL((T)lam, p));"),
}

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
_PER_DTYPE = ("sgd_update", "momentum_update", "adagrad_update", "adam_update", "weight_decay")


def rounded_body(name: str, dtype: str) -> str:
    """The body of optimizer kernel ``name`` for ``dtype`` ("float32"/"float64")."""
    body = KERNEL_SOURCES[name][2]
    for macro, intrinsic in _ROUNDED[dtype].items():
        body = body.replace(macro, intrinsic)
    return body


@functools.cache
def cupy_kernels() -> dict[str, Any]:
    """The compiled CuPy kernels by name (GPU-only; imports CuPy, compiles on first launch).

    Calls: ``k["bias_relu"](z, b, z)``, ``k["relu_backward"](dout, y, dx)``,
    ``k["bias_sigmoid"](z, b, z)``, ``k["sigmoid_backward"](dout, y, dx)``,
    ``k["bias_tanh"](z, b, z)``, ``k["tanh_backward"](dout, y, dx)``,
    ``k["sgd_update"](p, g, lr)``, ``k["momentum_update"](p, g, v, lr, mu)``,
    ``k["adagrad_update"](p, g, h, lr)``, ``k["adam_update"](p, g, m, v, lr_t, beta1, beta2)``,
    ``k["weight_decay"](g, p, lam)`` (wrappers over the per-dtype ElementwiseKernels
    ``"sgd_update_float32"``, ``"adam_update_float64"``...), and for the RawKernels
    ``softmax_ce_grad(x, t, dx, loss)`` and ``bias_softmax_ce(x, b, t, dx, loss)`` (t int64,
    x float32/float64, loss 0-d).
    """
    import cupy as cp

    kernels: dict[str, Any] = {}
    for name, (ins, outs, body) in KERNEL_SOURCES.items():
        if name in _PER_DTYPE:
            for dtype in _ROUNDED:
                kernels[f"{name}_{dtype}"] = cp.ElementwiseKernel(
                    ins, outs, rounded_body(name, dtype), f"mitbadak_{name}_{dtype}"
                )
            continue
        kernels[name] = cp.ElementwiseKernel(ins, outs, body, f"mitbadak_{name}")

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

    def sgd_update(p, g, lr: float):
        """p <- the kernel of sgd_update_ref (flat buffers of one dtype, float32 or float64)."""
        kernels[f"sgd_update_{np.dtype(p.dtype).name}"](p, g, lr, p)
        return p

    def momentum_update(p, g, v, lr: float, momentum: float):
        """p, v <- the kernel of momentum_update_ref (flat buffers of one dtype)."""
        kernels[f"momentum_update_{np.dtype(p.dtype).name}"](p, g, v, lr, momentum, p, v)
        return p

    def adagrad_update(p, g, h, lr: float):
        """p, h <- the kernel of adagrad_update_ref (flat buffers of one dtype)."""
        kernels[f"adagrad_update_{np.dtype(p.dtype).name}"](p, g, h, lr, p, h)
        return p

    def adam_update(p, g, m, v, lr_t: float, beta1: float, beta2: float):
        """p, m, v <- the kernel of adam_update_ref (flat buffers; lr_t from adam_lr_t)."""
        kernels[f"adam_update_{np.dtype(p.dtype).name}"](
            p, g, m, v, lr_t, 1.0 - beta1, 1.0 - beta2, p, m, v
        )
        return p

    def weight_decay(g, p, lam: float):
        """g <- the kernel of weight_decay_ref (g += lam * p; 1-D ranges of one dtype)."""
        kernels[f"weight_decay_{np.dtype(g.dtype).name}"](g, p, lam, g)
        return g

    kernels["sgd_update"] = sgd_update
    kernels["momentum_update"] = momentum_update
    kernels["adagrad_update"] = adagrad_update
    kernels["adam_update"] = adam_update
    kernels["weight_decay"] = weight_decay
    return kernels
