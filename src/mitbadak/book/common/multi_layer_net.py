"""The book's ``common/multi_layer_net.py``: ``MultiLayerNet`` with the book's signature."""

from __future__ import annotations

import numpy as np

from mitbadak.nn import networks

__all__ = ["MultiLayerNet"]


class MultiLayerNet(networks.MultiLayerNet):
    """``MultiLayerNet(input_size, hidden_size_list, output_size, activation='relu',
    weight_init_std='relu', weight_decay_lambda=0)``, as in the book: ``weight_init_std`` is
    'relu'/'he' (sqrt(2/n)), 'sigmoid'/'xavier' (sqrt(1/n)) or a number.

    It is :class:`mitbadak.MultiLayerNet` (Affine -> activation -> ... -> Affine ->
    SoftmaxWithLoss); ``seed``, ``dtype`` and ``device`` are mitbadak's keywords.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size_list,
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0,
        *,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        super().__init__(
            input_size,
            hidden_size_list,
            output_size,
            activation,
            weight_init_std,
            weight_decay_lambda=weight_decay_lambda,
            seed=seed,
            dtype=dtype,
            device=device,
        )
        self.last_layer.finite_scores = False  # a diverged net goes on with nan, as the book's
