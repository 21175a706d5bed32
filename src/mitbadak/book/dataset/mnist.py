"""The book's ``dataset/mnist.py``: ``load_mnist(normalize=True, flatten=True,
one_hot_label=False)`` returning ``(x_train, t_train), (x_test, t_test)``.

It is :func:`mitbadak.files.datasets.load_mnist`: the four MNIST files are found on disk or
downloaded
once (checked by SHA-256); ``name='mnist-sample'`` loads the sample that ships with mitbadak.
"""

from mitbadak.files.datasets import load_mnist

__all__ = ["load_mnist"]
