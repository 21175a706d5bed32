"""What the chapter 7-8 experiments share: the book's trained convnet files, the images they
look at, and a short SimpleConvNet run where the book's weights are not here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, engine

#: The book's trained parameter files: SimpleConvNet (chapter 7), DeepConvNet (chapter 8)
SIMPLE_FILE = "params.pkl"
DEEP_FILE = "deep_convnet_params.pkl"
_CHAPTER = {SIMPLE_FILE: "ch07", DEEP_FILE: "ch08"}


def find_convnet_weights(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The path of the book's ``name`` (``params.pkl`` or ``deep_convnet_params.pkl``): where
    :func:`~mitbadak.files.datasets.sources.find_book_weights` looks, then ``ch07/`` or
    ``ch08/`` under ``data_dir`` and ``$MITBADAK_DATA`` (the book repository's layout).
    Raises :class:`~mitbadak.core.errors.BookWeightsUnavailable` (two lines: where it looked,
    how to get it) when it is nowhere."""
    from mitbadak.core.errors import BookWeightsUnavailable
    from mitbadak.files.datasets.sources import find_book_weights

    try:
        return find_book_weights(name, data_dir)
    except BookWeightsUnavailable:
        for base in (data_dir, os.environ.get("MITBADAK_DATA") or None):
            if base is not None:
                path = Path(base).expanduser() / _CHAPTER[name] / name
                if path.is_file():
                    return path
        raise


def optional_weights(name: str, data_dir=None) -> Path | None:
    """:func:`find_convnet_weights` or None where the file is not here."""
    from mitbadak.core.errors import BookWeightsUnavailable

    try:
        return find_convnet_weights(name, data_dir)
    except BookWeightsUnavailable:
        return None


def book_net(name: str, path: str | os.PathLike):
    """The book's SimpleConvNet or DeepConvNet (float64) holding the parameters of ``path``,
    read without running the pickle; ``net.metadata['source']`` says which file it was."""
    import mitbadak.files.convnet_params  # noqa: F401  (registers the convnets' file code)
    from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet

    net = SimpleConvNet() if name == SIMPLE_FILE else DeepConvNet()
    net.load_params(str(path))
    return net


def source_line(net, path) -> str:
    """'the book's params.pkl (2016 book)' or the file name where it is not one of the book's."""
    version = net.metadata.get("source", {}).get("version")
    return f"the book's {Path(path).name}" + (f" ({version})" if version else "")


def test_images(data: str | None = None, data_dir=None) -> dict[str, Any]:
    """The images the trained networks are looked at with: MNIST's test set where its two test
    files are found (the training images are not needed), else the packaged mnist-sample's
    test images; ``data`` asks for one set. ``{"x_test", "t_test", "used"}``, x flat in [0, 1]."""
    from mitbadak.core.errors import MitbadakError
    from mitbadak.files.datasets import load_split

    names = [data] if data is not None else ["mnist", "mnist-sample"]
    for name in names:
        try:
            x, t = load_split(name, "test", data_dir=data_dir, download=False)
        except (MitbadakError, OSError):
            if data is not None:
                raise
            continue
        why = "; MNIST's test files were not found" if name == "mnist-sample" else ""
        return {"x_test": x, "t_test": t,
                "used": f"{name} test set{why}: {len(x):,} images"}  # fmt: skip
    raise MitbadakError("no MNIST test images found, not even the packaged mnist-sample")


def short_run(
    x_train: np.ndarray,
    t_train: np.ndarray,
    seed: int,
    iters: int,
    progress: Progress,
    should_stop: StopCheck,
    *,
    batch_size: int = 100,
) -> tuple[Any, int]:
    """A SimpleConvNet (the book's sizes, ``seed``) after ``iters`` steps of Adam lr 0.001 on
    batches of ``batch_size`` from (``x_train``, ``t_train``), the book's recipe cut short;
    returns (net, steps done): fewer where ``should_stop()`` answered True."""
    from mitbadak.nn.convnets import SimpleConvNet
    from mitbadak.nn.optimizers import Adam
    from mitbadak.training.experiments._common import one_blas_thread

    net = SimpleConvNet(seed=seed, dtype=np.float32)
    images = np.asarray(x_train, dtype=np.float32).reshape(-1, *net.input_shape)
    labels = np.asarray(t_train).reshape(-1)
    step, _scores = engine(net)
    optimizer = Adam(lr=0.001)
    rng = np.random.default_rng([seed, 7])
    done = 0
    with one_blas_thread():
        for done in range(iters):
            if should_stop():
                return net, done
            rows = rng.choice(len(images), batch_size, replace=False)
            _loss, grads = step(images[rows], labels[rows])
            optimizer.update(net.params, grads)
            progress(done + 1, iters, "SimpleConvNet, Adam lr 0.001")
        done = iters
    return net, done


def accuracy_of(net, x: np.ndarray, t: np.ndarray, dtype=None) -> tuple[float, np.ndarray]:
    """(accuracy, predicted classes) of ``net`` on flat images ``x`` in test mode, 100 at a
    time (as the book's loop), through training's scores engine (the CPU fast path, held equal
    to the layers by its tests; it reads ``net.params`` at each call); the images are cast to
    ``dtype`` first when given."""
    from mitbadak.training.steps import choose_scores

    images = np.asarray(x).reshape(-1, *net.input_shape)
    if dtype is not None:
        images = images.astype(dtype)
    scores = choose_scores(net)
    predicted = np.concatenate([
        np.argmax(np.asarray(scores(images[i : i + 100])), axis=1)
        for i in range(0, len(images), 100)
    ]) if len(images) else np.zeros(0, dtype=int)  # fmt: skip
    labels = np.asarray(t).reshape(-1)
    return float(np.mean(predicted == labels)) if len(labels) else 0.0, predicted
