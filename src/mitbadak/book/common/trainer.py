"""The book's ``common/trainer.py``: ``Trainer``, the chapter-6 training loop
(:class:`mitbadak.training.book_trainer.BookTrainer`) that prints as the book's does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mitbadak.nn.optimizers import Optimizer
from mitbadak.training.book_trainer import BOOK_OPTIMIZER_PARAM, BookTrainer

__all__ = ["Trainer"]


class Trainer(BookTrainer):
    """``Trainer(network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
    optimizer='SGD', optimizer_param={'lr': 0.01}, evaluate_sample_num_per_epoch=None,
    verbose=True)``: :class:`BookTrainer` printing its lines (``train loss:...``,
    ``=== epoch:1, train acc:..., test acc:... ===``, the final test accuracy) when ``verbose``.
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
    ) -> None:
        super().__init__(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size,
                         optimizer, optimizer_param, evaluate_sample_num_per_epoch, verbose,
                         report=print)  # fmt: skip
