"""The book's ``common/layers.py``: ``Relu``, ``Sigmoid``, ``Affine``, ``SoftmaxWithLoss``,
``Dropout`` and ``BatchNormalization`` (mitbadak's layers; ``Convolution`` and ``Pooling`` come
with chapter 7)."""

from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization"]
