"""``overfit-weight-decay`` and ``overfit-dropout``: a deep network on only 300 training images,
its training and test accuracy per epoch with and without the remedy (the book's
``overfit_weight_decay.py`` and ``overfit_dropout.py``, figures 6-20 to 6-23)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.nn.networks import MultiLayerNet, MultiLayerNetExtend
from mitbadak.nn.optimizers import OPTIMIZERS
from mitbadak.training.book_trainer import BookTrainer
from mitbadak.training.experiments._common import (
    Progress,
    StopCheck,
    accuracy,
    as_float64,
    data_line,
    engine,
    never,
    on_one_blas_thread,
    quiet,
)

#: the book's sizes: 300 training images, 6 hidden layers of 100, batch 100, SGD lr 0.01
TRAIN_SIZE = 300
HIDDEN = [100] * 6
BATCH_SIZE = 100
LR = 0.01
WEIGHT_DECAY = 0.1
DROPOUT_RATIO = 0.2
#: epochs: the book's with ``full`` (201 and 301), else fewer (the gap is open by then)
EPOCHS = {"weight-decay": (201, 101), "dropout": (301, 151)}


def _split(x_train, t_train, x_test, t_test):
    return (as_float64(x_train[:TRAIN_SIZE]), np.asarray(t_train[:TRAIN_SIZE]),
            as_float64(x_test), np.asarray(t_test))  # fmt: skip


@on_one_blas_thread
def overfit_weight_decay(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    epochs: int | None = None,
    weight_decay: float = WEIGHT_DECAY,
    used: str | None = None,
) -> dict[str, Any]:
    """``MultiLayerNet`` 784-[100]*6-10 (ReLU, He) with weight decay λ = 0.1 (the loss gains
    λ/2 Σ||W||², each dW gains λW) on the first 300 training images, SGD lr 0.01, batches of 100
    drawn with replacement; after the first step and then every 3 steps (an epoch of 300
    images) the accuracy on those 300 images and on the whole test set, 201 epochs (``full``;
    else 101; ``epochs`` overrides). Beside it, on the same batches from the same initial
    weights, the same network with λ = 0 (``"baseline"``).

    Returns ``{"epochs", "train_size", "data", "weight_decay", "train_acc": [...], "test_acc":
    [...], "baseline": {"train_acc", "test_acc"}, "partial"}``; stopped early, the epochs done.
    The book's finding: without decay training accuracy reaches 1.0 and the test accuracy
    stays far below; with it the gap is smaller.
    """
    x, t, xt, tt = _split(x_train, t_train, x_test, t_test)
    epochs = int(epochs or EPOCHS["weight-decay"][0 if full else 1])
    init_seed, batch_seed = np.random.SeedSequence(seed).spawn(2)
    init = int(np.random.default_rng(init_seed).integers(2**63))
    rng = np.random.default_rng(batch_seed)
    nets = {
        "decay": MultiLayerNet(x.shape[1], HIDDEN, 10, weight_decay_lambda=weight_decay,
                               seed=init),
        "baseline": MultiLayerNet(x.shape[1], HIDDEN, 10, seed=init),
    }  # fmt: skip
    engines = {key: engine(net) for key, net in nets.items()}
    sgd = OPTIMIZERS["sgd"](lr=LR)
    acc: dict[str, dict[str, list[float]]] = {k: {"train_acc": [], "test_acc": []} for k in nets}
    per_epoch = max(len(x) / BATCH_SIZE, 1)
    stopped, i = False, 0
    while len(acc["decay"]["train_acc"]) < epochs:
        if should_stop():
            stopped = True
            break
        rows = rng.choice(len(x), BATCH_SIZE)
        for key, net in nets.items():
            _, grads = engines[key][0](x[rows], t[rows])
            sgd.update(net.params, grads)
        if i % per_epoch == 0:
            for key in nets:
                acc[key]["train_acc"].append(accuracy(engines[key][1], x, t))
                acc[key]["test_acc"].append(accuracy(engines[key][1], xt, tt))
            done = len(acc["decay"]["train_acc"])
            progress(done, epochs, f"epoch {done}")
        i += 1
    return {
        "epochs": epochs, "train_size": len(x), "data": data_line(used, x_train),
        "weight_decay": float(weight_decay), **acc["decay"], "baseline": acc["baseline"],
        "partial": stopped,
    }  # fmt: skip


@on_one_blas_thread
def overfit_dropout(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray,
    t_test: np.ndarray,
    epochs: int | None = None,
    dropout_ratio: float = DROPOUT_RATIO,
    used: str | None = None,
) -> dict[str, Any]:
    """The book's ``overfit_dropout.py`` through :class:`BookTrainer`: ``MultiLayerNetExtend``
    784-[100]*6-10 (ReLU, He) with Dropout (ratio 0.2: the book's, which scales by 1 - ratio at
    test time) after each hidden activation, the first 300 training images, SGD lr 0.01,
    batches of 100; the trainer's accuracy on the 300 images and the whole test set after the
    first step and then every 3 steps, 301 epochs (``full``; else 151; ``epochs`` overrides).
    Beside it, on the same batches from the same initial weights, the network without Dropout
    (``"baseline"``).

    Returns ``{"epochs", "train_size", "data", "dropout_ratio", "weight_decay": 0.0,
    "train_acc", "test_acc", "baseline": {"train_acc", "test_acc"}, "partial"}``; stopped early,
    the epochs done.
    """
    x, t, xt, tt = _split(x_train, t_train, x_test, t_test)
    epochs = int(epochs or EPOCHS["dropout"][0 if full else 1])
    init_seed, batch_seed = np.random.SeedSequence(seed).spawn(2)
    init = int(np.random.default_rng(init_seed).integers(2**63))
    trainers = {
        key: BookTrainer(
            MultiLayerNetExtend(x.shape[1], HIDDEN, 10, use_dropout=use, seed=init,
                                dropout_ration=dropout_ratio),
            x, t, xt, tt, epochs=epochs, mini_batch_size=BATCH_SIZE, optimizer="sgd",
            optimizer_param={"lr": LR}, verbose=False,
            rng=np.random.default_rng(batch_seed),  # the same batches for both
        )
        for key, use in (("dropout", True), ("baseline", False))
    }  # fmt: skip
    lead = trainers["dropout"]
    stopped = False
    while len(lead.train_acc_list) < epochs and lead.current_iter < lead.max_iter:
        if should_stop():
            stopped = True
            break
        for trainer in trainers.values():
            result = trainer.train_step()
        if result.accuracies is not None:
            done = len(lead.train_acc_list)
            progress(done, epochs, f"epoch {done}")
    return {
        "epochs": epochs, "train_size": len(x), "data": data_line(used, x_train),
        "dropout_ratio": float(dropout_ratio), "weight_decay": 0.0,
        "train_acc": list(lead.train_acc_list), "test_acc": list(lead.test_acc_list),
        "baseline": {"train_acc": list(trainers["baseline"].train_acc_list),
                     "test_acc": list(trainers["baseline"].test_acc_list)},
        "partial": stopped,
    }  # fmt: skip
