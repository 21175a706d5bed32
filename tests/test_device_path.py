"""The readable layers and optimizers on a "device" (the strict stand-in, no GPU needed).

The device path must give the NumPy path's numbers without any silent conversion to NumPy
(docs/gpu.md): ``xp = array_namespace(x)`` in layers.py, functions.py and optimizers.py. A stray
``np.`` call on device data raises the stand-in's TypeError and fails these tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import strict_xp

from mitbadak.backend import to_device, to_host
from mitbadak.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss
from mitbadak.optimizers import SGD, AdaGrad, Adam, Momentum


def data(dtype=np.float32, n=6, d=5, h=4, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, d)).astype(dtype),
        rng.standard_normal((d, h)).astype(dtype),
        rng.standard_normal(h).astype(dtype),
        rng.standard_normal((n, h)).astype(dtype),
    )


def dev(a):
    return to_device(a, strict_xp)


def test_affine_forward_and_backward_on_the_device_equal_numpy():
    x, W, b, dout = data()
    host = Affine(W, b)
    want_y = host.forward(x)
    want_dx = host.backward(dout)
    layer = Affine(dev(W), dev(b))
    y = layer.forward(dev(x))
    assert isinstance(y, strict_xp.StrictArray)
    dx = layer.backward(dev(dout))
    np.testing.assert_array_equal(to_host(y), want_y)
    np.testing.assert_array_equal(to_host(dx), want_dx)
    np.testing.assert_array_equal(to_host(layer.dW), host.dW)
    np.testing.assert_array_equal(to_host(layer.db), host.db)


@pytest.mark.parametrize("make", [Relu, Sigmoid], ids=["relu", "sigmoid"])
def test_activations_on_the_device_equal_numpy(make):
    x, _, _, _ = data(h=5)
    host, layer = make(), make()
    want_y, want_dx = host.forward(x), host.backward(x * 2)
    y = layer.forward(dev(x))
    dx = layer.backward(dev(x * 2))
    np.testing.assert_allclose(to_host(y), want_y, rtol=1e-6)
    np.testing.assert_allclose(to_host(dx), want_dx, rtol=1e-6)


def test_softmax_with_loss_on_the_device_equals_numpy():
    scores = data(h=10)[3]
    t = np.array([0, 3, 9, 2, 2, 7])
    host, layer = SoftmaxWithLoss(), SoftmaxWithLoss()
    want = host.forward(scores, t)
    got = layer.forward(dev(scores), dev(t))
    np.testing.assert_allclose(float(got), want, rtol=1e-6)
    np.testing.assert_allclose(to_host(layer.backward()), host.backward(), rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [SGD, Momentum, AdaGrad, Adam],
)
def test_one_optimizer_step_on_the_device_equals_numpy(make):
    _, W, b, _ = data()
    params = {"W": W, "b": b}
    grads = {"W": W * 0.5 - 1, "b": b + 2}
    host = {k: v.copy() for k, v in params.items()}
    make(lr=0.1).update(host, grads)
    moved = dev(params)
    make(lr=0.1).update(moved, dev(grads))
    for key in params:
        np.testing.assert_allclose(to_host(moved[key]), host[key], rtol=1e-6)
