"""``batchnorm``: training accuracy with and without Batch Normalization over 16 initial weight
scales (the book's ``batch_norm_test.py`` and its 4×4 grid of figure 6-19)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.nn.networks import MultiLayerNetExtend
from mitbadak.nn.optimizers import OPTIMIZERS
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

#: the book's sizes: 1,000 training images, 5 hidden layers of 100, batch 100, SGD lr 0.01
TRAIN_SIZE = 1000
HIDDEN = [100] * 5
BATCH_SIZE = 100
LR = 0.01
#: the weight scales: the book's np.logspace(0, -4, num=16), 1 down to 1e-4
SCALES = np.logspace(0, -4, num=16)
FULL_EPOCHS = 20
QUICK_EPOCHS = 10


@on_one_blas_thread
def batchnorm(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_train: np.ndarray,
    t_train: np.ndarray,
    x_test: np.ndarray | None = None,
    t_test: np.ndarray | None = None,
    epochs: int | None = None,
    scales: list[int] | None = None,
    used: str | None = None,
) -> dict[str, Any]:
    """For each weight scale w of :data:`SCALES` (``scales``: their indices, default all 16),
    two ``MultiLayerNetExtend`` 784-[100]*5-10 ReLU networks with W = w × N(0, 1), one with
    BatchNorm after each hidden Affine, one without, trained side by side on the same batches
    of 100 drawn with replacement from the first 1,000 training images (SGD, lr 0.01). After
    the first step and then every 10 steps (an "epoch" of 1,000 images, as the book counts) the
    accuracy of both on those 1,000 images (test mode: BatchNorm's running statistics), for 20
    epochs (``full``; else 10; ``epochs`` overrides).

    Each scale has its own generator from ``(seed, index)`` and both networks start from the
    same weights, so a scale's numbers do not depend on which other scales run.
    Returns ``{"epochs", "train_size", "data", "scales": [w, ...], "cases": [{"scale",
    "bn_train_acc": [...], "plain_train_acc": [...]}, ...], "partial"}``; stopped early, the
    cases done and the epochs done of the case under way.
    """
    epochs = int(epochs or (FULL_EPOCHS if full else QUICK_EPOCHS))
    indices = list(range(len(SCALES))) if scales is None else [int(k) for k in scales]
    x = as_float64(x_train[:TRAIN_SIZE])
    t = np.asarray(t_train[:TRAIN_SIZE])
    per_epoch = max(len(x) / BATCH_SIZE, 1)
    steps = int(np.ceil((epochs - 1) * per_epoch)) + 1  # the step of the last evaluation, + 1
    sgd = OPTIMIZERS["sgd"](lr=LR)
    cases: list[dict[str, Any]] = []
    stopped = False
    for n, k in enumerate(indices):
        scale = float(SCALES[k])
        rng = np.random.default_rng([seed, k])
        init = int(rng.integers(2**63))
        nets = {
            "bn": MultiLayerNetExtend(x.shape[1], HIDDEN, 10, weight_init_std=scale,
                                      use_batchnorm=True, seed=init),
            "plain": MultiLayerNetExtend(x.shape[1], HIDDEN, 10, weight_init_std=scale,
                                         seed=init),
        }  # fmt: skip
        engines = {key: engine(net) for key, net in nets.items()}
        case: dict[str, Any] = {"scale": scale, "bn_train_acc": [], "plain_train_acc": []}
        for i in range(steps):
            if should_stop():
                stopped = True
                break
            rows = rng.choice(len(x), BATCH_SIZE)
            # without BatchNorm the largest scales overflow to NaN within a few steps, as in the
            # book (its accuracy then stays at one class's share): that is the finding, no warning
            with np.errstate(over="ignore", invalid="ignore"):
                for key, net in nets.items():
                    _, grads = engines[key][0](x[rows], t[rows])
                    sgd.update(net.params, grads)
                if i % per_epoch == 0:
                    for key in nets:
                        case[f"{key}_train_acc"].append(accuracy(engines[key][1], x, t))
                    progress(n * epochs + len(case["bn_train_acc"]), len(indices) * epochs,
                             f"w={scale:.2g} ({n + 1}/{len(indices)}), "
                             f"epoch {len(case['bn_train_acc'])}")  # fmt: skip
        if case["bn_train_acc"]:
            cases.append(case)
        if stopped:
            break
    return {
        "epochs": epochs, "train_size": len(x), "data": data_line(used, x_train),
        "scales": [float(SCALES[k]) for k in indices], "cases": cases, "partial": stopped,
    }  # fmt: skip
