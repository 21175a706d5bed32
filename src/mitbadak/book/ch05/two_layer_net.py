"""The book's ``ch05/two_layer_net.py``: ``TwoLayerNet`` with a **ReLU** hidden layer."""

from __future__ import annotations

import numpy as np

from mitbadak.nn import networks

__all__ = ["TwoLayerNet"]


class TwoLayerNet(networks.TwoLayerNet):
    """Chapter 5's network: ``TwoLayerNet(input_size, hidden_size, output_size,
    weight_init_std=0.01)``, layers ``Affine1 -> Relu1 -> Affine2`` and ``lastLayer``
    (SoftmaxWithLoss), as in the book.

    It is :class:`mitbadak.TwoLayerNet` with ``activation='relu'``: ``predict`` (scores),
    ``loss``, ``accuracy``, ``numerical_gradient`` (the fast engine; ``method='reference'`` for
    the book's loop) and ``gradient`` (backprop through the layers). ``seed``, ``dtype`` and
    ``device`` are mitbadak's keywords.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        super().__init__(
            input_size, hidden_size, output_size, weight_init_std, "relu",
            seed=seed, dtype=dtype, device=device,
        )
