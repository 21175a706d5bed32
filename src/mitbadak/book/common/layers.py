"""The book's ``common/layers.py``: ``Relu``, ``Sigmoid``, ``Affine``, ``SoftmaxWithLoss``,
``Dropout``, ``BatchNormalization``, ``Convolution`` and ``Pooling`` (mitbadak's layers)."""

from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.convolution import Convolution
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from mitbadak.nn.pooling import Pooling

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
           "Convolution", "Pooling"]  # fmt: skip
