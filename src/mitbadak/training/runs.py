"""A training run as a folder: the recipe (``config.json``), the model, metrics, curves, checkpoint.

``run_training(config, out_dir)`` is what ``mitbadak train`` calls; a notebook can call it too.
The folder holds:

* ``config.json``   - the :class:`TrainConfig` (everything needed to rerun it) and the data used
* ``model.npz``     - the trained network + metadata (recipe, final metrics, library version)
* ``checkpoint.npz``- written atomically at every epoch (and on Ctrl-C): ``--resume`` continues it
* ``metrics.csv``   - one row per epoch; ``iterations.csv`` - the loss of every iteration
* ``loss.png``, ``accuracy.png`` - train vs test curves (when matplotlib is installed)
* ``.lock``         - held (``fcntl.flock``) while a process trains in the folder: one writer only

A resumed run ends with the same numbers as an uninterrupted one when it runs with the same NumPy
and BLAS thread count (``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``): a different thread count can
sum matrix products in another order and change the last digits.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.atomic import atomic_write_text
from mitbadak.core.errors import DatasetUnavailable, MitbadakError, RunFolderError
from mitbadak.core.version import __version__
from mitbadak.nn.layers import ACTIVATIONS
from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.training.loop import (
    TrainingDiverged,
    TrainResult,
    load_checkpoint,
    split_validation,
    train,
    write_history,
)

__all__ = [
    "TrainConfig",
    "DEFAULT_RECIPE",
    "Recipe",
    "RECIPES",
    "RUN_FILES",
    "build_network",
    "load_training_data",
    "run_training",
    "read_run_config",
    "run_lock",
]

#: The files a training run writes into its folder (``--overwrite`` removes exactly these).
RUN_FILES = (
    "config.json",
    "model.npz",
    "checkpoint.npz",
    "metrics.csv",
    "iterations.csv",
    "loss.png",
    "accuracy.png",
)


@dataclass
class TrainConfig:
    """Everything that defines a training run. The defaults are mitbadak's default recipe."""

    dataset: str | None = None  # None: MNIST if found or downloadable, else the built-in sample
    data_dir: str | None = None
    model: str = "mlp"  # 'two-layer' or 'mlp'
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    activation: str = "relu"
    weight_init: str | float | None = (
        None  # None: He for ReLU, Xavier for sigmoid (0.01 for the book's two-layer)
    )
    optimizer: str = "momentum"
    lr: float = 0.05
    batch_size: int = 100
    epochs: int | None = 20
    iters: int | None = None
    gradient: str = "backprop"
    weight_decay: float = 0.0
    early_stopping: int | None = None
    val_fraction: float = 0.1
    seed: int = 0
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """A config from its ``to_dict()`` form; every value's type is checked (a damaged
        ``config.json`` gets a MitbadakError naming the option, never a crash later)."""
        if not isinstance(data, dict):
            raise MitbadakError(
                f"training options must be a JSON object, got {type(data).__name__}"
            )
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise MitbadakError(f"unknown training options in config: {', '.join(sorted(unknown))}")
        for name, value in data.items():
            if not _TYPE_CHECKS[name](value):
                raise MitbadakError(
                    f"training option {name!r} has an invalid value {value!r} "
                    f"(expected {_TYPE_NAMES[name]})"
                )
        return cls(**data)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_pos_int(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _is_num(v: Any) -> bool:
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


_OPTIONAL_STR = (lambda v: v is None or isinstance(v, str), "a string or null")
_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "dataset": _OPTIONAL_STR,
    "data_dir": _OPTIONAL_STR,
    "model": (lambda v: v in ("two-layer", "mlp"), "'two-layer' or 'mlp'"),
    "hidden": (
        lambda v: isinstance(v, list) and bool(v) and all(_is_pos_int(h) for h in v),
        "a list of positive integers",
    ),
    "activation": (lambda v: v in ACTIVATIONS, " or ".join(map(repr, ACTIVATIONS))),
    "weight_init": (
        lambda v: v is None or isinstance(v, str) or (_is_num(v) and v > 0),
        "null, a name or a positive number",
    ),
    "optimizer": (
        lambda v: v in ("sgd", "momentum", "adagrad", "adam"),
        "'sgd', 'momentum', 'adagrad' or 'adam'",
    ),
    "lr": (lambda v: _is_num(v) and v > 0, "a positive number"),
    "batch_size": (_is_pos_int, "a positive integer"),
    "epochs": (lambda v: v is None or _is_pos_int(v), "a positive integer or null"),
    "iters": (lambda v: v is None or _is_pos_int(v), "a positive integer or null"),
    "gradient": (lambda v: v in ("backprop", "numerical"), "'backprop' or 'numerical'"),
    "weight_decay": (lambda v: _is_num(v) and v >= 0, "a number >= 0"),
    "early_stopping": (lambda v: v is None or _is_pos_int(v), "a positive integer or null"),
    "val_fraction": (lambda v: _is_num(v) and 0 < v < 1, "a number between 0 and 1"),
    "seed": (_is_int, "an integer"),
    "dtype": (lambda v: v in ("float32", "float64"), "'float32' or 'float64'"),
}
_TYPE_CHECKS = {k: check for k, (check, _) in _TYPES.items()}
_TYPE_NAMES = {k: name for k, (_, name) in _TYPES.items()}


DEFAULT_RECIPE = TrainConfig()


@dataclass(frozen=True)
class Recipe:
    """A named starting point for a run: TrainConfig settings that options may then override."""

    name: str
    summary: str
    settings: dict[str, Any]

    def config(self, **overrides: Any) -> TrainConfig:
        """The TrainConfig of this recipe with ``overrides`` applied."""
        return TrainConfig(**{**self.settings, **overrides})


_BOOK_NET = dict(
    model="two-layer",
    hidden=[50],
    weight_init=0.01,
    optimizer="sgd",
    lr=0.1,
    batch_size=100,
    epochs=None,
    iters=10_000,
)

#: The recipes ``mitbadak train --recipe NAME`` (and the web playground) start from.
RECIPES: dict[str, Recipe] = {
    "default": Recipe(
        "default",
        "mitbadak's default: MLP 784-256-128-10, ReLU, He init, momentum lr 0.05, batch 100, "
        "20 epochs, backprop",
        {},
    ),
    "ch4": Recipe(
        "ch4",
        "the book's chapter 4: TwoLayerNet 784-50-10, sigmoid, weights 0.01*N(0,1), numerical "
        "gradient, SGD lr 0.1, batch 100, 10,000 iterations",
        dict(_BOOK_NET, activation="sigmoid", gradient="numerical"),
    ),
    "ch5": Recipe(
        "ch5",
        "the book's chapter 5: TwoLayerNet 784-50-10, ReLU, weights 0.01*N(0,1), backprop, "
        "SGD lr 0.1, batch 100, 10,000 iterations",
        dict(_BOOK_NET, activation="relu", gradient="backprop"),
    ),
}


def build_network(config: TrainConfig, input_size: int = 784, output_size: int = 10):
    """The network a config describes, initialised from ``config.seed``."""
    rng = np.random.default_rng([config.seed, 1])
    if config.model == "two-layer":
        if len(config.hidden) != 1:
            raise ValueError(f"--model two-layer takes one hidden size, got {config.hidden}")
        std = 0.01 if config.weight_init is None else config.weight_init
        if isinstance(std, str):
            from mitbadak.nn.networks import _init_std

            std = _init_std(std, input_size, config.activation)
        return TwoLayerNet(
            input_size,
            config.hidden[0],
            output_size,
            weight_init_std=float(std),
            activation=config.activation,
            weight_decay_lambda=config.weight_decay,
            seed=rng,
            dtype=config.dtype,
        )
    if config.model == "mlp":
        init = config.weight_init
        if init is None:
            init = ACTIVATIONS[config.activation].default_init
        return MultiLayerNet(
            input_size,
            config.hidden,
            output_size,
            activation=config.activation,
            weight_init=init,
            weight_decay_lambda=config.weight_decay,
            seed=rng,
            dtype=config.dtype,
        )
    raise ValueError(f"model must be 'two-layer' or 'mlp', got {config.model!r}")


def load_training_data(config: TrainConfig, *, download: bool = True):
    """Load (train, test) for the config's dataset and return them with the dataset name used.

    With ``dataset=None`` MNIST is used when its files are found or can be downloaded, otherwise
    the built-in ``mnist-sample``; the third value says which, and the fourth why (or None).
    """
    from mitbadak.files.datasets import load_mnist
    from mitbadak.files.datasets.toy import load_generated

    generated = load_generated(config.dataset, config.seed) if config.dataset else None
    if generated is not None:  # a 2-D toy set or a point file, made from the seed
        return generated.train, generated.test, config.dataset, None
    if config.dataset is not None:
        train_set, test_set = load_mnist(
            name=config.dataset, data_dir=config.data_dir, download=download
        )
        return train_set, test_set, config.dataset, None
    try:
        train_set, test_set = load_mnist(name="mnist", data_dir=config.data_dir, download=download)
        return train_set, test_set, "mnist", None
    except MitbadakError as exc:
        train_set, test_set = load_mnist(name="mnist-sample")
        if isinstance(exc, DatasetUnavailable):  # its first line also lists folders and why
            reason = f"missing {', '.join(exc.missing)}"
        else:
            reason = str(exc).splitlines()[0].split(" is not available: ", 1)[-1].rstrip(".")
        return train_set, test_set, "mnist-sample", reason


def run_training(
    config: TrainConfig,
    out_dir: str | os.PathLike,
    *,
    callback: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
    download: bool = True,
    data: tuple | None = None,
    announce: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lang: str = "en",
    device: str = "cpu",
) -> tuple[TrainResult, dict[str, Any]]:
    """Train as ``config`` says and write the run folder; returns (result, info).

    ``info`` holds the dataset used, the fallback reason (if MNIST was not available), the paths
    written and the final metrics. With ``resume=True`` the folder's checkpoint is continued (a
    folder whose run stopped before its first checkpoint starts over). Without it, the files of
    an earlier run in the folder (:data:`RUN_FILES`) are removed before anything is written, so
    new and old files never sit side by side. The folder is locked for the whole run
    (:func:`run_lock`): a second process gets a :class:`RunFolderError`.
    ``data`` = (train, test, dataset_name) skips loading (used by tests and notebooks).
    ``announce(message)`` receives one-line notes for the user (the sample fallback, the time
    estimate of a numerical-gradient run). ``config.json`` records the dataset actually used.
    ``should_stop()`` is asked between steps (see :func:`train`): True writes the checkpoint and
    the history so far, then raises :class:`~mitbadak.training.TrainingStopped`
    (a KeyboardInterrupt); ``resume=True`` continues the run exactly.
    ``lang`` ("en" or "ko") is the language of the PNGs. ``device`` ('cpu', 'gpu', 'auto' or an
    array module) is where the network trains; it is not part of the run's config (a run resumes
    on any device, and its files are the same).
    Raises :class:`TrainingDiverged` after writing the metrics, iteration losses and curves up to
    the blow-up (the checkpoint of the last good epoch is kept).
    """
    say = announce or (lambda _message: None)
    out = Path(out_dir)
    if data is None:
        train_set, test_set, dataset, fallback = load_training_data(config, download=download)
    else:
        (train_set, test_set, dataset), fallback = data, None
    if fallback:
        say(
            f"MNIST is not here and could not be downloaded ({fallback}); training on the "
            f"built-in mnist-sample ({len(train_set[0]):,} images) instead"
        )
    config = TrainConfig(**{**config.to_dict(), "dataset": dataset})
    x_train, t_train = train_set
    val_set = None
    if config.early_stopping is not None:
        (x_train, t_train), val_set = split_validation(
            x_train, t_train, config.val_fraction, config.seed
        )
    from mitbadak.files.datasets.toy import class_count

    n_classes = class_count(dataset, t_train, test_set[1])
    network = build_network(config, int(np.prod(x_train.shape[1:])), n_classes)
    out.mkdir(parents=True, exist_ok=True)
    with run_lock(out):
        return _run_locked(
            config, out, network, (x_train, t_train), test_set, val_set, dataset, fallback,
            callback=callback, resume=resume, say=say, should_stop=should_stop, lang=lang,
            device=device,
        )


def _run_locked(
    config, out, network, train_set, test_set, val_set, dataset, fallback, *, callback, resume, say,
    should_stop=None,
    lang="en",
    device="cpu",
):
    remove_stale_temporaries(out)
    checkpoint_path = out / "checkpoint.npz"
    resume_state = None
    if resume:
        if checkpoint_path.is_file():
            resume_state = _load_checkpoint_or_explain(checkpoint_path)
        else:
            say(
                f"{out} has no checkpoint yet (the run stopped before its first step); "
                "starting it from the beginning"
            )
    if resume_state is None:
        # A fresh start never sits beside an earlier run's files. Restarting a resumed run keeps
        # its config.json (rewritten atomically below), so a kill here never loses the recipe.
        for name in RUN_FILES:
            if not (resume and name == "config.json"):
                with contextlib.suppress(FileNotFoundError):
                    (out / name).unlink()
    x_train, t_train = train_set
    if config.gradient == "numerical":
        start_iteration = resume_state[2].get("iteration", 0) if resume_state else 0
        per_step, per_eval = estimate_numerical_costs(
            network, x_train, t_train, config.batch_size, [test_set, val_set]
        )
        batches = -(-len(x_train) // config.batch_size)
        total = config.iters or config.epochs * batches
        todo = max(total - start_iteration, 0)
        seconds = per_step * todo + per_eval * (todo / batches + 1)
        say(
            f"numerical gradient (chapter 4): about {_duration(per_step)} per iteration "
            f"(timed on this network), so {todo:,} iterations take about {_duration(seconds)}"
        )
    info: dict[str, Any] = {"dataset": dataset, "fallback_reason": fallback, "out_dir": str(out)}
    if resume_state is None:
        atomic_write_text(
            out / "config.json",
            json.dumps(
                {
                    "config": config.to_dict(),
                    "dataset_used": dataset,
                    "n_train": int(len(x_train)),
                    "n_test": int(len(test_set[0])),
                    "mitbadak_version": __version__,
                    "numpy_version": np.__version__,
                    "python": platform.python_version(),
                },
                indent=2,
            )
            + "\n",
        )
    try:
        result = train(
            network,
            (x_train, t_train),
            test_set,
            optimizer=config.optimizer,
            lr=config.lr,
            batch_size=config.batch_size,
            epochs=config.epochs,
            iters=config.iters,
            seed=config.seed,
            gradient=config.gradient,
            val_data=val_set,
            early_stopping=config.early_stopping,
            callback=callback,
            checkpoint_path=checkpoint_path,
            resume=resume_state,
            should_stop=should_stop,
            device=device,
        )
    except TrainingDiverged as exc:
        # Keep what was learned: the metrics and every iteration's loss up to the blow-up.
        if exc.history is not None:
            write_history(exc.history, out)
            _write_curves(exc.history, out, lang=lang)
        raise
    except KeyboardInterrupt:
        if checkpoint_path.is_file():
            _, _, _, history = load_checkpoint(checkpoint_path)
            write_history(history, out)
        raise
    write_history(result.history, out)
    from mitbadak.files.modelfile import save_model

    final = {k: v for k, v in result.history.last.items() if v is not None}
    info["plots"] = _write_curves(result.history, out, lang=lang)
    # model.npz comes last: its presence marks a finished run.
    save_model(
        out / "model.npz",
        result.network,
        metadata={
            "training": config.to_dict(),
            "dataset": dataset,
            "final_metrics": final,
            "stopped_early": result.stopped_early,
        },
    )
    info["final"] = final
    info["seconds"] = result.seconds
    return result, info


def _load_checkpoint_or_explain(path: Path):
    try:
        return load_checkpoint(path)
    except MitbadakError as exc:
        raise RunFolderError(
            f"{exc}; the run cannot be resumed (start it again with --overwrite)"
        ) from None


def is_finished(run_dir: str | os.PathLike) -> bool:
    """True when the run in ``run_dir`` completed (its ``model.npz``, written last, exists)."""
    return (Path(run_dir) / "model.npz").is_file()


def read_run_config(run_dir: str | os.PathLike) -> TrainConfig:
    """The TrainConfig recorded in ``run_dir/config.json``, with the dataset actually used.

    Raises :class:`RunFolderError` naming the file when it is missing or damaged.
    """
    path = Path(run_dir) / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise MitbadakError("expected a JSON object with a 'config' object inside")
        options = dict(data["config"])
        used = data.get("dataset_used")
        if options.get("dataset") is None and isinstance(used, str):
            options["dataset"] = used  # runs written before the config recorded it
        return TrainConfig.from_dict(options)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: not found; is {run_dir} a training run folder?") from None
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not UTF-8 text; the run folder is damaged") from None
    except (ValueError, MitbadakError) as exc:
        raise RunFolderError(f"{path}: damaged run config ({exc})") from None


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike):
    """Hold an exclusive advisory lock (``fcntl.flock`` on ``run_dir/.lock``) while in the block.

    The operating system releases it when the process exits or dies, so a crash never leaves a
    folder locked. A second holder gets :class:`RunFolderError` at once (no waiting). On systems
    without ``fcntl`` (Windows) the block runs unlocked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = Path(run_dir) / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            raise RunFolderError(
                f"{run_dir} is in use by another mitbadak process"
                + (f" (pid {owner})" if owner.isdigit() else "")
                + "; wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary files an interrupted atomic write left in ``run_dir`` (``.NAME.*.tmp``).

    Call it only while holding :func:`run_lock`: then no other writer can own them.
    """
    removed = []
    for tmp in Path(run_dir).glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def estimate_numerical_costs(
    network, x_train, t_train, batch_size: int, eval_sets=(), budget: float = 2.0
) -> tuple[float, float]:
    """Seconds per numerical-gradient step and per epoch-end evaluation, measured on this network.

    The step is timed on the real path (the trainer's own gradient function). When a whole step
    would take long (networks the fast path does not handle), a sample of parameter elements is
    timed through the same central differences and scaled by the number of elements, so the
    estimate itself takes at most about ``budget`` seconds.
    """
    from mitbadak.core._checks import labels_to_indices
    from mitbadak.nn.gradcheck import supports_fast
    from mitbadak.training.loop import evaluate_checked
    from mitbadak.training.steps import numerical_loss_and_gradient

    n = min(batch_size, len(x_train))
    x2 = np.asarray(x_train[:n]).reshape(n, -1).astype(network.dtype)
    t2 = labels_to_indices(t_train[:n], n, network.output_size)
    if supports_fast(network):
        step = numerical_loss_and_gradient(network)
        best = math.inf
        spent = 0.0
        while spent < budget / 2 or best == math.inf:
            t0 = time.perf_counter()
            step(x2, t2)
            took = time.perf_counter() - t0
            best, spent = min(best, took), spent + took
            if spent > budget / 4 and best < math.inf and took > budget / 8:
                break
        per_step = best
    else:
        per_step = _sample_central_differences(network, x2, t2, budget)
    per_eval = 0.0
    sets = [s for s in eval_sets if s is not None]
    x_eval = np.asarray(x_train[:10_000]).reshape(min(len(x_train), 10_000), -1)
    t_eval = labels_to_indices(t_train[:10_000], len(x_eval), network.output_size)
    t0 = time.perf_counter()
    evaluate_checked(network, x_eval, t_eval)
    for xs, ts in sets:
        xs2 = np.asarray(xs).reshape(len(xs), -1)
        evaluate_checked(network, xs2, labels_to_indices(ts, len(xs2), network.output_size))
    per_eval = time.perf_counter() - t0
    return per_step, per_eval


def _sample_central_differences(network, x2, t2, budget: float) -> float:
    """Time the reference path's central differences on a few elements; scale to all of them."""
    from mitbadak.core.differentiation import _central
    from mitbadak.nn.networks import network_from_config

    clone = network_from_config(
        dict(network.config(), dtype="float64"),
        {k: v.astype(np.float64) for k, v in network.params.items()},
    )
    work = clone.params
    x64 = x2.astype(np.float64)
    rng = np.random.default_rng(0)
    total = sum(v.size for v in work.values())
    done, spent = 0, 0.0
    t0 = time.perf_counter()
    while spent < budget / 2 or done < 4:
        for v in work.values():
            flat = v.reshape(-1)
            i = int(rng.integers(flat.size))
            _central(lambda _p: clone.batch_loss(x64, t2), v, flat, i, 1e-4)
            done += 1
        spent = time.perf_counter() - t0
        if done >= 400:
            break
    return spent / done * total


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


#: Draws a run's curves into its folder: ``(history, folder, lang) -> [paths written]``. Training
#: draws nothing itself: ``mitbadak.views.run_curves`` registers loss.png/accuracy.png here when
#: imported (``mitbadak/__init__.py`` imports it), so this layer never imports the views above it.
_curve_writers: list[Callable[..., list[str]]] = []


def register_curve_writer(write: Callable[..., list[str]]) -> None:
    """Add ``write(history, out, lang=...)`` to what every run folder gets after its epochs."""
    if write not in _curve_writers:
        _curve_writers.append(write)


def _write_curves(history, out: Path, lang: str = "en") -> list[str]:
    """The registered curve PNGs (loss.png and accuracy.png); [] when matplotlib is missing."""
    return [path for write in _curve_writers for path in write(history, out, lang=lang)]
