"""The readable layers and optimizers on a "device" (the strict stand-in, no GPU needed).

The device path must give the NumPy path's numbers without any silent conversion to NumPy
(docs/gpu.md): ``xp = array_namespace(x)`` in layers.py, functions.py and optimizers.py. A stray
``np.`` call on device data raises the stand-in's TypeError and fails these tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import strict_xp

from mitbadak.core.backend import to_device, to_host
from mitbadak.nn.layers import ACTIVATIONS, AddLayer, Affine, SoftmaxWithLoss
from mitbadak.nn.optimizers import OPTIMIZERS


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


@pytest.mark.parametrize("make", list(ACTIVATIONS.values()), ids=list(ACTIVATIONS))
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


@pytest.mark.parametrize("make", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
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


# --- the same layers and optimizers on real PyTorch CPU tensors (array_api_compat.torch) ---------


@pytest.fixture
def torch_xp():
    return pytest.importorskip("array_api_compat.torch")


def test_layers_on_torch_tensors_equal_numpy(torch_xp):
    x, W, b, dout = data()
    host, layer = Affine(W, b), Affine(to_device(W, torch_xp), to_device(b, torch_xp))
    y = layer.forward(to_device(x, torch_xp))
    assert type(y).__module__.startswith("torch")
    np.testing.assert_allclose(to_host(y), host.forward(x), rtol=1e-6)
    np.testing.assert_allclose(
        to_host(layer.backward(to_device(dout, torch_xp))), host.backward(dout), rtol=1e-5
    )
    np.testing.assert_allclose(to_host(layer.dW), host.dW, rtol=1e-5)
    np.testing.assert_allclose(to_host(layer.db), host.db, rtol=1e-6)
    for make in ACTIVATIONS.values():
        host, layer = make(), make()
        want_y, want_dx = host.forward(dout), host.backward(dout * 2)
        # (PyTorch's tanh/exp may differ from NumPy's in the last bits of float32)
        np.testing.assert_allclose(to_host(layer.forward(to_device(dout, torch_xp))), want_y,
                                   rtol=1e-5, atol=1e-7)  # fmt: skip
        np.testing.assert_allclose(to_host(layer.backward(to_device(dout * 2, torch_xp))),
                                   want_dx, rtol=1e-5, atol=1e-7)  # fmt: skip
    scores, t = data(h=10)[3], np.array([0, 3, 9, 2, 2, 7])
    host, layer = SoftmaxWithLoss(), SoftmaxWithLoss()
    want = host.forward(scores, t)
    assert float(layer.forward(to_device(scores, torch_xp), to_device(t, torch_xp))) == (
        pytest.approx(want, rel=1e-6)
    )
    np.testing.assert_allclose(to_host(layer.backward()), host.backward(), rtol=1e-6, atol=1e-8)
    a, c = AddLayer().backward(to_device(dout, torch_xp))
    assert a is not c and np.array_equal(to_host(a), dout)


@pytest.mark.parametrize("make", list(OPTIMIZERS.values()), ids=list(OPTIMIZERS))
def test_two_optimizer_steps_on_torch_tensors_equal_numpy(make, torch_xp):
    _, W, b, _ = data()
    grads = {"W": W * 0.5 - 1, "b": b + 2}
    host, moved = {"W": W.copy(), "b": b.copy()}, to_device({"W": W, "b": b}, torch_xp)
    on_host, on_device = make(lr=0.1), make(lr=0.1)
    for _ in range(2):
        on_host.update(host, grads)
        on_device.update(moved, to_device(grads, torch_xp))
    for key in host:
        np.testing.assert_allclose(to_host(moved[key]), host[key], rtol=1e-6)
    for key, value in on_host.state_dict().items():
        got = on_device.state_dict()[key]
        assert isinstance(got, np.ndarray)  # state_dict() is host arrays on every device
        np.testing.assert_allclose(got, value, rtol=1e-6)
