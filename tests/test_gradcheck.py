"""mitbadak.nn.gradcheck: backprop agrees with numerical gradients on real MNIST digits (the real
test
set beside the repository, else the shipped mnist-sample: see tests/_mnist.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _mnist import digits_7_2_1

from mitbadak import MultiLayerNet, TwoLayerNet, gradient_check
from mitbadak.nn.gradcheck import GradientCheckRow

H = 1e-4


@pytest.fixture(scope="module")
def mnist3():
    """Three MNIST test digits (a 7, a 2 and a 1), scaled to [0, 1], in float64: the real test
    set's first three, or three of mnist-sample's where it is absent."""
    x, t = digits_7_2_1()
    np.testing.assert_array_equal(t, [7, 2, 1])
    return x, t


def relu_margin(net, x) -> float:
    """The smallest |pre-activation| of any hidden unit on x.

    A central difference across ReLU's kink at 0 is meaningless, and a perturbation of h moves a
    first-layer pre-activation by at most h * max(x) = h. The seeds used below were chosen so that
    every hidden pre-activation stays well clear of 0 (checked here, not assumed); that is a
    property of the fixture, not a tolerance loosened to hide a bug.
    """
    out = x
    margin = np.inf
    for i in range(1, net.n_affine):
        a = out @ net.params[f"W{i}"] + net.params[f"b{i}"]
        margin = min(margin, float(np.abs(a).min()))
        out = np.maximum(a, 0)
    return margin


def assert_all_below(rows, net, limit=1e-6):
    assert [r.name for r in rows] == list(net.params)
    for r in rows:
        assert isinstance(r, GradientCheckRow)
        assert r.shape == net.params[r.name].shape
        assert 0 <= r.max_rel < limit, r
        assert r.max_abs >= 0


@pytest.mark.parametrize(("activation", "seed"), [("sigmoid", 0), ("relu", 0)])
def test_two_layer_net_784_50_10(mnist3, activation, seed):
    x, t = mnist3
    net = TwoLayerNet(784, 50, 10, activation=activation, seed=seed, dtype=np.float64)
    if activation == "relu":
        assert relu_margin(net, x) > 10 * H
    rows = gradient_check(net, x, t)
    assert_all_below(rows, net)
    # one-hot labels give the same comparison
    rows_hot = gradient_check(net, x, np.eye(10)[t])
    assert [r.max_abs for r in rows_hot] == [r.max_abs for r in rows]


def test_three_layer_multilayer_net(mnist3):
    x, t = mnist3
    # 784-10-10-10, ~8k parameters through the reference loop (two forwards each): ~1 s
    net = MultiLayerNet(784, [10, 10], 10, activation="relu", weight_init="he", seed=1)
    assert relu_margin(net, x) > 10 * H
    rows = gradient_check(net, x, t)
    assert_all_below(rows, net)
    assert len(rows) == 6


def test_three_layer_sigmoid_multilayer_net(mnist3):
    x, t = mnist3
    net = MultiLayerNet(784, [10, 10], 10, activation="sigmoid", weight_init="xavier", seed=0)
    assert_all_below(gradient_check(net, x, t), net)


def test_gradient_check_detects_a_wrong_gradient(mnist3, monkeypatch):
    x, t = mnist3
    net = TwoLayerNet(784, 50, 10, activation="sigmoid", seed=0)
    correct = net.gradient

    def off_by_a_bit(x_, t_):
        grads = correct(x_, t_)
        grads["b2"] = grads["b2"] * 1.01  # a 1 % error in one parameter's gradient
        return grads

    monkeypatch.setattr(net, "gradient", off_by_a_bit)
    rows = {r.name: r for r in gradient_check(net, x, t)}
    assert rows["b2"].max_rel == pytest.approx(0.01 / 1.01, rel=1e-3)
    assert rows["W1"].max_rel < 1e-6


def test_gradient_check_row_definition():
    # max_rel is the worst absolute difference relative to the gradient's own scale
    net = TwoLayerNet(4, 3, 2, weight_init_std=0.5, seed=0)
    x = np.array([[0.5, -1.0, 2.0, 0.0]])
    rows = gradient_check(net, x, [1])
    num = net.numerical_gradient(x, [1], method="auto")
    bp = net.gradient(x, [1])
    for r in rows:
        diff = np.max(np.abs(num[r.name] - bp[r.name]))
        scale = max(np.max(np.abs(num[r.name])), np.max(np.abs(bp[r.name])))
        assert r.max_abs == pytest.approx(diff, rel=1e-12, abs=1e-300)
        assert r.max_rel == pytest.approx(diff / scale, rel=1e-12, abs=1e-300)
    # the reference method gives the same verdict
    rows_ref = gradient_check(net, x, [1], method="reference")
    assert all(r.max_rel < 1e-7 for r in rows_ref)


def test_reference_numerical_gradient_leaves_the_callers_network_alone():
    """It works on a float64 copy: the float32 network keeps its dtype, arrays and layers."""
    from mitbadak.nn.gradcheck import numerical_gradient_reference

    net = TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=2, dtype=np.float32)
    arrays = dict(net.params)
    layers = dict(net.layers)
    x2, t2 = net.prepare(np.linspace(0, 1, 10).reshape(2, 5), [0, 2])
    grads = numerical_gradient_reference(net, x2, t2)
    assert net.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    assert all(net.params[k] is arrays[k] for k in arrays)
    assert all(net.layers[k] is layers[k] for k in layers)
    backprop = TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=2, dtype=np.float64)
    backprop.set_params(net.params)
    exact = backprop.gradient(x2.astype(np.float64), t2)
    for k in grads:
        np.testing.assert_allclose(grads[k], exact[k], rtol=1e-5, atol=1e-6, err_msg=k)
