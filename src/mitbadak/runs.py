"""A training run as a folder: the recipe (``config.json``), the model, metrics, curves, checkpoint.

``run_training(config, out_dir)`` is what ``mitbadak train`` calls; a notebook can call it too.
The folder holds:

* ``config.json``   - the :class:`TrainConfig` (everything needed to rerun it) and the data used
* ``model.npz``     - the trained network + metadata (recipe, final metrics, library version)
* ``checkpoint.npz``- written atomically at every epoch (and on Ctrl-C): ``--resume`` continues it
* ``metrics.csv``   - one row per epoch; ``iterations.csv`` - the loss of every iteration
* ``loss.png``, ``accuracy.png`` - train vs test curves (when matplotlib is installed)
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak import __version__
from mitbadak._files import atomic_write_text
from mitbadak.errors import MitbadakError
from mitbadak.networks import MultiLayerNet, TwoLayerNet
from mitbadak.training import (
    TrainingDiverged,
    TrainResult,
    load_checkpoint,
    split_validation,
    train,
    write_history,
)

__all__ = ["TrainConfig", "DEFAULT_RECIPE", "build_network", "load_training_data", "run_training"]


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
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise MitbadakError(f"unknown training options in config: {', '.join(sorted(unknown))}")
        return cls(**data)


DEFAULT_RECIPE = TrainConfig()


def build_network(config: TrainConfig, input_size: int = 784, output_size: int = 10):
    """The network a config describes, initialised from ``config.seed``."""
    rng = np.random.default_rng([config.seed, 1])
    if config.model == "two-layer":
        if len(config.hidden) != 1:
            raise ValueError(f"--model two-layer takes one hidden size, got {config.hidden}")
        std = 0.01 if config.weight_init is None else config.weight_init
        if isinstance(std, str):
            from mitbadak.networks import _init_std

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
            init = "he" if config.activation == "relu" else "xavier"
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
    from mitbadak.datasets import load_mnist

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
    lang: str = "en",
) -> tuple[TrainResult, dict[str, Any]]:
    """Train as ``config`` says and write the run folder; returns (result, info).

    ``info`` holds the dataset used, the fallback reason (if MNIST was not available), the paths
    written and the final metrics. With ``resume=True`` the folder's checkpoint is continued.
    ``data`` = (train, test, dataset_name) skips loading (used by tests and notebooks).
    ``announce(message)`` receives one-line notes for the user (the sample fallback, the time
    estimate of a numerical-gradient run). ``lang`` ("en" or "ko") is the language of the PNGs.
    Raises :class:`TrainingDiverged` after writing the metrics so far (the checkpoint is kept).
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
    x_train, t_train = train_set
    val_set = None
    if config.early_stopping is not None:
        (x_train, t_train), val_set = split_validation(
            x_train, t_train, config.val_fraction, config.seed
        )
    network = build_network(config, int(np.prod(x_train.shape[1:])), 10)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / "checkpoint.npz"
    resume_state = load_checkpoint(checkpoint_path) if resume else None
    if config.gradient == "numerical":
        per_step = estimate_numerical_step(
            network, x_train[: config.batch_size], t_train[: config.batch_size]
        )
        total = config.iters or config.epochs * -(-len(x_train) // config.batch_size)
        say(
            f"numerical gradient (chapter 4): about {per_step:.2f} s per iteration, so "
            f"{total:,} iterations take about {_duration(per_step * total)}"
        )
    info: dict[str, Any] = {"dataset": dataset, "fallback_reason": fallback, "out_dir": str(out)}
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
        )
    except (TrainingDiverged, KeyboardInterrupt):
        _, _, _, history = load_checkpoint(checkpoint_path)
        write_history(history, out)
        raise
    write_history(result.history, out)
    from mitbadak.modelfile import save_model

    final = {k: v for k, v in result.history.last.items() if v is not None}
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
    info["plots"] = _write_curves(result.history, out, lang=lang)
    info["final"] = final
    info["seconds"] = result.seconds
    return result, info


def estimate_numerical_step(network, x, t, repeats: int = 2) -> float:
    """Seconds one numerical-gradient step takes on this batch (the best of ``repeats``)."""
    import time

    from mitbadak._checks import labels_to_indices
    from mitbadak.training import _gradient_function

    step = _gradient_function(network, "numerical")
    x2 = x.reshape(len(x), -1).astype(network.dtype)
    t2 = labels_to_indices(t, len(x2), network.output_size)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        step(x2, t2)
        best = min(best, time.perf_counter() - start)
    return best


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _write_curves(history, out: Path, lang: str = "en") -> list[str]:
    """loss.png and accuracy.png; skipped (empty list) when matplotlib is not installed."""
    try:
        from mitbadak import plots
    except ImportError:
        return []
    written = []
    for name, make in (("loss.png", plots.loss_curve), ("accuracy.png", plots.accuracy_curve)):
        fig = make(history, lang=lang)
        plots.save_figure(fig, out / name)
        written.append(str(out / name))
    return written
