"""Mini-batch training (chapters 4-5): sample a batch, compute the gradient, update, repeat.

One epoch is one pass over the training set in a fresh random order (a permutation drawn from the
run's own Generator), so every image is used once per epoch. After each epoch the network is
evaluated on the training and test sets (float32, batched) and a row is added to the history.

Everything needed to continue a run exactly lives in its checkpoint: parameters, optimizer state,
the random generator's state at the start of the epoch, the position inside the epoch, and the
history. A run resumed from any checkpoint ends with the same numbers as an uninterrupted one.

On a device (``train(..., device="gpu")``, docs/gpu.md) the data, parameters and optimizer state
move there once per run; the batch order is still drawn on the host (one transfer per epoch); each
step's loss stays on the device and the losses are read back in blocks of :data:`LOSS_BLOCK`
steps, where divergence is checked. Checkpoints, histories and metrics are the CPU's.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mitbadak.core._checks import check_xt, describe
from mitbadak.core.backend import (
    DeviceError,
    array_namespace,
    copy_array,
    device_namespace,
    to_device,
    to_host,
)
from mitbadak.core.errors import MitbadakError
from mitbadak.nn.optimizers import Optimizer, make_optimizer

# The run's records (checkpoint, CSV history) live in runhistory; re-exported here for callers.
from mitbadak.training.history import (
    METRIC_FIELDS,
    EarlyStopping,
    History,
    LoopState,
    load_checkpoint,
    read_history,
    save_checkpoint,
    write_history,
)

__all__ = [
    "History",
    "TrainResult",
    "TrainingDiverged",
    "TrainingStopped",
    "LoopState",
    "EarlyStopping",
    "train",
    "train_step",
    "end_epoch",
    "evaluate",
    "split_validation",
    "write_history",
    "read_history",
    "save_checkpoint",
    "load_checkpoint",
    "METRIC_FIELDS",
]

EVAL_BATCH = 10_000
TRAIN_EVAL_SIZE = 10_000
#: A loss this many times above the first one means the run has blown up (even before NaN/inf:
#: with ReLU a blow-up can kill every unit and leave a finite but useless loss).
DIVERGENCE_FACTOR = 1000.0
#: On a device, the losses of this many steps are read back at once (one wait for the device per
#: block instead of one per step), and at every epoch's end, checkpoint and stop.
LOSS_BLOCK = 50


class TrainingDiverged(MitbadakError):
    """The loss blew up (NaN, infinite, or far above where it started).

    The network holds the parameters of the last good step; ``history`` holds what was recorded
    up to the blow-up (the exploding loss included when it is finite), so it can be plotted.
    """

    def __init__(self, message: str, history: History | None = None) -> None:
        super().__init__(message)
        self.history = history


@dataclass(repr=False)
class TrainResult:
    """What :func:`train` returns: the trained network, its History and optimizer."""

    network: Any
    history: History
    optimizer: Optimizer
    stopped_early: bool = False
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history.last
        acc = last.get("test_acc")
        return (
            f"TrainResult({type(self.network).__name__}, {len(self.history.epochs)} epochs, "
            f"{len(self.history.iteration_loss)} iterations"
            + (f", test_acc={acc:.4f}" if acc is not None else "")
            + (", stopped early" if self.stopped_early else "")
            + f", {self.seconds:.1f} s)"
        )


# ------------------------------------------------------------------------------------------------
# Evaluation


def evaluate(
    network, x: np.ndarray, t: np.ndarray, batch_size: int = EVAL_BATCH
) -> tuple[float, float]:
    """Return (mean cross-entropy loss, accuracy) of ``network`` on (x, t), in batches.

    The loss is the same exact cross-entropy that training minimises (without weight decay).
    """
    x2, t2 = check_xt(x, t, network.input_size, network.output_size)
    return _evaluate(network, x2, t2, batch_size)


def _evaluate(network, x2: np.ndarray, t2: np.ndarray, batch_size: int = EVAL_BATCH):
    if not isinstance(x2, np.ndarray):
        return _evaluate_on_device(network, x2, t2, batch_size)
    total_loss = 0.0
    correct = 0
    n = x2.shape[0]
    for i in range(0, n, batch_size):
        xb = x2[i : i + batch_size].astype(network.dtype, copy=False)
        scores = network.scores(xb)
        tb = t2[i : i + batch_size]
        shifted = scores - scores.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1))
        total_loss += float(np.sum(lse - shifted[np.arange(len(tb)), tb], dtype=np.float64))
        correct += int(np.count_nonzero(np.argmax(scores, axis=1) == tb))
    return total_loss / n, correct / n


def _evaluate_on_device(network, x2, t2, batch_size: int = EVAL_BATCH):
    """:func:`_evaluate` for data on the network's device (already in its dtype): the same
    formulas with ``xp``, one read-back per batch."""
    xp = array_namespace(x2, t2)
    total_loss = 0.0
    correct = 0
    n = x2.shape[0]
    for i in range(0, n, batch_size):
        scores = network.scores(x2[i : i + batch_size])
        tb = t2[i : i + batch_size]
        shifted = scores - xp.max(scores, axis=1, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(shifted), axis=1))
        picked = shifted[xp.arange(tb.shape[0]), tb]
        total_loss += float(xp.sum(lse - picked, dtype=xp.float64))
        correct += int(xp.count_nonzero(xp.argmax(scores, axis=1) == tb))
    return total_loss / n, correct / n


def split_validation(x: np.ndarray, t: np.ndarray, fraction: float, seed: int = 0):
    """Carve a validation split off the *training* data: ((x_train, t_train), (x_val, t_val)).

    The split is a seeded permutation, so the same seed always holds out the same samples.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    n = len(x)
    n_val = max(1, int(round(n * fraction)))
    if n_val >= n:
        raise ValueError(f"a validation split of {fraction} leaves no training data ({n} samples)")
    order = np.random.default_rng([seed, 0x7A1]).permutation(n)
    val, tr = order[:n_val], np.sort(order[n_val:])
    return (x[tr], t[tr]), (x[np.sort(val)], t[np.sort(val)])


# ------------------------------------------------------------------------------------------------
# The loop


class TrainingStopped(KeyboardInterrupt):
    """Raised when ``train(should_stop=...)`` asked to stop: like Ctrl-C, the checkpoint was
    written between two steps and ``train(resume=load_checkpoint(...))`` continues exactly."""


def train(
    network,
    train_data: tuple[np.ndarray, np.ndarray],
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    optimizer: str | Optimizer = "sgd",
    lr: float | None = None,
    batch_size: int = 100,
    epochs: int | None = None,
    iters: int | None = None,
    seed: int = 0,
    gradient: str = "backprop",
    val_data: tuple[np.ndarray, np.ndarray] | None = None,
    early_stopping: int | None = None,
    callback: Callable[[dict[str, Any]], None] | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: tuple | None = None,
    evaluate_train: bool = True,
    train_eval_size: int | None = TRAIN_EVAL_SIZE,
    should_stop: Callable[[], bool] | None = None,
    device=None,
) -> TrainResult:
    """Train ``network`` in place by mini-batch gradient descent; returns a :class:`TrainResult`.

    * ``epochs`` or ``iters`` (exactly one; default 1 epoch) sets the length of the run.
    * ``gradient='backprop'`` (chapter 5) or ``'numerical'`` (chapter 4's central differences).
    * ``early_stopping=PATIENCE`` stops when the validation loss has not improved for PATIENCE
      epochs and restores the best parameters; it needs ``val_data`` (carved from training data).
    * ``callback(event)`` receives dicts with ``event`` in 'start', 'step', 'epoch', 'end';
      an 'epoch' event comes after that epoch's checkpoint is on disk.
    * ``checkpoint_path``: written atomically at the start and after every epoch, and on Ctrl-C.
    * ``resume``: the tuple returned by :func:`load_checkpoint`: continue where it stopped.
    * ``should_stop()``: asked between steps; True stops the run like Ctrl-C does
      (checkpoint, then :class:`TrainingStopped`, a KeyboardInterrupt).
    * ``device``: 'cpu', 'gpu', 'auto' or an array module: the network is moved there first
      (``network.to(device)``) and stays there; None trains where the network is. The same seed
      draws the same weights and batch order on every device; checkpoints are portable.
    * The training loss/accuracy of each epoch are measured on a fixed random subset of
      ``train_eval_size`` training images (None: all of them). A full pass over 60,000 images
      would cost a quarter of the epoch; 10,000 images estimate accuracy to about +-0.3 %.

    Raises :class:`TrainingDiverged` when the loss turns NaN/inf (the checkpoint on disk still holds
    the last good epoch), and KeyboardInterrupt on Ctrl-C after finishing the current step and
    saving a checkpoint from which the run resumes exactly.
    """
    _check_arguments(epochs, iters, batch_size, seed, early_stopping, train_eval_size, gradient,
                     val_data)  # fmt: skip
    if epochs is None and iters is None:
        epochs = 1
    xp = _network_device(network, device)
    if xp is not np and gradient == "numerical":
        raise DeviceError(
            "numerical gradients are computed on the CPU (NumPy, float64); train with "
            "device='cpu' (--device cpu) or use gradient='backprop' on the device"
        )
    x_train, t_train, train_eval, sets = _prepare_data(
        network, train_data, test_data, val_data, evaluate_train, train_eval_size, seed
    )
    n = x_train.shape[0]
    batches_per_epoch = math.ceil(n / batch_size)
    total_iters = iters if iters is not None else epochs * batches_per_epoch
    rng = np.random.default_rng(seed)
    if resume is not None:
        saved_net, opt, saved_state, _ = resume
        network.set_params(saved_net.params)
        loop = LoopState.from_dict(saved_state)
        loop.total_iters, loop.early.patience = total_iters, early_stopping
        loop.seconds = loop.seconds or float(loop.history.last.get("seconds") or 0.0)
        rng.bit_generator.state = loop.rng_state
    else:
        opt = optimizer if isinstance(optimizer, Optimizer) else make_optimizer(optimizer, lr)
        loop = LoopState(seed, total_iters, rng.bit_generator.state,
                         early=EarlyStopping(early_stopping))  # fmt: skip
    history = loop.history
    grad_fn = _gradient_function(network, gradient)
    # The network's own gradients always fit its parameters: skip update()'s argument checks.
    update = opt._update if type(opt).update is Optimizer.update else opt.update

    def emit(event: str, **info) -> None:
        if callback is not None:
            callback({"event": event, **info})

    def save() -> None:
        if checkpoint_path is not None:
            loop.seconds = time.perf_counter() - started
            save_checkpoint(checkpoint_path, network, opt, loop)

    emit("start", total_iters=total_iters, batches_per_epoch=batches_per_epoch, n_train=n,
         start_iteration=loop.iteration)  # fmt: skip
    started = time.perf_counter() - loop.seconds  # the clock continues across resumes
    if resume is None:
        save()
    stopped_early = False
    step_threads = _small_step_blas_limit(network, batch_size) if xp is np else None
    if xp is not np:
        # Once per run: the checked data sets go to the device (batches are gathered there).
        x_train, t_train = to_device(x_train, xp), to_device(t_train, xp)
        if train_eval is not None:
            train_eval = tuple(to_device(a, xp) for a in train_eval)
        sets = {name: tuple(to_device(a, xp) for a in pair) for name, pair in sets.items()}
    # Overflow inside a diverging step is detected and reported below, not warned about.
    with _DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
        if xp is not np:
            stopped_early = _device_loop(
                network, opt, xp, rng, loop, (x_train, t_train), train_eval, sets,
                batch_size=batch_size, batches_per_epoch=batches_per_epoch,
                emit=emit, save=save,
                stop_requested=lambda: interrupt.requested or (
                    should_stop is not None and should_stop()),
                interrupted=lambda: interrupt.requested,
                clock=lambda: time.perf_counter() - started,
            )  # fmt: skip
        while xp is np and loop.iteration < total_iters and not stopped_early:
            loop.rng_state = rng.bit_generator.state  # where this epoch's order comes from
            order = rng.permutation(n)
            with step_threads():
                for b in range(loop.batch_in_epoch, batches_per_epoch):
                    if loop.iteration >= total_iters:
                        break
                    if interrupt.requested or (should_stop is not None and should_stop()):
                        save()
                        raise KeyboardInterrupt if interrupt.requested else TrainingStopped
                    idx = order[b * batch_size : (b + 1) * batch_size]
                    loss = train_step(
                        network, update, grad_fn, x_train[idx], t_train[idx], loop, opt
                    )
                    loop.batch_in_epoch = b + 1
                    emit("step", iteration=loop.iteration, loss=loss, epoch=loop.epoch + 1)
            epoch_done = loop.batch_in_epoch == batches_per_epoch
            record, stopped_early = end_epoch(
                network, loop, epoch_done, train_eval, sets, time.perf_counter() - started, opt
            )
            if epoch_done:
                loop.rng_state = rng.bit_generator.state
            save()
            emit("epoch", **record)
    if stopped_early and loop.early.best_params is not None:
        network.set_params(loop.early.best_params)
    seconds = time.perf_counter() - started
    emit("end", **{**history.last, "seconds": seconds, "stopped_early": stopped_early})
    return TrainResult(network, history, opt, stopped_early=stopped_early, seconds=seconds)


def _network_device(network, device) -> Any:
    """The array module the run trains with: ``device`` (the network is moved there) or, for
    None, the one the network's parameters live in."""
    if device is not None:
        if not hasattr(network, "to"):
            if device_namespace(device) is np:
                return np
            raise TypeError(f"{type(network).__name__} cannot move to a device (it has no .to())")
        network.to(device)
    first = next(iter(network.params.values()))
    return np if isinstance(first, np.ndarray) else array_namespace(first)


def _device_step(network, optimizer: Optimizer, xp) -> Callable[[Any, Any], Any]:
    """The training step on a device: ``step(x_batch, t_batch)`` computes the loss and gradients
    of the batch, updates the parameters in place and returns the loss as a 0-d device array.

    It never reads anything back (no wait for the device): the trainer reads the losses of
    :data:`LOSS_BLOCK` steps at once. Chosen once per run. This readable step (the layers'
    forward and backward with ``xp``, then the optimizer) is the reference that a faster one must
    match.
    """
    # On CuPy, the fused step (mitbadak.devices.fused_step: about 17 launches a step for
    # 784-256-128-10, parameters and optimizer state as views of flat buffers) has the same
    # contract and is tested against this readable step; networks or optimizers it does not
    # cover keep this one.
    if getattr(xp, "__name__", "") == "cupy":
        from mitbadak.devices import fused_step as gpu_step

        if gpu_step.supports_fused(network, optimizer):
            return gpu_step.FusedStep(network, optimizer)
    update = optimizer._update if type(optimizer).update is Optimizer.update else optimizer.update

    def step(x_batch, t_batch):
        loss, grads = network.loss_and_gradient_layers(x_batch, t_batch)
        update(network.params, grads)
        return loss

    return step


def _device_loop(network, optimizer, xp, rng, loop: LoopState, train_set, train_eval, sets, *,
                 batch_size, batches_per_epoch, emit, save, stop_requested, interrupted,
                 clock) -> bool:  # fmt: skip
    """The epochs of :func:`train` on a device; returns whether early stopping stopped the run.

    Per epoch one permutation is drawn on the host (the CPU's order) and moved; batches are
    gathered on the device. Losses are read back per block, where divergence is checked as
    :func:`train_step` does. A blow-up is found up to LOSS_BLOCK steps late, so the parameters and
    optimizer state of the block's start are kept (device copies) and the good steps replayed:
    the network then holds the last good step's parameters, as on the CPU.
    """
    x_dev, t_dev = train_set
    step = _device_step(network, optimizer, xp)
    n = x_dev.shape[0]
    losses = loop.history.iteration_loss
    pending: list[tuple[int, Any]] = []  # (batch number, 0-d device loss) not yet read back
    snapshot: list[Any] = []

    # A step that gathers its batch into its own static buffers (FusedStep.step_indices) is
    # given the indices; the readable step gets the gathered batch.
    gather = getattr(step, "step_indices", None)
    if gather is not None and str(t_dev.dtype) != "int64":
        t_dev = t_dev.astype("int64")  # its label buffer is int64: one conversion per run

    def run(order, b):
        idx = order[b * batch_size : (b + 1) * batch_size]
        return gather(x_dev, t_dev, idx) if gather else step(x_dev[idx], t_dev[idx])

    def flush(order) -> None:
        if not pending:
            return
        values = to_host(xp.stack([loss for _, loss in pending]))  # the block's one wait
        for k, (b, _) in enumerate(pending):
            value = float(values[k])
            first = losses[0] if losses else value
            if not math.isfinite(value) or value > DIVERGENCE_FACTOR * max(first, 1.0):
                params, opt_state = snapshot[0]
                for key, saved in params.items():
                    network.params[key] = saved
                optimizer.__dict__.update(opt_state)
                for good_b, _ in pending[:k]:
                    run(order, good_b)  # replay: the same numbers as the first time
                if math.isfinite(value):
                    losses.append(value)
                raise TrainingDiverged(
                    f"the loss became {value:.4g} at iteration {loop.iteration + 1} (it started "
                    f"at {first:.4g}): training diverged. The learning rate ({optimizer.lr:g}) "
                    f"is probably too high; try a smaller --lr.",
                    loop.history,
                )
            losses.append(value)
            loop.iteration += 1
            loop.batch_in_epoch = b + 1
            emit("step", iteration=loop.iteration, loss=value, epoch=loop.epoch + 1)
        pending.clear()

    def keep_snapshot() -> None:
        params = {key: copy_array(p) for key, p in network.params.items()}
        snapshot[:] = [(params, copy.deepcopy(optimizer.__dict__))]

    stopped_early = False
    while loop.iteration < loop.total_iters and not stopped_early:
        loop.rng_state = rng.bit_generator.state  # where this epoch's order comes from
        order = to_device(rng.permutation(n), xp)  # one transfer per epoch
        queued = loop.iteration
        for b in range(loop.batch_in_epoch, batches_per_epoch):
            if queued >= loop.total_iters:
                break
            if stop_requested():
                flush(order)
                save()
                raise KeyboardInterrupt if interrupted() else TrainingStopped
            if not pending:
                keep_snapshot()
            pending.append((b, run(order, b)))
            queued += 1
            if len(pending) == LOSS_BLOCK:
                flush(order)
        flush(order)
        epoch_done = loop.batch_in_epoch == batches_per_epoch
        record, stopped_early = end_epoch(
            network, loop, epoch_done, train_eval, sets, clock(), optimizer
        )
        if epoch_done:
            loop.rng_state = rng.bit_generator.state
        save()
        emit("epoch", **record)
    return stopped_early


#: Below this many multiply-adds per training step (batch size x the weight matrices' elements),
#: the step's matrix products are too small for BLAS threads to pay: they mostly wait for each
#: other, and on a busy machine for a core. 784-50-10 at batch 100 is 4.0 million (one thread:
#: 0.19 ms per step; two threads: the same on an idle 2-core machine, 2-3 ms with the cores busy);
#: the default 784-256-128-10 is 23.5 million and keeps its threads.
SMALL_STEP_MACS = 8_000_000


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


def train_step(network, update, loss_and_gradient, x, t, loop: LoopState, optimizer) -> float:
    """One step: loss and gradient of the batch (x, t), then ``update(params, grads)``.

    Raises :class:`TrainingDiverged` *before* updating when the loss is NaN/inf or more than
    DIVERGENCE_FACTOR times the first loss, so the network keeps its last good parameters.
    """
    loss, grads = loss_and_gradient(x, t)
    losses = loop.history.iteration_loss
    first = losses[0] if losses else loss
    if not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(first, 1.0):
        if math.isfinite(loss):
            losses.append(loss)  # the explosion itself, for plots
        raise TrainingDiverged(
            f"the loss became {loss:.4g} at iteration {loop.iteration + 1} (it started at "
            f"{first:.4g}): training diverged. The learning rate ({optimizer.lr:g}) is "
            f"probably too high; try a smaller --lr.",
            loop.history,
        )
    update(network.params, grads)
    loop.iteration += 1
    losses.append(loss)
    return loss


def end_epoch(network, loop: LoopState, epoch_done: bool, train_eval, sets, seconds: float,
              optimizer) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Evaluate, append the epoch's record to the history; returns (record, stop early?).

    Called at every epoch's end, and once more when an ``iters`` run stops mid-epoch.
    """
    if epoch_done:
        loop.epoch, loop.batch_in_epoch = loop.epoch + 1, 0
    record = _epoch_record(
        network, train_eval, sets, loop.epoch if epoch_done else loop.epoch + 1, loop.iteration,
        seconds,
    )  # fmt: skip
    bad = [k for k, v in record.items() if k.endswith("loss") and v is not None
           and not math.isfinite(v)]  # fmt: skip
    if bad:
        raise TrainingDiverged(
            f"the {bad[0].replace('_', ' ')} became non-finite at epoch {record['epoch']}: "
            f"training diverged. The learning rate ({optimizer.lr:g}) is probably too high.",
            loop.history,
        )
    loop.history.epochs.append(record)
    return record, loop.early.update(record["val_loss"], network.params)


def _check_arguments(epochs, iters, batch_size, seed, early_stopping, train_eval_size, gradient,
                     val_data) -> None:  # fmt: skip
    for name, value in (("epochs", epochs), ("iters", iters), ("batch_size", batch_size),
                        ("seed", seed), ("early_stopping", early_stopping),
                        ("train_eval_size", train_eval_size)):  # fmt: skip
        if (value is not None or name in ("batch_size", "seed")) and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral)
        ):
            raise TypeError(f"{name} must be an integer, got {describe(value)}")
    if seed < 0 or (early_stopping is not None and early_stopping < 1):
        raise ValueError(f"seed must be >= 0 and early_stopping >= 1, got {seed}, {early_stopping}")
    if epochs is not None and iters is not None:
        raise ValueError("give either epochs or iters, not both")
    if (epochs is not None and epochs < 1) or (iters is not None and iters < 1):
        raise ValueError(f"epochs/iters must be at least 1, got epochs={epochs}, iters={iters}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if gradient not in ("backprop", "numerical"):
        raise ValueError(f"gradient must be 'backprop' or 'numerical', got {gradient!r}")
    if early_stopping is not None and val_data is None:
        raise ValueError("early stopping needs val_data (a validation split of the training data)")


def _prepare_data(network, train_data, test_data, val_data, evaluate_train, train_eval_size, seed):
    """Check the data once: (x_train in the network's dtype, label indices, train_eval, sets)."""
    x_train, t_train = check_xt(
        train_data[0], train_data[1], network.input_size, network.output_size, "x_train", "t_train"
    )
    x_train = x_train.astype(network.dtype, copy=False)
    sets = {}
    for name, data in (("test", test_data), ("val", val_data)):
        if data is not None:
            sets[name] = check_xt(
                data[0], data[1], network.input_size, network.output_size, f"x_{name}", f"t_{name}"
            )
    n = x_train.shape[0]
    train_eval = None
    if evaluate_train:
        train_eval = (x_train, t_train)
        if train_eval_size is not None and train_eval_size < n:
            rows = np.sort(np.random.default_rng([seed, 2]).permutation(n)[:train_eval_size])
            train_eval = (x_train[rows], t_train[rows])
    return x_train, t_train, train_eval, sets


class _DeferredInterrupt:
    """Turn Ctrl-C (SIGINT) into a flag checked between steps, so a checkpoint is never written
    from half-updated parameters. Outside the main thread it does nothing."""

    def __enter__(self):
        import signal
        import threading

        self.requested = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _gradient_function(network, gradient: str):
    if gradient == "backprop":
        return network.loss_and_gradient

    from mitbadak.nn import gradcheck

    def numerical(x, t):
        if gradcheck.supports_fast(network):
            grads = gradcheck.numerical_gradient_fast(network, x, t)
        else:
            grads = gradcheck.numerical_gradient_reference(network, x, t)
        return network.batch_loss(x, t), grads

    return numerical


def _epoch_record(network, train_eval, sets, epoch, iteration, seconds):
    record: dict[str, Any] = dict.fromkeys(METRIC_FIELDS)
    record.update(epoch=epoch, iteration=iteration, seconds=round(seconds, 4))
    if train_eval is not None:
        record["train_loss"], record["train_acc"] = _evaluate(network, *train_eval)
    for name, (xs, ts) in sets.items():
        record[f"{name}_loss"], record[f"{name}_acc"] = _evaluate(network, xs, ts)
    return record
