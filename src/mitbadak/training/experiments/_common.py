"""What the experiments share: the progress and stop callbacks, the data they train on, the
training engine they run a network through, and the loss and smoothing of a curve.

``progress(done, total, what)`` is called as work finishes (a bar in the clients);
``should_stop()`` is asked between steps: when it answers True the experiment returns what it
has computed so far, with ``"partial": True`` (the CLI answers Ctrl-C this way).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from mitbadak.core.smoothing import SMOOTH_WINDOW, smooth_curve

Progress = Callable[[int, int, str], None]
StopCheck = Callable[[], bool]

#: ``data=`` choices of :func:`load_experiment_data` (the CLI's ``--data``)
DATA_CHOICES = ("mnist", "mnist-sample", "fashion-mnist")
_DATA_NAMES = {
    "mnist": "MNIST",
    "mnist-sample": "the packaged MNIST sample (mnist-sample{why})",
    "fashion-mnist": "Fashion-MNIST",
}


def quiet(done: int, total: int, what: str) -> None:
    """The default progress callback: nothing."""


def never() -> bool:
    """The default ``should_stop``: run to the end."""
    return False


def load_experiment_data(data: str | None = None, data_dir=None) -> dict[str, Any]:
    """The training and test sets of the MNIST experiments, never downloaded.

    ``data=None``: MNIST where all four of its files are found (``data_dir`` is searched too),
    else the packaged ``mnist-sample`` (4,000 training + 1,000 test images, always there).
    ``data='mnist'``, ``'mnist-sample'`` or ``'fashion-mnist'`` asks for that one (a missing one
    raises :class:`~mitbadak.core.errors.DatasetUnavailable`). Images are flat, scaled to [0, 1];
    labels are class indices. Returns ``{"name", "x_train", "t_train", "x_test", "t_test",
    "used"}``; ``used`` is one line saying which set and how many images.
    """
    from mitbadak.core.errors import MitbadakError
    from mitbadak.files.datasets import load_split

    if data is not None and data not in DATA_CHOICES:
        raise ValueError(f"data must be one of {', '.join(DATA_CHOICES)} or None (MNIST where "
                         f"present, else mnist-sample), got {data!r}")  # fmt: skip
    names = [data] if data is not None else ["mnist", "mnist-sample"]
    missing = ""
    for name in names:
        try:
            x_train, t_train = load_split(name, "train", data_dir=data_dir, download=False)
            x_test, t_test = load_split(name, "test", data_dir=data_dir, download=False)
        except (MitbadakError, OSError):
            if data is not None:
                raise
            missing = "; MNIST's four files were not found"
            continue
        label = _DATA_NAMES[name].format(why=missing)
        used = f"{label}: {len(x_train):,} training + {len(x_test):,} test images"
        return {"name": name, "x_train": x_train, "t_train": t_train, "x_test": x_test,
                "t_test": t_test, "used": used}  # fmt: skip
    raise MitbadakError("no MNIST images found, not even the packaged mnist-sample")


def one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS on one thread while an experiment trains (threadpoolctl where installed, else no
    change): its matrices (batches of 100-128 against layers of 100) are too small for threads
    to pay, and on a busy machine threads waiting for a core made a step 30 times slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def on_one_blas_thread(function: Callable) -> Callable:
    """``function`` run inside :func:`one_blas_thread` (a decorator of the training experiments)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return function(*args, **kwargs)

    return wrapper


def engine(net) -> tuple[Callable, Callable]:
    """``(loss_and_gradient(x2, t_idx), scores(x2))`` of ``net`` on the CPU: training's fast path
    where it covers the network (held equal to the layers by the tests), else the layers."""
    from mitbadak.training.steps import _host_fast, choose_scores

    fast, _ = _host_fast(net)
    return (fast or net.loss_and_gradient_layers), choose_scores(net)


def accuracy(scores: Callable, x2: np.ndarray, t_idx: np.ndarray, rows: int = 2000) -> float:
    """Fraction of ``x2``'s rows whose highest score is the label, ``rows`` at a time."""
    hits = 0
    for i in range(0, len(x2), rows):
        hits += int(np.count_nonzero(np.argmax(scores(x2[i : i + rows]), axis=1)
                                     == t_idx[i : i + rows]))  # fmt: skip
    return hits / len(x2) if len(x2) else 0.0


def curve(losses: list[float]) -> dict[str, Any]:
    """``{"loss", "smoothed", "final_smoothed"}`` of a loss per iteration: the book's
    ``smooth_curve`` (11-point Kaiser window) and its last value. A curve shorter than the window
    (an interrupted run) is kept as it is, and ``final_smoothed`` is then its mean (None when
    empty)."""
    loss = [float(v) for v in losses]
    if len(loss) >= SMOOTH_WINDOW:
        smoothed = smooth_curve(loss).tolist()
        final = float(smoothed[-1])
    else:
        smoothed = list(loss)
        final = float(np.mean(loss)) if loss else None
    return {"loss": loss, "smoothed": smoothed, "final_smoothed": final}


def data_line(used: str | None, x_train) -> str:
    """The ``"data"`` of a result: the client's line saying which images (``used``), else how
    many training images there were."""
    return used or f"{len(x_train):,} training images"


def as_float64(x: np.ndarray) -> np.ndarray:
    """Flat float64 rows (the book's dtype) of a set of images."""
    return np.asarray(x, dtype=np.float64).reshape(len(x), -1)
