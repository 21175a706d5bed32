"""mitbadak.core.differentiation: the book's printed derivatives, gradients and descent paths."""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak import gradient_descent, numerical_diff, numerical_gradient, tangent_line


def assert_printed(actual, printed, *, sci: bool, decimals: int = 8) -> None:
    """``actual`` rounds to ``printed``: NumPy printed it with ``decimals`` digits after the point,
    in fixed (-0.39785867) or scientific (-6.11110793e-10) notation; so they agree to half a unit
    in that last digit (of the mantissa, for scientific notation)."""
    actual = np.asarray(actual, dtype=np.float64)
    printed = np.asarray(printed, dtype=np.float64)
    scale = 10.0 ** np.floor(np.log10(np.abs(printed))) if sci else 1.0
    np.testing.assert_allclose(
        actual / scale, printed / scale, rtol=0, atol=0.5 * 10.0**-decimals * 1.0000001
    )


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def sum_of_squares(x):
    return np.sum(x**2)


# -- numerical_diff --------------------------------------------------------------------------


def test_numerical_diff_book_values_exact():
    assert numerical_diff(lambda x: 2 * x**2 + 3 * x + 1, 5) == 22.99999999991087
    assert numerical_diff(function_1, 5) == 0.1999999999990898
    assert numerical_diff(function_1, 10) == 0.2999999999986347
    assert numerical_diff(function_1, 5) == pytest.approx(0.2, abs=1e-11)
    assert numerical_diff(function_1, 10) == pytest.approx(0.3, abs=1e-11)


def test_numerical_diff_partial_derivatives_from_the_notes():
    assert numerical_diff(lambda x0: x0**2 + 4.0**2, 3.0) == 6.00000000000378
    assert numerical_diff(lambda x1: 3.0**2 + x1**2, 4.0) == 7.999999999999119


def test_numerical_diff_custom_h():
    # a cubic's central difference has error f'''(x) h^2 / 6 = h^2 for x^3
    assert numerical_diff(lambda x: x**3, 1.0, h=1e-2) == pytest.approx(3.0 + 1e-4, rel=1e-10)


# -- numerical_gradient ------------------------------------------------------------------------


def test_numerical_gradient_book_values():
    g = numerical_gradient(sum_of_squares, np.array([3.0, 4.0]))
    np.testing.assert_allclose(g, [6.0, 8.0], rtol=1e-10)
    np.testing.assert_allclose(
        numerical_gradient(sum_of_squares, np.array([1.5, 2.0])), [3.0, 4.0], rtol=1e-10
    )
    np.testing.assert_allclose(
        numerical_gradient(sum_of_squares, np.array([3.0, 0.01])), [6.0, 0.02], rtol=1e-9
    )
    # the full-precision values agree with numerical_diff on the partial functions
    assert g[0] == 6.00000000000378
    assert g[1] == 7.999999999999119


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (1, 1, 2, 2)])
def test_numerical_gradient_any_shape(shape):
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    weights = rng.normal(size=shape)

    def f(z):
        return float(np.sum(weights * z**3))

    g = numerical_gradient(f, x)
    assert g.shape == shape
    assert g.dtype == x.dtype
    np.testing.assert_allclose(g, 3 * weights * x**2, rtol=1e-6, atol=1e-7)


def test_numerical_gradient_non_contiguous_view():
    base = np.arange(12.0).reshape(3, 4) / 7.0
    view = base.T  # not C-contiguous
    before = base.copy()
    g = numerical_gradient(lambda z: float(np.sum(z * z)), view)
    np.testing.assert_allclose(g, 2 * view, rtol=1e-9)
    assert g.shape == (4, 3)
    assert base.tobytes() == before.tobytes()


def test_numerical_gradient_restores_x_bit_identically():
    # values where x + h - h != x in floating point: restoring by subtraction would drift
    x = np.array([[0.1, 0.7, 1e-17], [3.3, -2.2, 123456.789]])
    assert any((v + 1e-4) - 1e-4 != v for v in x.ravel())
    before = x.tobytes()
    numerical_gradient(sum_of_squares, x)
    assert x.tobytes() == before


def test_numerical_gradient_restores_x_when_f_closes_over_it():
    w = np.array([[0.1, 0.7], [0.3, -0.9]])
    before = w.tobytes()
    seen = []

    def loss(_ignored):
        seen.append(w.copy())
        return float(np.sum(np.sin(w)))  # reads the closed-over array, as a network loss does

    g = numerical_gradient(loss, w)
    np.testing.assert_allclose(g, np.cos(w), rtol=1e-7)
    assert w.tobytes() == before
    # exactly one element is perturbed at each call, by +-h
    for snapshot in seen:
        diff = snapshot - w
        assert np.count_nonzero(diff) == 1
        assert np.abs(diff).max() == pytest.approx(1e-4, rel=1e-9)


def test_numerical_gradient_float32_keeps_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    g = numerical_gradient(lambda z: float(np.sum(z.astype(np.float64) ** 2)), x, h=1e-2)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-4)


def test_numerical_gradient_rejects_integer_arrays():
    x = np.array([3, 4])
    with pytest.raises(ValueError, match=r"dtype int64.*floating array.*truncate"):
        numerical_gradient(sum_of_squares, x)
    np.testing.assert_array_equal(x, [3, 4])


def test_numerical_gradient_rejects_non_arrays():
    with pytest.raises(TypeError, match="NumPy array"):
        numerical_gradient(sum_of_squares, [3.0, 4.0])


# -- numerical_gradient on a 2-D array of points -----------------------------------------------


def _grid():
    """gradient_2d.py's grid: X, Y flattened, 18 x 18 = 324 points."""
    x0 = np.arange(-2, 2.5, 0.25)
    x1 = np.arange(-2, 2.5, 0.25)
    X, Y = np.meshgrid(x0, x1)
    return X.flatten(), Y.flatten()


def test_numerical_gradient_one_point_per_column_is_the_gradient_field():
    """Issue 19: the seed's function_2 on np.array([X, Y]) returns one value per column (the
    columns are the points); the result is [2X, 2Y], not two arrows at the first points."""
    X, Y = _grid()
    points = np.array([X, Y])  # (2, 324)
    before = points.tobytes()
    grad = numerical_gradient(function_2, points)
    assert grad.shape == (2, 324)
    np.testing.assert_allclose(grad, 2 * points, rtol=0, atol=1e-10)
    assert points.tobytes() == before  # restored bit for bit
    # every column is, bit for bit, the gradient at that point computed alone
    for j in (0, 17, 100, 323):
        alone = numerical_gradient(function_2, np.array([X[j], Y[j]]))
        assert grad[:, j].tobytes() == alone.tobytes()
    assert np.count_nonzero(grad) > 300  # a field of arrows (only the origin's is 0)


def test_numerical_gradient_per_column_prints_the_seeds_numbers():
    """Seed note 000's three points ([3, 4], [1.5, 2], [3, 0.01]: [6. 8.], [3. 4.], [6. 0.02]) as
    the columns of one array; the full-precision values are those of its numerical_diff."""
    points = np.array([[3.0, 1.5, 3.0], [4.0, 2.0, 0.01]])
    grad = numerical_gradient(function_2, points)
    np.testing.assert_allclose(grad, [[6.0, 3.0, 6.0], [8.0, 4.0, 0.02]], rtol=1e-9)
    assert grad[0, 0] == 6.00000000000378
    assert grad[1, 0] == 7.999999999999119


def test_numerical_gradient_per_column_is_vectorised():
    """One call of f for the whole array first, then 2 per row of x (each moves one coordinate
    of every point), not 2 per element."""
    calls = []

    def f(x):
        calls.append(x.copy())
        return x[0] ** 2 + x[1] ** 2

    X, Y = _grid()
    numerical_gradient(f, np.array([X, Y]))
    assert len(calls) == 1 + 2 * 2
    moved = [np.flatnonzero(np.any(c != np.array([X, Y]), axis=1)).tolist() for c in calls]
    assert moved == [[0], [0], [0], [1], [1]]


def test_numerical_gradient_per_column_where_f_ignores_a_coordinate():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    grad = numerical_gradient(lambda p: p[0] ** 2, x)
    np.testing.assert_allclose(grad, [[2, 4, 6, 8, 10], [0, 0, 0, 0, 0]], rtol=1e-9)


def test_numerical_gradient_one_point_per_row_keeps_the_books_reading():
    """gradient_2d.py's function_2 (one value per row) on np.array([X, Y]): row by row, as the
    book's _numerical_gradient_no_batch; and an (N, 2) array of points with f written for one
    point (f(x) of the whole array has one value per column, but reads only rows 0 and 1)."""

    def function_2_rows(x):
        return np.sum(x**2) if x.ndim == 1 else np.sum(x**2, axis=1)

    X, Y = _grid()
    grad = numerical_gradient(function_2_rows, np.array([X, Y]))
    np.testing.assert_allclose(grad, 2 * np.array([X, Y]), rtol=0, atol=1e-9)
    pts = np.array([[3.0, 4.0], [1.5, 2.0], [3.0, 0.01]])
    np.testing.assert_allclose(
        numerical_gradient(function_2, pts), [[6, 8], [3, 4], [6, 0.02]], rtol=1e-9
    )


def test_numerical_gradient_square_x_is_read_by_rows():
    """A square x: one value per row and per column look alike; rows win (the book's reading).
    per_row=False asks for the columns."""
    x = np.array([[1.0, 2.0], [3.0, 5.0]])

    def product(p):
        return p[0] * p[1]

    np.testing.assert_allclose(numerical_gradient(product, x), [[2, 1], [5, 3]], rtol=1e-9)
    np.testing.assert_allclose(
        numerical_gradient(product, x.copy(), per_row=False), [[3, 5], [1, 2]], rtol=1e-9
    )
    np.testing.assert_allclose(numerical_gradient(function_2, x), 2 * x, rtol=1e-9)


def test_numerical_gradient_per_column_f_must_keep_its_shape():
    state = {"n": 0}

    def fickle(x):
        state["n"] += 1
        return x[0] + x[1] if state["n"] < 3 else np.sum(x)

    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    with pytest.raises(ValueError, match=r"one value per column of x \(3\) at first.*shape \(\)"):
        numerical_gradient(fickle, x)
    np.testing.assert_array_equal(x, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


# -- gradient_descent --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lr", "printed", "sci"),
    [
        (0.1, [-6.11110793e-10, 8.14814391e-10], True),
        (0.01, [-0.39785867, 0.53047822], False),
        (10.0, [-2.58983747e13, -1.29524862e12], True),
        (1e-10, [-2.99999994, 3.99999992], False),
    ],
)
def test_gradient_descent_book_results(lr, printed, sci):
    init_x = np.array([-3.0, 4.0])
    x = gradient_descent(function_2, init_x, lr=lr, step_num=100)
    assert_printed(x, printed, sci=sci)
    np.testing.assert_array_equal(init_x, [-3.0, 4.0])


def test_gradient_descent_defaults_are_the_books():
    x = gradient_descent(function_2, np.array([-3.0, 4.0]))  # lr=0.01, step_num=100
    assert_printed(x, [-0.39785867, 0.53047822], sci=False)


def test_gradient_descent_never_modifies_init_x_and_accepts_lists():
    init_x = np.array([-3.0, 4.0])
    before = init_x.tobytes()
    out = gradient_descent(function_2, init_x, lr=0.1, step_num=5)
    assert out is not init_x
    assert init_x.tobytes() == before
    from_list = gradient_descent(function_2, [-3, 4], lr=0.1, step_num=5)  # ints become floats
    assert from_list.dtype == np.float64
    np.testing.assert_array_equal(from_list, out)


def test_gradient_descent_history():
    init_x = np.array([-3.0, 4.0])
    x, history = gradient_descent(function_2, init_x, lr=0.1, step_num=20, return_history=True)
    # the book's x_history: the point *before* each of the 20 steps, so 20 rows, not 21
    assert history.shape == (20, 2)
    np.testing.assert_array_equal(history[0], init_x)
    assert not any(np.array_equal(row, x) for row in history)  # the final x is not recorded
    # each step scales x by (1 - 2 lr) = 0.8 for this quadratic
    np.testing.assert_allclose(history[1:], history[:-1] * 0.8, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(history[-1] * 0.8, x, rtol=1e-9)
    np.testing.assert_allclose(x, init_x * 0.8**20, rtol=1e-8)
    # the history is a record, not views of the running x
    assert not np.shares_memory(history, x)
    assert type(x) is np.ndarray and type(history) is np.ndarray
    # without history the same final point comes back
    np.testing.assert_array_equal(gradient_descent(function_2, init_x, lr=0.1, step_num=20), x)


def test_gradient_descent_zero_steps_and_bad_steps():
    x, history = gradient_descent(function_2, [1.0, 2.0], step_num=0, return_history=True)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert history.shape == (0, 2)
    with pytest.raises(ValueError, match="step_num must be >= 0, got -1"):
        gradient_descent(function_2, [1.0, 2.0], step_num=-1)


def test_gradient_descent_unpacking_without_history_is_a_clear_error():
    """Seed note 004 (the book's gradient_method.py): ``x, x_history = gradient_descent(...)``.
    Without return_history=True that must not silently bind x's two coordinates."""
    init_x = np.array([-3.0, 4.0])
    with pytest.raises(TypeError, match=r"return_history=True"):
        x, x_history = gradient_descent(function_2, init_x, lr=0.1, step_num=20)
    # the plain result still behaves as the array seed note 000 prints
    x = gradient_descent(function_2, init_x, lr=0.1, step_num=20)
    assert str(x) == str(np.asarray(x)) and repr(x) == repr(np.asarray(x))
    assert f"{x}" == str(np.asarray(x))
    assert type(x * 2) is np.ndarray and type(x[:1]) is np.ndarray
    for plain in (x.copy(), x.astype(np.float32), x.reshape(1, 2), x.ravel(), x.flatten()):
        assert type(plain) is np.ndarray
    a, b = x.copy()  # a plain copy unpacks as any array
    assert (a, b) == tuple(np.asarray(x).tolist())
    assert float(x[0]) == float(np.asarray(x)[0])
    assert np.asarray(x).tolist() == list(np.asarray(x))
    assert x.shape == (2,) and len(x) == 2


def test_gradient_descent_seed_000_values_exact():
    """Seed note 000 prints these four results (the book's 4.4.1 experiment), digit for digit."""
    init_x = np.array([-3.0, 4.0])
    printed = {
        0.01: "[-0.39785867  0.53047822]",
        0.1: "[-6.11110793e-10  8.14814391e-10]",
        10: "[-2.58983747e+13 -1.29524862e+12]",
        1e-10: "[-2.99999994  3.99999992]",
    }
    for lr, text in printed.items():
        assert str(gradient_descent(sum_of_squares, init_x=init_x, lr=lr)) == text


# -- tangent_line ------------------------------------------------------------------------------


def test_tangent_line():
    line = tangent_line(function_1, 5)
    assert line(5) == pytest.approx(function_1(5), rel=1e-15)  # 0.75
    assert line(5) == pytest.approx(0.75, rel=1e-15)
    assert line(10) - line(5) == pytest.approx(5 * 0.1999999999990898, rel=1e-12)
    t = np.arange(0.0, 20.0, 0.1)
    y = line(t)
    assert y.shape == t.shape
    np.testing.assert_allclose(y, 0.1999999999990898 * (t - 5) + 0.75, rtol=1e-12, atol=1e-14)
    line10 = tangent_line(function_1, 10)
    assert line10(10) == pytest.approx(2.0, rel=1e-15)
    assert line10(11) == pytest.approx(2.0 + 0.2999999999986347, rel=1e-12)
