"""The convolution fast path (``nn/fast_conv.py``) against the layers it replaces.

The reference is the layer list itself (``LayerNet.loss_and_gradient_layers`` /
``forward_layers``: the book's im2col ``Convolution``, ``Pooling``, ...). Equal within 1e-12 of
the values' scale in float64 and 1e-5 in float32, on hand-made inputs (ties in the pooling
windows included) and random ones, for pad/stride variants, overlapping and padded pooling
windows, and DeepConvNet's stack with its Dropout layers (same masks, same generator states).
"""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.nn import fast_conv
from mitbadak.nn.activations import Relu, Sigmoid, Tanh
from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.convolution import Convolution
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.layers import Affine
from mitbadak.nn.networks import LayerNet, MultiLayerNet
from mitbadak.nn.pooling import Pooling
from mitbadak.training.steps import LoopState, choose_scores, choose_step


def _conv(rng, fn, c, k, stride=1, pad=0, std=0.3):
    return Convolution(std * rng.standard_normal((fn, c, k, k)), 0.1 * rng.standard_normal(fn),
                       stride, pad)  # fmt: skip


def _affine(rng, n_in, n_out, std=0.1):
    return Affine(std * rng.standard_normal((n_in, n_out)), 0.1 * rng.standard_normal(n_out))


def _net(layers, shape, dtype=np.float64, lam=0.0) -> LayerNet:
    return LayerNet(layers, input_shape=shape, dtype=dtype, seed=3, weight_decay_lambda=lam)


def simple_stack(seed=0, c=1, size=28, filters=30, k=5, hidden=100, stride=1, pad=0):
    """SimpleConvNet's list: Conv - ReLU - Pool(2, 2, 2) - Affine - ReLU - Affine."""
    rng = np.random.default_rng(seed)
    out = (size + 2 * pad - k) // stride + 1
    return [_conv(rng, filters, c, k, stride, pad), Relu(), Pooling(2, 2, stride=2),
            _affine(rng, filters * (out // 2) ** 2, hidden, 0.05), Relu(),
            _affine(rng, hidden, 10)]  # fmt: skip


def deep_stack(seed=0):
    """DeepConvNet's list (the book's ch08/deep_convnet.py: conv4 has pad 2; Dropout 0.5 after
    ReLU(Affine) and after the last Affine)."""
    rng = np.random.default_rng(seed)

    def he(fn, c, pad=1):
        return _conv(rng, fn, c, 3, 1, pad, std=np.sqrt(2.0 / (c * 9)))

    return [he(16, 1), Relu(), he(16, 16), Relu(), Pooling(2, 2, stride=2),
            he(32, 16), Relu(), he(32, 32, pad=2), Relu(), Pooling(2, 2, stride=2),
            he(64, 32), Relu(), he(64, 64), Relu(), Pooling(2, 2, stride=2),
            _affine(rng, 64 * 4 * 4, 50, np.sqrt(2 / 1024)), Relu(), Dropout(0.5),
            _affine(rng, 50, 10, np.sqrt(2 / 50)), Dropout(0.5)]  # fmt: skip


def _close(ours, ref, dtype) -> None:
    """|ours - ref| <= tol * max(1, max|ref|): 1e-12 in float64, 1e-5 relative in float32."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    assert ours.dtype == ref.dtype
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    tol = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    err = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))))
    assert err <= tol * scale, f"max |fast - layers| = {err:.3g} > {tol * scale:.3g}"


def _compare(make, shape, x, t, dtype=np.float64, lam=0.0, steps=1):
    """Two identical networks: the layers on one, the fast path on the other; loss, every
    gradient, the scores, and the dropout generators after ``steps`` training steps."""
    ref, fast = _net(make(), shape, dtype, lam), _net(make(), shape, dtype, lam)
    x = np.asarray(x, dtype=dtype)
    x_before = x.copy()
    plan = fast_conv.plan(fast)
    for _ in range(steps):
        loss_ref, g_ref = ref.loss_and_gradient_layers(x, t)
        loss, g = fast_conv.loss_and_gradient(fast, x, t, plan)
        _close(loss, loss_ref, dtype)
        assert list(g) == list(fast.params)
        for key in g_ref:
            _close(g[key], g_ref[key], dtype)
            assert g[key] is not fast.params[key]
    _close(fast_conv.scores(fast, x, plan), ref.forward_layers(x, False), dtype)
    assert ref.rng_states() == fast.rng_states()
    np.testing.assert_array_equal(x, x_before)  # the input is never written
    return g


def test_hand_made_input_with_ties_in_every_pooling_window():
    """Integer images: a 3x3 filter of ones gives equal sums in many windows; the gradient goes
    to the first maximum in the book's row-major order, as np.argmax in the layer."""
    x = np.array([[[[1, 1, 0, 2, 2, 0],
                    [1, 1, 0, 2, 2, 0],
                    [0, 0, 3, 3, 1, 1],
                    [3, 0, 3, 3, 1, 1],
                    [1, 2, 0, 0, 4, 0],
                    [2, 1, 0, 0, 0, 4]]]], dtype=np.float64)  # fmt: skip
    x = np.concatenate([x, x[:, :, ::-1], x[:, :, :, ::-1]])

    def make():
        return [Convolution(np.ones((2, 1, 3, 3)), np.array([0.5, -1.0]), 1, 1), Relu(),
                Pooling(2, 2, stride=2),
                Affine(np.arange(54.0).reshape(18, 3) / 50, np.zeros(3))]  # fmt: skip

    g = _compare(make, (1, 6, 6), x, np.array([0, 1, 2]))
    assert np.any(g["W1"] != 0)


def test_pooling_ties_without_relu_follow_the_first_maximum():
    """A 1x1 convolution summing two channels, then 2x2 pooling with no ReLU to hide a tie:
    each window holds its maximum two or three times, from different (channel 0, channel 1)
    pairs, so which position gets the gradient changes dW. Only the first (row-major) does."""
    a = np.array([[5, 1, 1, 7], [4, 2, 7, 3], [0, 3, 9, 1], [3, 3, 8, 2]], dtype=float)
    b = np.array([[0, 4, 0, 0], [1, 0, 0, 4], [2, 0, 0, 8], [0, 0, 1, 7]], dtype=float)
    x = np.stack([a, b])[None]  # sums: [[5, 5, 1, 7], [5, 2, 7, 7], [2, 3, 9, 9], [3, 3, 9, 9]]

    def make():
        return [Convolution(np.ones((1, 2, 1, 1)), np.zeros(1)), Pooling(2, 2, stride=2),
                Affine(np.array([[1.0, -1.0], [2.0, 0.5], [-1.0, 1.0], [0.3, 0.2]]),
                       np.zeros(2))]  # fmt: skip

    ref = _net(make(), (2, 4, 4))
    ref.loss_and_gradient_layers(x, np.array([1]))
    dx = ref.sequence[1].backward(np.ones((1, 1, 2, 2)))  # the layer's own routing
    expected = np.array([[1, 0, 0, 1], [0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(dx[0, 0], expected)
    g = _compare(make, (2, 4, 4), x, np.array([1]))
    g_other = ref.loss_and_gradient_layers(x[:, :, ::-1, ::-1].copy(), np.array([1]))[1]
    assert not np.allclose(g["W1"], g_other["W1"])  # the routing shows in dW


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_simple_convnet_stack_random_input(dtype):
    rng = np.random.default_rng(1)
    x = rng.random((7, 784))
    x[x < 0.6] = 0.0  # MNIST-like: many zero patches, equal conv outputs (= the bias)
    _compare(simple_stack, (1, 28, 28), x, rng.integers(0, 10, 7), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_deep_convnet_stack_with_dropout_two_steps(dtype):
    """Every gradient of the DeepConvNet stack (conv4 pad 2, Dropout after ReLU(Affine) and
    after the last Affine), over two steps: the masks come from the layers' own generators."""
    rng = np.random.default_rng(2)
    x = rng.random((5, 1, 28, 28))
    _compare(deep_stack, (1, 28, 28), x, rng.integers(0, 10, 5), dtype, steps=2)


@pytest.mark.parametrize(
    ("c", "size", "k", "stride", "pad"),
    [(1, 9, 3, 1, 1), (3, 9, 3, 2, 0), (2, 11, 4, 3, 2), (3, 8, 5, 1, 2), (2, 8, 7, 1, 0)],
)
def test_convolution_pad_stride_variants(c, size, k, stride, pad):
    """Two convolutions (the second computes its input gradient through col2im), then a
    pooling layer whose windows may not tile the input."""
    rng = np.random.default_rng(c * 100 + k)

    def make():
        r = np.random.default_rng(7)
        conv1 = _conv(r, 4, c, k, stride, pad)
        o1 = (size + 2 * pad - k) // stride + 1
        conv2 = _conv(r, 5, 4, min(3, o1 + 2), 1, 1)
        o2 = o1 + 2 - min(3, o1 + 2) + 1
        pool = Pooling(2, 2, stride=1)
        o3 = o2 - 1
        return [conv1, Tanh(), conv2, Relu(), pool, _affine(r, 5 * o3 * o3, 3)]

    x = rng.standard_normal((4, c * size * size))
    _compare(make, (c, size, size), x, rng.integers(0, 3, 4))


@pytest.mark.parametrize(
    ("ph", "pw", "stride", "pad", "size"),
    [(2, 2, 2, 0, 6), (2, 2, 2, 0, 7), (3, 3, 2, 0, 9), (3, 3, 1, 0, 6), (2, 2, 2, 1, 6),
     (3, 2, 3, 1, 7), (3, 3, 3, 0, 9)],
)
def test_pooling_variants(ph, pw, stride, pad, size):
    """Tiling windows (views by reshape), overlapping and uncovered ones, padded ones (the
    zero border competes for the maximum, as in the book's im2col), each before a sigmoid so
    the values are not all positive."""
    rng = np.random.default_rng(ph * 10 + size)

    def make():
        r = np.random.default_rng(11)
        oh = (size + 2 * pad - ph) // stride + 1
        ow = (size + 2 * pad - pw) // stride + 1
        return [_conv(r, 3, 2, 3, 1, 1), Pooling(ph, pw, stride=stride, pad=pad), Sigmoid(),
                _affine(r, 3 * oh * ow, 4)]  # fmt: skip

    x = rng.standard_normal((3, 2, size, size))
    _compare(make, (2, size, size), x, rng.integers(0, 4, 3))


def test_weight_decay_and_one_hot_free_labels():
    rng = np.random.default_rng(4)
    x = rng.random((6, 1, 12, 12))
    g = _compare(lambda: simple_stack(size=12, filters=4, k=3, hidden=8), (1, 12, 12), x,
                 rng.integers(0, 10, 6), lam=0.1)  # fmt: skip
    assert set(g) == {"W1", "b1", "W2", "b2", "W3", "b3"}


def test_params_changed_in_place_are_seen_by_the_next_call():
    """The book's half_float_network.py rounds params[...] in place and predicts again: the fast
    path keeps no copy of the weights (nor of their float32/float16 versions)."""
    rng = np.random.default_rng(5)
    x = rng.random((4, 784))
    net = _net(simple_stack(), (1, 28, 28))
    plan = fast_conv.plan(net)
    before = fast_conv.scores(net, x, plan)
    for key in net.params:
        net.params[key][...] = net.params[key].astype(np.float16)
    after = fast_conv.scores(net, x, plan)
    assert np.max(np.abs(after - before)) > 0
    _close(after, net.forward_layers(x, False), np.float64)
    net.params["W1"][...] = 0.0
    net.params["b1"][...] = 0.0
    flat = fast_conv.scores(net, x, plan)
    np.testing.assert_allclose(flat, np.broadcast_to(flat[0], flat.shape), rtol=0, atol=1e-15)


def test_scores_in_chunks_equal_one_batch(monkeypatch):
    rng = np.random.default_rng(6)
    x = rng.random((23, 784)).astype(np.float32)
    net = _net(deep_stack(), (1, 28, 28), np.float32)
    whole = fast_conv.scores(net, x)
    per_image = fast_conv.plan(net).per_image_bytes(4)
    monkeypatch.setattr(fast_conv, "CHUNK_BYTES", 5 * per_image)  # chunks of 5 images
    chunked = fast_conv.scores(net, x)
    _close(chunked, whole, np.float32)  # BLAS may block another number of rows differently
    _close(chunked, net.forward_layers(x, False), np.float32)
    assert chunked.dtype == np.float32 and chunked.shape == (23, 10)


def test_unsupported_says_why():
    assert "not a convnet" in fast_conv.unsupported(MultiLayerNet(784, [10], 10, seed=0))
    rng = np.random.default_rng(0)
    bn = _net([_conv(rng, 2, 1, 3), BatchNormalization(np.ones(2 * 36), np.zeros(2 * 36)),
               Relu(), _affine(rng, 72, 3)], (1, 8, 8))  # fmt: skip
    assert "layer 2 (BatchNormalization)" in fast_conv.unsupported(bn)
    no_head = _net([_conv(rng, 2, 1, 3)], (1, 8, 8), lam=0.0)
    assert "does not end with an Affine" in fast_conv.unsupported(no_head)
    with pytest.raises(ValueError, match="convolution fast path cannot run"):
        fast_conv.plan(bn)
    assert fast_conv.unsupported(_net(simple_stack(), (1, 28, 28))) is None


def _loop() -> LoopState:
    return LoopState(0, 1, np.random.default_rng(0).bit_generator.state)


def test_choose_step_and_scores_take_the_conv_path():
    """training.steps chooses the fast path for a NumPy convnet; one SGD step with it equals
    one with the layers."""
    from mitbadak.nn.optimizers import SGD

    rng = np.random.default_rng(8)
    x = rng.random((10, 784))
    t = rng.integers(0, 10, 10)
    nets = {}
    for engine in ("fast", "layers"):
        net = _net(deep_stack(), (1, 28, 28))
        step = choose_step(net, SGD(lr=0.1), (x, t), _loop(), engine=engine)
        assert step.engine == engine
        step.run(np.arange(10))
        nets[engine] = net
    for key in nets["fast"].params:
        _close(nets["fast"].params[key], nets["layers"].params[key], np.float64)
    auto = choose_step(nets["fast"], SGD(lr=0.1), (x, t), _loop())
    assert auto.engine == "fast" and auto.note == ""
    scores = choose_scores(nets["fast"])
    _close(scores(x), nets["fast"].forward_layers(x, False), np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_book_nets_simple_and_deep_convnet(dtype):
    """The library's SimpleConvNet and DeepConvNet (nn/convnets.py) are this path's: loss, every
    gradient, the dropout generators and the scores equal their layers'."""
    from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet

    rng = np.random.default_rng(9)
    x = rng.random((4, 784))
    t = rng.integers(0, 10, 4)
    for cls in (SimpleConvNet, DeepConvNet):
        assert fast_conv.unsupported(cls(seed=0)) is None
        g = _compare(lambda cls=cls: cls(seed=0, dtype=dtype).sequence, (1, 28, 28), x, t, dtype)
        assert set(g) == set(cls(seed=0).params)


def test_convnet_accuracy_runs_the_fast_path_and_equals_the_layers(monkeypatch):
    """A learner's ``net.accuracy`` (the book's scripts call it on 10,000 images) takes the
    convnet fast path chosen by ``nn.engines.host_scores`` and counts what the layers count."""
    from mitbadak.nn import engines
    from mitbadak.nn.convnets import SimpleConvNet
    from mitbadak.nn.networks import LayerNet

    net = SimpleConvNet(seed=3, weight_init_std=0.1)
    rng = np.random.default_rng(0)
    x = rng.random((57, 1, 28, 28))
    t = rng.integers(0, 10, 57)
    by_layers = LayerNet.accuracy(net, x, t, 10)
    calls = []
    real = engines.host_scores

    def spy(n):
        calls.append(n)
        return real(n)

    monkeypatch.setattr("mitbadak.nn.convnets.host_scores", spy)
    assert net.accuracy(x, t, batch_size=10) == by_layers
    assert calls == [net]
    assert 0.0 < by_layers < 1.0
