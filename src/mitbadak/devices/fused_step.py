"""The trainer's fast device step: one training step of a feed-forward net from fused kernels.

The contract with the trainer (``training.py``)::

    from mitbadak.devices import fused_step as gpu_step
    if xp is cupy and gpu_step.supports_fused(net, optimizer):
        step = gpu_step.FusedStep(net, optimizer)     # after net and state are on the device
    ...
    loss = step(x_batch, t_batch)                     # 0-d device array; no host sync
    loss = step.step_indices(x_dev, t_dev, idx_dev)   # or: gather the batch into static buffers

* ``supports_fused(net, optimizer) -> bool``: True for a ``FeedForwardNet`` (TwoLayerNet,
  MultiLayerNet; any number of hidden layers) with a registered activation (its kernels are
  generated from the declaration, so every registered one has them), of dtype float32 or
  float64, with weight decay or without, trained by an instance of exactly a registered
  optimizer class (its update kernel is generated from its rule). Anything else (a network of
  another kind, an optimizer subclass nobody registered): use the readable path.
* ``FusedStep(net, optimizer, kernels=None)`` packs the parameters into one flat buffer (the
  weights W1..WL first, then the biases b1..bL) and assigns ``net.params`` views of it, so the
  layers, ``net.params`` and model saving see the same arrays. The optimizer's state (Momentum
  ``v``, AdaGrad ``h``, Adam ``m``/``v``) becomes views of flat buffers of the same layout, kept
  in the optimizer's own attributes (Adam's step count stays ``optimizer.t``, counted on the
  host), so ``optimizer.state_dict()`` stays right; state loaded before construction is kept.
  The buffers live where the parameters are, or on ``xp=`` (e.g. ``cupy``) if given: host
  parameters and state are then moved there once, and ``net.params`` holds device views.
  ``kernels``
  defaults to :func:`mitbadak.devices.cuda_kernels.cupy_kernels`; ``kernels=reference_kernels()``
  runs the
  same step on NumPy arrays (the tests do).
* ``step(x_batch, t_batch)``: forward, backward and the optimizer's update in place; returns the
  batch's mean loss (with the weight penalty) as a new 0-d array on the device. ``x_batch`` is
  (N, input_size) of the net's dtype, ``t_batch`` int64 labels (N,) (other dtypes are converted
  each call, which costs a launch). Every temporary is preallocated per batch size on first use,
  so a last smaller batch gets its own set (two sets per run).
* ``FusedStep(..., blas="auto")``: on CuPy the matrix products are direct cuBLAS calls with
  planned pointers, checked against ``matmul`` per batch size (falling back to it on any
  difference; ``step.blas`` / ``step.blas_note`` say which runs); ``"matmul"`` never uses them.
* Read the losses back in blocks (``float(xp.stack(block).mean())``), never per step.
* If ``net.params`` or the optimizer's state are replaced from outside (``net.set_params``,
  ``optimizer.load_state_dict``), the next call packs them again (a check of a few identities).

Step per batch (L Affine layers, 6L - 1 launches: 17 for 784-256-128-10): ``h = x . W1``
(cuBLAS), ``bias_<act>`` in place; ...; ``s = h . WL``; ``bias_softmax_ce`` (the last bias,
softmax, the gradient of the scores and the mean loss, one launch); backward ``dW = h^T . d``,
``db = sum d``, ``dh = d . W^T``, ``<act>_backward`` from the activation's output;
``weight_decay`` over the weights' range (only with ``weight_decay_lambda > 0``); one optimizer
launch over the whole flat buffer.

``TorchGraphStep(net, optimizer, device="cuda")`` is the same math on PyTorch tensors, captured
once per batch size as a CUDA graph and replayed (uncaptured on ``device="cpu"``, for tests; see
its docstring and docs/gpu.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mitbadak.core.backend import DeviceError, array_namespace, to_device, to_host
from mitbadak.core.expressions import evaluate
from mitbadak.devices.cuda_kernels import activation_kernels, update_kernel
from mitbadak.nn.activations import ACTIVATIONS
from mitbadak.nn.networks import FeedForwardNet, register_device_scores
from mitbadak.nn.optimizers import REGISTRY, Optimizer

__all__ = [
    "ACTIVATION_KERNELS",
    "FusedStep",
    "TorchGraphStep",
    "fused_scores",
    "gemm_plan",
    "supports_fused",
]

class _ActivationKernels(Mapping):
    """activation name -> (forward kernel with the bias, backward kernel from the output), read
    from the registry each time; an unregistered name is a ``KeyError`` naming the registered."""

    def __getitem__(self, name: str) -> tuple[str, str]:
        return activation_kernels(name)

    def __iter__(self):
        return iter(ACTIVATIONS)

    def __len__(self) -> int:
        return len(ACTIVATIONS)


#: activation name -> (forward kernel with the bias, backward kernel from the output)
ACTIVATION_KERNELS: Mapping[str, tuple[str, str]] = _ActivationKernels()


def _registered(optimizer: Any) -> bool:
    entry = REGISTRY.get(getattr(type(optimizer), "name", ""))
    return entry is not None and entry.cls is type(optimizer)


def supports_fused(net: Any, optimizer: Any) -> bool:
    """True when :class:`FusedStep` computes exactly what ``net.loss_and_gradient_layers`` and
    ``optimizer.update`` compute for this pair (see the module docstring for the list)."""
    if not isinstance(net, FeedForwardNet) or not _registered(optimizer):
        return False  # an optimizer class nobody registered has no declared rule to compile
    if net.activation not in ACTIVATIONS:
        return False
    return np.dtype(net.dtype) in (np.dtype(np.float32), np.dtype(np.float64))


def fused_scores(net: Any, x: Any, kernels: dict[str, Any] | None = None) -> Any:
    """Inference on the device in 2 launches per layer: ``h = h . W_i`` (cuBLAS), then the bias
    and the activation in one in-place kernel (``bias_<act>``); the last layer's bias is a plain
    add. The same scores as ``net.forward_layers(x)`` (the layer path; tests hold them equal).

    ``x`` is (N, input_size) in the net's dtype, on the parameters' device. ``kernels`` defaults
    to :func:`mitbadak.devices.cuda_kernels.cupy_kernels`; ``reference_kernels()`` runs it on NumPy.
    The net's activation must have kernels (:data:`ACTIVATION_KERNELS`).
    """
    if kernels is None:
        from mitbadak.devices.cuda_kernels import cupy_kernels

        kernels = cupy_kernels()
    bias_act = kernels[ACTIVATION_KERNELS[net.activation][0]]
    p, h = net.params, x
    for i in range(1, net.n_affine):
        z = h @ p[f"W{i}"]
        h = bias_act(z, p[f"b{i}"], z)
    return h @ p[f"W{net.n_affine}"] + p[f"b{net.n_affine}"]


class _Layout:
    """Where each parameter lives in the flat buffers: the weights first, then the biases.

    With the weights contiguous, the weight-decay term is one launch over ``buffer[:n_weights]``.
    """

    def __init__(self, params: dict[str, Any], n_affine: int) -> None:
        self.keys = list(params)  # the net's own order (W1, b1, W2, ...), for the views' dicts
        layers = range(1, n_affine + 1)
        order = [f"W{i}" for i in layers] + [f"b{i}" for i in layers]
        self.shapes = {k: tuple(params[k].shape) for k in order}
        self.offsets: dict[str, int] = {}
        start = 0
        for k in order:
            self.offsets[k] = start
            start += math.prod(self.shapes[k])
        self.size = start
        self.n_weights = self.offsets["b1"]

    def views(self, buffer: Any) -> dict[str, Any]:
        """A view of ``buffer`` per parameter, keyed in the net's order."""
        out = {}
        for k in self.keys:
            start = self.offsets[k]
            out[k] = buffer[start : start + math.prod(self.shapes[k])].reshape(self.shapes[k])
        return out

    def pack(self, arrays: dict[str, Any] | None, xp: Any, dtype: Any) -> tuple[Any, dict]:
        """A new flat buffer holding ``arrays`` (zeros where None) and its views."""
        buffer = xp.zeros(self.size, dtype=dtype)
        views = self.views(buffer)
        if arrays is not None:
            for k, view in views.items():
                value = arrays[k]
                if xp is np:
                    view[...] = np.asarray(value, dtype=dtype)
                elif array_namespace(value) is xp:
                    view[...] = value.astype(dtype, copy=False)
                else:  # host state (loaded from a checkpoint) moves once, here
                    view[...] = to_device(np.asarray(to_host(value), dtype=dtype), xp)
        return buffer, views


def _fused_scores_cover(net: Any) -> bool:
    """``net.scores`` on CuPy runs :func:`fused_scores` when its activation has kernels."""
    return net.activation in ACTIVATION_KERNELS


def _scores(net: Any, x: Any) -> Any:
    return fused_scores(net, x)


# nn's networks never import this module: they find the fused scores in their table.
register_device_scores("cupy", _fused_scores_cover, _scores)


def _bind_params(net: Any, views: dict[str, Any]) -> None:
    """Make ``net.params`` (and so the layers) hold ``views``, not copies of them.

    The public setter (``net.params = views``) keeps arrays of the net's dtype uncopied on the
    host; where it cannot take device arrays (before the network is device-aware) or copies,
    the ParamDict entries are set directly and the layers rebound, as ``params[k] = v`` does.
    """
    try:
        net.params = dict(views)
    except (TypeError, ValueError):  # e.g. np.asarray of a CuPy array: TypeError
        pass
    if all(net.params[k] is views[k] for k in views):
        return
    params = net.params
    for k, view in views.items():
        dict.__setitem__(params, k, view)
        net._rebind(k, view)


def gemm_plan(a: Any, b: Any, c: Any) -> tuple:
    """The column-major (cuBLAS) arguments that compute the row-major product ``c = a @ b``.

    ``a`` (M, K) and ``b`` (K, N) are each C-contiguous or the ``.T`` of a C-contiguous array;
    ``c`` (M, N) is C-contiguous. cuBLAS reads row-major memory as the transpose, so it computes
    ``c^T (N, M) = b^T a^T``. Returns ``(op_b, op_a, N, M, K, B, ldb, A, lda, C, ldc)`` with
    ``op`` "N" or "T" and ``A``/``B``/``C`` the contiguous arrays whose memory cuBLAS uses:
    ``gemm(op_b, op_a, m=N, n=M, k=K, B, ldb, A, lda, C, ldc)`` in cuBLAS's own terms.
    """
    m, k = a.shape
    k2, n = b.shape
    if k != k2 or c.shape != (m, n) or not c.flags.c_contiguous:
        raise ValueError(f"gemm_plan: cannot write {a.shape} @ {b.shape} into {c.shape}")
    if b.flags.c_contiguous:  # seen by cuBLAS as b^T (N, K), ld N
        op_b, mem_b, ldb = "N", b, n
    elif b.T.flags.c_contiguous:  # b = B.T, B (N, K) seen as B^T = b (K, N), ld K: transpose
        op_b, mem_b, ldb = "T", b.T, k
    else:
        raise ValueError("gemm_plan: b must be C-contiguous or the transpose of such an array")
    if a.flags.c_contiguous:  # seen as a^T (K, M), ld K
        op_a, mem_a, lda = "N", a, k
    elif a.T.flags.c_contiguous:  # a = A.T, A (K, M) seen as a (M, K), ld M: transpose
        op_a, mem_a, lda = "T", a.T, m
    else:
        raise ValueError("gemm_plan: a must be C-contiguous or the transpose of such an array")
    return (op_b, op_a, n, m, k, mem_b, ldb, mem_a, lda, c, n)


class _CublasGemm:  # pragma: no cover - needs CuPy and a GPU
    """cuBLAS gemm called directly with planned pointers: a few microseconds of Python per
    product instead of ``cupy.matmul``'s checks (the step makes 3L - 1 products)."""

    def __init__(self, dtype: np.dtype) -> None:
        import cupy
        from cupy_backends.cuda.libs import cublas

        self.cupy, self.cublas = cupy, cublas
        self.fn = cublas.sgemm if dtype == np.float32 else cublas.dgemm
        self.one, self.zero = np.ones(1, dtype=dtype), np.zeros(1, dtype=dtype)  # host scalars
        self.handle = cupy.cuda.Device().cublas_handle
        self.ops = {"N": cublas.CUBLAS_OP_N, "T": cublas.CUBLAS_OP_T}

    def begin(self) -> None:
        """Point the handle at the current stream and at host scalars (once per step)."""
        self.cublas.setStream(self.handle, self.cupy.cuda.get_current_stream().ptr)
        self.cublas.setPointerMode(self.handle, self.cublas.CUBLAS_POINTER_MODE_HOST)

    def bind(self, a: Any, b: Any, c: Any):
        """A zero-argument call computing ``c = a @ b`` (the arrays must outlive it)."""
        op_b, op_a, m, n, k, mem_b, ldb, mem_a, lda, mem_c, ldc = gemm_plan(a, b, c)
        return functools.partial(
            self.fn, self.handle, self.ops[op_b], self.ops[op_a], m, n, k,
            self.one.ctypes.data, mem_b.data.ptr, ldb, mem_a.data.ptr, lda,
            self.zero.ctypes.data, mem_c.data.ptr, ldc,
        )  # fmt: skip


class _Buffers:
    """The temporaries of one batch size: activations, their gradients, the gathered batch."""

    def __init__(self, xp: Any, n: int, sizes: list[int], dtype: Any) -> None:
        self.h = [xp.empty((n, w), dtype=dtype) for w in sizes[1:]]  # each Affine's output
        self.d = [xp.empty((n, w), dtype=dtype) for w in sizes[1:]]  # gradients w.r.t. them
        self.x = xp.empty((n, sizes[0]), dtype=dtype)
        self.t = xp.empty(n, dtype=np.int64)


class FusedStep:
    """One training step of ``net`` by ``optimizer`` from fused kernels (module docstring)."""

    def __init__(
        self,
        net: Any,
        optimizer: Optimizer,
        kernels: dict[str, Any] | None = None,
        *,
        xp: Any = None,
        blas: str = "auto",
    ) -> None:
        if not supports_fused(net, optimizer):
            raise ValueError(
                f"FusedStep does not support {net!r} with {optimizer!r}: use the readable step "
                "(supports_fused(net, optimizer) says which)"
            )
        if blas not in ("auto", "cublas", "matmul"):
            raise ValueError(f"blas must be 'auto', 'cublas' or 'matmul', got {blas!r}")
        if kernels is None:
            from mitbadak.devices.cuda_kernels import cupy_kernels

            kernels = cupy_kernels()
        self.net = net
        self.optimizer = optimizer
        self.k = kernels
        self.n_affine = net.n_affine
        self.sizes = [net.input_size, *net.hidden_sizes, net.output_size]
        self.dtype = np.dtype(net.dtype)
        self.xp = array_namespace(*net.params.values()) if xp is None else xp
        self.layout = _Layout(dict(net.params), self.n_affine)
        self.forward_kernel, self.backward_kernel = ACTIVATION_KERNELS[net.activation]
        self._buffers: dict[int, _Buffers] = {}
        self._plans: dict[int, tuple[list, list, list]] = {}
        self._gemm: Any = None
        #: "cublas" (direct calls, checked against matmul per batch size) or "matmul"
        self.blas = "matmul"
        self.blas_note = "the array library's matmul(..., out=)"
        if blas != "matmul" and getattr(self.xp, "__name__", "") == "cupy":
            try:
                self._gemm = _CublasGemm(self.dtype)
                self.blas, self.blas_note = "cublas", "direct cuBLAS gemm calls"
            except Exception as exc:  # pragma: no cover - a CuPy without cupy_backends
                if blas == "cublas":
                    raise
                self.blas_note = f"matmul: direct cuBLAS unavailable ({type(exc).__name__})"
        self._strict_blas = blas == "cublas"
        self._pack()

    # -- packing ------------------------------------------------------------------------------
    def _pack(self) -> None:
        """(Re)build the flat buffers from the net's params and the optimizer's state."""
        xp, layout, opt = self.xp, self.layout, self.optimizer
        self.P, self.p = layout.pack(dict(self.net.params), xp, self.dtype)
        _bind_params(self.net, self.p)
        self.G, self.g = layout.pack(None, xp, self.dtype)
        self.state: dict[str, Any] = {}
        self._state_views: dict[str, dict[str, Any]] = {}
        for slot in type(opt).slots:
            buffer, views = layout.pack(getattr(opt, slot), xp, self.dtype)
            setattr(opt, slot, views)
            self.state[slot], self._state_views[slot] = buffer, views
        n = layout.n_weights
        self.Pw, self.Gw = self.P[:n], self.G[:n]
        self._plans.clear()  # they point into the old buffers

    def _ensure_packed(self) -> None:
        """Repack when net.params or the optimizer's state were replaced from outside."""
        params = self.net.params
        if any(params[k] is not v for k, v in self.p.items()) or any(
            getattr(self.optimizer, slot) is not views
            for slot, views in self._state_views.items()
        ):
            self._pack()

    def buffers(self, n: int) -> _Buffers:
        """The preallocated temporaries for batches of ``n`` rows (made on first use)."""
        bufs = self._buffers.get(n)
        if bufs is None:
            bufs = self._buffers[n] = _Buffers(self.xp, n, self.sizes, self.dtype)
        return bufs

    def _products(self, n: int) -> tuple[list, list, list]:
        """The step's matrix products for batches of ``n`` rows as zero-argument calls, each
        with its operands and output fixed: forward ``h_i = h_{i-1} . W_i``, ``dW_i = h^T . d``
        and ``dh = d . W_i^T`` (indexed by layer - 1; ``dh`` from layer 2 on)."""
        plans = self._plans.get(n)
        if plans is not None:
            return plans
        bufs, p, g, last = self.buffers(n), self.p, self.g, self.n_affine
        triples = {"fwd": [], "dW": [], "dh": []}
        for i in range(1, last + 1):
            below = bufs.x if i == 1 else bufs.h[i - 2]
            triples["fwd"].append((below, p[f"W{i}"], bufs.h[i - 1]))
            triples["dW"].append((below.T, bufs.d[i - 1], g[f"W{i}"]))
            if i > 1:
                triples["dh"].append((bufs.d[i - 1], p[f"W{i}"].T, bufs.d[i - 2]))
        if self._gemm is not None:
            self._check_cublas(bufs, [t for group in triples.values() for t in group])
        mm = self._gemm.bind if self._gemm is not None else self._matmul
        plans = tuple([mm(*t) for t in triples[name]] for name in ("fwd", "dW", "dh"))
        self._plans[n] = plans
        return plans

    def _matmul(self, a: Any, b: Any, c: Any):
        return functools.partial(self.xp.matmul, a, b, out=c)

    def _check_cublas(self, bufs: _Buffers, triples: list) -> None:  # pragma: no cover - GPU
        """Once per batch size: each direct gemm against ``matmul`` on test values; on any
        difference or error fall back to ``matmul`` for good (``blas_note`` says why)."""
        xp = self.xp
        for arr in (bufs.x, *bufs.h, *bufs.d):
            arr[...] = (xp.arange(arr.size, dtype=self.dtype).reshape(arr.shape) % 7) / 7 - 0.4
        try:
            self._gemm.begin()
            for a, b, c in triples:
                self._gemm.bind(a, b, c)()
                got = c.copy()
                xp.matmul(a, b, out=c)
                err = float(xp.abs(got - c).max())
                scale = 1.0 + float(xp.abs(c).max())
                if not err <= 1e-4 * scale:
                    raise ArithmeticError(f"direct gemm differs from matmul by {err:.3g}")
        except Exception as exc:
            if self._strict_blas:
                raise
            self._gemm = None
            self._plans.clear()
            self.blas = "matmul"
            self.blas_note = f"matmul: direct cuBLAS failed its check ({exc})".splitlines()[0]

    # -- the step -----------------------------------------------------------------------------
    def __call__(self, x_batch: Any, t_batch: Any) -> Any:
        """One step on (x_batch (N, D), t_batch (N,) labels); returns the 0-d mean loss.

        The batch is copied into the static buffers of its size (converted to the net's dtype
        and int64 on the way): two copy launches; ``step_indices`` gathers instead."""
        bufs, products = self._prepare(int(x_batch.shape[0]))
        bufs.x[...] = x_batch
        bufs.t[...] = t_batch
        return self._run(bufs, products)

    def step_indices(self, x_all: Any, t_all: Any, idx: Any) -> Any:
        """One step on rows ``idx`` of the device data set, gathered into static buffers
        (``take(..., out=)``: no allocation); ``x_all`` of the net's dtype, ``t_all`` int64."""
        xp = self.xp
        bufs, products = self._prepare(int(idx.shape[0]))
        xp.take(x_all, idx, axis=0, out=bufs.x)
        xp.take(t_all, idx, axis=0, out=bufs.t)
        return self._run(bufs, products)

    def _prepare(self, n: int) -> tuple[_Buffers, tuple[list, list, list]]:
        """Buffers and planned products for ``n`` rows, before the batch is written into them
        (a first plan's cuBLAS check overwrites the buffers with test values)."""
        self._ensure_packed()  # first: a repack replaces the buffers the plans point into
        products = self._products(n)
        return self.buffers(n), products

    def _run(self, bufs: _Buffers, products: tuple[list, list, list]) -> Any:
        k, p, g = self.k, self.p, self.g
        fwd, dW, dh = products
        last = self.n_affine
        lam = self.net.weight_decay_lambda
        loss = self.xp.empty((), dtype=self.dtype)
        if lam:  # the penalty of the parameters before the update, as the layer path adds it
            penalty = 0.5 * lam * (self.Pw @ self.Pw)  # a weak Python scalar keeps the dtype
        if self._gemm is not None:
            self._gemm.begin()
        # forward: h_i = act(h_{i-1} . W_i + b_i); the last layer's bias goes into the head
        for i in range(1, last):
            fwd[i - 1]()
            h = bufs.h[i - 1]
            k[self.forward_kernel](h, p[f"b{i}"], h)
        fwd[last - 1]()
        k["bias_softmax_ce"](bufs.h[last - 1], p[f"b{last}"], bufs.t, bufs.d[last - 1], loss)
        # backward into the flat gradient buffer
        for i in range(last, 0, -1):
            dW[i - 1]()
            self.xp.sum(bufs.d[i - 1], axis=0, out=g[f"b{i}"])
            if i > 1:
                dh[i - 2]()
                d = bufs.d[i - 2]
                k[self.backward_kernel](d, bufs.h[i - 2], d)
        if lam:
            k["weight_decay"](self.Gw, self.Pw, lam)
            loss += penalty
        self._update()
        return loss

    def _update(self) -> None:
        """One optimizer launch over the flat buffers: the optimizer's declared rule, compiled
        (its step scalars read each step; Adam's step count stays ``optimizer.t``)."""
        opt = self.optimizer
        opt._advance()
        scalars = opt.step_scalars()
        names = type(opt).program()[1]
        self.k[update_kernel(type(opt))](
            self.P, self.G, *(self.state[s] for s in type(opt).slots),
            *(scalars[n] for n in names),
        )  # fmt: skip


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise DeviceError(
            "TorchGraphStep needs PyTorch (pip install torch, a CUDA build for the GPU)"
        ) from None
    return torch


class TorchGraphStep:
    """The fused step's math on PyTorch tensors, captured once per batch size as a CUDA graph.

    CuPy 14 refuses cuBLAS calls during stream capture, so the graph runs mitbadak's own step
    (the same operations as :class:`FusedStep`: matmuls, bias + activation, the activation's
    backward from its output, softmax + cross-entropy gradient, one optimizer update over flat
    buffers) written with plain tensor operations (no ``torch.nn``, no autograd) on tensors of a
    static address; ``graph.replay()`` then launches the whole step at once.

    ``TorchGraphStep(net, optimizer, device="cuda")`` copies the net's parameters and the
    optimizer's state into flat device buffers **once**; the net and the optimizer keep their
    host arrays, which :meth:`write_back` refreshes (call it before saving, evaluating on the
    host, or reading ``optimizer.state_dict()``). ``step(x_batch, t_batch)`` copies the batch
    into the static inputs, replays, and returns the mean loss as a new 0-d tensor; a batch size
    seen for the first time is captured first (the last smaller batch gets its own graph).
    The activation and the update are the registered declarations (``f``, ``df`` and the
    optimizer's ``rule``) evaluated with PyTorch tensors, so every registered pair runs here too.
    The rule's scalars live in device scalars the graph reads, written from
    ``optimizer.step_scalars()`` before each replay when they changed (Adam's step size each step;
    its step count stays ``optimizer.t``, on the host).

    ``device="cpu"`` (or ``capture=False``) runs the same body eagerly, uncaptured: that is how
    the tests check it against NumPy without a GPU. ``capture=True`` without CUDA raises
    ``DeviceError``. Not bit-exact with NumPy (PyTorch's own kernels round differently): float32
    tolerance.
    """

    def __init__(
        self, net: Any, optimizer: Optimizer, *, device: str = "cuda", capture: bool | None = None
    ) -> None:
        torch = _torch()
        if not supports_fused(net, optimizer):
            raise ValueError(
                f"TorchGraphStep does not support {net!r} with {optimizer!r}: use the readable "
                "step (supports_fused(net, optimizer) says which)"
            )
        self.torch = torch
        self.device = torch.device(device)
        self.capture = self.device.type == "cuda" if capture is None else bool(capture)
        if self.capture and (self.device.type != "cuda" or not torch.cuda.is_available()):
            raise DeviceError(
                "TorchGraphStep captures CUDA graphs and needs PyTorch with a CUDA GPU "
                f"(device {device!r}, torch.cuda.is_available() = {torch.cuda.is_available()}); "
                "use device='cpu' or capture=False to run the step uncaptured"
            )
        self.net, self.optimizer = net, optimizer
        self.n_affine = net.n_affine
        self.sizes = [net.input_size, *net.hidden_sizes, net.output_size]
        self.np_dtype = np.dtype(net.dtype)
        self.dtype = {"float32": torch.float32, "float64": torch.float64}[self.np_dtype.name]
        self.activation = net.activation
        self.lam = float(net.weight_decay_lambda)
        self.layout = _Layout(dict(net.params), self.n_affine)
        self.slots = type(optimizer).slots
        self.act = ACTIVATIONS[net.activation]
        self.xp = array_namespace(torch.zeros(1))
        self._graphs: dict[int, Any] = {}
        self._buffers: dict[int, dict[str, Any]] = {}
        self._scalars: dict[str, Any] = {}
        self._hyper: tuple = ()
        self._load()

    # -- host <-> device ---------------------------------------------------------------------
    def _flat(self, arrays: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        host, _ = self.layout.pack(arrays, np, self.np_dtype)
        buffer = self.torch.from_numpy(host).to(self.device)
        return buffer, self.layout.views(buffer)

    def _load(self) -> None:
        """Copy the net's params and the optimizer's state to the device buffers (once)."""
        opt = self.optimizer
        host = {k: to_host(v) for k, v in self.net.params.items()}
        self.P, self.p = self._flat(host)
        self.G, self.g = self._flat(None)
        self.state: dict[str, Any] = {}
        for slot in self.slots:
            value = getattr(opt, slot)
            value = None if value is None else {k: to_host(v) for k, v in value.items()}
            self.state[slot], _ = self._flat(value)
        self.tmp = self.torch.empty_like(self.P)  # the optimizer's temporaries
        self.tmp2 = self.torch.empty_like(self.P)
        n = self.layout.n_weights
        self.Pw, self.Gw = self.P[:n], self.G[:n]
        for name in type(opt).program()[1]:  # the rule's scalars, as device scalars
            self._scalars[name] = self.torch.zeros((), dtype=self.dtype, device=self.device)
        self._hyper = ()

    def _refresh_scalars(self) -> None:
        """Count the step (``optimizer._advance``) and write its scalars into the device scalars
        the graph reads (only those that changed)."""
        self.optimizer._advance()
        hyper = self.optimizer.step_scalars()
        for name, value in hyper.items():
            if self._hyper == () or self._hyper[name] != value:
                self._scalars[name].fill_(value)
        self._hyper = hyper

    def write_back(self) -> None:
        """Copy the device parameters and optimizer state into the net's and optimizer's host
        arrays (in place: the layers keep their arrays) so saving and ``state_dict()`` see them."""
        params = self.net.params
        for k, view in self.p.items():
            params[k][...] = view.detach().cpu().numpy()
        for slot in self.slots:
            views = self.layout.views(self.state[slot])
            setattr(self.optimizer, slot, {k: v.detach().cpu().numpy().copy()
                                           for k, v in views.items()})  # fmt: skip

    # -- the step ------------------------------------------------------------------------------
    def _buffers_for(self, n: int) -> dict[str, Any]:
        bufs = self._buffers.get(n)
        if bufs is None:
            torch, kw = self.torch, dict(dtype=self.dtype, device=self.device)
            bufs = self._buffers[n] = {
                "x": torch.empty((n, self.sizes[0]), **kw),
                "t": torch.zeros(n, dtype=torch.int64, device=self.device),
                "h": [torch.empty((n, w), **kw) for w in self.sizes[1:]],
                "d": [torch.empty((n, w), **kw) for w in self.sizes[1:]],
                "loss": torch.empty((), **kw),
            }
        return bufs

    def _body(self, bufs: dict[str, Any]) -> None:
        """Forward, backward and update on the static buffers (what the graph records)."""
        torch, p, g = self.torch, self.p, self.g
        x, t, hs, ds = bufs["x"], bufs["t"], bufs["h"], bufs["d"]
        last, n = self.n_affine, x.shape[0]
        inp = x
        for i in range(1, last):
            h = hs[i - 1]
            torch.matmul(inp, p[f"W{i}"], out=h)
            h.add_(p[f"b{i}"])
            evaluate(self.act.forward_expr(), {"a": h}, self.xp, out=h)
            inp = h
        s = hs[last - 1]
        torch.matmul(inp, p[f"W{last}"], out=s)
        s.add_(p[f"b{last}"])
        s.sub_(s.amax(dim=1, keepdim=True))  # shifted scores
        target = s.gather(1, t.unsqueeze(1)).squeeze(1)
        dx = ds[last - 1]
        torch.exp(s, out=dx)
        total = dx.sum(dim=1, keepdim=True)
        rows = torch.log(total.squeeze(1)) - target
        torch.mean(rows, dim=0, out=bufs["loss"])
        if self.lam:
            bufs["loss"].add_(torch.dot(self.Pw, self.Pw) * (0.5 * self.lam))
        dx.div_(total)
        dx.scatter_add_(1, t.unsqueeze(1), torch.full((n, 1), -1.0, dtype=dx.dtype,
                                                      device=dx.device))  # fmt: skip
        dx.mul_(1.0 / n)
        for i in range(last, 0, -1):
            d = ds[i - 1]
            below = x if i == 1 else hs[i - 2]
            torch.matmul(below.T, d, out=g[f"W{i}"])
            torch.sum(d, dim=0, out=g[f"b{i}"])
            if i > 1:
                dh, y = ds[i - 2], hs[i - 2]
                torch.matmul(d, p[f"W{i}"].T, out=dh)
                dh.mul_(evaluate(self.act.derivative_expr(), {"y": y}, self.xp))
        if self.lam:
            nw = self.layout.n_weights
            torch.mul(self.Pw, self.lam, out=self.tmp[:nw])
            self.Gw.add_(self.tmp[:nw])
        self._update_body()

    def _update_body(self) -> None:
        """The optimizer's declared rule over the flat buffers, in place (scalars on the device)."""
        program, _ = type(self.optimizer).program()
        env = {"p": self.P, "g": self.G, **self.state, **self._scalars}
        memo: dict[int, Any] = {}
        for target, expr in program:
            evaluate(expr, env, self.xp, out=env[target], memo=memo)

    def _replay(self, bufs: dict[str, Any]) -> Any:
        """Run the step on ``bufs`` (captured: replay its graph, capturing it the first time)."""
        self._refresh_scalars()
        if not self.capture:
            self._body(bufs)
        else:
            n = bufs["x"].shape[0]
            graph = self._graphs.get(n)
            if graph is None:
                graph = self._graphs[n] = self._capture(bufs)
            graph.replay()
        return bufs["loss"].clone()

    def _capture(self, bufs: dict[str, Any]) -> Any:  # pragma: no cover - needs CUDA
        """Warm up once on a side stream (then undo it), and record the body as a CUDA graph."""
        torch = self.torch
        saved = [a.clone() for a in (self.P, *self.state.values())]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # cuBLAS handles and workspaces are made outside capture
            self._body(bufs)
        torch.cuda.current_stream().wait_stream(side)
        for a, b in zip((self.P, *self.state.values()), saved, strict=True):
            a.copy_(b)  # the warm-up must not count as a training step
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body(bufs)
        return graph

    def __call__(self, x_batch: Any, t_batch: Any) -> Any:
        """One step on (x_batch (N, D), t_batch (N,)) tensors; returns the 0-d mean loss."""
        bufs = self._buffers_for(int(x_batch.shape[0]))
        bufs["x"].copy_(x_batch)
        bufs["t"].copy_(t_batch)
        return self._replay(bufs)

    def step_indices(self, x_all: Any, t_all: Any, idx: Any) -> Any:
        """One step on rows ``idx`` of device tensors, gathered into the static inputs."""
        bufs = self._buffers_for(int(idx.shape[0]))
        self.torch.index_select(x_all, 0, idx, out=bufs["x"])
        self.torch.index_select(t_all, 0, idx, out=bufs["t"])
        return self._replay(bufs)
