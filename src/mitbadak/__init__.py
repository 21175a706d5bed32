"""mitbadak (밑바닥): Deep Learning from Scratch, chapters 3-5, as a small, fast NumPy library.

The public API, by chapter:

* chapter 3 - :mod:`mitbadak.core.functions` (activations, softmax), :func:`init_network`,
  :func:`forward`
* chapter 4 - loss functions, :mod:`mitbadak.core.differentiation` (numerical differentiation),
  :class:`SimpleNet`, :class:`TwoLayerNet`
* chapter 5 - :mod:`mitbadak.nn.layers` (the computational graph), :func:`gradient_check`
* chapters 7-8 - :class:`SimpleConvNet`, :class:`DeepConvNet` (:mod:`mitbadak.nn.convnets`)
"""

from mitbadak import _aliases
from mitbadak.core.differentiation import (
    gradient_descent,
    numerical_diff,
    numerical_gradient,
    tangent_line,
)
from mitbadak.core.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squares_error,
)
from mitbadak.core.version import __version__
from mitbadak.files.bookweights import import_book_weights, load_book_weights
from mitbadak.files.datasets import find_book_weights, load_mnist
from mitbadak.files.modelfile import load_model, save_model
from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.gradcheck import gradient_check
from mitbadak.nn.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from mitbadak.nn.networks import (
    MultiLayerNet,
    MultiLayerNetExtend,
    SimpleNet,
    TwoLayerNet,
    forward,
    init_network,
    predict,
    simpleNet,
)
from mitbadak.nn.optimizers import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from mitbadak.training.loop import train
from mitbadak.training.search import search
from mitbadak.training.tune import tune

# mitbadak 0.1's module names (mitbadak.networks, mitbadak.datasets, ...) for one more release.
_aliases.install()

# The composition root: a higher layer plugs its engines into a lower one when imported (nn never
# imports devices, training never imports views; docs/architecture.md), and importing any part of
# mitbadak runs this file first, so they are always plugged in.
from mitbadak.devices import fused_step as _fused_step  # noqa: E402,F401  CuPy scores -> nn
from mitbadak.files import convnet_params as _convnet_params  # noqa: E402,F401  param files -> nn
from mitbadak.views import run_curves as _run_curves  # noqa: E402,F401  run PNGs -> training


def __getattr__(name: str):
    """``mitbadak.networks`` and the other old module names as attributes (see ``_aliases``)."""
    return _aliases.old_module(name)


__all__ = [
    "__version__",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "identity_function",
    "softmax",
    "sum_squares_error",
    "cross_entropy_error",
    "numerical_diff",
    "numerical_gradient",
    "gradient_descent",
    "tangent_line",
    "MulLayer",
    "AddLayer",
    "Relu",
    "Sigmoid",
    "Affine",
    "SoftmaxWithLoss",
    "BatchNormalization",
    "Dropout",
    "init_network",
    "forward",
    "predict",
    "SimpleNet",
    "simpleNet",
    "TwoLayerNet",
    "MultiLayerNet",
    "MultiLayerNetExtend",
    "SimpleConvNet",
    "DeepConvNet",
    "gradient_check",
    "SGD",
    "Momentum",
    "AdaGrad",
    "Adam",
    "Nesterov",
    "RMSprop",
    "train",
    "search",
    "tune",
    "load_mnist",
    "save_model",
    "load_model",
    "import_book_weights",
    "load_book_weights",
    "find_book_weights",
]
