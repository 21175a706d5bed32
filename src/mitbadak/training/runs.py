"""Running a training run into its folder: ``run_training(config, out_dir)``.

``run_training`` is what ``mitbadak train`` calls; a notebook can call it too. It loads the data
(:func:`load_training_data`), builds the network (:func:`build_network`), takes the folder's lock
and writes the files of :mod:`mitbadak.training.run_folder` (``config.json``, ``model.npz`` last,
``checkpoint.npz``, ``metrics.csv``, ``iterations.csv``, the curve PNGs). The recipe
(:class:`TrainConfig`, :data:`RECIPES`) is :mod:`mitbadak.training.recipes`; the time estimate of
a numerical-gradient run is :mod:`mitbadak.training.cost_estimate`. Their names stay importable
from here.

A resumed run ends with the same numbers as an uninterrupted one when it runs with the same NumPy
and BLAS thread count (``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``): a different thread count can
sum matrix products in another order and change the last digits.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.atomic import atomic_write_text
from mitbadak.core.errors import DatasetUnavailable, MitbadakError, RunFolderError
from mitbadak.core.version import __version__
from mitbadak.nn.layers import ACTIVATIONS
from mitbadak.nn.networks import MultiLayerNet, MultiLayerNetExtend, TwoLayerNet
from mitbadak.training.cost_estimate import estimate_numerical_costs, numerical_run_note
from mitbadak.training.loop import (
    TrainingDiverged,
    TrainResult,
    load_checkpoint,
    split_validation,
    train,
    write_history,
)
from mitbadak.training.recipes import CONV_MODELS, DEFAULT_RECIPE, RECIPES, Recipe, TrainConfig
from mitbadak.training.run_folder import (
    RUN_FILES,
    clear_run_files,
    is_finished,
    read_run_config,
    remove_stale_temporaries,
    run_lock,
)

__all__ = [
    "build_network",
    "load_training_data",
    "run_training",
    "register_curve_writer",
    # re-exported from their own modules (recipes, run_folder, cost_estimate)
    "TrainConfig",
    "DEFAULT_RECIPE",
    "Recipe",
    "RECIPES",
    "RUN_FILES",
    "read_run_config",
    "run_lock",
    "is_finished",
    "remove_stale_temporaries",
    "estimate_numerical_costs",
]


def initial_weights_rng(seed: int) -> np.random.Generator:
    """The generator a run's network is drawn from: ``default_rng([seed, 1])``, apart from the
    trainer's own (``seed``), as :func:`build_network` draws it. A network's recipe rebuilt with
    it (``type(net).from_config(net.config(), seed=initial_weights_rng(seed))``) holds the run's
    initial weights (the convolution page's "before" filters)."""
    return np.random.default_rng([seed, 1])


def build_network(config: TrainConfig, input_size: int | tuple[int, ...] = 784,
                  output_size: int = 10):  # fmt: skip
    """The network a config describes, initialised from ``config.seed``. ``input_size`` is a
    sample's size, or its shape; the convnets take (channels, height, width) (a size that is a
    square number of pixels is read as one channel)."""
    rng = initial_weights_rng(config.seed)
    if config.model in CONV_MODELS:
        return _build_convnet(config, _image_dim(input_size), output_size, rng)
    if not isinstance(input_size, int | np.integer):
        input_size = int(np.prod(input_size))
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
        if config.batchnorm or config.dropout is not None:
            # the book's MultiLayerNetExtend: Affine -> [BatchNorm] -> activation -> [Dropout]
            return MultiLayerNetExtend(
                input_size,
                config.hidden,
                output_size,
                activation=config.activation,
                weight_init_std=init,
                weight_decay_lambda=config.weight_decay,
                use_dropout=config.dropout is not None,
                dropout_ration=0.5 if config.dropout is None else config.dropout,
                use_batchnorm=config.batchnorm,
                inverted_dropout=config.inverted_dropout,
                seed=rng,
                dtype=config.dtype,
            )
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
    raise ValueError(
        f"model must be 'two-layer', 'mlp', 'convnet' or 'deepconvnet', got {config.model!r}"
    )


def _image_dim(input_size: int | tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) from a shape (H, W) or (C, H, W), or a flat size of a square one-channel image."""
    if isinstance(input_size, int | np.integer):
        side = int(round(float(np.sqrt(int(input_size)))))
        if side * side != int(input_size):
            raise ValueError(
                f"a convnet takes square images; {int(input_size)} values per sample are not one"
            )
        return (1, side, side)
    shape = tuple(int(s) for s in input_size)
    return (1, *shape) if len(shape) == 2 else shape  # type: ignore[return-value]


def _build_convnet(config: TrainConfig, input_dim: tuple[int, int, int], output_size: int, rng):
    """The book's SimpleConvNet (``convnet``) or DeepConvNet (``deepconvnet``) of ``config``."""
    from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet

    if config.model == "convnet":
        std = 0.01 if config.weight_init in (None, "he") else config.weight_init
        return SimpleConvNet(input_dim, hidden_size=config.hidden[0], output_size=output_size,
                             weight_init_std=float(std), seed=rng, dtype=config.dtype)  # fmt: skip
    return DeepConvNet(input_dim, hidden_size=config.hidden[0], output_size=output_size,
                       seed=rng, dtype=config.dtype)  # fmt: skip


def as_images(x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """``x`` (N, pixels) as the batch of images (N, *input_shape) a convnet takes (a view)."""
    return x.reshape((len(x), *input_shape)) if x.ndim == 2 else x


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
    if config.model in CONV_MODELS:  # the image sets give flat rows; a convnet takes images
        from mitbadak.training.recipes import image_shape

        shape = image_shape(dataset)
        network = build_network(config, shape, n_classes)
        x_train = as_images(x_train, shape)
        test_set = (as_images(test_set[0], shape), test_set[1])
        if val_set is not None:
            val_set = (as_images(val_set[0], shape), val_set[1])
    else:
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
        clear_run_files(out, keep_config=resume)
    x_train, t_train = train_set
    if config.gradient == "numerical":
        start_iteration = resume_state[2].get("iteration", 0) if resume_state else 0
        say(
            numerical_run_note(
                network, x_train, t_train, batch_size=config.batch_size, epochs=config.epochs,
                iters=config.iters, start_iteration=start_iteration, eval_sets=[test_set, val_set],
            )
        )
    elif config.model in CONV_MODELS:  # minutes to hours on a CPU: say how long before it starts
        from mitbadak.training.cost_estimate import backprop_run_note
        from mitbadak.training.loop import TRAIN_EVAL_SIZE

        start_iteration = resume_state[2].get("iteration", 0) if resume_state else 0
        n_eval = min(len(x_train), TRAIN_EVAL_SIZE) + len(test_set[0])
        if val_set is not None:
            n_eval += len(val_set[0])
        say(
            backprop_run_note(
                network, x_train, t_train, batch_size=config.batch_size, epochs=config.epochs,
                iters=config.iters, start_iteration=start_iteration, n_eval=n_eval,
            )
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
