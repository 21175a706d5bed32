"""The book's ``common/multi_layer_net_extend.py``: ``MultiLayerNetExtend`` with the book's
signature, ``MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu',
weight_init_std='relu', weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
use_batchnorm=False)`` (its spelling ``dropout_ration``).

It is :class:`mitbadak.nn.networks.MultiLayerNetExtend` (Affine -> [BatchNormalization] ->
activation -> [Dropout] per hidden layer, then Affine); ``seed``, ``dtype``, ``device`` and
``inverted_dropout`` are mitbadak's keywords.
"""

import numpy as np

from mitbadak.nn import networks

__all__ = ["MultiLayerNetExtend"]


class MultiLayerNetExtend(networks.MultiLayerNetExtend):
    """The library's ``MultiLayerNetExtend`` with the book's signature; a network whose weights
    overflow goes on with a ``nan`` loss (and a ``DivergedWarning``) as the book's code does, so
    ``batch_norm_test.py``'s large weight scales draw their flat curves instead of stopping."""

    def __init__(
        self,
        input_size,
        hidden_size_list,
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        inverted_dropout: bool = False,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        super().__init__(
            input_size, hidden_size_list, output_size, activation, weight_init_std,
            weight_decay_lambda, use_dropout, dropout_ration, use_batchnorm,
            inverted_dropout=inverted_dropout, seed=seed, dtype=dtype, device=device,
        )  # fmt: skip
        self.last_layer.finite_scores = False
