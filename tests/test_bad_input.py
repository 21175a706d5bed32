"""Bad input gets a ValueError saying what was expected and what was given (issue 2, part 6)."""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak import (
    MultiLayerNet,
    SimpleNet,
    SoftmaxWithLoss,
    TwoLayerNet,
    cross_entropy_error,
    sum_squares_error,
)

RNG = np.random.default_rng(0)
X2 = RNG.random((2, 784))
T2 = np.array([3, 7])


def nets():
    return [
        TwoLayerNet(784, 5, 10, seed=0),
        MultiLayerNet(784, [5, 4], 10, seed=0),
    ]


# every checked entry point of a network; each takes (x, t) (predict ignores t)
ENTRY_POINTS = {
    "predict": lambda net, x, t: net.predict(x),
    "predict_proba": lambda net, x, t: net.predict_proba(x),
    "loss": lambda net, x, t: net.loss(x, t),
    "accuracy": lambda net, x, t: net.accuracy(x, t),
    "gradient": lambda net, x, t: net.gradient(x, t),
    "numerical_gradient": lambda net, x, t: net.numerical_gradient(x, t),
}
WITH_LABELS = [k for k in ENTRY_POINTS if not k.startswith("predict")]


def each_net_and_entry(names):
    return [
        pytest.param(net, name, id=f"{type(net).__name__}-{name}")
        for net in nets()
        for name in names
    ]


@pytest.mark.parametrize(("net", "entry"), each_net_and_entry(ENTRY_POINTS))
def test_good_input_is_accepted(net, entry):
    ENTRY_POINTS[entry](net, X2, T2)  # the baseline the failures below differ from


@pytest.mark.parametrize(("net", "entry"), each_net_and_entry(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("x", "pattern"),
    [
        (np.zeros((2, 783)), r"x has 783 features per sample, but the network expects 784"),
        (np.zeros(783), r"x has 783 features per sample, but the network expects 784"),
        (np.zeros((2, 28, 27)), r"x has 756 features per sample, but the network expects 784"),
        (np.zeros((0, 784)), r"x is an empty batch \(0 samples\); expected at least one sample"),
        (np.float64(1.0), r"x must be an array of samples, but a scalar was given"),
        (np.where(np.arange(1568).reshape(2, 784) == 5, np.nan, 0.5),
         r"x contains 1 NaN or infinite value\(s\); expected finite numbers"),
        (np.where(np.arange(1568).reshape(2, 784) % 500 == 0, np.inf, 0.5),
         r"x contains 4 NaN or infinite value\(s\); expected finite numbers"),
        (np.full((2, 784), "a"), r"x must be numeric, but has dtype <U1"),
    ],
    ids=["783-features", "one-sample-783", "image-28x27", "empty", "scalar", "nan", "inf", "str"],
)
def test_bad_x(net, entry, x, pattern):
    t = T2 if np.ndim(x) >= 2 and np.shape(x)[0] == 2 else T2[:1]
    with pytest.raises(ValueError, match=pattern):
        ENTRY_POINTS[entry](net, x, t)


@pytest.mark.parametrize(("net", "entry"), each_net_and_entry(WITH_LABELS))
@pytest.mark.parametrize(
    ("t", "pattern"),
    [
        (np.array([3, 10]), r"t holds labels from 3 to 10, but the network has 10 classes \(0..9"),
        (np.array([-1, 2]), r"t holds labels from -1 to 2, but the network has 10 classes"),
        (np.eye(9)[[3, 7]], r"t is one-hot with 9 columns, but the network has 10 outputs"),
        (np.eye(11)[[3, 7]], r"t is one-hot with 11 columns, but the network has 10 outputs"),
        (np.array([3, 7, 1]), r"t has 3 labels, but x has 2 samples"),
        (np.array([3]), r"t has 1 labels, but x has 2 samples"),
        (np.eye(10)[[3, 7, 1]], r"t has 3 labels, but x has 2 samples"),
        (np.array([0.5, 2.0]), r"t holds non-integer labels; expected integers 0\.\.9"),
        (np.array([np.nan, 2.0]), r"t holds non-integer labels"),
        (np.zeros((2, 10)), r"t has shape \(2, 10\) but is not one-hot"),
        (np.full((2, 10), 0.1), r"t has shape \(2, 10\) but is not one-hot"),
        (np.zeros((2, 1, 10), dtype=int), r"t must be integer labels \(N,\) or one-hot \(N, C\)"),
        (np.array(["3", "7"]), r"t must hold integer labels, but has dtype <U1"),
    ],
    ids=["label-10", "label-neg", "onehot-9", "onehot-11", "3-labels", "1-label", "3-onehot",
         "fraction", "nan", "zero-rows", "soft-labels", "3d", "str"],
)
def test_bad_labels(net, entry, t, pattern):
    with pytest.raises(ValueError, match=pattern):
        ENTRY_POINTS[entry](net, X2, t)


def test_labels_as_floats_and_lists_are_fine():
    net = TwoLayerNet(784, 5, 10, seed=0)
    assert net.loss(X2, [3.0, 7.0]) == net.loss(X2, T2) == net.loss(X2.tolist(), [3, 7])
    assert net.loss(X2[0], 3) == net.loss(X2[:1], T2[:1])


def test_network_state_unchanged_after_rejected_input():
    net = TwoLayerNet(784, 5, 10, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(ValueError):
        net.numerical_gradient(X2, [3, 99])
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)


# -- loss functions -------------------------------------------------------------------------


Y = np.array([[0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])


@pytest.mark.parametrize(
    ("y", "t", "pattern"),
    [
        (Y, np.array([0, 1, 2]), r"t must be one-hot \(2, 3\) or 2 integer label\(s\), but has "
                                 r"shape \(3,\)"),
        (Y, np.eye(3)[[0, 1, 2]], r"one-hot \(2, 3\) or 2 integer label\(s\), but has shape \(3, "),
        (Y, np.eye(4)[[0, 1]], r"t is one-hot with 4 columns, but y has 3 classes"),
        (Y, np.array([0, 3]), r"t holds labels 0\.\.3, but y has 3 classes"),
        (Y, np.array([-1, 0]), r"t holds labels -1\.\.0, but y has 3 classes"),
        (Y[0], np.array([0, 1]), r"one-hot with 2 columns, but y has 3 classes"),
        (Y[0], 3, r"t holds labels 3\.\.3, but y has 3 classes"),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), r"y is an empty batch \(0 samples\)"),
        (np.zeros((2, 3, 4)), np.array([0, 1]), r"y must be one sample \(C,\) or a batch \(N, C\)"),
        (np.full(3, "a"), 0, r"y must be numeric, but has dtype <U1"),
    ],
    ids=["3-labels", "3-onehot", "onehot-4", "label-3", "label-neg", "1d-onehot-2",
         "1d-label-3", "empty", "3d", "str"],
)
def test_cross_entropy_bad_input(y, t, pattern):
    with pytest.raises(ValueError, match=pattern):
        cross_entropy_error(y, t)


def test_sum_squares_error_shape_mismatch_is_not_broadcast():
    with pytest.raises(ValueError, match=r"y has shape \(2, 3\) but t has shape \(3,\)"):
        sum_squares_error(Y, np.array([0, 0, 1]))  # would silently broadcast otherwise
    with pytest.raises(ValueError, match=r"y has shape \(2, 3\) but t has shape \(3, 3\)"):
        sum_squares_error(Y, np.eye(3))


def test_softmax_with_loss_batch_mismatch():
    with pytest.raises(ValueError, match="t has 3 labels, but x has 2 samples"):
        SoftmaxWithLoss().forward(np.zeros((2, 3)), np.array([0, 1, 2]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": None}, r"name must be a dataset name, one of 'mnist', 'fashion-mnist', "
                         r"'mnist-sample'; got None"),
        ({"name": 3}, r"name must be a dataset name, .*got int 3"),
        ({"name": ["mnist"]}, r"name must be a dataset name, .*got list"),
        ({"normalize": "yes"}, r"normalize must be True or False, got str 'yes'"),
        ({"flatten": None}, r"flatten must be True or False, got None"),
        ({"one_hot_label": 2}, r"one_hot_label must be True or False, got int 2"),
        ({"download": "no"}, r"download must be True or False, got str 'no'"),
        ({"data_dir": 3}, r"data_dir must be a folder path \(a str or a pathlib.Path\) or None, "
                          r"got int"),
        ({"progress": "bar"}, r"progress must be a function or None, got str"),
    ],
)
def test_load_mnist_argument_types(kwargs, message, monkeypatch, tmp_path):
    """One TypeError naming the argument, before any search or download (nothing is fetched:
    the cache is empty and downloads are off, so a check that came too late would fail with
    DatasetUnavailable instead)."""
    from mitbadak.files.datasets import load_mnist

    monkeypatch.setenv("MITBADAK_OFFLINE", "1")
    monkeypatch.setenv("MITBADAK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MITBADAK_DATA", raising=False)
    with pytest.raises(TypeError, match=rf"^load_mnist: {message}$"):
        load_mnist(**kwargs)
    assert not (tmp_path / "cache").exists()


def test_load_mnist_takes_the_books_flags_as_bools_or_0_1(tmp_path):
    from mitbadak.files.datasets import load_mnist

    (x, t), _ = load_mnist(normalize=1, flatten=np.True_, one_hot_label=0, name="mnist-sample",
                           data_dir=tmp_path)  # fmt: skip
    assert x.dtype == np.float32 and x.shape == (4000, 784) and t.shape == (4000,)


def test_simple_net_bad_input():
    net = SimpleNet(seed=0)
    with pytest.raises(ValueError, match="x has 3 features per sample, but SimpleNet expects 2"):
        net.loss(np.ones(3), np.array([0, 0, 1]))
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite value\(s\)"):
        net.predict(np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"t holds labels 3\.\.3, but y has 3 classes"):
        net.loss(np.ones(2), 3)
    with pytest.raises(ValueError, match=r"t must be one-hot \(2, 3\) or 2 integer label\(s\)"):
        net.numerical_gradient(np.ones((2, 2)), np.array([0, 1, 2]))
