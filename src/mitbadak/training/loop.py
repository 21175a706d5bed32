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

import math
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mitbadak.core._checks import check_xt, describe
from mitbadak.core.backend import array_namespace, device_namespace, to_device
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

# The step engines and the divergence guard (re-exported: their names were defined here).
from mitbadak.training.steps import (  # noqa: F401 - the constants: re-exported
    DIVERGENCE_FACTOR,
    LOSS_BLOCK,
    SMALL_STEP_MACS,
    LossGuard,
    TrainingDiverged,
    choose_scores,
    choose_step,
    measure,
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
    "evaluate_checked",
    "split_validation",
    "write_history",
    "read_history",
    "save_checkpoint",
    "load_checkpoint",
    "METRIC_FIELDS",
]

EVAL_BATCH = 10_000
TRAIN_EVAL_SIZE = 10_000

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
    return evaluate_checked(network, x2, t2, batch_size)


def evaluate_checked(network, x2, t2, batch_size: int = EVAL_BATCH, scores=None):
    """:func:`evaluate` of checked (x2, t_idx) (host or on the network's device), through the
    inference engine ``scores`` (default: ``steps.choose_scores(network)``)."""
    scores = choose_scores(network) if scores is None else scores
    return measure(scores, x2, t2, batch_size, dtype=network.dtype)


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
    xp = _network_device(network, device)
    data = _prepare_data(network, train_data, test_data, val_data, evaluate_train,
                         train_eval_size, seed)  # fmt: skip
    n, batches_per_epoch = data.x.shape[0], math.ceil(data.x.shape[0] / batch_size)
    total_iters = iters if iters is not None else (epochs or 1) * batches_per_epoch
    opt, loop, rng = _start(network, optimizer, lr, seed, total_iters, early_stopping, resume)
    engine = "numerical" if gradient == "numerical" else "auto"
    data = data.to(xp)  # once per run: batches are gathered where the network is
    step = choose_step(network, opt, (data.x, data.t), loop, xp=xp, engine=engine)
    step.limit_threads(batch_size)
    emit = _emitter(callback)

    def save() -> None:
        if checkpoint_path is not None:
            loop.seconds = time.perf_counter() - started
            save_checkpoint(checkpoint_path, network, opt, loop)

    def report(done) -> None:  # the steps the step object finished (and checked)
        for iteration, loss in done:
            loop.batch_in_epoch += 1
            emit("step", iteration=iteration, loss=loss, epoch=loop.epoch + 1)

    emit("start", total_iters=total_iters, batches_per_epoch=batches_per_epoch, n_train=n,
         start_iteration=loop.iteration, engine=step.engine)  # fmt: skip
    started = time.perf_counter() - loop.seconds  # the clock continues across resumes
    if resume is None:
        save()
    stopped_early = False
    # Overflow inside a diverging step is detected and reported by the step, not warned about.
    with _DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
        while loop.iteration < total_iters and not stopped_early:
            loop.rng_state = rng.bit_generator.state  # where this epoch's order comes from
            order, queued = step.order(rng.permutation(n)), loop.iteration
            with step.threads():
                for b in range(loop.batch_in_epoch, batches_per_epoch):
                    if queued >= total_iters:
                        break
                    if interrupt.requested or (should_stop is not None and should_stop()):
                        report(step.flush())
                        save()
                        raise KeyboardInterrupt if interrupt.requested else TrainingStopped
                    report(step.run(order[b * batch_size : (b + 1) * batch_size]))
                    queued += 1
                report(step.flush())
            epoch_done = loop.batch_in_epoch == batches_per_epoch
            record, stopped_early = end_epoch(network, loop, epoch_done, data.train_eval,
                                              data.sets, time.perf_counter() - started, opt,
                                              step.scores)  # fmt: skip
            if epoch_done:
                loop.rng_state = rng.bit_generator.state
            save()
            emit("epoch", **record)
    if stopped_early and loop.early.best_params is not None:
        network.set_params(loop.early.best_params)
    seconds = time.perf_counter() - started
    emit("end", **{**loop.history.last, "seconds": seconds, "stopped_early": stopped_early})
    return TrainResult(network, loop.history, opt, stopped_early=stopped_early, seconds=seconds)


def _start(network, optimizer, lr, seed, total_iters, early_stopping, resume):
    """(optimizer, LoopState, generator): fresh, or where ``resume`` (a checkpoint) stopped; a
    resumed network takes the checkpoint's parameters, buffers and layer generators."""
    rng = np.random.default_rng(seed)
    if resume is None:
        opt = optimizer if isinstance(optimizer, Optimizer) else make_optimizer(optimizer, lr)
        loop = LoopState(seed, total_iters, rng.bit_generator.state,
                         early=EarlyStopping(early_stopping))  # fmt: skip
        return opt, loop, rng
    saved_net, opt, saved_state, _ = resume
    network.set_params(saved_net.params)
    if getattr(saved_net, "buffers", None):
        network.set_buffers(saved_net.buffers)
    if hasattr(saved_net, "rng_states"):
        network.set_rng_states(saved_net.rng_states())
    loop = LoopState.from_dict(saved_state)
    loop.total_iters, loop.early.patience = total_iters, early_stopping
    loop.seconds = loop.seconds or float(loop.history.last.get("seconds") or 0.0)
    rng.bit_generator.state = loop.rng_state
    return opt, loop, rng


def _emitter(callback) -> Callable[..., None]:
    def emit(event: str, **info) -> None:
        if callback is not None:
            callback({"event": event, **info})

    return emit


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


def train_step(network, update, loss_and_gradient, x, t, loop: LoopState, optimizer) -> float:
    """One step: loss and gradient of the batch (x, t), then ``update(params, grads)``.

    Raises :class:`TrainingDiverged` *before* updating when the loss is NaN/inf or more than
    DIVERGENCE_FACTOR times the first loss, so the network keeps its last good parameters.
    (:func:`train` runs its steps through ``steps.choose_step``; this is the same step, by hand.)
    """
    loss, grads = loss_and_gradient(x, t)
    guard = LossGuard(loop, optimizer)
    guard.check(loss)
    update(network.params, grads)
    return guard.record(loss)[1]


def end_epoch(network, loop: LoopState, epoch_done: bool, train_eval, sets, seconds: float,
              optimizer, scores=None) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Evaluate (through the inference engine ``scores``, default ``choose_scores``), append the
    epoch's record to the history; returns (record, stop early?).

    Called at every epoch's end, and once more when an ``iters`` run stops mid-epoch.
    """
    if epoch_done:
        loop.epoch, loop.batch_in_epoch = loop.epoch + 1, 0
    record = _epoch_record(
        network, train_eval, sets, loop.epoch if epoch_done else loop.epoch + 1, loop.iteration,
        seconds, choose_scores(network) if scores is None else scores,
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


@dataclass
class _RunData:
    """The checked data of a run: training x (the network's dtype) and label indices, the
    training-evaluation subset and the other sets by name."""

    x: Any
    t: Any
    train_eval: tuple | None
    sets: dict[str, tuple]

    def to(self, xp) -> _RunData:
        """The same data on ``xp`` (moved once per run; NumPy: unchanged)."""
        if xp is np:
            return self
        def move(a):
            return to_device(a, xp)

        return _RunData(move(self.x), move(self.t),
                        None if self.train_eval is None else tuple(map(move, self.train_eval)),
                        {k: tuple(map(move, pair)) for k, pair in self.sets.items()})  # fmt: skip


def _prepare_data(network, train_data, test_data, val_data, evaluate_train, train_eval_size,
                  seed) -> _RunData:  # fmt: skip
    """Check the data once: x_train in the network's dtype, label indices, train_eval, sets."""
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
    return _RunData(x_train, t_train, train_eval, sets)


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


def _epoch_record(network, train_eval, sets, epoch, iteration, seconds, scores):
    record: dict[str, Any] = dict.fromkeys(METRIC_FIELDS)
    record.update(epoch=epoch, iteration=iteration, seconds=round(seconds, 4))
    if train_eval is not None:
        record["train_loss"], record["train_acc"] = evaluate_checked(network, *train_eval,
                                                                     scores=scores)  # fmt: skip
    for name, (xs, ts) in sets.items():
        record[f"{name}_loss"], record[f"{name}_acc"] = evaluate_checked(network, xs, ts,
                                                                         scores=scores)  # fmt: skip
    return record
