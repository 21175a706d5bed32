"""The book's ``common/multi_layer_net_extend.py``: ``MultiLayerNetExtend`` with the book's
signature, ``MultiLayerNetExtend(input_size, hidden_size_list, output_size, activation='relu',
weight_init_std='relu', weight_decay_lambda=0, use_dropout=False, dropout_ration=0.5,
use_batchnorm=False)`` (its spelling ``dropout_ration``).

It is :class:`mitbadak.nn.networks.MultiLayerNetExtend` (Affine -> [BatchNormalization] ->
activation -> [Dropout] per hidden layer, then Affine); ``seed``, ``dtype``, ``device`` and
``inverted_dropout`` are mitbadak's keywords.
"""

from mitbadak.nn.networks import MultiLayerNetExtend

__all__ = ["MultiLayerNetExtend"]
