"""mitbadak.nn.layers: the shopping graphs, each layer's backward against numerical gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mitbadak import (
    AddLayer,
    Affine,
    MulLayer,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    cross_entropy_error,
    numerical_gradient,
    softmax,
)


def frozen(a) -> np.ndarray:
    """A read-only copy: any in-place write by a layer raises."""
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


# -- the shopping examples (chapter 5.4) --------------------------------------------------------


def test_apple_shopping():
    apple, apple_num, tax = 100, 2, 1.1
    mul_apple, mul_tax = MulLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    price = mul_tax.forward(apple_price, tax)
    assert price == pytest.approx(220.0, rel=1e-15)

    dapple_price, dtax = mul_tax.backward(1)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert dapple == pytest.approx(2.2, rel=1e-15)
    assert dapple_num == pytest.approx(110.0, rel=1e-15)
    assert dtax == 200


def test_apple_and_orange_shopping():
    apple, apple_num, orange, orange_num, tax = 100, 2, 150, 3, 1.1
    mul_apple, mul_orange, add_fruit, mul_tax = MulLayer(), MulLayer(), AddLayer(), MulLayer()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add_fruit.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)
    assert price == pytest.approx(715.0, rel=1e-15)

    dall_price, dtax = mul_tax.backward(1)
    dapple_price, dorange_price = add_fruit.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)
    assert dapple == pytest.approx(2.2, rel=1e-15)
    assert dapple_num == pytest.approx(110.0, rel=1e-15)
    assert dorange == pytest.approx(3.3, rel=1e-15)
    assert dorange_num == pytest.approx(165.0, rel=1e-15)
    assert dtax == 650


def test_shopping_with_arrays_of_baskets():
    # the same graph, vectorised over three shoppers
    apple_num = np.array([2.0, 0.0, 5.0])
    mul_apple, mul_tax = MulLayer(), MulLayer()
    price = mul_tax.forward(mul_apple.forward(100.0, apple_num), 1.1)
    np.testing.assert_allclose(price, [220.0, 0.0, 550.0], rtol=1e-15)
    dapple_price, dtax = mul_tax.backward(frozen(np.ones(3)))
    dapple, dnum = mul_apple.backward(dapple_price)
    np.testing.assert_allclose(dnum, [110.0, 110.0, 110.0], rtol=1e-15)
    np.testing.assert_allclose(dtax, [200.0, 0.0, 500.0], rtol=1e-15)
    np.testing.assert_allclose(dapple, 1.1 * apple_num, rtol=1e-15)


# -- Relu and Sigmoid ---------------------------------------------------------------------------


def test_relu_forward_backward():
    layer = Relu()
    x = np.array([[1.0, -0.5], [-2.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(x), [[1.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(x, [[1.0, -0.5], [-2.0, 3.0]])  # input untouched
    dx = layer.backward(frozen([[5.0, 6.0], [7.0, 8.0]]))
    np.testing.assert_array_equal(dx, [[5.0, 0.0], [0.0, 8.0]])


def test_relu_keeps_float32():
    layer = Relu()
    x = np.array([1.0, -1.0], dtype=np.float32)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones(2, dtype=np.float32)).dtype == np.float32


def test_sigmoid_layer_forward_backward():
    layer = Sigmoid()
    x = np.array([[-1.0, 1.0, 2.0]])
    y = layer.forward(x)
    np.testing.assert_allclose(y, [[0.26894142, 0.73105858, 0.88079708]], atol=5e-9)
    dx = layer.backward(frozen([[1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(dx, y * (1 - y), rtol=1e-15)
    np.testing.assert_allclose(dx[0, 1], 0.19661193324148185, rtol=1e-12)  # sigma'(1)


def test_sigmoid_layer_on_integer_input_is_not_truncated():
    y = Sigmoid().forward(np.array([[-1, 0, 1]]))
    np.testing.assert_allclose(y, [[0.2689414213699951, 0.5, 0.7310585786300049]], rtol=1e-12)


# -- Affine --------------------------------------------------------------------------------------


def test_affine_known_values():
    W = np.array([[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]])
    b = np.array([0.5, -0.5, 0.0])
    layer = Affine(W, b)
    out = layer.forward(np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(out, [[5.5, 10.5, 17.0]])  # X.W = [5, 11, 17] (the notes)
    dout = frozen([[1.0, 0.0, -1.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[-4.0, -4.0]])
    np.testing.assert_array_equal(layer.dW, [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0]])
    np.testing.assert_array_equal(layer.db, [1.0, 0.0, -1.0])
    assert layer.grads["W"] is layer.dW and layer.grads["b"] is layer.db
    assert layer.params["W"] is W and layer.params["b"] is b


def test_affine_rank4_input_gives_dx_in_original_shape():
    rng = np.random.default_rng(3)
    x = rng.random((5, 1, 28, 28))
    W = rng.normal(size=(784, 10)) * 0.01
    b = rng.normal(size=10)
    layer = Affine(W, b)
    out = layer.forward(x)
    assert out.shape == (5, 10)
    np.testing.assert_allclose(out, x.reshape(5, 784) @ W + b, rtol=1e-13)
    dout = frozen(rng.normal(size=(5, 10)))
    dx = layer.backward(dout)
    assert dx.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(dx, (dout @ W.T).reshape(5, 1, 28, 28), rtol=1e-13)
    assert layer.dW.shape == (784, 10)
    assert layer.db.shape == (10,)
    np.testing.assert_allclose(layer.dW, x.reshape(5, 784).T @ dout, rtol=1e-13)
    np.testing.assert_allclose(layer.db, dout.sum(axis=0), rtol=1e-13)


def test_affine_without_input_grad_still_stores_parameter_grads():
    layer = Affine(np.ones((3, 2)), np.zeros(2), input_grad=False)
    layer.forward(np.array([[1.0, 2.0, 3.0]]))
    assert layer.backward(frozen([[1.0, 2.0]])) is None
    np.testing.assert_array_equal(layer.dW, [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    np.testing.assert_array_equal(layer.db, [1.0, 2.0])


def test_affine_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"W \(in, out\) and b \(out,\)"):
        Affine(np.ones((3, 2)), np.zeros(3))
    layer = Affine(np.ones((784, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="783 features per sample.*expects 784"):
        layer.forward(np.ones((2, 783)))
    with pytest.raises(ValueError, match="rank >= 2"):
        layer.forward(np.ones(784))


# -- SoftmaxWithLoss -----------------------------------------------------------------------------


def test_softmax_with_loss_one_hot_and_labels():
    x = np.array([[0.3, 2.9, 4.0], [1010.0, 1000.0, 990.0]])
    t_idx = np.array([2, 0])
    t_hot = np.array([[0, 0, 1], [1, 0, 0]])
    layer_a, layer_b = SoftmaxWithLoss(), SoftmaxWithLoss()
    loss_a = layer_a.forward(x, t_idx)
    loss_b = layer_b.forward(x, t_hot)
    assert loss_a == loss_b
    # exact: -log softmax, no delta; close to the book's delta version
    y = softmax(x)
    np.testing.assert_allclose(layer_a.y, y, rtol=1e-15)
    assert loss_a == pytest.approx(-np.mean(np.log(y[[0, 1], [2, 0]])), rel=1e-14)
    assert loss_a == pytest.approx(float(cross_entropy_error(y, t_idx)), abs=1e-6)
    dx_a = layer_a.backward()
    dx_b = layer_b.backward(frozen(1.0))
    np.testing.assert_allclose(dx_a, (y - t_hot) / 2, rtol=1e-15, atol=1e-17)
    np.testing.assert_array_equal(dx_a, dx_b)
    # dout scales the gradient
    np.testing.assert_allclose(layer_a.backward(3.0), 3 * dx_a, rtol=1e-15)


def test_softmax_with_loss_book_batch():
    # scores whose softmax is the book's batch; the exact loss is within ~1e-6 of the delta form
    y_batch = np.array([[0.19632642, 0.44743231, 0.35624127], [0.32645762, 0.33436991, 0.33917247]])
    scores = np.log(y_batch)
    layer = SoftmaxWithLoss()
    loss = layer.forward(scores, np.array([0, 1]))
    assert loss == pytest.approx(1.361741586147387, abs=1e-6)
    assert loss == pytest.approx(-np.mean(np.log([0.19632642, 0.33436991])), rel=1e-7)


def test_softmax_with_loss_single_sample():
    layer = SoftmaxWithLoss()
    loss = layer.forward(np.array([0.3, 2.9, 4.0]), 2)
    assert loss == pytest.approx(-np.log(0.73659691), abs=1e-7)
    np.testing.assert_allclose(
        layer.backward(), [[0.01821127, 0.24519181, 0.73659691 - 1]], atol=5.1e-9
    )
    # a 1-D one-hot row for the single sample means the same
    assert SoftmaxWithLoss().forward(np.array([0.3, 2.9, 4.0]), np.array([0, 0, 1])) == loss


def test_softmax_with_loss_rejects_bad_labels():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"from 0 to 3.*3 classes"):
        SoftmaxWithLoss().forward(x, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"from -1 to 1.*3 classes"):
        SoftmaxWithLoss().forward(x, np.array([-1, 1]))
    with pytest.raises(ValueError, match="one-hot with 4 columns.*3"):
        SoftmaxWithLoss().forward(x, np.eye(4)[:2])
    with pytest.raises(ValueError, match="3 labels, but x has 2 samples"):
        SoftmaxWithLoss().forward(x, np.array([0, 1, 2]))


@pytest.mark.parametrize(
    "t", [np.zeros(0, dtype=int), [], np.zeros((0, 3))], ids=["labels", "list", "one-hot"]
)
def test_softmax_with_loss_refuses_an_empty_batch(t):
    """The mean over 0 samples is nan (it used to be returned); now one clear ValueError, and
    the layer keeps no half state for backward."""
    layer = SoftmaxWithLoss()
    with np.errstate(all="raise"):  # and no NumPy warning on the way
        with pytest.raises(ValueError, match=r"^x is an empty batch \(0 rows of scores, shape "
                                             r"\(0, 3\)\); SoftmaxWithLoss needs at least one"):
            layer.forward(np.zeros((0, 3)), t)
    assert layer.y is None


# -- no layer mutates its dout -------------------------------------------------------------------


def test_no_layer_writes_into_dout():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    cases = []
    mul = MulLayer()
    mul.forward(x, x + 1)
    cases.append(mul)
    add = AddLayer()
    add.forward(x, x)
    cases.append(add)
    relu = Relu()
    relu.forward(x)
    cases.append(relu)
    sig = Sigmoid()
    sig.forward(x)
    cases.append(sig)
    aff = Affine(rng.normal(size=(3, 3)), np.zeros(3))
    aff.forward(x)
    cases.append(aff)
    for layer in cases:
        dout = frozen(rng.normal(size=(4, 3)))
        before = dout.tobytes()
        layer.backward(dout)  # a write would raise "assignment destination is read-only"
        assert dout.tobytes() == before, type(layer).__name__
    sl = SoftmaxWithLoss()
    sl.forward(x, np.array([0, 1, 2, 0]))
    sl.backward(frozen(2.0))


def test_add_layer_returns_independent_gradients():
    add = AddLayer()
    add.forward(np.zeros(2), np.zeros(2))
    dout = np.array([1.0, 2.0])
    dx, dy = add.backward(dout)
    dx += 10  # a downstream in-place update must not leak into the other branch or dout
    np.testing.assert_array_equal(dy, [1.0, 2.0])
    np.testing.assert_array_equal(dout, [1.0, 2.0])
    assert add.backward(1.5) == (1.5, 1.5)


# -- property tests: backward == numerical gradient ---------------------------------------------

SIZES = st.integers(min_value=1, max_value=4)
FINITE = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, allow_infinity=False)
AWAY_FROM_KINK = FINITE.filter(lambda v: abs(v) > 1e-3)


def arrays(shape, elements=FINITE):
    return hnp.arrays(np.float64, shape, elements=elements)


def projected(layer_forward, dout):
    """The scalar L = sum(forward(...) * dout), whose gradient backward(dout) must return."""
    return lambda _z: float(np.sum(layer_forward() * dout))


PROPERTY = settings(max_examples=40, deadline=None)


@PROPERTY
@given(data=st.data(), n=SIZES, m=SIZES, k=SIZES)
def test_property_affine(data, n, m, k):
    x = data.draw(arrays((n, m)))
    W = data.draw(arrays((m, k)))
    b = data.draw(arrays((k,)))
    dout = data.draw(arrays((n, k)))
    layer = Affine(W, b)
    layer.forward(x)
    dx = layer.backward(frozen(dout))

    def f(_z):
        return float(np.sum(layer.forward(x) * dout))

    tol = {"rtol": 1e-6, "atol": 1e-7}
    np.testing.assert_allclose(dx, numerical_gradient(f, x), **tol)
    np.testing.assert_allclose(layer.dW, numerical_gradient(f, W), **tol)
    np.testing.assert_allclose(layer.db, numerical_gradient(f, b), **tol)


@PROPERTY
@given(data=st.data(), n=SIZES, extra=st.lists(SIZES, min_size=1, max_size=3))
def test_property_affine_any_rank(data, n, extra):
    shape = (n, *extra)
    features = int(np.prod(extra))
    x = data.draw(arrays(shape))
    W = data.draw(arrays((features, 2)))
    b = data.draw(arrays((2,)))
    dout = data.draw(arrays((n, 2)))
    layer = Affine(W, b)
    layer.forward(x)
    dx = layer.backward(frozen(dout))
    assert dx.shape == shape
    num = numerical_gradient(lambda _z: float(np.sum(layer.forward(x) * dout)), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-7)


@PROPERTY
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_property_relu(data, shape):
    x = data.draw(arrays(shape, AWAY_FROM_KINK))  # |x| > 1e-3 >> h: no step crosses the kink
    dout = data.draw(arrays(shape))
    layer = Relu()
    layer.forward(x)
    dx = layer.backward(frozen(dout))
    num = numerical_gradient(lambda _z: float(np.sum(layer.forward(x) * dout)), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


@PROPERTY
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_property_sigmoid(data, shape):
    x = data.draw(arrays(shape, st.floats(-8, 8)))
    dout = data.draw(arrays(shape))
    layer = Sigmoid()
    layer.forward(x)
    dx = layer.backward(frozen(dout))
    num = numerical_gradient(lambda _z: float(np.sum(layer.forward(x) * dout)), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-9)


@PROPERTY
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
def test_property_mul_and_add(data, shape):
    x = data.draw(arrays(shape))
    y = data.draw(arrays(shape))
    dout = data.draw(arrays(shape))
    for layer in (MulLayer(), AddLayer()):
        layer.forward(x, y)
        dx, dy = layer.backward(frozen(dout))

        def f(_z, layer=layer):
            return float(np.sum(layer.forward(x, y) * dout))

        np.testing.assert_allclose(dx, numerical_gradient(f, x), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(dy, numerical_gradient(f, y), rtol=1e-6, atol=1e-8)


@PROPERTY
@given(data=st.data(), n=SIZES, c=st.integers(2, 5), one_hot=st.booleans())
def test_property_softmax_with_loss(data, n, c, one_hot):
    x = data.draw(arrays((n, c), st.floats(-10, 10)))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    t = np.eye(c, dtype=np.int64)[labels] if one_hot else labels
    dout = data.draw(st.floats(0.1, 3.0))
    layer = SoftmaxWithLoss()
    loss = layer.forward(x, t)
    dx = layer.backward(frozen(dout))
    num = numerical_gradient(lambda _z: dout * SoftmaxWithLoss().forward(x, t), x)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-9)
    # the loss is the exact cross-entropy: the book's delta form differs by < delta / min y[t]
    y = softmax(x)
    assert loss == pytest.approx(float(cross_entropy_error(y, labels)), abs=1e-6 / y[
        np.arange(n), labels].min())
    np.testing.assert_allclose(dx, dout * (y - np.eye(c)[labels]) / n, rtol=1e-12, atol=1e-15)
