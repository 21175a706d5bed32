"""The book's chapter-6 training loop (``common/trainer.py``) and its data helper, as a library.

:class:`BookTrainer` keeps the book's behaviour, which differs from :func:`mitbadak.training.train`
on purpose, so that a ported chapter-6 script behaves as the book's:

* each step draws ``mini_batch_size`` row indices *with replacement* from NumPy's global
  generator (``np.random.choice``), so ``np.random.seed(...)`` in a script fixes the batches;
* ``iter_per_epoch = max(train_size / mini_batch_size, 1)`` (a float) and
  ``max_iter = int(epochs * iter_per_epoch)``;
* after each step it records the mini-batch loss, and when ``current_iter % iter_per_epoch == 0``
  (the first step, then every ``iter_per_epoch`` steps) the training and test accuracy, on the
  first ``evaluate_sample_num_per_epoch`` rows of each set when that is given. With a whole
  number of steps per epoch that is ``epochs`` evaluations, not ``epochs + 1``: the step after
  the last epoch is never taken.

It never prints: the lines the book prints (``train loss:...``, ``=== epoch:...``) go to the
``report`` callable when ``verbose`` is true (the book's face, ``mitbadak.book.common.trainer``,
passes ``print``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from mitbadak.core._checks import describe
from mitbadak.nn.optimizers import OPTIMIZERS, Optimizer

__all__ = ["BookTrainer", "StepResult", "book_optimizer", "shuffle_dataset"]

#: the book's default ``optimizer_param`` (read-only: a shared default must not be changed)
BOOK_OPTIMIZER_PARAM: Mapping[str, float] = MappingProxyType({"lr": 0.01})


class StepResult(NamedTuple):
    """One step: the mini-batch loss after the update, and ``(train_acc, test_acc)`` when the
    step ended an epoch's evaluation (else None)."""

    loss: float
    accuracies: tuple[float, float] | None


def book_optimizer(name: str | Optimizer, params: Mapping[str, Any] | None = None) -> Optimizer:
    """The optimizer the book's Trainer builds from ``optimizer='SGD'`` and ``optimizer_param``.

    The name is case-insensitive (``'sgd'``, ``'Momentum'``, ``'nesterov'``, ``'adagrad'``,
    ``'rmsprop'``, ``'adam'``: every registered optimizer); an :class:`Optimizer` object is used
    as it is (``params`` must then be empty). ``ValueError`` names an unknown optimizer and the
    known ones, or the keys of ``params`` the optimizer does not take and those it does.
    """
    params = dict(BOOK_OPTIMIZER_PARAM if params is None else params)
    if isinstance(name, Optimizer):
        if params and params != dict(BOOK_OPTIMIZER_PARAM):
            raise ValueError("optimizer_param applies to an optimizer given by name, not to "
                             f"the {type(name).__name__} object given")  # fmt: skip
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name such as 'SGD', got {describe(name)}")
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)} "
                         "(any case)")  # fmt: skip
    accepted = [
        p.name for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]  # fmt: skip
    unknown = [k for k in params if k not in accepted]
    if unknown:
        given = ", ".join(map(repr, unknown))
        raise ValueError(f"optimizer_param has {given}, which {cls.__name__} does not take; "
                         f"it takes {', '.join(accepted)}")  # fmt: skip
    return cls(**params)


def _check_network(network) -> None:
    missing = [n for n in ("gradient", "loss", "accuracy", "params") if not hasattr(network, n)]
    if missing:
        raise TypeError(f"network must have gradient, loss, accuracy and params (a mitbadak "
                        f"network); {describe(network)} lacks {', '.join(missing)}")  # fmt: skip


def _check_pair(x, t, which: str) -> None:
    for name, a in ((f"x_{which}", x), (f"t_{which}", t)):
        if not hasattr(a, "shape") or len(a.shape) == 0:
            raise TypeError(f"{name} must be an array with one row per sample, got {describe(a)}")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x_{which} and t_{which} must have one row per sample each, got "
                         f"{x.shape[0]} and {t.shape[0]} rows")  # fmt: skip
    if x.shape[0] == 0:
        raise ValueError(f"x_{which} is empty: give at least one sample")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


class BookTrainer:
    """``BookTrainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
    optimizer='SGD', optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None,
    verbose=True, report=None)``: the book's Trainer (see the module docstring).

    ``network`` is any network with ``gradient(x, t)``, ``loss(x, t)``, ``accuracy(x, t)`` and
    ``params`` (``TwoLayerNet``, ``MultiLayerNet``, ...); ``network.gradient`` is called for each
    batch, as the book does. ``train_step()`` returns a :class:`StepResult`, ``train()`` the final
    test accuracy; ``rng`` (mitbadak's keyword, not the book's): a ``np.random.Generator`` to
    draw the batches from instead of NumPy's global generator; ``train_loss_list``,
    ``train_acc_list``, ``test_acc_list`` keep the history.
    """

    def __init__(
        self,
        network,
        x_train,
        t_train,
        x_test,
        t_test,
        epochs: int = 20,
        mini_batch_size: int = 100,
        optimizer: str | Optimizer = "SGD",
        optimizer_param: Mapping[str, Any] = BOOK_OPTIMIZER_PARAM,
        evaluate_sample_num_per_epoch: int | None = None,
        verbose: bool = True,
        report: Callable[[str], Any] | None = None,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        _check_network(network)
        _check_pair(x_train, t_train, "train")
        _check_pair(x_test, t_test, "test")
        if isinstance(epochs, bool) or not isinstance(epochs, int | float | np.number) or not (
            np.isfinite(epochs) and epochs >= 0
        ):
            raise ValueError(f"epochs must be a number >= 0, got {epochs!r}")
        if evaluate_sample_num_per_epoch is not None:
            evaluate_sample_num_per_epoch = _positive_int(
                evaluate_sample_num_per_epoch, "evaluate_sample_num_per_epoch")
        self.network = network
        self.verbose = bool(verbose)
        self.report = report
        self.rng = rng
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = _positive_int(mini_batch_size, "mini_batch_size")
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.optimizer = book_optimizer(optimizer, optimizer_param)

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / self.batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0
        self.train_loss_list: list[float] = []
        self.train_acc_list: list[float] = []
        self.test_acc_list: list[float] = []

    def _say(self, line: str) -> None:
        if self.verbose and self.report is not None:
            self.report(line)

    def train_step(self) -> StepResult:
        """One step: a batch drawn with replacement (``np.random.choice``, or ``rng.choice``),
        the network's gradient, the optimizer's update, the batch loss after it; the accuracies when
        ``current_iter % iter_per_epoch == 0``."""
        draw = np.random if self.rng is None else self.rng
        rows = draw.choice(self.train_size, self.batch_size)
        x_batch, t_batch = self.x_train[rows], self.t_train[rows]
        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)
        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        self._say(f"train loss:{loss}")

        accuracies = None
        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            n = self.evaluate_sample_num_per_epoch
            x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
            if n is not None:
                x_tr, t_tr, x_te, t_te = x_tr[:n], t_tr[:n], x_te[:n], t_te[:n]
            accuracies = (self.network.accuracy(x_tr, t_tr), self.network.accuracy(x_te, t_te))
            self.train_acc_list.append(accuracies[0])
            self.test_acc_list.append(accuracies[1])
            self._say(f"=== epoch:{self.current_epoch}, train acc:{accuracies[0]}, "
                      f"test acc:{accuracies[1]} ===")  # fmt: skip
        self.current_iter += 1
        return StepResult(loss, accuracies)

    def train(self) -> float:
        """``max_iter`` steps, then the accuracy on the whole test set (returned)."""
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        self._say("=============== Final Test Accuracy ===============")
        self._say(f"test acc:{test_acc}")
        return test_acc


def shuffle_dataset(x, t):
    """``(x[p], t[p])`` for one permutation ``p = np.random.permutation(len(x))`` drawn from
    NumPy's global generator (as the book's ``common/util.py``), so pairs stay together; new
    arrays, the inputs are not changed."""
    for name, a in (("x", x), ("t", t)):
        if not hasattr(a, "shape") or len(a.shape) == 0:
            raise TypeError(f"{name} must be an array with one row per sample, got {describe(a)}")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"x and t must have one row per sample each, got {x.shape[0]} and "
                         f"{t.shape[0]} rows")  # fmt: skip
    order = np.random.permutation(x.shape[0])
    return x[order], t[order]
