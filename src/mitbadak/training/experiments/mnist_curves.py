"""``optimizer-mnist`` and ``weight-init-compare``: loss curves of the book's "5-layer" network
(784-100-100-100-100-10, ReLU) trained side by side on the same mini-batches (the book's
``optimizer_compare_mnist.py`` and ``weight_init_compare.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.nn.layers import softmax_cross_entropy
from mitbadak.nn.networks import MultiLayerNet
from mitbadak.nn.optimizers import OPTIMIZERS, REGISTRY
from mitbadak.training.experiments._common import (
    Progress,
    StopCheck,
    as_float64,
    curve,
    data_line,
    engine,
    never,
    on_one_blas_thread,
    quiet,
)

#: the book's network: 4 hidden layers of 100
HIDDEN = [100, 100, 100, 100]
BATCH_SIZE = 128
#: iterations: the book's 2,000 with ``full``, else a size that runs in a few seconds
FULL_ITERATIONS = 2000
QUICK_ITERATIONS = 500

#: the learning rates of ``optimizer-mnist``: the book's (SGD, Momentum, AdaGrad 0.01, Adam
#: 0.001: its classes' defaults) and, for the two it does not compare, Nesterov at Momentum's
#: 0.01 and RMSprop at Adam's 0.001 (RMSprop's first steps are lr/sqrt(1 - 0.99) = 10 lr, so the
#: book's class default 0.01 starts with steps of 0.1 and is unstable on this network)
MNIST_LRS = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "adam": 0.001,
             "rmsprop": 0.001}  # fmt: skip

#: ``weight-init-compare``'s initial scales (``MultiLayerNet``'s ``weight_init``): std 0.01,
#: Xavier's 1/sqrt(n) (the book's 'sigmoid') and He's sqrt(2/n) (its 'relu'), n the layer's inputs
COMPARE_INITS = {"std=0.01": 0.01, "xavier": "xavier", "he": "he"}
COMPARE_LR = 0.01


def _side_by_side(
    nets: dict[str, MultiLayerNet],
    optimizers: dict[str, Any],
    x_train: np.ndarray,
    t_train: np.ndarray,
    iterations: int,
    rng: np.random.Generator,
    progress: Progress,
    should_stop: StopCheck,
) -> tuple[dict[str, list[float]], bool]:
    """Each iteration: one batch of ``BATCH_SIZE`` rows drawn with replacement (as the book's
    ``np.random.choice``), then for each network its gradient, its optimizer's update and the
    batch's loss after the update (the book's order). Returns the losses and whether it was
    stopped."""
    engines = {k: engine(net) for k, net in nets.items()}
    losses: dict[str, list[float]] = {k: [] for k in nets}
    t_train = np.asarray(t_train)
    for i in range(iterations):
        if should_stop():
            return losses, True
        rows = rng.choice(len(x_train), BATCH_SIZE)
        xb, tb = as_float64(x_train[rows]), t_train[rows]
        for key, net in nets.items():
            loss_and_gradient, scores = engines[key]
            _, grads = loss_and_gradient(xb, tb)
            optimizers[key].update(net.params, grads)
            losses[key].append(softmax_cross_entropy(scores(xb), tb)[1] + net.weight_penalty())
        progress(i + 1, iterations, f"iteration {i + 1}")
    return losses, False


@on_one_blas_thread
def optimizer_mnist(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray | None = None,
    t_test: np.ndarray | None = None,
    iterations: int | None = None,
    used: str | None = None,
) -> dict[str, Any]:
    """The six optimizers, each on its own 784-[100]*4-10 ReLU network (He), trained on the same
    batches of 128 for 2,000 iterations (``full``; else 500; ``iterations`` overrides), the lrs
    of :data:`MNIST_LRS`. The networks and the batches come from ``seed``.

    Returns ``{"iterations", "batch_size", "data", "optimizers": {name: {"lr", "loss": [per
    iteration], "smoothed": [...], "final_smoothed": float}}, "partial"}`` (``data``: ``used``,
    the line saying which images, else their count). Stopped early, every optimizer has the
    iterations done so far.
    """
    iterations = int(iterations or (FULL_ITERATIONS if full else QUICK_ITERATIONS))
    rng = np.random.default_rng(seed)
    names = list(REGISTRY)
    nets = {k: MultiLayerNet(x_train[0].size, HIDDEN, 10, seed=rng) for k in names}
    optimizers = {k: OPTIMIZERS[k](lr=MNIST_LRS[k]) for k in names}
    losses, stopped = _side_by_side(nets, optimizers, x_train, t_train, iterations, rng,
                                    progress, should_stop)  # fmt: skip
    return {
        "iterations": len(losses[names[0]]), "batch_size": BATCH_SIZE,
        "data": data_line(used, x_train),
        "optimizers": {k: {"lr": MNIST_LRS[k], **curve(losses[k])} for k in names},
        "partial": stopped,
    }  # fmt: skip


@on_one_blas_thread
def weight_init_compare(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray | None = None,
    t_test: np.ndarray | None = None,
    iterations: int | None = None,
    used: str | None = None,
) -> dict[str, Any]:
    """The same ReLU network from three initial scales (:data:`COMPARE_INITS`), trained by SGD
    (lr 0.01) on the same batches of 128 for 2,000 iterations (``full``; else 500).

    Returns ``{"iterations", "batch_size", "data", "inits": {name: {"std": [the std of W1, W2,
    ...], "loss", "smoothed", "final_smoothed"}}, "partial"}``. The book's finding: std 0.01
    does not learn (the loss stays at ln 10 = 2.30), He learns fastest.
    """
    iterations = int(iterations or (FULL_ITERATIONS if full else QUICK_ITERATIONS))
    rng = np.random.default_rng(seed)
    n_in = x_train[0].size
    nets = {k: MultiLayerNet(n_in, HIDDEN, 10, weight_init=w, seed=rng)
            for k, w in COMPARE_INITS.items()}  # fmt: skip
    sgd = OPTIMIZERS["sgd"](lr=COMPARE_LR)
    losses, stopped = _side_by_side(nets, dict.fromkeys(nets, sgd), x_train, t_train,
                                    iterations, rng, progress, should_stop)  # fmt: skip
    sizes = [n_in, *HIDDEN]

    def stds(w) -> list[float]:
        if isinstance(w, float):
            return [w] * len(sizes)
        return [float(np.sqrt((2.0 if w == "he" else 1.0) / n)) for n in sizes]

    return {
        "iterations": len(losses["he"]), "batch_size": BATCH_SIZE,
        "data": data_line(used, x_train),
        "inits": {k: {"std": stds(w), **curve(losses[k])} for k, w in COMPARE_INITS.items()},
        "partial": stopped,
    }  # fmt: skip
