"""Mini-batch training (chapters 4-5): sample a batch, compute the gradient, update, repeat.

One epoch is one pass over the training set in a fresh random order (a permutation drawn from the
run's own Generator), so every image is used once per epoch. After each epoch the network is
evaluated on the training and test sets (float32, batched) and a row is added to the history.

Everything needed to continue a run exactly lives in its checkpoint: parameters, optimizer state,
the random generator's state at the start of the epoch, the position inside the epoch, and the
history. A run resumed from any checkpoint ends with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak._checks import check_xt, describe
from mitbadak._files import atomic_write_text
from mitbadak.errors import MitbadakError
from mitbadak.optimizers import Optimizer, make_optimizer

__all__ = [
    "History",
    "TrainResult",
    "TrainingDiverged",
    "train",
    "evaluate",
    "split_validation",
    "write_history",
    "read_history",
    "save_checkpoint",
    "load_checkpoint",
    "METRIC_FIELDS",
]

METRIC_FIELDS = [
    "epoch",
    "iteration",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "val_loss",
    "val_acc",
    "seconds",
]
EVAL_BATCH = 10_000
TRAIN_EVAL_SIZE = 10_000
#: A loss this many times above the first one means the run has blown up (even before NaN/inf:
#: with ReLU a blow-up can kill every unit and leave a finite but useless loss).
DIVERGENCE_FACTOR = 1000.0


class TrainingDiverged(MitbadakError):
    """The loss blew up (NaN, infinite, or far above where it started).

    The network holds the parameters of the last good step; ``history`` holds what was recorded
    up to the blow-up (the exploding loss included when it is finite), so it can be plotted.
    """

    def __init__(self, message: str, history: History | None = None) -> None:
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What a run recorded: the loss of every iteration, and one dict per epoch (METRIC_FIELDS).

    ``iterations`` (when read back from a file) numbers the losses; empty means 1, 2, 3, ...
    """

    iteration_loss: list[float] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    iterations: list[int] = field(default_factory=list)
    run_dir: Path | None = None

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}


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
    total_loss = 0.0
    correct = 0
    n = x2.shape[0]
    for i in range(0, n, batch_size):
        xb = x2[i : i + batch_size].astype(network.dtype, copy=False)
        scores = network._scores(xb)
        tb = t2[i : i + batch_size]
        shifted = scores - scores.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1))
        total_loss += float(np.sum(lse - shifted[np.arange(len(tb)), tb], dtype=np.float64))
        correct += int(np.count_nonzero(np.argmax(scores, axis=1) == tb))
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
# Checkpoints


def save_checkpoint(
    path, network, optimizer: Optimizer, state: dict[str, Any], history: History
) -> Path:
    """Write everything needed to resume atomically: params, optimizer and loop state, history."""
    from mitbadak.modelfile import save_arrays

    arrays = {f"param/{k}": v for k, v in network.params.items()}
    arrays.update({f"opt/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    arrays["history/iteration_loss"] = np.asarray(history.iteration_loss, dtype=np.float64)
    for k, v in state.get("arrays", {}).items():
        arrays[f"state/{k}"] = v
    meta = {
        "kind": "mitbadak-checkpoint",
        "network": network.config(),
        "optimizer": {"name": type(optimizer).__name__.lower(), "lr": optimizer.lr},
        "state": {k: v for k, v in state.items() if k != "arrays"},
        "epochs": history.epochs,
    }
    return save_arrays(path, arrays, meta)


def load_checkpoint(path):
    """Read a checkpoint: (network, optimizer, state, history)."""
    from mitbadak.modelfile import load_arrays
    from mitbadak.networks import network_from_config

    arrays, meta = load_arrays(path)
    if not isinstance(meta, dict) or meta.get("kind") != "mitbadak-checkpoint":
        raise MitbadakError(f"{path}: not a mitbadak training checkpoint")
    try:
        params = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("param/")}
        network = network_from_config(meta["network"], params)
        optimizer = make_optimizer(meta["optimizer"]["name"], meta["optimizer"]["lr"])
        optimizer.load_state_dict(
            {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("opt/")}
        )
        state = dict(meta["state"])
        for key in ("epoch", "iteration", "batch_in_epoch"):
            if not isinstance(state[key], int) or isinstance(state[key], bool) or state[key] < 0:
                raise ValueError(f"state {key!r} should be an integer >= 0, got {state[key]!r}")
        _check_rng_state(state["rng_state"])
        state["arrays"] = {
            k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("state/")
        }
        history = History(
            iteration_loss=[float(v) for v in arrays["history/iteration_loss"]],
            epochs=[dict(e) for e in meta["epochs"]],
        )
    except KeyError as exc:
        raise MitbadakError(f"{path}: damaged checkpoint (missing {exc})") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise MitbadakError(f"{path}: damaged checkpoint ({exc})") from None
    return network, optimizer, state, history


def _check_rng_state(text: str) -> None:
    """Raise ValueError unless ``text`` is a JSON PCG64 state NumPy accepts."""
    if not isinstance(text, str):
        raise ValueError(f"the random generator state should be a JSON string, got {text!r}")
    rng = np.random.default_rng(0)
    try:
        rng.bit_generator.state = json.loads(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"bad random generator state ({exc})") from None


# ------------------------------------------------------------------------------------------------
# The loop


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
) -> TrainResult:
    """Train ``network`` in place by mini-batch gradient descent; returns a :class:`TrainResult`.

    * ``epochs`` or ``iters`` (exactly one; default 1 epoch) sets the length of the run.
    * ``gradient='backprop'`` (chapter 5) or ``'numerical'`` (chapter 4's central differences).
    * ``early_stopping=PATIENCE`` stops when the validation loss has not improved for PATIENCE
      epochs and restores the best parameters; it needs ``val_data`` (carved from training data).
    * ``callback(event)`` receives dicts with ``event`` in 'start', 'step', 'epoch', 'end'.
    * ``checkpoint_path``: written atomically at the start and after every epoch, and on Ctrl-C.
    * ``resume``: the tuple returned by :func:`load_checkpoint`: continue where it stopped.
    * The training loss/accuracy of each epoch are measured on a fixed random subset of
      ``train_eval_size`` training images (None: all of them). A full pass over 60,000 images
      would cost a quarter of the epoch; 10,000 images estimate accuracy to about +-0.3 %.

    Raises :class:`TrainingDiverged` when the loss turns NaN/inf (the checkpoint on disk still holds
    the last good epoch), and KeyboardInterrupt on Ctrl-C after finishing the current step and
    saving a checkpoint from which the run resumes exactly.
    """
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
    if epochs is None and iters is None:
        epochs = 1
    if (epochs is not None and epochs < 1) or (iters is not None and iters < 1):
        raise ValueError(f"epochs/iters must be at least 1, got epochs={epochs}, iters={iters}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if gradient not in ("backprop", "numerical"):
        raise ValueError(f"gradient must be 'backprop' or 'numerical', got {gradient!r}")
    if early_stopping is not None and val_data is None:
        raise ValueError("early stopping needs val_data (a validation split of the training data)")

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
    batches_per_epoch = math.ceil(n / batch_size)
    total_iters = iters if iters is not None else epochs * batches_per_epoch
    history = History()
    rng = np.random.default_rng(seed)
    epoch, iteration, batch_in_epoch = 0, 0, 0
    best = {"val_loss": math.inf, "since": 0, "params": None}

    if resume is not None:
        saved_net, opt, state, history = resume
        network.set_params(saved_net.params)
        rng.bit_generator.state = json.loads(state["rng_state"])
        epoch, iteration, batch_in_epoch = (
            state["epoch"],
            state["iteration"],
            state["batch_in_epoch"],
        )
        best["val_loss"] = state.get("best_val_loss", math.inf)
        best["since"] = state.get("best_since", 0)
        best_params = {k[5:]: v for k, v in state["arrays"].items() if k.startswith("best/")}
        best["params"] = best_params or None
    else:
        opt = optimizer if isinstance(optimizer, Optimizer) else make_optimizer(optimizer, lr)

    def emit(event: str, **info) -> None:
        if callback is not None:
            callback({"event": event, **info})

    def checkpoint(rng_epoch_state: str) -> None:
        if checkpoint_path is None:
            return
        state = {
            "rng_state": rng_epoch_state,
            "epoch": epoch,
            "iteration": iteration,
            "batch_in_epoch": batch_in_epoch,
            "seed": seed,
            "total_iters": total_iters,
            "seconds": round(time.perf_counter() - started, 4),
            "best_val_loss": best["val_loss"] if math.isfinite(best["val_loss"]) else None,
            "best_since": best["since"],
            "arrays": {f"best/{k}": v for k, v in (best["params"] or {}).items()},
        }
        if state["best_val_loss"] is None:
            state.pop("best_val_loss")
        save_checkpoint(checkpoint_path, network, opt, state, history)

    grad_fn = _gradient_function(network, gradient)
    # The network's own gradients always fit its parameters: skip update()'s argument checks.
    apply_update = opt._update if type(opt).update is Optimizer.update else opt.update
    emit(
        "start",
        total_iters=total_iters,
        batches_per_epoch=batches_per_epoch,
        n_train=n,
        start_iteration=iteration,
    )
    # ``seconds`` counts training time across resumes: continue from the checkpoint's clock.
    resumed_seconds = 0.0
    if resume is not None:
        resumed_seconds = float(resume[2].get("seconds") or history.last.get("seconds") or 0.0)
    started = time.perf_counter() - resumed_seconds
    stopped_early = False
    rng_epoch_state = json.dumps(rng.bit_generator.state)
    if resume is None:
        checkpoint(rng_epoch_state)
    first_loss = history.iteration_loss[0] if history.iteration_loss else None
    # Overflow inside a diverging step is detected and reported below, not warned about.
    with _DeferredInterrupt() as interrupt, np.errstate(over="ignore", invalid="ignore"):
        while iteration < total_iters and not stopped_early:
            rng_epoch_state = json.dumps(rng.bit_generator.state)
            order = rng.permutation(n)
            for b in range(batch_in_epoch, batches_per_epoch):
                if iteration >= total_iters:
                    break
                if interrupt.requested:
                    checkpoint(rng_epoch_state)
                    raise KeyboardInterrupt
                idx = order[b * batch_size : (b + 1) * batch_size]
                loss, grads = grad_fn(x_train[idx], t_train[idx])
                if first_loss is None:
                    first_loss = loss
                if not math.isfinite(loss) or loss > DIVERGENCE_FACTOR * max(first_loss, 1.0):
                    if math.isfinite(loss):
                        history.iteration_loss.append(loss)  # the explosion itself, for plots
                    raise TrainingDiverged(
                        f"the loss became {loss:.4g} at iteration {iteration + 1} (it started at "
                        f"{first_loss:.4g}): training diverged. The learning rate ({opt.lr:g}) is "
                        f"probably too high; try a smaller --lr.",
                        history,
                    )
                apply_update(network.params, grads)
                iteration += 1
                batch_in_epoch = b + 1
                history.iteration_loss.append(loss)
                emit("step", iteration=iteration, loss=loss, epoch=epoch + 1)
            epoch_done = batch_in_epoch == batches_per_epoch
            if epoch_done:
                epoch, batch_in_epoch = epoch + 1, 0
            # Evaluate at every epoch's end, and once more if an --iters run stops mid-epoch.
            record = _epoch_record(
                network,
                train_eval,
                sets,
                epoch if epoch_done else epoch + 1,
                iteration,
                time.perf_counter() - started,
            )
            bad = [
                k
                for k, v in record.items()
                if k.endswith("loss") and v is not None and not math.isfinite(v)
            ]
            if bad:
                raise TrainingDiverged(
                    f"the {bad[0].replace('_', ' ')} became non-finite at epoch {record['epoch']}: "
                    f"training diverged. The learning rate ({opt.lr:g}) is probably too high.",
                    history,
                )
            history.epochs.append(record)
            if early_stopping is not None:
                if record["val_loss"] < best["val_loss"]:
                    best.update(
                        val_loss=record["val_loss"],
                        since=0,
                        params={k: v.copy() for k, v in network.params.items()},
                    )
                else:
                    best["since"] += 1
                    stopped_early = best["since"] >= early_stopping
            emit("epoch", **record)
            checkpoint(json.dumps(rng.bit_generator.state) if epoch_done else rng_epoch_state)
    if stopped_early and best["params"] is not None:
        network.set_params(best["params"])
    seconds = time.perf_counter() - started
    emit("end", **{**history.last, "seconds": seconds, "stopped_early": stopped_early})
    return TrainResult(network, history, opt, stopped_early=stopped_early, seconds=seconds)


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
        return network._loss_and_gradient

    from mitbadak import gradcheck

    def numerical(x, t):
        if gradcheck.supports_fast(network):
            grads = gradcheck.numerical_gradient_fast(network, x, t)
        else:
            grads = gradcheck.numerical_gradient_reference(network, x, t)
        return network._loss(x, t), grads

    return numerical


def _epoch_record(network, train_eval, sets, epoch, iteration, seconds):
    record: dict[str, Any] = dict.fromkeys(METRIC_FIELDS)
    record.update(epoch=epoch, iteration=iteration, seconds=round(seconds, 4))
    if train_eval is not None:
        record["train_loss"], record["train_acc"] = _evaluate(network, *train_eval)
    for name, (xs, ts) in sets.items():
        record[f"{name}_loss"], record[f"{name}_acc"] = _evaluate(network, xs, ts)
    return record


# ------------------------------------------------------------------------------------------------
# History files


def write_history(history: History, run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.csv`` (a row per epoch), ``iterations.csv`` (iteration, loss), atomically."""
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.csv"
    iterations = run_dir / "iterations.csv"

    def write_csv(path: Path, header: list[str], rows) -> None:
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        atomic_write_text(path, text.getvalue())

    write_csv(
        metrics,
        METRIC_FIELDS,
        ([("" if e.get(k) is None else e.get(k)) for k in METRIC_FIELDS] for e in history.epochs),
    )
    write_csv(
        iterations,
        ["iteration", "loss"],
        ((i + 1, repr(loss)) for i, loss in enumerate(history.iteration_loss)),
    )
    return metrics, iterations


def _parse_cell(text: str, column: str, where: str) -> int | float | None:
    text = text.strip()
    if text == "":
        return None
    try:
        return int(text) if column in ("epoch", "iteration") else float(text)
    except ValueError:
        kind = "an integer" if column in ("epoch", "iteration") else "a number"
        raise MitbadakError(
            f"{where}: column {column!r} should hold {kind}, got {text!r}"
        ) from None


def _read_csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise MitbadakError(
                    f"{path} is not a run's CSV file: missing column(s) {', '.join(missing)}; "
                    f"expected header {','.join(required)}, "
                    f"got {','.join(header) or '(empty file)'}"
                )
            return list(reader)
    except UnicodeDecodeError as exc:
        raise MitbadakError(
            f"{path}: not UTF-8 text (byte {exc.start}); a run's CSV files are UTF-8"
        ) from None
    except csv.Error as exc:
        raise MitbadakError(f"{path}: not a readable CSV file ({exc})") from None


def read_history(run_dir: str | os.PathLike) -> History:
    """Read a run folder's ``metrics.csv`` and (optional) ``iterations.csv`` into a History.

    Raises ``FileNotFoundError`` for a missing folder or metrics file and ``MitbadakError``
    naming the file, line and column for a malformed one.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(
            f"run folder {run_dir} does not exist; expected the folder written by "
            "'mitbadak train --out DIR' (with metrics.csv inside)"
        )
    metrics_path = run_dir / "metrics.csv"
    if not metrics_path.is_file():
        raise FileNotFoundError(
            f"{metrics_path} not found; is {run_dir} a folder written by "
            "'mitbadak train --out DIR'?"
        )
    history = History(run_dir=run_dir)
    for line_no, row in enumerate(_read_csv(metrics_path, METRIC_FIELDS[:6]), start=2):
        where = f"{metrics_path}, line {line_no}"
        record = {col: _parse_cell(row.get(col) or "", col, where) for col in METRIC_FIELDS}
        if record["epoch"] is None:
            raise MitbadakError(f"{where}: every row needs an epoch number")
        history.epochs.append(record)
    iterations_path = run_dir / "iterations.csv"
    if iterations_path.is_file():
        for line_no, row in enumerate(_read_csv(iterations_path, ["iteration", "loss"]), start=2):
            where = f"{iterations_path}, line {line_no}"
            iteration = _parse_cell(row["iteration"] or "", "iteration", where)
            loss = _parse_cell(row["loss"] or "", "loss", where)
            if iteration is None or loss is None:
                raise MitbadakError(f"{where}: both iteration and loss are needed")
            history.iterations.append(iteration)
            history.iteration_loss.append(loss)
    return history
