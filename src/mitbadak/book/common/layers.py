"""The book's ``common/layers.py``: ``Relu``, ``Sigmoid``, ``Affine``, ``SoftmaxWithLoss``
(mitbadak's layers; ``Dropout``, ``BatchNormalization``, ``Convolution`` and ``Pooling`` come with
chapters 6-7)."""

from mitbadak.nn.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss"]
