"""Chapter 7's layers: im2col/col2im in the book's layout, Convolution and max Pooling.

The references here are naive loops written from the definitions (one output element at a time),
independent of the library's slicing; the gradients are checked by central differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.nn.convolution import Convolution, col2im, conv_output_size, im2col
from mitbadak.nn.layer_base import LAYERS
from mitbadak.nn.pooling import Pooling


# -- naive references ------------------------------------------------------------------------
def naive_im2col(x, fh, fw, stride=1, pad=0):
    """col[(n*oh + i)*ow + j, (c*fh + u)*fw + v] = x_pad[n, c, i*s + u, j*s + v], loop by loop."""
    n, c, h, w = x.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    xpad = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    xpad[:, :, pad : pad + h, pad : pad + w] = x
    col = np.empty((n * oh * ow, c * fh * fw), dtype=x.dtype)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    for u in range(fh):
                        for v in range(fw):
                            col[(b * oh + i) * ow + j, (ch * fh + u) * fw + v] = xpad[
                                b, ch, i * stride + u, j * stride + v
                            ]
    return col


def naive_col2im(col, shape, fh, fw, stride=1, pad=0):
    n, c, h, w = shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    img = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    for u in range(fh):
                        for v in range(fw):
                            img[b, ch, i * stride + u, j * stride + v] += col[
                                (b * oh + i) * ow + j, (ch * fh + u) * fw + v
                            ]
    return img[:, :, pad : pad + h, pad : pad + w]


def naive_conv(x, W, b, stride=1, pad=0):
    n, c, h, w = x.shape
    fn, _, fh, fw = W.shape
    oh = (h + 2 * pad - fh) // stride + 1
    ow = (w + 2 * pad - fw) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, fn, oh, ow))
    for a in range(n):
        for f in range(fn):
            for i in range(oh):
                for j in range(ow):
                    patch = xpad[a, :, i * stride : i * stride + fh, j * stride : j * stride + fw]
                    out[a, f, i, j] = np.sum(patch * W[f]) + b[f]
    return out


def naive_maxpool(x, ph, pw, stride=2, pad=0):
    n, c, h, w = x.shape
    oh = (h + 2 * pad - ph) // stride + 1
    ow = (w + 2 * pad - pw) // stride + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, c, oh, ow))
    for a in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    out[a, ch, i, j] = xpad[a, ch, i * stride : i * stride + ph,
                                            j * stride : j * stride + pw].max()  # fmt: skip
    return out


def central_diff(f, x, h=1e-5):
    """d f / d x by central differences, x (float64) restored after each element."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        keep = x[idx]
        x[idx] = keep + h
        up = f()
        x[idx] = keep - h
        down = f()
        x[idx] = keep
        grad[idx] = (up - down) / (2 * h)
    return grad


CASES = [  # (N, C, H, W), fh, fw, stride, pad
    ((2, 3, 5, 6), 3, 3, 1, 0),
    ((1, 2, 7, 7), 3, 2, 2, 1),
    ((2, 1, 4, 4), 2, 2, 2, 0),
    ((1, 2, 5, 5), 5, 5, 1, 2),
    ((3, 1, 6, 5), 1, 1, 3, 0),
]


# -- im2col / col2im -------------------------------------------------------------------------
def test_im2col_of_a_hand_made_image():
    """One 3x3 image of 1..9, a 2x2 window, stride 1: four rows, the windows in reading order."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    col = im2col(x, 2, 2)
    assert col.tolist() == [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]]
    # two channels: each row is channel 0's window, then channel 1's
    x2 = np.stack([x[0, 0], 10 * x[0, 0]])[None]
    assert im2col(x2, 2, 2)[0].tolist() == [1, 2, 4, 5, 10, 20, 40, 50]
    # pad 1, stride 2: the top-left window sees three zeros and the 1
    assert im2col(x, 2, 2, stride=2, pad=1)[0].tolist() == [0, 0, 0, 1]
    # the book's shapes: (1, 3, 7, 7) with 5x5 -> (9, 75); a batch of 10 -> (90, 75)
    assert im2col(np.zeros((1, 3, 7, 7)), 5, 5).shape == (9, 75)
    assert im2col(np.zeros((10, 3, 7, 7)), 5, 5, stride=1, pad=0).shape == (90, 75)


@pytest.mark.parametrize(("shape", "fh", "fw", "stride", "pad"), CASES)
def test_im2col_and_col2im_equal_the_loops(shape, fh, fw, stride, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    col = im2col(x, fh, fw, stride, pad)
    np.testing.assert_array_equal(col, naive_im2col(x, fh, fw, stride, pad))
    back = rng.standard_normal(col.shape)
    expected = naive_col2im(back, shape, fh, fw, stride, pad)
    np.testing.assert_allclose(col2im(back, shape, fh, fw, stride, pad), expected, atol=1e-12)
    # col2im is im2col's adjoint: <im2col(x), c> == <x, col2im(c)>
    assert np.isclose(np.sum(col * back), np.sum(x * col2im(back, shape, fh, fw, stride, pad)))


def test_col2im_sums_where_windows_overlap():
    ones = np.ones((4, 4))  # the four 2x2 windows of a 3x3 image, all ones
    counts = col2im(ones, (1, 1, 3, 3), 2, 2)
    assert counts[0, 0].tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]


def test_im2col_keeps_the_dtype():
    x = np.ones((1, 1, 4, 4), dtype=np.float32)
    assert im2col(x, 2, 2).dtype == np.float32
    assert col2im(im2col(x, 2, 2), x.shape, 2, 2).dtype == np.float32


def test_conv_output_size():
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(28, 3, 1, 1) == 28
    assert conv_output_size(14, 3, 1, 2) == 16  # DeepConvNet's conv4
    assert conv_output_size(7, 3, 2, 1) == 4


# -- Convolution -----------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "fh", "fw", "stride", "pad"), CASES)
def test_convolution_forward_equals_the_loop(shape, fh, fw, stride, pad):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((4, shape[1], fh, fw))
    b = rng.standard_normal(4)
    layer = Convolution(W, b, stride, pad)
    np.testing.assert_allclose(layer.forward(x), naive_conv(x, W, b, stride, pad), atol=1e-12)
    # the book's caches
    assert layer.x is x
    np.testing.assert_array_equal(layer.col, naive_im2col(x, fh, fw, stride, pad))
    assert layer.col_W.shape == (shape[1] * fh * fw, 4)


def test_convolution_of_a_hand_made_filter():
    """A 2x2 filter summing its window plus 0.5: on 1..9 the four window sums 12, 16, 24, 28."""
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    layer = Convolution(np.ones((1, 1, 2, 2)), np.array([0.5]))
    assert layer.forward(x).tolist() == [[[[12.5, 16.5], [24.5, 28.5]]]]


@pytest.mark.parametrize(("shape", "fh", "fw", "stride", "pad"), CASES)
def test_convolution_gradients_by_central_differences(shape, fh, fw, stride, pad):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    W = rng.standard_normal((3, shape[1], fh, fw))
    b = rng.standard_normal(3)
    layer = Convolution(W, b, stride, pad)
    weights = rng.standard_normal(layer.forward(x).shape)  # L = sum(weights * y)

    def loss():
        return float(np.sum(weights * layer.forward(x)))

    layer.forward(x)
    dx = layer.backward(weights)
    np.testing.assert_allclose(dx, central_diff(loss, x), atol=1e-8)
    np.testing.assert_allclose(layer.dW, central_diff(loss, W), atol=1e-8)
    np.testing.assert_allclose(layer.db, central_diff(loss, b), atol=1e-8)
    assert layer.dW.shape == W.shape and layer.grads["W"] is layer.dW


def test_convolution_without_input_grad_skips_dx():
    rng = np.random.default_rng(3)
    layer = Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2))
    layer.input_grad = False
    layer.forward(rng.standard_normal((2, 1, 5, 5)))
    assert layer.backward(np.ones((2, 2, 3, 3))) is None
    np.testing.assert_array_equal(layer.db, [18.0, 18.0])


def test_convolution_uses_the_weights_it_is_given_in_place():
    W = np.ones((1, 1, 2, 2))
    layer = Convolution(W, np.zeros(1))
    x = np.ones((1, 1, 2, 2))
    assert layer.forward(x).item() == 4.0
    W[...] = 0.5  # the half-float script's params[...] = ...: the next forward sees it
    assert layer.forward(x).item() == 2.0


def test_convolution_config_round_trip_and_registry():
    layer = Convolution.of_shape(30, 1, 5, 5, stride=1, pad=0, weight_std=0.01)
    assert LAYERS["Convolution"] is Convolution and LAYERS["Pooling"] is Pooling
    again = Convolution.from_config(layer.config())
    assert again.config() == layer.config()
    specs = {s.stem: s for s in again.param_specs()}
    assert specs["W"].shape == (30, 1, 5, 5) and specs["W"].decay and specs["W"].init == 0.01
    assert specs["b"].shape == (30,) and specs["b"].init == "zeros" and not specs["b"].decay
    assert layer.output_shape((1, 28, 28)) == (30, 24, 24)


# -- Pooling ---------------------------------------------------------------------------------
def test_pooling_of_a_hand_made_image():
    x = np.array([[1, 2, 0, 1], [3, 0, 4, 2], [0, 5, 1, 1], [2, 1, 6, 0]], float)[None, None]
    layer = Pooling(2, 2)  # the book's default stride 2
    assert layer.forward(x).tolist() == [[[[3, 4], [5, 6]]]]
    assert layer.arg_max.tolist() == [2, 2, 1, 2]
    dx = layer.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    assert dx[0, 0].tolist() == [[0, 0, 0, 0], [10, 0, 20, 0], [0, 30, 0, 0], [0, 0, 40, 0]]


@pytest.mark.parametrize(("shape", "ph", "pw", "stride", "pad"),
                         [((2, 3, 4, 4), 2, 2, 2, 0), ((1, 2, 5, 7), 3, 2, 1, 0),
                          ((2, 1, 6, 6), 3, 3, 3, 0), ((1, 2, 5, 5), 2, 2, 2, 1)])  # fmt: skip
def test_pooling_equals_the_loop_and_its_gradient(shape, ph, pw, stride, pad):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)  # ties have probability 0
    layer = Pooling(ph, pw, stride, pad)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, naive_maxpool(x, ph, pw, stride, pad))
    weights = rng.standard_normal(y.shape)
    dx = layer.backward(weights)
    np.testing.assert_allclose(
        dx, central_diff(lambda: float(np.sum(weights * layer.forward(x))), x), atol=1e-8
    )


def test_pooling_config_round_trip():
    layer = Pooling.from_config(Pooling(3, 2, stride=1, pad=1).config())
    assert (layer.pool_h, layer.pool_w, layer.stride, layer.pad) == (3, 2, 1, 1)
    assert Pooling(2, 2).output_shape((30, 24, 24)) == (30, 12, 12)
    assert Pooling(2, 2).param_specs() == ()


# -- bad input: one clear ValueError each ----------------------------------------------------
@pytest.mark.parametrize(
    ("make", "x_shape", "message"),
    [
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=0), None,
         "stride must be an integer >= 1, got 0"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), pad=-1), None,
         "pad must be an integer >= 0, got -1"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=1.5), None,
         "stride must be an integer >= 1, got 1.5"),
        (lambda: Convolution(np.ones((2, 3, 3)), np.zeros(2)), None,
         r"needs W \(filter_num, channels, filter_h, filter_w\)"),
        (lambda: Pooling(2, 2, stride=0), None, "stride must be an integer >= 1, got 0"),
        (lambda: Pooling(0, 2), None, "the pooling window's height must be an integer >= 1"),
        (lambda: Convolution(np.ones((2, 1, 5, 5)), np.zeros(2), pad=1), (1, 1, 2, 2),
         r"this convolution's filter \(5x5\) is larger than the padded input \(4x4: 2x2 with "
         r"pad 1\)"),
        (lambda: Pooling(3, 3), (1, 1, 2, 2),
         r"the pooling window \(3x3\) is larger than the padded input \(2x2"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)), (5, 784),
         r"a convolution needs a 4-D batch of images \(N, 1, H, W\), got shape \(5, 784\) "
         r"\(a flattened batch: reshape it"),
        (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2)), (2, 3, 8, 8),
         r"x has 3 channels \(shape \(2, 3, 8, 8\)\), but this convolution's filter expects 1"),
        (lambda: Pooling(2, 2), (4, 4), r"4-D batch of images \(N, C, H, W\), got shape \(4, 4\)"),
    ],
)
def test_bad_input_is_one_clear_error(make, x_shape, message):
    with pytest.raises(ValueError, match=message):
        layer = make()
        layer.forward(np.zeros(x_shape))


def test_im2col_checks_its_arguments():
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        im2col(np.zeros((1, 1, 4, 4)), 2, 2, stride=0)
    with pytest.raises(ValueError, match=r"the filter \(5x5\) is larger than the padded input"):
        im2col(np.zeros((1, 1, 4, 4)), 5, 5)
    with pytest.raises(ValueError, match=r"col must have shape \(9, 4\)"):
        col2im(np.zeros((8, 4)), (1, 1, 4, 4), 2, 2)


def test_backward_before_forward_is_explained():
    with pytest.raises(AttributeError, match="call forward before backward"):
        Pooling(2, 2).backward(np.zeros((1, 1, 1, 1)))
    with pytest.raises(AttributeError, match="call forward before backward"):
        Convolution(np.ones((1, 1, 2, 2)), np.zeros(1)).backward(np.zeros((1, 1, 1, 1)))
