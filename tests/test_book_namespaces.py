"""mitbadak.book: the book's files as modules, so that a script is ported by its imports alone.

The book's chapter 3-5 scripts import (facts read from the book's repository, listed here as
data): ``dataset.mnist``, ``common.functions``, ``common.gradient``, ``common.layers`` and their
own folder's ``two_layer_net``, ``gradient_2d``, ``layer_naive``. Every such line, rewritten to
``mitbadak.book``, must import; every name of every module must be mitbadak's own object (or a
subclass that only sets the book's defaults); and the two training scripts, transcribed here with
their imports rewritten, must train chapter 4's sigmoid network and chapter 5's ReLU network.
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest

import mitbadak
import mitbadak.book
from mitbadak.nn import layers, networks

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

#: (script, the import lines of the book's script that name the book's own modules)
BOOK_IMPORTS = [
    ("ch03/mnist_show.py", ["from dataset.mnist import load_mnist"]),
    ("ch03/neuralnet_mnist.py", ["from dataset.mnist import load_mnist",
                                 "from common.functions import sigmoid, softmax"]),
    ("ch03/neuralnet_mnist_batch.py", ["from dataset.mnist import load_mnist",
                                       "from common.functions import sigmoid, softmax"]),
    ("ch04/gradient_method.py", ["from gradient_2d import numerical_gradient"]),
    ("ch04/gradient_simplenet.py", ["from common.functions import softmax, cross_entropy_error",
                                    "from common.gradient import numerical_gradient"]),
    ("ch04/train_neuralnet.py", ["from dataset.mnist import load_mnist",
                                 "from two_layer_net import TwoLayerNet"]),
    ("ch04/two_layer_net.py", ["from common.functions import *",
                               "from common.gradient import numerical_gradient"]),
    ("ch05/buy_apple.py", ["from layer_naive import *"]),
    ("ch05/buy_apple_orange.py", ["from layer_naive import *"]),
    ("ch05/gradient_check.py", ["from dataset.mnist import load_mnist",
                                "from two_layer_net import TwoLayerNet"]),
    ("ch05/train_neuralnet.py", ["from dataset.mnist import load_mnist",
                                 "from two_layer_net import TwoLayerNet"]),
    ("ch05/two_layer_net.py", ["from common.layers import *",
                               "from common.gradient import numerical_gradient"]),
    # chapter 6's lines whose modules exist already
    ("ch06/overfit_weight_decay.py", ["from common.multi_layer_net import MultiLayerNet",
                                      "from common.optimizer import SGD"]),
    ("ch06/optimizer_compare_naive.py", ["from common.optimizer import *"]),
    ("ch06/batch_norm_gradient_check.py", ["from dataset.mnist import load_mnist",
                                           "from common.multi_layer_net_extend import "
                                           "MultiLayerNetExtend"]),
    ("ch06/batch_norm_test.py", ["from dataset.mnist import load_mnist",
                                 "from common.multi_layer_net_extend import MultiLayerNetExtend",
                                 "from common.optimizer import SGD, Adam"]),
    # chapters 7-8
    ("ch07/apply_filter.py", ["from simple_convnet import SimpleConvNet",
                              "from common.layers import Convolution"]),
    ("ch07/gradient_check.py", ["from simple_convnet import SimpleConvNet"]),
    ("ch07/simple_convnet.py", ["from common.layers import *",
                                "from common.gradient import numerical_gradient"]),
    ("ch07/train_convnet.py", ["from dataset.mnist import load_mnist",
                               "from simple_convnet import SimpleConvNet",
                               "from common.trainer import Trainer"]),
    ("ch07/visualize_filter.py", ["from simple_convnet import SimpleConvNet"]),
    ("ch08/deep_convnet.py", ["from common.layers import *"]),
    ("ch08/half_float_network.py", ["from deep_convnet import DeepConvNet",
                                    "from dataset.mnist import load_mnist"]),
    ("ch08/misclassified_mnist.py", ["from deep_convnet import DeepConvNet",
                                     "from dataset.mnist import load_mnist"]),
    ("ch08/train_deepnet.py", ["from dataset.mnist import load_mnist",
                               "from deep_convnet import DeepConvNet",
                               "from common.trainer import Trainer"]),
]

#: names a script uses after its star import
STAR_NAMES = {
    "ch04/two_layer_net.py": {"sigmoid", "softmax", "cross_entropy_error", "sigmoid_grad"},
    "ch05/two_layer_net.py": {"Affine", "Relu", "SoftmaxWithLoss"},
    "ch07/simple_convnet.py": {"Convolution", "Relu", "Pooling", "Affine", "SoftmaxWithLoss"},
    "ch08/deep_convnet.py": {"Convolution", "Relu", "Pooling", "Affine", "Dropout",
                             "SoftmaxWithLoss"},
    "ch05/buy_apple.py": {"MulLayer"},
    "ch05/buy_apple_orange.py": {"MulLayer", "AddLayer"},
    "ch06/optimizer_compare_naive.py": {"SGD", "Momentum", "AdaGrad", "Adam"},
}

_FROM = re.compile(r"^from ([\w.]+) import (.+)$")


def port(line: str, script: str) -> str:
    """The book's import line as mitbadak reads it: ``from X import`` ->
    ``from mitbadak.book.X import``, a chapter's own module under its chapter."""
    module, names = _FROM.match(line).groups()
    if module.split(".")[0] not in ("common", "dataset"):
        module = f"{script.split('/')[0]}.{module}"
    return f"from mitbadak.book.{module} import {names}"


def _book_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(mitbadak.book.__path__, "mitbadak.book.")
        if not info.ispkg
    )


def test_port_rewrites_imports():
    assert port("from two_layer_net import TwoLayerNet", "ch05/train_neuralnet.py") == (
        "from mitbadak.book.ch05.two_layer_net import TwoLayerNet"
    )
    assert port("from common.layers import *", "ch05/two_layer_net.py") == (
        "from mitbadak.book.common.layers import *"
    )


@pytest.mark.parametrize(("script", "lines"), BOOK_IMPORTS, ids=[s for s, _ in BOOK_IMPORTS])
def test_every_import_line_of_the_book_scripts_works_ported(script, lines):
    namespace: dict = {}
    for line in lines:
        exec(port(line, script), namespace)  # noqa: S102 - our own import lines
    for line in lines:
        names = _FROM.match(line).group(2)
        if names != "*":
            assert all(name.strip() in namespace for name in names.split(","))
    assert STAR_NAMES.get(script, set()) <= set(namespace)


def test_the_listed_modules_are_the_modules():
    assert sorted(mitbadak.book.BOOK_FILES.values()) == _book_modules()
    for path, module in mitbadak.book.BOOK_FILES.items():
        assert module == "mitbadak.book." + path.removesuffix(".py").replace("/", ".")


@pytest.mark.parametrize("module_name", _book_modules())
def test_every_name_imports_and_is_the_librarys(module_name):
    """A thin face: each name is mitbadak's own object, a function of a few lines calling it, or
    a subclass that sets the book's defaults in ``__init__`` and adds nothing else."""
    module = importlib.import_module(module_name)
    assert module.__doc__, module_name
    assert module.__all__, module_name
    star: dict = {}
    exec(f"from {module_name} import *", star)  # noqa: S102
    assert set(star) - {"__builtins__"} == set(module.__all__)
    for name in module.__all__:
        obj = getattr(module, name)
        origin = getattr(obj, "__module__", "")
        if origin == module_name:  # defined here: a face over the library
            if isinstance(obj, type):
                library_bases = [b for b in obj.__mro__[1:] if b.__module__.startswith("mitbadak.")]
                assert library_bases and not library_bases[0].__module__.startswith("mitbadak.book")
                own = set(vars(obj)) - {"__module__", "__doc__", "__qualname__", "__firstlineno__",
                                        "__static_attributes__"}
                assert own == {"__init__"}, (module_name, name, own)
            else:
                assert callable(obj) and obj.__doc__
        else:
            assert origin.startswith("mitbadak.") and not origin.startswith("mitbadak.book")


def test_the_book_names_are_the_library_objects():
    from mitbadak.book.ch04 import gradient_1d, gradient_2d, gradient_simplenet
    from mitbadak.book.ch05 import layer_naive
    from mitbadak.book.common import functions, gradient, optimizer
    from mitbadak.book.common import layers as book_layers
    from mitbadak.book.dataset import mnist

    assert functions.sigmoid is mitbadak.sigmoid and functions.softmax is mitbadak.softmax
    assert functions.sum_squared_error is functions.sum_squares_error is mitbadak.sum_squares_error
    assert gradient.numerical_gradient is gradient_2d.numerical_gradient is (
        mitbadak.numerical_gradient
    )
    assert gradient_1d.numerical_diff is mitbadak.numerical_diff
    assert gradient_simplenet.simpleNet is mitbadak.SimpleNet
    assert book_layers.Relu is layers.Relu and book_layers.SoftmaxWithLoss is layers.SoftmaxWithLoss
    assert layer_naive.MulLayer is layers.MulLayer and layer_naive.AddLayer is layers.AddLayer
    assert optimizer.Adam is mitbadak.Adam and optimizer.SGD().lr == 0.01
    assert optimizer.Adam().lr == 0.001
    # a face calling the library's load_mnist, with the book scripts' offline fallback
    # (tests/test_book_ch06_scripts.py)
    assert mnist._datasets.load_mnist is mitbadak.load_mnist


def test_softmax_loss_and_numerical_gradient_2d():
    from mitbadak.book.common.functions import softmax_loss
    from mitbadak.book.common.gradient import numerical_gradient_2d

    scores = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    t = np.array([0, 1])
    assert softmax_loss(scores, t) == mitbadak.cross_entropy_error(mitbadak.softmax(scores), t)
    points = np.array([[3.0, 4.0], [1.5, 2.0]])
    np.testing.assert_allclose(
        numerical_gradient_2d(lambda p: np.sum(p**2), points), [[6.0, 8.0], [3.0, 4.0]],
        rtol=1e-9,
    )
    np.testing.assert_allclose(
        numerical_gradient_2d(lambda p: np.sum(p**2), np.array([3.0, 4.0])), [6.0, 8.0],
        rtol=1e-9,
    )


def test_gradient_method_returns_the_path_as_the_books_file():
    from mitbadak.book.ch04.gradient_method import gradient_descent

    init_x = np.array([-3.0, 4.0])
    x, x_history = gradient_descent(lambda x: x[0] ** 2 + x[1] ** 2, init_x, lr=0.1,
                                    step_num=100)
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)
    assert x_history.shape == (100, 2) and list(x_history[0]) == [-3.0, 4.0]
    assert list(init_x) == [-3.0, 4.0]
    x, _ = gradient_descent(lambda x: x[0] ** 2 + x[1] ** 2, init_x)  # lr 0.01, 100 steps
    np.testing.assert_allclose(x, [-0.39785867, 0.53047822], rtol=1e-7)


# -- the two TwoLayerNets -----------------------------------------------------------------------


def test_chapter_5_net_is_relu_and_chapter_4_net_is_sigmoid():
    from mitbadak.book.ch04.two_layer_net import TwoLayerNet as TwoLayerNet4
    from mitbadak.book.ch05.two_layer_net import TwoLayerNet as TwoLayerNet5

    net5 = TwoLayerNet5(input_size=784, hidden_size=50, output_size=10)
    net4 = TwoLayerNet4(input_size=784, hidden_size=50, output_size=10)
    assert list(net5.layers) == ["Affine1", "Relu1", "Affine2"]
    assert isinstance(net5.layers["Relu1"], layers.Relu)
    assert isinstance(net5.lastLayer, layers.SoftmaxWithLoss)
    assert list(net4.layers) == ["Affine1", "Sigmoid1", "Affine2"]
    assert (net5.activation, net4.activation) == ("relu", "sigmoid")
    for net in (net4, net5):
        assert isinstance(net, networks.TwoLayerNet)
        assert {k: v.shape for k, v in net.params.items()} == {
            "W1": (784, 50), "b1": (50,), "W2": (50, 10), "b2": (10,)}
        assert 0.005 < float(np.std(net.params["W1"])) < 0.015  # weight_init_std = 0.01
    # the book's positional weight_init_std; the same weights as the library's with that seed
    a = TwoLayerNet5(4, 3, 2, 0.5, seed=7)
    b = mitbadak.TwoLayerNet(4, 3, 2, 0.5, "relu", seed=7)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert a.config() == b.config()


def test_a_saved_chapter_5_net_loads_as_the_same_relu_net(tmp_path):
    from mitbadak.book.ch05.two_layer_net import TwoLayerNet

    net = TwoLayerNet(6, 4, 3, seed=0)
    mitbadak.save_model(tmp_path / "net.npz", net)
    loaded = mitbadak.load_model(tmp_path / "net.npz")
    assert loaded.activation == "relu"
    x = np.random.default_rng(1).random((5, 6))
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


def test_book_multi_layer_net_signature():
    from mitbadak.book.common.multi_layer_net import MultiLayerNet

    net = MultiLayerNet(784, [100, 100], 10, "sigmoid", "sigmoid", 0.1, seed=3)
    ref = mitbadak.MultiLayerNet(784, [100, 100], 10, "sigmoid", "xavier",
                                 weight_decay_lambda=0.1, seed=3)
    assert all(np.array_equal(net.params[k], ref.params[k]) for k in ref.params)
    assert net.weight_decay_lambda == 0.1
    assert list(net.layers) == ["Affine1", "Sigmoid1", "Affine2", "Sigmoid2", "Affine3"]
    default = MultiLayerNet(input_size=784, hidden_size_list=[50], output_size=10, seed=3)
    assert default.activation == "relu"
    np.testing.assert_allclose(np.std(default.params["W1"]), np.sqrt(2 / 784), rtol=0.05)


def _training_and_test_data():
    """The training images of the packaged MNIST sample (4,000; these machines have no MNIST
    training images) and the real test set where ../shared/data has it, else the sample's."""
    from mitbadak.book.dataset.mnist import load_mnist
    from mitbadak.files.datasets import load_split

    (x_train, t_train), (x_test, t_test) = load_mnist(
        normalize=True, one_hot_label=True, name="mnist-sample"
    )
    real = (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file()
    if real:
        x_test, t_test = load_split("mnist", "test", one_hot_label=True, data_dir=SHARED_MNIST,
                                    download=False)
    return x_train, t_train, x_test, t_test, real


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _train_like_the_book(TwoLayerNet, iters_num: int = 600) -> tuple[float, list[float]]:
    """The loop of the book's ch04/ch05 train_neuralnet.py (transcribed, seeded): mini-batches of
    100 by random choice, backprop, SGD at lr 0.1, the accuracies once per epoch. 600 iterations
    are the book's first epoch (60,000 images / 100). Returns the final test accuracy and the
    per-epoch test accuracies."""
    x_train, t_train, x_test, t_test, _ = _training_and_test_data()
    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)
    rng = np.random.default_rng(0)
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    test_acc_list = []
    for i in range(iters_num):
        batch_mask = rng.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]
        grad = network.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]
        if i % iter_per_epoch == 0:
            test_acc_list.append(network.accuracy(x_test, t_test))
    return network.accuracy(x_test, t_test), test_acc_list


def test_the_books_training_scripts_ported_train_relu_and_sigmoid_nets():
    """The issue: ch05/train_neuralnet.py ported trained a sigmoid net (0.79 after the book's
    first epoch instead of 0.89). After 600 iterations the book's ReLU net is near 0.89 on the
    real test set, chapter 4's sigmoid net near 0.79."""
    from mitbadak.book.ch04.two_layer_net import TwoLayerNet as TwoLayerNet4
    from mitbadak.book.ch05.two_layer_net import TwoLayerNet as TwoLayerNet5

    with _one_blas_thread():  # small matrix products: BLAS threads only wait on a busy machine
        acc5, history5 = _train_like_the_book(TwoLayerNet5)
        acc4, _ = _train_like_the_book(TwoLayerNet4)
    assert len(history5) == 15  # 600 iterations / 40 per epoch of 4,000 images
    assert history5[0] < 0.3 < history5[-1]
    assert acc5 > 0.85 and acc4 < acc5 - 0.05, (acc5, acc4)
    if (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        assert 0.88 <= acc5 <= 0.91, acc5  # the book prints 0.89 (measured here: 0.893)
        assert 0.76 <= acc4 <= 0.82, acc4  # the 0.79 (measured here: 0.792)


def test_numerical_gradient_of_the_book_nets_is_fast_by_default_and_the_books_on_request():
    from mitbadak.book.ch05.two_layer_net import TwoLayerNet

    net = TwoLayerNet(20, 6, 3, weight_init_std=0.5, seed=2)
    x = np.random.default_rng(3).random((4, 20))
    t = np.array([0, 2, 1, 2])
    default = net.numerical_gradient(x, t)
    fast = net.numerical_gradient(x, t, method="fast")
    ref = net.numerical_gradient(x, t, method="reference")
    backprop = net.gradient(x, t)
    for k in net.params:
        np.testing.assert_array_equal(default[k], fast[k])
        np.testing.assert_allclose(fast[k], ref[k], rtol=0, atol=1e-9)
        np.testing.assert_allclose(fast[k], backprop[k], rtol=1e-6, atol=1e-8)
