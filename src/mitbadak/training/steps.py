"""How one training step runs: the one place where an engine is chosen.

A network (``nn.networks.LayerNet``) is math only; the trainer and evaluation run it through a
step chosen once per run by :func:`choose_step`:

============  ==========================================  ===================================
engine        runs                                        when (``engine='auto'``)
============  ==========================================  ===================================
``fast``      ``nn.fast_path.loss_and_gradient`` / scores  NumPy, a FeedForwardNet
``fast``      ``nn.fast_extend.loss_and_gradient`` / ...   NumPy, BatchNorm/Dropout layer lists
``fast``      ``nn.fast_conv.loss_and_gradient`` / ...     NumPy, convnets (Convolution/Pooling)
``layers``    ``net.loss_and_gradient_layers`` (any xp)     every other network, device arrays
``fused``     ``devices.fused_step.FusedStep``              CuPy, where ``supports_fused``
``numerical`` ``nn.gradcheck`` numerical gradients          ``gradient='numerical'`` (NumPy)
============  ==========================================  ===================================

An engine asked for by name that cannot run raises :class:`StepUnavailable` naming what is
missing; ``auto`` takes the first row that applies and keeps, in ``step.note``, why a faster one
did not (a CuPy network whose registered activation has no fused kernel is an error: the
definition is missing, not the network's fault).

Every step has ``run(idx) -> [(iteration, loss), ...]`` (the steps finished *and checked* by
this call: one on the host; on a device none until a block of :data:`LOSS_BLOCK` losses is read
back), ``flush()`` (read back what is pending), ``order(permutation)`` (where batch indices
live) and ``scores(x2)`` (inference, for evaluation). The divergence guard is :class:`LossGuard`.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mitbadak.core.backend import DeviceError, array_namespace, copy_array, to_device, to_host
from mitbadak.core.errors import MitbadakError
from mitbadak.nn import fast_conv, fast_extend, fast_path, gradcheck
from mitbadak.nn.engines import host_scores
from mitbadak.nn.networks import DEVICE_SCORES
from mitbadak.nn.optimizers import Optimizer
from mitbadak.training.history import History, LoopState

__all__ = [
    "DIVERGENCE_FACTOR",
    "ENGINES",
    "LOSS_BLOCK",
    "SMALL_STEP_MACS",
    "HostStep",
    "DeviceStep",
    "LossGuard",
    "StepUnavailable",
    "TrainingDiverged",
    "choose_scores",
    "choose_step",
    "measure",
    "numerical_loss_and_gradient",
]

#: A loss this many times above the first one means the run has blown up (even before NaN/inf:
#: with ReLU a blow-up can kill every unit and leave a finite but useless loss).
DIVERGENCE_FACTOR = 1000.0
#: On a device, the losses of this many steps are read back at once (one wait for the device per
#: block instead of one per step), and at every epoch's end, checkpoint and stop.
LOSS_BLOCK = 50
#: Below this many multiply-adds per training step (batch size x the weight matrices' elements),
#: the step's matrix products are too small for BLAS threads to pay: they mostly wait for each
#: other, and on a busy machine for a core. 784-50-10 at batch 100 is 4.0 million (one thread:
#: 0.19 ms per step; two threads: the same on an idle 2-core machine, 2-3 ms with the cores busy);
#: the default 784-256-128-10 is 23.5 million and keeps its threads.
SMALL_STEP_MACS = 8_000_000
ENGINES = ("auto", "fast", "layers", "fused", "numerical")


class TrainingDiverged(MitbadakError):
    """The loss blew up (NaN, infinite, or far above where it started).

    The network holds the parameters of the last good step; ``history`` holds what was recorded
    up to the blow-up (the exploding loss included when it is finite), so it can be plotted.
    """

    def __init__(self, message: str, history: History | None = None) -> None:
        super().__init__(message)
        self.history = history


class StepUnavailable(MitbadakError, ValueError):
    """The engine asked for cannot run this network/optimizer; the message names what is
    missing."""


class LossGuard:
    """Checks each step's loss and records it in the run's history (``loop``).

    ``check(loss)`` raises :class:`TrainingDiverged` when the loss is NaN/inf or more than
    :data:`DIVERGENCE_FACTOR` times the first loss (the finite blow-up is appended, for plots);
    ``record(loss)`` appends it and counts the iteration.
    """

    def __init__(self, loop: LoopState, optimizer: Optimizer) -> None:
        self.loop = loop
        self.optimizer = optimizer

    def check(self, loss: float) -> None:
        losses = self.loop.history.iteration_loss
        first = losses[0] if losses else loss
        if math.isfinite(loss) and loss <= DIVERGENCE_FACTOR * max(first, 1.0):
            return
        if math.isfinite(loss):
            losses.append(loss)  # the explosion itself, for plots
        raise TrainingDiverged(
            f"the loss became {loss:.4g} at iteration {self.loop.iteration + 1} (it started at "
            f"{first:.4g}): training diverged. The learning rate ({self.optimizer.lr:g}) is "
            f"probably too high; try a smaller --lr.",
            self.loop.history,
        )

    def record(self, loss: float) -> tuple[int, float]:
        self.loop.history.iteration_loss.append(loss)
        self.loop.iteration += 1
        return self.loop.iteration, loss


def _update_of(optimizer: Optimizer) -> Callable:
    # The network's own gradients always fit its parameters: skip update()'s argument checks.
    return optimizer._update if type(optimizer).update is Optimizer.update else optimizer.update


class HostStep:
    """A step on NumPy arrays: loss and gradient of the batch, the check, then the update.

    ``loss_and_gradient(x, t)`` is the engine's (fast path, layers or numerical); the network
    keeps its last good parameters when the check fails (it runs before the update).
    """

    def __init__(self, net, optimizer: Optimizer, data, guard: LossGuard, engine: str,
                 loss_and_gradient: Callable, scores: Callable,
                 note: str = "") -> None:  # fmt: skip
        self.net, self.optimizer, self.guard = net, optimizer, guard
        self.x, self.t = data
        self.engine, self.note = engine, note
        self._loss_and_gradient = loss_and_gradient
        self.scores = scores
        self._update = _update_of(optimizer)

    def order(self, permutation: np.ndarray) -> np.ndarray:
        return permutation

    def run(self, idx) -> list[tuple[int, float]]:
        loss, grads = self._loss_and_gradient(self.x[idx], self.t[idx])
        self.guard.check(loss)
        self._update(self.net.params, grads)
        return [self.guard.record(loss)]

    def flush(self) -> list[tuple[int, float]]:
        return []

    def threads(self) -> contextlib.AbstractContextManager:
        """One BLAS thread while the steps run when a step is small (:data:`SMALL_STEP_MACS`)."""
        return self._threads()

    def limit_threads(self, batch_size: int) -> None:
        self._threads = _small_step_blas_limit(self.net, batch_size)

    _threads = staticmethod(contextlib.nullcontext)


class DeviceStep:
    """A step on device arrays that never waits for the device: each ``run`` queues one step
    (its loss a 0-d device array); the losses are read back per :data:`LOSS_BLOCK` steps (and on
    ``flush``), where the guard checks them. A blow-up is found up to a block late, so the
    parameters and optimizer state of the block's start are kept (device copies) and the good
    steps replayed: the network then holds the last good step's parameters, as on the CPU.

    ``kernel`` is the engine's ``(x_batch, t_batch) -> loss`` (parameters updated in place); one
    with ``step_indices`` (the fused step) gathers its batch into its own static buffers.
    """

    def __init__(self, net, optimizer: Optimizer, data, guard: LossGuard, engine: str,
                 kernel: Callable, scores: Callable, xp, note: str = "") -> None:  # fmt: skip
        self.net, self.optimizer, self.guard, self.xp = net, optimizer, guard, xp
        self.engine, self.note, self.scores = engine, note, scores
        self.kernel = kernel
        self.x, self.t = data
        self._gather = getattr(kernel, "step_indices", None)
        if self._gather is not None and str(self.t.dtype) != "int64":
            self.t = self.t.astype("int64")  # its label buffer is int64: one conversion per run
        self._pending: list[tuple[Any, Any]] = []  # (batch indices, 0-d device loss)
        self._snapshot: tuple[dict, dict] | None = None

    def order(self, permutation: np.ndarray):
        return to_device(permutation, self.xp)  # one transfer per epoch

    def _queue(self, idx):
        if self._gather is not None:
            return self._gather(self.x, self.t, idx)
        return self.kernel(self.x[idx], self.t[idx])

    def run(self, idx) -> list[tuple[int, float]]:
        if not self._pending:  # the block's first step: keep where it starts
            params = {key: copy_array(p) for key, p in self.net.params.items()}
            self._snapshot = (params, copy.deepcopy(self.optimizer.__dict__))
        self._pending.append((idx, self._queue(idx)))
        return self.flush() if len(self._pending) == LOSS_BLOCK else []

    def flush(self) -> list[tuple[int, float]]:
        if not self._pending:
            return []
        pending, self._pending = self._pending, []
        values = to_host(self.xp.stack([loss for _, loss in pending]))  # the block's one wait
        done = []
        for k in range(len(pending)):
            value = float(values[k])
            try:
                self.guard.check(value)
            except TrainingDiverged:
                self._replay([idx for idx, _ in pending[:k]])
                raise
            done.append(self.guard.record(value))
        return done

    def _replay(self, good: list) -> None:
        """Back to the block's start, then the good steps again: the same numbers."""
        params, opt_state = self._snapshot
        for key, saved in params.items():
            self.net.params[key] = saved
        self.optimizer.__dict__.update(opt_state)
        for idx in good:
            self._queue(idx)

    def threads(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def limit_threads(self, batch_size: int) -> None:
        pass


def _small_step_blas_limit(network, batch_size: int) -> Callable[[], Any]:
    """A factory of contexts that run the training steps on one BLAS thread when a step is small
    (:data:`SMALL_STEP_MACS`) and threadpoolctl is installed; otherwise no change. Evaluation and
    checkpoints run outside it, with every thread. The limit is process-wide while it lasts."""
    macs = batch_size * sum(int(p.size) for p in network.params.values() if p.ndim == 2)
    if macs >= SMALL_STEP_MACS:
        return contextlib.nullcontext
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext
    controller = ThreadpoolController()  # looks the libraries up once (~15 ms), not per epoch
    return lambda: controller.limit(limits=1, user_api="blas")


def _xp_name(xp) -> str:
    return getattr(xp, "__name__", "")


def choose_scores(net, xp=None) -> Callable[[Any], Any]:
    """The inference engine for ``net`` (``scores(x2)``, test mode): NumPy's fast path for a
    FeedForwardNet, a registered device engine (CuPy's fused scores) where it covers the net,
    else the network's layers."""
    xp = xp if xp is not None else array_namespace(*net.params.values())
    if xp is np:
        return host_scores(net) or net.scores
    engine = DEVICE_SCORES.get(_xp_name(xp))
    if engine is not None and engine[0](net):
        return lambda x2: engine[1](net, x2)
    return net.scores


def numerical_loss_and_gradient(net) -> Callable:
    """``(x, t) -> (loss, grads)`` by central differences (chapter 4): the fast engine of
    ``nn.gradcheck`` for one hidden layer, the book's element loop otherwise."""
    def loss_and_gradient(x, t):
        if gradcheck.supports_fast(net):
            grads = gradcheck.numerical_gradient_fast(net, x, t)
        else:
            grads = gradcheck.numerical_gradient_reference(net, x, t)
        return net.batch_loss(x, t), grads

    return loss_and_gradient


def _fused_unsupported(net, optimizer) -> tuple[str | None, bool]:
    """(what keeps the fused CuPy step from this pair, whether that is a missing definition)."""
    from mitbadak.devices import fused_step

    if fused_step.supports_fused(net, optimizer):
        return None, False
    activation = getattr(net, "activation", None)
    if hasattr(net, "hidden_sizes") and activation not in fused_step.ACTIVATION_KERNELS:
        return (f"activation {activation!r} has no fused CUDA kernels "
                "(devices/fused_step.ACTIVATION_KERNELS)", True)  # fmt: skip
    if not hasattr(net, "hidden_sizes"):
        return f"{type(net).__name__} is not an Affine/activation chain", False
    return (f"the fused step covers the registered optimizers in float32/float64, "
            f"not {type(optimizer).__name__} in {net.dtype}"), False  # fmt: skip


def choose_step(net, optimizer: Optimizer, data, loop: LoopState, *, xp=None,
                engine: str = "auto") -> HostStep | DeviceStep:  # fmt: skip
    """The step that trains ``net`` with ``optimizer`` on ``data`` = (x, t indices), already on
    ``xp`` (default: where the parameters are), recording into ``loop``; see the module table.

    Raises :class:`StepUnavailable` (naming what is missing) for an engine that cannot run, and
    ``DeviceError`` for numerical gradients on a device.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    xp = xp if xp is not None else array_namespace(*net.params.values())
    guard = LossGuard(loop, optimizer)
    if xp is not np:
        if engine in ("fast", "numerical"):
            raise DeviceError(
                "numerical gradients are computed on the CPU (NumPy, float64); train with "
                "device='cpu' (--device cpu) or use gradient='backprop' on the device"
                if engine == "numerical" else
                f"the fast path is NumPy's in-place code; this network is on {_xp_name(xp)!r}"
            )  # fmt: skip
        return _device_step(net, optimizer, data, guard, xp, engine)
    scores = choose_scores(net)
    if engine == "numerical":
        numerical = numerical_loss_and_gradient(net)
        return HostStep(net, optimizer, data, guard, engine, numerical, scores)
    if engine == "fused":
        raise StepUnavailable("the fused step runs on CuPy arrays; this network is on NumPy "
                              "(train with --device gpu)")  # fmt: skip
    fast, missing = _host_fast(net)
    if engine == "fast" and fast is None:
        raise StepUnavailable(f"the CPU fast path cannot run this network: {missing}")
    if engine == "layers" or fast is None:
        return HostStep(net, optimizer, data, guard, "layers", net.loss_and_gradient_layers,
                        scores, note="" if fast is not None else missing)  # fmt: skip
    return HostStep(net, optimizer, data, guard, "fast", fast, scores)


def _host_fast(net) -> tuple[Callable | None, str]:
    """(the CPU fast ``loss_and_gradient`` for ``net``, "") or (None, why no fast path covers
    it): ``nn.fast_path`` for Affine/activation chains, ``nn.fast_extend`` for layer lists with
    BatchNormalization/Dropout (``MultiLayerNetExtend``), ``nn.fast_conv`` for convnets."""
    missing = fast_path.unsupported(net)
    if missing is None:
        return (lambda x, t: fast_path.loss_and_gradient(net, x, t)), ""
    missing_extend = fast_extend.unsupported(net)
    if missing_extend is None:
        plan = fast_extend.plan(net)  # read once per run; its work buffers are reused
        return (lambda x, t: fast_extend.loss_and_gradient(net, x, t, plan)), ""
    missing_conv = fast_conv.unsupported(net)
    if missing_conv is None:
        conv_plan = fast_conv.plan(net)  # read once per run; its work buffers are reused
        return (lambda x, t: fast_conv.loss_and_gradient(net, x, t, conv_plan)), ""
    return None, f"{missing}; {missing_extend}; {missing_conv}"


def _device_step(net, optimizer, data, guard, xp, engine: str) -> DeviceStep:
    scores = choose_scores(net)  # by where the parameters are
    note = ""
    if _xp_name(xp) == "cupy" and engine in ("auto", "fused"):
        from mitbadak.devices import fused_step

        missing, definition_missing = _fused_unsupported(net, optimizer)
        if missing is None:
            kernel = fused_step.FusedStep(net, optimizer)
            return DeviceStep(net, optimizer, data, guard, "fused", kernel, scores, xp)
        if engine == "fused" or definition_missing:
            raise StepUnavailable(f"the fused CuPy step cannot run this network: {missing}; "
                                  "train with engine='layers' to use the readable layers")
        note = missing
    elif engine == "fused":
        raise StepUnavailable(f"the fused step runs on CuPy arrays; this network is on "
                              f"{_xp_name(xp)!r}")  # fmt: skip
    update = _update_of(optimizer)

    def layers(x_batch, t_batch):
        loss, grads = net.loss_and_gradient_layers(x_batch, t_batch)
        update(net.params, grads)
        return loss

    return DeviceStep(net, optimizer, data, guard, "layers", layers, scores, xp, note=note)


def measure(scores: Callable, x2, t2, batch_size: int = 10_000, dtype=None) -> tuple[float, float]:
    """(mean exact cross-entropy, accuracy) of the scores engine on checked (x2, t_idx), in
    batches (host batches cast to ``dtype``, the network's); one read-back per batch on a
    device. The loss has no weight-decay term."""
    xp = array_namespace(x2, t2)
    total_loss = 0.0
    correct = 0
    n = x2.shape[0]
    for i in range(0, n, batch_size):
        xb = x2[i : i + batch_size]
        s = scores(xb if dtype is None or xp is not np else xb.astype(dtype, copy=False))
        tb = t2[i : i + batch_size]
        if xp is np:
            shifted = s - s.max(axis=1, keepdims=True)
            lse = np.log(np.exp(shifted).sum(axis=1))
            total_loss += float(np.sum(lse - shifted[np.arange(len(tb)), tb], dtype=np.float64))
            correct += int(np.count_nonzero(np.argmax(s, axis=1) == tb))
        else:
            shifted = s - xp.max(s, axis=1, keepdims=True)
            lse = xp.log(xp.sum(xp.exp(shifted), axis=1))
            picked = shifted[xp.arange(tb.shape[0]), tb]
            total_loss += float(xp.sum(lse - picked, dtype=xp.float64))
            correct += int(xp.count_nonzero(xp.argmax(s, axis=1) == tb))
    return total_loss / n, correct / n
