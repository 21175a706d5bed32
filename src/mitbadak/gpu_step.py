"""The trainer's fast device step: one training step of a feed-forward net from fused kernels.

The contract with the trainer (``training.py``)::

    from mitbadak import gpu_step
    if xp is cupy and gpu_step.supports_fused(net, optimizer):
        step = gpu_step.FusedStep(net, optimizer)     # after net and state are on the device
    ...
    loss = step(x_batch, t_batch)                     # 0-d device array; no host sync
    loss = step.step_indices(x_dev, t_dev, idx_dev)   # or: gather the batch into static buffers

* ``supports_fused(net, optimizer) -> bool``: True for a ``FeedForwardNet`` (TwoLayerNet,
  MultiLayerNet; any number of hidden layers) whose activation has kernels (``relu``, ``sigmoid``,
  ``tanh``), of dtype float32 or float64, with weight decay or without, trained by exactly
  ``SGD``, ``Momentum``, ``AdaGrad`` or ``Adam``. Anything else: use the readable path.
* ``FusedStep(net, optimizer, kernels=None)`` packs the parameters into one flat buffer (the
  weights W1..WL first, then the biases b1..bL) and assigns ``net.params`` views of it, so the
  layers, ``net.params`` and model saving see the same arrays. The optimizer's state (Momentum
  ``v``, AdaGrad ``h``, Adam ``m``/``v``, and Adam's step count ``t``) becomes views of flat
  buffers of the same layout, kept in the optimizer's own attributes, so
  ``optimizer.state_dict()`` stays right; state loaded before construction is kept. ``kernels``
  defaults to :func:`mitbadak.gpu_kernels.cupy_kernels`; ``kernels=reference_kernels()`` runs the
  same step on NumPy arrays (the tests do).
* ``step(x_batch, t_batch)``: forward, backward and the optimizer's update in place; returns the
  batch's mean loss (with the weight penalty) as a new 0-d array on the device. ``x_batch`` is
  (N, input_size) of the net's dtype, ``t_batch`` int64 labels (N,) (other dtypes are converted
  each call, which costs a launch). Every temporary is preallocated per batch size on first use,
  so a last smaller batch gets its own set (two sets per run).
* Read the losses back in blocks (``float(xp.stack(block).mean())``), never per step.
* If ``net.params`` or the optimizer's state are replaced from outside (``net.set_params``,
  ``optimizer.load_state_dict``), the next call packs them again (a check of a few identities).

Step per batch (L Affine layers, ~4L + 3 launches): ``h = x . W1`` (cuBLAS), ``bias_<act>`` in
place; ...; ``s = h . WL``; ``bias_softmax_ce`` (the last bias, softmax, the gradient of the
scores and the mean loss, one launch); backward ``dW = h^T . d``, ``db = sum d``, ``dh = d . W^T``,
``<act>_backward`` from the activation's output; ``weight_decay`` over the weights' range (only
with ``weight_decay_lambda > 0``); one optimizer launch over the whole flat buffer.

``TorchGraphStep`` (stretch, CUDA only) is the same math on PyTorch CUDA tensors, captured once as
a CUDA graph and replayed (see its docstring and docs/gpu.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mitbadak.backend import DeviceError, array_namespace, to_device, to_host
from mitbadak.gpu_kernels import adam_lr_t
from mitbadak.optimizers import SGD, AdaGrad, Adam, Momentum, Optimizer

__all__ = ["ACTIVATION_KERNELS", "FusedStep", "TorchGraphStep", "supports_fused"]

#: activation name -> (forward kernel with the bias, backward kernel from the output)
ACTIVATION_KERNELS: dict[str, tuple[str, str]] = {
    "relu": ("bias_relu", "relu_backward"),
    "sigmoid": ("bias_sigmoid", "sigmoid_backward"),
    "tanh": ("bias_tanh", "tanh_backward"),
}

#: optimizer class -> the names of its per-parameter state attributes (dicts of arrays)
_STATE_SLOTS: dict[type, tuple[str, ...]] = {
    SGD: (),
    Momentum: ("v",),
    AdaGrad: ("h",),
    Adam: ("m", "v"),
}


def supports_fused(net: Any, optimizer: Any) -> bool:
    """True when :class:`FusedStep` computes exactly what ``net.loss_and_gradient_layers`` and
    ``optimizer.update`` compute for this pair (see the module docstring for the list)."""
    from mitbadak.networks import FeedForwardNet

    if not isinstance(net, FeedForwardNet) or type(optimizer) not in _STATE_SLOTS:
        return False
    if net.activation not in ACTIVATION_KERNELS:
        return False
    return np.dtype(net.dtype) in (np.dtype(np.float32), np.dtype(np.float64))


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


def _bind_params(net: Any, views: dict[str, Any]) -> None:
    """Make ``net.params`` (and so the layers) hold ``views``, not copies of them.

    The public setter (``net.params = views``) keeps arrays of the net's dtype uncopied on the
    host; where it cannot take device arrays (before the network is device-aware) or copies,
    the ParamDict entries are set directly and the layers rebound, as ``params[k] = v`` does.
    """
    try:
        net.params = dict(views)
    except TypeError:
        pass
    if all(net.params[k] is views[k] for k in views):
        return
    params = net.params
    for k, view in views.items():
        dict.__setitem__(params, k, view)
        net._rebind(k, view)


class _Buffers:
    """The temporaries of one batch size: activations, their gradients, the gathered batch."""

    def __init__(self, xp: Any, n: int, sizes: list[int], dtype: Any) -> None:
        self.h = [xp.empty((n, w), dtype=dtype) for w in sizes[1:]]  # each Affine's output
        self.d = [xp.empty((n, w), dtype=dtype) for w in sizes[1:]]  # gradients w.r.t. them
        self.x = xp.empty((n, sizes[0]), dtype=dtype)
        self.t = xp.empty(n, dtype=np.int64)


class FusedStep:
    """One training step of ``net`` by ``optimizer`` from fused kernels (module docstring)."""

    def __init__(self, net: Any, optimizer: Optimizer, kernels: dict[str, Any] | None = None):
        if not supports_fused(net, optimizer):
            raise ValueError(
                f"FusedStep does not support {net!r} with {optimizer!r}: use the readable step "
                "(supports_fused(net, optimizer) says which)"
            )
        if kernels is None:
            from mitbadak.gpu_kernels import cupy_kernels

            kernels = cupy_kernels()
        self.net = net
        self.optimizer = optimizer
        self.k = kernels
        self.n_affine = net.n_affine
        self.sizes = [net.input_size, *net.hidden_sizes, net.output_size]
        self.dtype = np.dtype(net.dtype)
        self.xp = array_namespace(*net.params.values())
        self.layout = _Layout(dict(net.params), self.n_affine)
        self.forward_kernel, self.backward_kernel = ACTIVATION_KERNELS[net.activation]
        self._buffers: dict[int, _Buffers] = {}
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
        for slot in _STATE_SLOTS[type(opt)]:
            buffer, views = layout.pack(getattr(opt, slot), xp, self.dtype)
            setattr(opt, slot, views)
            self.state[slot], self._state_views[slot] = buffer, views
        n = layout.n_weights
        self.Pw, self.Gw = self.P[:n], self.G[:n]

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

    # -- the step -----------------------------------------------------------------------------
    def __call__(self, x_batch: Any, t_batch: Any) -> Any:
        """One step on (x_batch (N, D), t_batch (N,) int64); returns the 0-d mean loss."""
        xp = self.xp
        if x_batch.dtype != self.dtype:
            x_batch = x_batch.astype(self.dtype)
        if t_batch.dtype != np.int64:
            t_batch = t_batch.astype(np.int64)
        if not (x_batch.flags.c_contiguous and t_batch.flags.c_contiguous):
            x_batch, t_batch = xp.ascontiguousarray(x_batch), xp.ascontiguousarray(t_batch)
        return self._run(x_batch, t_batch, self.buffers(x_batch.shape[0]))

    def step_indices(self, x_all: Any, t_all: Any, idx: Any) -> Any:
        """One step on rows ``idx`` of the device data set, gathered into static buffers
        (``take(..., out=)``: no allocation); ``x_all`` of the net's dtype, ``t_all`` int64."""
        xp = self.xp
        bufs = self.buffers(int(idx.shape[0]))
        xp.take(x_all, idx, axis=0, out=bufs.x)
        xp.take(t_all, idx, axis=0, out=bufs.t)
        return self._run(bufs.x, bufs.t, bufs)

    def _run(self, x: Any, t: Any, bufs: _Buffers) -> Any:
        self._ensure_packed()  # first: it may replace the buffers read below
        xp, k, p, g = self.xp, self.k, self.p, self.g
        last = self.n_affine
        lam = self.net.weight_decay_lambda
        # forward: h_i = act(h_{i-1} . W_i + b_i); the last layer's bias goes into the head
        inp = x
        for i in range(1, last):
            h = bufs.h[i - 1]
            xp.matmul(inp, p[f"W{i}"], out=h)
            k[self.forward_kernel](h, p[f"b{i}"], h)
            inp = h
        xp.matmul(inp, p[f"W{last}"], out=bufs.h[last - 1])
        loss = xp.empty((), dtype=self.dtype)
        k["bias_softmax_ce"](bufs.h[last - 1], p[f"b{last}"], t, bufs.d[last - 1], loss)
        if lam:
            loss += self.dtype.type(0.5 * lam) * (self.Pw @ self.Pw)  # before the update
        # backward into the flat gradient buffer
        for i in range(last, 0, -1):
            d = bufs.d[i - 1]
            below = x if i == 1 else bufs.h[i - 2]
            xp.matmul(below.T, d, out=g[f"W{i}"])
            xp.sum(d, axis=0, out=g[f"b{i}"])
            if i > 1:
                dh = bufs.d[i - 2]
                xp.matmul(d, p[f"W{i}"].T, out=dh)
                k[self.backward_kernel](dh, bufs.h[i - 2], dh)
        if lam:
            k["weight_decay"](self.Gw, self.Pw, lam)
        self._update()
        return loss

    def _update(self) -> None:
        """One optimizer launch over the flat buffers (hyperparameters read each step)."""
        opt, k, P, G, state = self.optimizer, self.k, self.P, self.G, self.state
        if type(opt) is SGD:
            k["sgd_update"](P, G, opt.lr)
        elif type(opt) is Momentum:
            k["momentum_update"](P, G, state["v"], opt.lr, opt.momentum)
        elif type(opt) is AdaGrad:
            k["adagrad_update"](P, G, state["h"], opt.lr)
        else:  # Adam: the step count stays the optimizer's (state_dict()["t"])
            opt.t += 1
            lr_t = adam_lr_t(opt.lr, opt.beta1, opt.beta2, opt.t)
            k["adam_update"](P, G, state["m"], state["v"], lr_t, opt.beta1, opt.beta2)


class TorchGraphStep:  # placeholder replaced below when written
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise DeviceError("TorchGraphStep is not written yet")
