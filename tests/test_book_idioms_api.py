"""The book's (and the seed notes') idioms work as written: issue 9, sections 1 and 2.

Each test here failed before the fix it covers: replacing a parameter was silently ignored,
``x, x_history = gradient_descent(...)`` silently split x, ``predict`` of one sample was 2-D, the
batch form of ``numerical_gradient`` raised NumPy's "setting an array element with a sequence",
and the book's names (``sigmoid_grad``, ``lastLayer``, ``simpleNet``, ``load_book_weights``,
``predict(network, x)``) did not exist.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import mitbadak as mb
from mitbadak.core.errors import DownloadError, ModelFileError
from mitbadak.files import datasets
from mitbadak.files.datasets import registry
from mitbadak.nn.networks import FeedForwardNet, ParamDict

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOOK_PKL = SHARED / "sample_weight.pkl"


def _networks():
    return [
        mb.TwoLayerNet(6, 5, 3, seed=1),
        mb.TwoLayerNet(6, 5, 3, activation="relu", seed=1, dtype=np.float32),
        mb.MultiLayerNet(6, [5, 4], 3, seed=2),
        FeedForwardNet(6, [4], 3, activation="sigmoid", seed=3),
    ]


def _batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def _assert_layers_use_params(net):
    for i in range(1, net.n_affine + 1):
        affine = net.layers[f"Affine{i}"]
        assert affine.W is net.params[f"W{i}"]
        assert affine.b is net.params[f"b{i}"]


# -- 1. replacing a parameter ------------------------------------------------------------------


@pytest.mark.parametrize("net", _networks(), ids=lambda n: repr(n))
def test_replacing_a_parameter_changes_the_network(net):
    x, t = _batch()
    before = net.predict(x)
    for key in net.params:
        net.params[key] = np.zeros_like(net.params[key])
    _assert_layers_use_params(net)
    # all-zero weights: every score is 0, the loss is log(C), on every path
    np.testing.assert_array_equal(net.predict(x), np.zeros_like(before))
    assert net.loss(x, t) == pytest.approx(np.log(3), rel=1e-6)
    grads = net.gradient(x, t)
    assert net.loss_and_gradient(x.astype(net.dtype), t)[0] == pytest.approx(np.log(3), rel=1e-6)
    assert set(grads) == set(net.params)


@pytest.mark.parametrize("net", _networks()[:3], ids=lambda n: repr(n))
def test_in_place_and_replacement_updates_train_identically(net):
    """The book's update written two ways gives bit-identical parameters after 30 steps."""
    twin = pickle.loads(pickle.dumps(net))  # same weights, same class, independent arrays
    assert twin.params["W1"] is not net.params["W1"]
    lr = 0.1
    x0, t0 = _batch(seed=0)
    initial_loss = net.loss(x0, t0)
    for step in range(30):
        x, t = _batch(seed=step)
        grads = net.gradient(x, t)
        for key in net.params:
            net.params[key] -= lr * grads[key]  # in place
        grads = twin.gradient(x, t)
        for key in twin.params:
            twin.params[key] = twin.params[key] - lr * grads[key]  # replacement
    for key in net.params:
        assert net.params[key].tobytes() == twin.params[key].tobytes(), key
    _assert_layers_use_params(twin)
    assert twin.loss(x0, t0) == net.loss(x0, t0) != initial_loss  # and training did happen


def test_replacement_updates_with_the_numerical_gradient_of_chapter_4():
    """Seed note 000's loop, written with replacement: params[key] = params[key] - lr * grad."""
    net = mb.TwoLayerNet(6, 4, 3, seed=0)
    x, t = _batch()
    losses = [net.loss(x, t)]
    for _ in range(5):
        grads = net.numerical_gradient(x, t)
        for key, grad in grads.items():
            net.params[key] = net.params[key] - 0.5 * grad
        losses.append(net.loss(x, t))
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))


def test_replacing_with_a_wrong_shape_or_dtype_is_a_clear_error():
    net = mb.TwoLayerNet(784, 50, 10, seed=0)
    W1 = net.params["W1"]
    with pytest.raises(
        ValueError, match=r"params\['W1'\] must have shape \(784, 50\) .*got \(50, 784\)"
    ):
        net.params["W1"] = np.zeros((50, 784))
    with pytest.raises(ValueError, match=r"params\['b1'\] must hold real numbers.*complex"):
        net.params["b1"] = np.zeros(50, dtype=complex)
    with pytest.raises(ValueError, match=r"must hold real numbers"):
        net.params["b1"] = ["a"] * 50
    assert net.params["W1"] is W1 and net.layers["Affine1"].W is W1  # nothing changed


def test_replacement_dtype_policy_converts_to_the_network_dtype():
    net = mb.TwoLayerNet(4, 3, 2, seed=0, dtype=np.float32)
    new = np.ones((4, 3))  # float64
    net.params["W1"] = new
    assert net.params["W1"].dtype == np.float32 and net.params["W1"] is not new
    np.testing.assert_array_equal(net.params["W1"], 1.0)
    net.params["b1"] = np.zeros(3, dtype=int)
    assert net.params["b1"].dtype == np.float32
    same = np.full((3, 2), 0.5, dtype=np.float32)
    net.params["W2"] = same  # the network's dtype: stored as is, like a plain dict
    assert net.params["W2"] is same and net.layers["Affine2"].W is same
    readonly = np.zeros(2, dtype=np.float32)
    readonly.flags.writeable = False
    net.params["b2"] = readonly  # optimizers update in place: a read-only array is copied
    assert net.params["b2"].flags.writeable
    mb.SGD(lr=0.1).update(net.params, net.gradient(np.ones((2, 4)), [0, 1]))
    _assert_layers_use_params(net)


def test_params_keys_are_fixed():
    net = mb.TwoLayerNet(4, 3, 2, seed=0)
    with pytest.raises(KeyError, match=r"params has no 'W3'.*W1, b1, W2, b2") as info:
        net.params["W3"] = np.zeros((2, 2))
    assert str(info.value).startswith("params has no 'W3'")  # no KeyError quotes
    for remove in (
        lambda p: p.__delitem__("W1"),
        lambda p: p.pop("W1"),
        lambda p: p.popitem(),
        lambda p: p.clear(),
    ):
        with pytest.raises(TypeError, match="fixed by its architecture"):
            remove(net.params)
    with pytest.raises(KeyError, match="params has no 'W9'"):
        net.params.update({"W9": 1})
    with pytest.raises(KeyError, match="params has no 'c'"):
        net.params.setdefault("c", 0)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    net.params.update(W2=np.zeros((3, 2)))  # update goes through the same checks and rebinding
    _assert_layers_use_params(net)
    np.testing.assert_array_equal(net.layers["Affine2"].W, 0)
    assert isinstance(net.params, dict) and isinstance(net.params, ParamDict)
    assert type(net.params.copy()) is dict


def test_set_params_load_and_whole_dict_assignment_keep_replacement_working(tmp_path):
    net = mb.TwoLayerNet(4, 3, 2, seed=0)
    net.set_params({k: np.ones_like(v) for k, v in net.params.items()})
    net.params["W1"] = np.zeros((4, 3))
    _assert_layers_use_params(net)
    net.params = {k: np.full_like(v, 2.0) for k, v in net.params.items()}
    assert isinstance(net.params, ParamDict)
    net.params["b2"] = np.array([1.0, -1.0])
    _assert_layers_use_params(net)
    mb.save_model(tmp_path / "m.npz", net)
    loaded = mb.load_model(tmp_path / "m.npz")
    loaded.params["W2"] = np.zeros((3, 2))
    _assert_layers_use_params(loaded)
    np.testing.assert_array_equal(loaded.predict(np.ones(4)), [1.0, -1.0])
    with pytest.raises(ValueError, match="parameters .* do not match"):
        net.params = {"W1": np.zeros((4, 3))}


def test_simplenet_W_and_params_are_one_array():
    net = mb.SimpleNet(seed=0)
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    dW = mb.numerical_gradient(lambda W: net.loss(x, t), net.W)
    W0 = net.W.copy()
    net.W = net.W - 0.1 * dW  # replacement by attribute
    assert net.params["W"] is net.W
    np.testing.assert_array_equal(net.W, W0 - 0.1 * dW)
    net.params["W"] = W0  # replacement through params
    assert net.W is W0
    np.testing.assert_array_equal(net.predict(x), x @ W0)
    net.W -= 0.1 * dW  # in place, as the seed notes do
    assert net.params["W"] is net.W is W0
    with pytest.raises(ValueError, match=r"params\['W'\] must have shape \(2, 3\)"):
        net.W = np.zeros((3, 2))


# -- 1. predict of one sample ----------------------------------------------------------------


@pytest.mark.parametrize("net", _networks(), ids=lambda n: repr(n))
def test_predict_one_sample_is_1d_and_batches_stay_2d(net):
    x, t = _batch()
    assert net.predict(x[0]).shape == (3,)
    np.testing.assert_allclose(net.predict(x[0]), net.predict(x)[0], rtol=1e-6)
    assert net.predict(x).shape == (8, 3)
    assert net.predict(x[:1]).shape == (1, 3)
    assert net.predict_proba(x[0]).shape == (3,)
    assert net.predict_proba(x[0]).sum() == pytest.approx(1.0, rel=1e-6)
    # loss and accuracy of one 1-D sample with a scalar label still work
    assert net.loss(x[0], t[0]) == pytest.approx(net.loss(x[:1], t[:1]), rel=1e-6)
    assert net.accuracy(x[0], t[0]) in (0.0, 1.0)
    assert np.argmax(net.predict(x[0])) == np.argmax(net.predict(x[:1]), axis=1)[0]


# -- 2. numerical_gradient: the book's batch form and f's return value -------------------------


def _book_function_2(x):
    """ch04/gradient_2d.py's function_2: one value per row for a 2-D x."""
    if x.ndim == 1:
        return np.sum(x**2)
    return np.sum(x**2, axis=1)


def test_numerical_gradient_batch_form_of_gradient_2d():
    x0 = np.arange(-2, 2.5, 0.25)
    x1 = np.arange(-2, 2.5, 0.25)
    X, Y = np.meshgrid(x0, x1)
    X, Y = X.flatten(), Y.flatten()
    points = np.array([X, Y])  # (2, 324): the book's call, rows treated one by one
    grad = mb.numerical_gradient(_book_function_2, points)
    assert grad.shape == (2, 324)
    np.testing.assert_allclose(grad, 2 * points, atol=1e-6)
    assert grad[0, 0] == -4.000000000004 or grad[0, 0] == pytest.approx(-4.0, abs=1e-9)
    # the usual form, one point per row of a (N, 2) array, with f written for one point
    pts = np.array([[3.0, 4.0], [1.5, 2.0], [3.0, 0.01]])
    g = mb.numerical_gradient(lambda p: p[0] ** 2 + p[1] ** 2, pts)
    np.testing.assert_allclose(g, [[6, 8], [3, 4], [6, 0.02]], rtol=1e-9)
    forced = mb.numerical_gradient(lambda p: np.sum(p**2), pts.copy(), per_row=True)
    np.testing.assert_allclose(forced, g, rtol=1e-9)


def test_numerical_gradient_per_row_perturbs_x_itself():
    """Rows are views: an f that closes over the whole array sees each perturbation."""
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = mb.numerical_gradient(lambda _row: float(np.sum(X**3)), X, per_row=True)
    np.testing.assert_allclose(g, 3 * X**2, rtol=1e-7)
    np.testing.assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    "f, what",
    [
        (lambda x: x * 2, r"an array of shape \(2,\)"),
        (lambda x: None, "a NoneType"),
        (lambda x: "loss", "a str"),
        (lambda x: np.array(["a", "b"]), "an array of dtype <U1"),
    ],
)
def test_numerical_gradient_f_must_return_a_scalar(f, what):
    x = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^f must return a scalar \(one number\), .*" + what):
        mb.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])  # restored


def test_numerical_gradient_array_valued_f_on_batches_is_a_one_line_error():
    with pytest.raises(
        ValueError,
        match=r"^f must return a scalar \(one number\) for each row of x, but f\(x\[0\]\) "
        r"returned an array of shape \(3,\) \(and f\(x\) returned an array of shape \(2, 3\) "
        r"for x of shape \(2, 3\)\)$",
    ):
        mb.numerical_gradient(lambda x: x**2, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"returned an array of shape \(2, 2, 3\) for x of shape"):
        mb.numerical_gradient(lambda x: x**2, np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match=r"scalar .*shape \(2,\) for x of shape \(2, 3\)"):
        mb.numerical_gradient(lambda x: np.sum(x**2, axis=1), np.ones((2, 3)), per_row=False)
    with pytest.raises(ValueError, match=r"per_row=True needs a 2-D x"):
        mb.numerical_gradient(np.sum, np.ones(3), per_row=True)


def test_numerical_gradient_accepts_one_element_arrays_and_numpy_scalars():
    x = np.array([3.0, 4.0])
    for f in (
        lambda v: np.array([np.sum(v**2)]),  # shape (1,)
        lambda v: np.asarray(np.sum(v**2)),  # 0-d array
        lambda v: np.float32(np.sum(v**2)),
        lambda v: float(np.sum(v**2)),
    ):
        np.testing.assert_allclose(mb.numerical_gradient(f, x), [6.0, 8.0], rtol=3e-3)


# -- 2. the book's names ---------------------------------------------------------------------


def test_sigmoid_grad():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(mb.sigmoid_grad(x), mb.sigmoid(x) * (1 - mb.sigmoid(x)), rtol=0)
    assert mb.sigmoid_grad(0.0) == 0.25
    np.testing.assert_allclose(mb.sigmoid_grad(x), [mb.numerical_diff(mb.sigmoid, v) for v in x],
                               rtol=1e-8)
    assert mb.sigmoid_grad(np.array([-1000.0, 1000.0])).tolist() == [0.0, 0.0]
    from mitbadak.core.functions import sigmoid_grad

    assert sigmoid_grad is mb.sigmoid_grad


def test_lastlayer_and_simplenet_aliases():
    net = mb.TwoLayerNet(4, 3, 2, seed=0)
    assert net.lastLayer is net.last_layer
    assert isinstance(net.lastLayer, mb.SoftmaxWithLoss)
    net.lastLayer = replacement = mb.SoftmaxWithLoss()
    assert net.last_layer is replacement
    net.loss(np.ones((2, 4)), [0, 1])
    assert net.lastLayer.backward(1).shape == (2, 2)
    assert mb.simpleNet is mb.SimpleNet
    assert isinstance(mb.simpleNet(seed=0), mb.SimpleNet)
    from mitbadak.nn.networks import simpleNet

    assert simpleNet is mb.SimpleNet


def test_chapter_3_predict_on_the_book_example():
    network = mb.init_network()
    x = np.array([1.0, 0.5])
    np.testing.assert_allclose(mb.predict(network, x), mb.softmax(mb.forward(network, x)))
    assert mb.predict(network, np.stack([x, x])).shape == (2, 2)
    with pytest.raises(ValueError, match="x has 3 features per sample, but the network expects 2"):
        mb.predict(network, np.ones(3))


@pytest.mark.skipif(not BOOK_PKL.exists(), reason=f"{BOOK_PKL} not present (../shared/data)")
def test_load_book_weights_is_the_books_dict_and_reaches_93_52_percent():
    network = mb.load_book_weights(BOOK_PKL)
    assert type(network) is dict and list(network) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert {k: v.shape for k, v in network.items()} == {
        "W1": (784, 50), "b1": (50,), "W2": (50, 100), "b2": (100,), "W3": (100, 10), "b3": (10,),
    }  # fmt: skip
    assert all(type(v) is np.ndarray and v.dtype == np.float32 for v in network.values())
    W1 = network["W1"]
    assert W1.shape == (784, 50)
    x, t = datasets.load_split("mnist", "test", data_dir=SHARED / "mnist")
    # the book's loop, one image at a time: 1-D in, 1-D out
    y = mb.predict(network, x[0])
    assert y.shape == (10,) and y.sum() == pytest.approx(1.0, rel=1e-5)
    p = np.argmax(mb.predict(network, x), axis=1)
    assert float(np.sum(p == t)) / len(x) == 0.9352  # the book's "Accuracy:0.9352"


def test_load_book_weights_default_path_and_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFileError, match="sample_weight.pkl: no such file"):
        mb.load_book_weights()


def test_load_book_weights_never_runs_pickle_code(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return os.system, (f"touch '{marker}'",)

    path = tmp_path / "sample_weight.pkl"
    path.write_bytes(pickle.dumps({"W1": Evil()}, protocol=3))
    with pytest.raises(ModelFileError):
        mb.load_book_weights(path)
    assert not marker.exists()


# -- 2. load_mnist with no data and no network --------------------------------------------------


def test_load_mnist_offline_error_names_the_mnist_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    monkeypatch.setitem(
        registry.DATASETS,
        "mnist",
        registry.DatasetSpec(
            "mnist", "offline", registry.MNIST.files, mirrors=("http://127.0.0.1:9/",)
        ),
    )

    def unreachable(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", unreachable)
    with pytest.raises(DownloadError) as info:
        mb.load_mnist()
    message = str(info.value)
    assert 'name="mnist-sample"' in message
    assert 'load_mnist(name="mnist-sample")' in message
    # and that way out works offline
    (x_train, _), (x_test, _) = mb.load_mnist(name="mnist-sample")
    assert x_train.shape[1] == 784 and x_test.shape[1] == 784
