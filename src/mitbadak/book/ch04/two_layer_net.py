"""The book's ``ch04/two_layer_net.py``: ``TwoLayerNet`` with a **sigmoid** hidden layer."""

from __future__ import annotations

import numpy as np

from mitbadak.nn import networks

__all__ = ["TwoLayerNet"]


class TwoLayerNet(networks.TwoLayerNet):
    """Chapter 4's network: ``TwoLayerNet(input_size, hidden_size, output_size,
    weight_init_std=0.01)``, Affine -> Sigmoid -> Affine -> SoftmaxWithLoss.

    It is :class:`mitbadak.TwoLayerNet` with ``activation='sigmoid'``: ``params``, ``loss``,
    ``accuracy``, ``numerical_gradient`` (the fast engine; ``method='reference'`` for the book's
    loop) and ``gradient`` (backprop). One difference: the book's chapter-4 ``predict`` returns
    softmax probabilities, mitbadak's the scores (``predict_proba`` gives the probabilities;
    the arg-max, so ``accuracy``, is the same). ``seed``, ``dtype`` and ``device`` are mitbadak's
    keywords.
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
            input_size, hidden_size, output_size, weight_init_std, "sigmoid",
            seed=seed, dtype=dtype, device=device,
        )
