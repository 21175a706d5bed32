"""mitbadak.core.functions: the book's printed values, shapes, stability and input checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mitbadak import (
    cross_entropy_error,
    identity_function,
    relu,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
    sum_squares_error,
)
from mitbadak.core.functions import CEE_DELTA

T_ONEHOT_2 = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y_GOOD = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y_BAD = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
Y_BATCH = np.array([[0.19632642, 0.44743231, 0.35624127], [0.32645762, 0.33436991, 0.33917247]])


def assert_printed(actual, printed, decimals: int = 8) -> None:
    """``actual`` rounds to the ``printed`` value shown with ``decimals`` digits after the point.

    For fixed notation (0.01821127) that is an absolute error of half a unit in the last digit;
    for scientific notation (4.53978686e-05) the same holds for the mantissa, i.e. relative.
    """
    actual = np.asarray(actual, dtype=np.float64)
    printed = np.asarray(printed, dtype=np.float64)
    half_ulp = 0.5 * 10.0**-decimals * 1.0000001
    np.testing.assert_allclose(actual, printed, rtol=0, atol=half_ulp)


def assert_printed_sci(actual, printed, decimals: int = 8) -> None:
    """Like :func:`assert_printed` for values printed as d.dddddddde+XX."""
    actual = np.asarray(actual, dtype=np.float64)
    printed = np.asarray(printed, dtype=np.float64)
    scale = 10.0 ** np.floor(np.log10(np.abs(printed)))
    np.testing.assert_allclose(actual / scale, printed / scale, rtol=0,
                               atol=0.5 * 10.0**-decimals * 1.0000001)


@pytest.fixture
def strict_numpy():
    """Turn every NumPy floating-point event and every warning into an error."""
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        yield


# -- step_function, sigmoid, relu, identity ------------------------------------------------------


def test_step_function_book_example_and_scalars():
    np.testing.assert_array_equal(step_function(np.array([-1.0, 1.0, 2.0])), [0, 1, 1])
    assert step_function(3.0) == 1
    assert step_function(-0.5) == 0
    assert step_function(0.0) == 0  # h(0) = 0: strictly greater than zero


def test_relu_values_and_shapes():
    np.testing.assert_array_equal(relu(np.array([-1.0, 0.0, 2.5])), [0.0, 0.0, 2.5])
    assert relu(-3.0) == 0.0
    assert relu(4.0) == 4.0
    x = np.arange(-12.0, 12.0).reshape(2, 3, 4)
    out = relu(x)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.0))


def test_identity_function_returns_its_input():
    x = np.array([[1.5, -2.0]])
    assert identity_function(x) is x
    assert identity_function(7.0) == 7.0


CHAPTER3 = {
    "step_function": step_function,
    "sigmoid": sigmoid,
    "sigmoid_grad": sigmoid_grad,
    "relu": relu,
    "identity_function": identity_function,
    "softmax": softmax,
}


@pytest.mark.parametrize("name", CHAPTER3)
@pytest.mark.parametrize(
    "bad, given",
    [
        ("a", r"must be numeric.*; expected a number or a list/array of numbers, got str 'a'"),
        ([[1], 2], r"is not a rectangular array \(nested lists of different lengths\?\); "
                   r"expected a number or a list/array of numbers, got list"),
        ([1, "a"], r"must be numeric.*, got list"),
        (None, r"must be numeric.*, got None"),
        (1 + 2j, r"holds complex numbers \(dtype complex128\); expected real numbers"),
    ],
)
def test_chapter3_functions_refuse_what_is_not_numbers(name, bad, given):
    """One ValueError naming the argument and what was given, never a NumPy internal
    (UFuncTypeError, 'inhomogeneous shape') or a silent result (relu(1+2j) used to be 1+2j)."""
    arg = "a" if name == "softmax" else "x"
    with pytest.raises(ValueError, match=rf"^{arg} {given}") as info:
        CHAPTER3[name](bad)
    text = str(info.value)
    assert "\n" not in text and "ufunc" not in text and "inhomogeneous" not in text


def test_chapter3_functions_keep_the_books_types():
    """What the checks must not change: ints stay ints in relu and step_function, bools count as
    numbers, scalars give scalars, identity returns the very object it was given."""
    assert relu([1, -2]).dtype.kind == "i" and relu([1, -2]).tolist() == [1, 0]
    assert relu([True, False]).tolist() == [1, 0]
    assert relu(3) == 3 and relu(np.float32(-1.5)).dtype == np.float32
    assert step_function([[-1, 2]]).tolist() == [[0, 1]]
    assert step_function(np.array(0.5)) == 1
    for x in ([1.0, 2.0], 7, np.zeros(2, np.float32)):
        assert identity_function(x) is x
    assert sigmoid_grad(0) == 0.25


def test_sigmoid_book_values():
    assert_printed(sigmoid(np.array([-1.0, 1.0, 2.0])), [0.26894142, 0.73105858, 0.88079708])
    # integer input works too (the issue writes sigmoid([-1, 1, 2]))
    assert_printed(sigmoid([-1, 1, 2]), [0.26894142, 0.73105858, 0.88079708])
    assert sigmoid(0.0) == 0.5


def test_sigmoid_chapter3_hidden_layer():
    # A1 = X.W1 + B1 = [0.3, 0.7, 1.1] -> Z1 (printed in the study notes)
    a1 = np.array([1.0, 0.5]) @ np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]) + [0.1, 0.2, 0.3]
    np.testing.assert_allclose(a1, [0.3, 0.7, 1.1], rtol=1e-12)
    assert_printed(sigmoid(a1), [0.57444252, 0.66818777, 0.75026011])


def test_sigmoid_extremes_do_not_overflow_or_warn(strict_numpy):
    out = sigmoid(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]))
    assert out[0] == 0.0 or out[0] < 1e-300
    assert out[-1] == 1.0
    assert np.all(np.isfinite(out))
    assert np.all(np.diff(out) >= 0)
    assert sigmoid(-1000.0) >= 0.0
    assert sigmoid(1000.0) == 1.0
    out32 = sigmoid(np.array([-1000.0, 1000.0], dtype=np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_array_equal(out32, [0.0, 1.0])


def test_sigmoid_matches_textbook_formula_and_shapes():
    x = np.linspace(-30, 30, 24).reshape(2, 3, 4)
    out = sigmoid(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, 1.0 / (1.0 + np.exp(-x)), rtol=1e-14)


def test_softmax_underflow_is_silent_and_exact(strict_numpy):
    np.testing.assert_array_equal(softmax(np.array([0.0, -2000.0])), [1.0, 0.0])


def test_sigmoid_keeps_float32():
    assert sigmoid(np.array([0.5], dtype=np.float32)).dtype == np.float32


# -- softmax --------------------------------------------------------------------------------------


def test_softmax_book_values():
    y = softmax(np.array([0.3, 2.9, 4.0]))
    assert_printed(y, [0.01821127, 0.24519181, 0.73659691])
    assert np.sum(y) == pytest.approx(1.0, abs=1e-15)


def test_softmax_is_stable_for_large_scores(strict_numpy):
    y = softmax(np.array([1010.0, 1000.0, 990.0]))
    assert not np.any(np.isnan(y))
    assert_printed_sci(y, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09])


def test_softmax_integer_input_is_stable():
    # the notes pass an integer array: no integer overflow, no truncation
    assert_printed_sci(
        softmax(np.array([1010, 1000, 990])), [9.99954600e-01, 4.53978686e-05, 2.06106005e-09]
    )


def test_softmax_batched_along_last_axis():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 5, 6)) * 10
    y = softmax(a)
    assert y.shape == a.shape
    np.testing.assert_allclose(y.sum(axis=-1), np.ones((4, 5)), rtol=1e-14)
    # each row equals the 1-D softmax of that row
    for i in range(4):
        for j in range(5):
            np.testing.assert_allclose(y[i, j], softmax(a[i, j]), rtol=1e-14)
    # invariant to adding a constant per row
    np.testing.assert_allclose(softmax(a + 123.0), y, rtol=1e-12)


# -- sum of squares -----------------------------------------------------------------------------


def test_sum_squares_error_book_values():
    assert sum_squares_error(Y_GOOD, T_ONEHOT_2) == pytest.approx(0.0975, rel=1e-12)
    assert sum_squares_error(Y_BAD, T_ONEHOT_2) == pytest.approx(0.5975, rel=1e-12)
    # the study notes print the full float: 0.09750000000000003
    assert float(sum_squares_error(Y_GOOD, T_ONEHOT_2)) == 0.09750000000000003
    # plain lists, as the book writes them
    assert sum_squares_error(list(Y_BAD), list(T_ONEHOT_2)) == pytest.approx(0.5975, rel=1e-12)


def test_sum_squares_error_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"y has shape \(10,\) but t has shape \(9,\)"):
        sum_squares_error(Y_GOOD, T_ONEHOT_2[:9])


# -- cross entropy -----------------------------------------------------------------------------


def test_cross_entropy_book_values_exact():
    assert CEE_DELTA == 1e-7
    assert float(cross_entropy_error(Y_GOOD, T_ONEHOT_2)) == 0.510825457099338
    assert float(cross_entropy_error(Y_BAD, T_ONEHOT_2)) == 2.302584092994546


def test_cross_entropy_integer_label_single_sample():
    assert float(cross_entropy_error(Y_GOOD, 2)) == 0.510825457099338
    assert float(cross_entropy_error(Y_BAD, np.int64(2))) == 2.302584092994546


def test_cross_entropy_uses_delta_so_zero_probability_is_finite():
    # y[t] = 0 gives -log(1e-7) instead of inf
    assert float(cross_entropy_error(Y_GOOD, 3)) == pytest.approx(-np.log(1e-7), rel=1e-15)


def test_cross_entropy_batch_one_hot_and_integer_labels_exact():
    e1 = float(cross_entropy_error(Y_BATCH[0], np.array([1, 0, 0])))
    e2 = float(cross_entropy_error(Y_BATCH[1], np.array([0, 1, 0])))
    assert e1 == 1.627976087487067
    assert e2 == 1.0955070848077066
    e_onehot = float(cross_entropy_error(Y_BATCH, np.array([[1, 0, 0], [0, 1, 0]])))
    e_labels = float(cross_entropy_error(Y_BATCH, np.array([0, 1])))
    assert e_onehot == 1.361741586147387
    assert e_labels == 1.361741586147387
    assert e_onehot == pytest.approx((e1 + e2) / 2, rel=1e-15)


def test_cross_entropy_errors_are_clear():
    with pytest.raises(ValueError, match=r"labels 0\.\.3, but y has 3 classes"):
        cross_entropy_error(Y_BATCH, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"-1\.\.1, but y has 3 classes"):
        cross_entropy_error(Y_BATCH, np.array([-1, 1]))
    with pytest.raises(ValueError, match=r"one-hot with 4 columns, but y has 3 classes"):
        cross_entropy_error(Y_BATCH, np.eye(4)[[0, 1]])
    with pytest.raises(ValueError, match=r"2 integer label\(s\), but has shape \(3,\)"):
        cross_entropy_error(Y_BATCH, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="empty batch"):
        cross_entropy_error(np.zeros((0, 3)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="integer labels expected"):
        cross_entropy_error(Y_BATCH, np.array([0.5, 1.0]))
