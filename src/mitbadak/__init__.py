"""mitbadak (밑바닥): Deep Learning from Scratch, chapters 3-5, as a small, fast NumPy library.

The public API, by chapter:

* chapter 3 - :mod:`mitbadak.functions` (activations, softmax), :func:`init_network`,
  :func:`forward`
* chapter 4 - loss functions, :mod:`mitbadak.gradient` (numerical differentiation),
  :class:`SimpleNet`, :class:`TwoLayerNet`
* chapter 5 - :mod:`mitbadak.layers` (the computational graph), :func:`gradient_check`
"""

from mitbadak.bookweights import import_book_weights, load_book_weights
from mitbadak.datasets import find_book_weights, load_mnist
from mitbadak.functions import (
    cross_entropy_error,
    identity_function,
    relu,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squares_error,
)
from mitbadak.gradcheck import gradient_check
from mitbadak.gradient import gradient_descent, numerical_diff, numerical_gradient, tangent_line
from mitbadak.layers import AddLayer, Affine, MulLayer, Relu, Sigmoid, SoftmaxWithLoss
from mitbadak.modelfile import load_model, save_model
from mitbadak.networks import (
    MultiLayerNet,
    SimpleNet,
    TwoLayerNet,
    forward,
    init_network,
    predict,
    simpleNet,
)
from mitbadak.optimizers import SGD, AdaGrad, Adam, Momentum
from mitbadak.training import train

__version__ = "0.1.0"

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
    "init_network",
    "forward",
    "predict",
    "SimpleNet",
    "simpleNet",
    "TwoLayerNet",
    "MultiLayerNet",
    "gradient_check",
    "SGD",
    "Momentum",
    "AdaGrad",
    "Adam",
    "train",
    "load_mnist",
    "save_model",
    "load_model",
    "import_book_weights",
    "load_book_weights",
    "find_book_weights",
]
