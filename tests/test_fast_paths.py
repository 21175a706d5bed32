"""The fast paths agree with the readable reference paths they replace.

* ``nn.fast_path.loss_and_gradient`` / ``scores`` (in place, the trainer's CPU engine, chosen by
  ``training.steps.choose_step``) against ``loss_and_gradient_layers`` / ``forward_layers``
  (forward/backward through the layer objects: the network's own math);
* ``gradcheck.numerical_gradient_fast`` (series / closed forms) against the plain central
  difference, both the library's reference loop and a loop written here from scratch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mitbadak.nn import fast_path, gradcheck
from mitbadak.nn.layers import ACTIVATIONS, Activation, Tanh
from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.nn.optimizers import SGD


def _batch(n: int, d: int, c: int, seed: int = 0, sparse: bool = True):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    if sparse:  # like MNIST: most inputs are exactly 0
        x[x < 0.6] = 0.0
    t = rng.integers(0, c, n)
    return x, t


def _tol(dtype) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 1e-6} if np.dtype(dtype) == np.float32 else {
        "rtol": 1e-12, "atol": 1e-14}


# ------------------------------------------------------------------------------------------------
# the fused training step


NETS = [
    ("two-sigmoid", lambda dt: TwoLayerNet(20, 7, 4, 0.5, "sigmoid", seed=1, dtype=dt)),
    ("two-relu", lambda dt: TwoLayerNet(20, 7, 4, 0.5, "relu", seed=2, dtype=dt)),
    ("multi-relu", lambda dt: MultiLayerNet(20, [9, 6], 4, "relu", seed=3, dtype=dt)),
    ("multi-sigmoid-decay", lambda dt: MultiLayerNet(
        20, [9, 6, 5], 4, "sigmoid", "xavier", weight_decay_lambda=0.1, seed=4, dtype=dt)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,make", NETS, ids=[n for n, _ in NETS])
def test_fused_step_equals_layer_by_layer(name, make, dtype):
    net = make(dtype)
    x, t = _batch(13, 20, 4, seed=5)
    x2, t2 = net.prepare(x, t)
    x_before = x2.copy()
    params_before = {k: v.copy() for k, v in net.params.items()}
    loss_fast, g_fast = fast_path.loss_and_gradient(net, x2, t2)
    loss_ref, g_ref = net.loss_and_gradient_layers(x2, t2)
    assert loss_fast == pytest.approx(loss_ref, rel=1e-6 if dtype == np.float32 else 1e-13)
    assert list(g_fast) == list(net.params)  # same keys, same order
    for k in net.params:
        assert g_fast[k].dtype == np.dtype(dtype)
        assert g_fast[k].shape == net.params[k].shape
        np.testing.assert_allclose(g_fast[k], g_ref[k], **_tol(dtype), err_msg=k)
        np.testing.assert_array_equal(net.params[k], params_before[k])  # params untouched
    np.testing.assert_array_equal(x2, x_before)  # input untouched


def test_fused_step_returns_fresh_arrays_and_trains_like_the_layers():
    """Ten SGD steps through either path end at the same weights (float64)."""
    x, t = _batch(50, 20, 4, seed=6)
    nets = [TwoLayerNet(20, 7, 4, 0.5, "sigmoid", seed=7) for _ in range(2)]
    steps = (lambda x2, t2: fast_path.loss_and_gradient(nets[0], x2, t2),
             nets[1].loss_and_gradient_layers)
    kept = []
    for net, step in zip(nets, steps, strict=True):
        x2, t2 = net.prepare(x, t)
        opt = SGD(0.5)
        for i in range(10):
            sl = slice(5 * i, 5 * i + 5)
            loss, grads = step(x2[sl], t2[sl])
            if step is steps[0]:
                kept.append({k: g.copy() for k, g in grads.items()})
                kept_live = grads
            opt.update(net.params, grads)
    # the last returned grads were not overwritten by the optimizer or reused
    for k in kept_live:
        np.testing.assert_array_equal(kept_live[k], kept[-1][k])
    for k in nets[0].params:
        np.testing.assert_allclose(nets[0].params[k], nets[1].params[k], rtol=1e-11, atol=1e-13)
        # layers still share the optimizer-updated arrays
        assert nets[0].layers["Affine1"].W is nets[0].params["W1"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_sigmoid_saturates_without_warnings(dtype):
    """Pre-activations of +-1000 must not overflow exp (nor warn) and must match the layers."""
    net = TwoLayerNet(6, 5, 3, 1.0, "sigmoid", seed=8, dtype=dtype)
    net.params["W1"][...] = np.array([1000.0, -1000.0, 0.5, -0.5, 200.0])
    x = np.ones((4, 6)) / 6.0
    x2, t2 = net.prepare(x, [0, 1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss_fast, g_fast = fast_path.loss_and_gradient(net, x2, t2)
    loss_ref, g_ref = net.loss_and_gradient_layers(x2, t2)
    assert np.isfinite(loss_fast)
    assert loss_fast == pytest.approx(loss_ref, rel=1e-6)
    for k in g_ref:
        np.testing.assert_allclose(g_fast[k], g_ref[k], **_tol(dtype), err_msg=k)


def test_public_gradient_still_fills_the_layers():
    """``gradient()`` stays the book's layer-by-layer backprop (layers keep dW/db)."""
    net = TwoLayerNet(20, 7, 4, 0.5, seed=9)
    x, t = _batch(8, 20, 4)
    grads = net.gradient(x, t)
    assert net.layers["Affine1"].dW is grads["W1"]
    assert net.layers["Affine2"].db is grads["b2"]


# ------------------------------------------------------------------------------------------------
# the fast numerical gradient


def _central_difference_loop(net, x, t, h=1e-4):
    """The chapter-4 algorithm written out here: every element, +-h, the whole loss twice."""
    x2, t2 = net.prepare(x, t)
    grads = {}
    for name, p in net.params.items():
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            keep = p[idx]
            p[idx] = keep + h
            up = net.batch_loss(x2, t2)
            p[idx] = keep - h
            down = net.batch_loss(x2, t2)
            p[idx] = keep
            g[idx] = (up - down) / (2 * h)
        grads[name] = g
    return grads


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("std,decay", [(0.01, 0.0), (0.7, 0.0), (0.7, 0.3)])
def test_numerical_fast_equals_element_loop(activation, std, decay):
    net = TwoLayerNet(12, 6, 4, std, activation, weight_decay_lambda=decay, seed=11)
    x, t = _batch(9, 12, 4, seed=12)
    fast = net.numerical_gradient(x, t, method="fast")
    loop = _central_difference_loop(net, x, t)
    ref = net.numerical_gradient(x, t, method="reference")
    for k in net.params:
        np.testing.assert_allclose(fast[k], loop[k], rtol=0, atol=1e-9, err_msg=k)
        np.testing.assert_allclose(fast[k], ref[k], rtol=0, atol=1e-9, err_msg=k)
    if activation == "relu":
        return  # a pre-activation within h*x of ReLU's kink makes central differences differ
    # and it is a gradient: close to backprop (central differences are O(h^2) off)
    bp = net.gradient(x, t)
    for k in net.params:
        np.testing.assert_allclose(fast[k], bp[k], rtol=0, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_numerical_fast_direct_fallback(activation, monkeypatch):
    """When the series would be long, logsumexp's change is computed directly; same numbers."""
    net = TwoLayerNet(10, 5, 3, 2.0, activation, seed=13)
    x, t = _batch(7, 10, 3, seed=14, sparse=False)
    series = net.numerical_gradient(x, t, method="fast")
    monkeypatch.setattr(gradcheck, "series_terms", lambda u, tol=0.0: None)
    direct = net.numerical_gradient(x, t, method="fast")
    ref = net.numerical_gradient(x, t, method="reference")
    for k in net.params:
        np.testing.assert_allclose(direct[k], ref[k], rtol=0, atol=1e-9, err_msg=k)
        np.testing.assert_allclose(series[k], direct[k], rtol=0, atol=1e-10, err_msg=k)


def test_numerical_fast_with_huge_hidden_steps_uses_direct_formula():
    """Inputs of 1e6 make |delta * W2| large: no series, still the reference's numbers."""
    net = TwoLayerNet(4, 3, 3, 1.0, "relu", seed=15)
    x = np.array([[1e3, 0, 2e3, 0], [0, 5e2, 0, 1e3]])
    t = np.array([0, 2])
    assert gradcheck.series_terms(1e-4 * 2e3 * np.abs(net.params["W2"]).max()) is None
    fast = net.numerical_gradient(x, t, method="fast")
    ref = net.numerical_gradient(x, t, method="reference")
    for k in net.params:
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-7, atol=1e-7, err_msg=k)


def test_series_terms_bound():
    for u in (1e-8, 1e-6, 1e-4, 1e-2, 0.1):
        k = gradcheck.series_terms(u)
        assert k is not None and k >= 1
        # the first omitted term is below the tolerance, the last kept one is not (unless k == 1)
        from math import factorial

        assert u ** (k + 1) / factorial(k + 1) * np.exp(u) < 1e-17
        if k > 1:
            assert u**k / factorial(k) * np.exp(u) >= 1e-17
    assert gradcheck.series_terms(1e-6) <= 3
    assert gradcheck.series_terms(50.0) is None
    assert gradcheck.series_terms(float("inf")) is None


def test_numerical_fast_float32_network_returns_float32():
    net = TwoLayerNet(12, 6, 4, 0.5, "sigmoid", seed=16, dtype=np.float32)
    x, t = _batch(5, 12, 4)
    fast = net.numerical_gradient(x, t, method="fast")
    ref = net.numerical_gradient(x, t, method="reference")
    for k in net.params:
        assert fast[k].dtype == np.float32
        np.testing.assert_allclose(fast[k], ref[k], rtol=1e-6, atol=1e-9, err_msg=k)


def test_numerical_fast_on_real_mnist_batch_matches_sampled_elements():
    """784-50-10 on 100 real test images (the MNIST test set's, else mnist-sample's): 300 random
    elements recomputed the slow way."""
    from _mnist import first_images

    x, t = first_images(100)
    net = TwoLayerNet(784, 50, 10, 0.3, "sigmoid", seed=17)
    fast = net.numerical_gradient(x, t, method="fast")
    x2, t2 = net.prepare(x, t)
    rng = np.random.default_rng(18)
    h = 1e-4
    for name, count in (("W1", 200), ("b1", 40), ("W2", 40), ("b2", 20)):
        p = net.params[name]
        flat = p.reshape(-1)
        picks = rng.choice(flat.size, size=min(count, flat.size), replace=False)
        if name == "W1":  # make sure pixels that are lit in the batch are among them
            lit = np.flatnonzero(x2.sum(axis=0) > 0)
            picks = np.concatenate([picks, lit[:25] * p.shape[1] + 3])
        for f in picks:
            keep = flat[f]
            flat[f] = keep + h
            up = net.batch_loss(x2, t2)
            flat[f] = keep - h
            down = net.batch_loss(x2, t2)
            flat[f] = keep
            assert abs(fast[name].reshape(-1)[f] - (up - down) / (2 * h)) < 1e-9, (name, f)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,make", NETS, ids=[n for n, _ in NETS])
def test_fused_scores_equal_layer_forward(name, make, dtype):
    """predict() uses the in-place forward; it equals the layers' forward and leaves x alone."""
    net = make(dtype)
    x, _ = _batch(11, 20, 4, seed=19)
    x2 = net.prepare_x(x)
    before = x2.copy()
    fast = fast_path.scores(net, x2)
    np.testing.assert_allclose(fast, net.forward_layers(x2), **_tol(dtype))
    np.testing.assert_allclose(net.predict(x), net.forward_layers(x2), **_tol(dtype))
    np.testing.assert_array_equal(x2, before)
    assert fast.dtype == np.dtype(dtype)


# ------------------------------------------------------------------------------------------------
# every registered activation: fused == layer by layer == numerical


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_registered_activation_agrees_on_every_path(name):
    act = ACTIVATIONS[name]
    assert act.name == name and issubclass(act, Activation) and act.max_slope > 0
    # the layer's own backward is its derivative: central differences of sum(forward * dout)
    a = np.linspace(-3.0, 3.0, 13).reshape(1, -1) + 0.01  # away from ReLU's kink at 0
    dout = np.random.default_rng(0).standard_normal(a.shape)
    layer = act()
    y = layer.forward(a)
    np.testing.assert_allclose(act.apply(a), y, rtol=1e-15, atol=0)
    eps = 1e-6
    numeric = (act().forward(a + eps) - act().forward(a - eps)) / (2 * eps) * dout
    np.testing.assert_allclose(layer.backward(dout), numeric, rtol=1e-6, atol=1e-9)
    from_output = dout.copy()
    act.backward_from_output_(from_output, y)
    np.testing.assert_allclose(from_output, layer.backward(dout), rtol=1e-12, atol=1e-15)
    # slopes never exceed max_slope
    assert np.max(np.abs(numeric / dout)) <= act.max_slope + 1e-6

    for make in (
        lambda: TwoLayerNet(20, 7, 4, 0.5, name, seed=21),
        lambda: MultiLayerNet(20, [9, 6], 4, name, weight_decay_lambda=0.05, seed=22),
    ):
        net = make()
        assert any(type(layer) is act for layer in net.layers.values())
        x, t = _batch(11, 20, 4, seed=23)
        x2, t2 = net.prepare(x, t)
        np.testing.assert_allclose(net.predict(x), net.forward_layers(x2), **_tol(np.float64))
        loss_fast, g_fast = fast_path.loss_and_gradient(net, x2, t2)
        loss_ref, g_ref = net.loss_and_gradient_layers(x2, t2)
        assert loss_fast == pytest.approx(loss_ref, rel=1e-12)
        numeric = net.numerical_gradient(x, t, method="reference")
        for k in net.params:
            np.testing.assert_allclose(g_fast[k], g_ref[k], **_tol(np.float64), err_msg=k)
            np.testing.assert_allclose(numeric[k], g_ref[k], rtol=0, atol=1e-7, err_msg=k)
        if net.n_affine == 2:
            fast = net.numerical_gradient(x, t, method="fast")
            for k in net.params:
                np.testing.assert_allclose(fast[k], numeric[k], rtol=0, atol=1e-9, err_msg=k)


def test_tanh_network_trains_like_its_layers():
    """Tanh (the book's third activation) through the fused step: the values of the layers."""
    x, t = _batch(16, 20, 4, seed=31)
    nets = [MultiLayerNet(20, [8], 4, "tanh", seed=32) for _ in range(2)]
    assert nets[0].weight_init == "he" and isinstance(nets[0].layers["Tanh1"], Tanh)
    for _step in range(5):
        fns = (lambda x2, t2: fast_path.loss_and_gradient(nets[0], x2, t2),
               nets[1].loss_and_gradient_layers)
        for net, fn in zip(nets, fns, strict=True):
            x2, t2 = net.prepare(x, t)
            _, grads = fn(x2, t2)
            SGD(lr=0.5).update(net.params, grads)
    np.testing.assert_allclose(nets[0].params["W1"], nets[1].params["W1"], rtol=1e-12, atol=1e-14)
    assert np.tanh(0.5) == pytest.approx(Tanh().forward(np.array([[0.5]]))[0, 0])
