"""Gradient descent paths on 2-D surfaces (chapter 4), with the book's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mitbadak import gradient_descent
from mitbadak.nn.optimizers import OPTIMIZERS
from mitbadak.views.descent import (
    FUNCTIONS,
    Surface,
    compare_optimizers,
    contour_grid,
    descent_path,
)


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


@pytest.mark.parametrize(
    ("lr", "printed"),
    [
        (0.1, [-6.11110793e-10, 8.14814391e-10]),
        (0.01, [-0.39785867, 0.53047822]),
        (1e-10, [-2.99999994, 3.99999992]),
    ],
)
def test_sgd_path_ends_where_the_book_and_gradient_descent_do(lr, printed):
    r = descent_path("bowl", start=[-3.0, 4.0], lr=lr, steps=100)
    expected = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=lr, step_num=100)
    np.testing.assert_array_equal(r["final"], expected)  # bit for bit
    np.testing.assert_allclose(r["final"], printed, rtol=1e-8, atol=1e-17)
    assert len(r["path"]) == 101 and r["path"][0] == [-3.0, 4.0]
    assert not r["diverged"] and r["diverged_at"] is None and r["note"] is None
    assert r["values"][-1] == pytest.approx(float(function_2(np.array(r["final"]))))
    json.dumps(r)


def test_each_sgd_step_shrinks_the_bowl_by_1_minus_2lr():
    r = descent_path("bowl", start=(-3, 4), lr=0.1, steps=5)
    path = np.array(r["path"])
    np.testing.assert_allclose(path[1:], path[:-1] * 0.8, rtol=1e-9)


def test_lr_10_diverges_honestly():
    r = descent_path("bowl", start=(-3, 4), lr=10, steps=100)
    expected = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=10.0, step_num=100)
    np.testing.assert_array_equal(r["final"], expected)
    np.testing.assert_allclose(r["final"], [-2.58983747e13, -1.29524862e12], rtol=1e-8)
    # x <- x - 10 * 2x = -19 x: |x| passes 1e6 at step 5 (4 * 19^5 = 9.9e6)
    assert r["diverged"] and r["diverged_at"] == 5 and r["overflowed_at"] is None
    assert r["clipped"]
    assert r["display_path"][1] == pytest.approx([4.95, -4.95])  # (57, -76) on the edge
    assert r["display_path"][0] == [-3.0, 4.0]
    assert r["note"].startswith("Diverged: at step 5 the point is 9.9e+06 in size")
    assert "leaves the plot at step 1" in r["note"]


def test_overflow_stops_the_path(monkeypatch):
    # f = -exp(x0): x0 <- x0 + lr exp(x0) runs 1, 3.7, 44, 1.3e19, then exp overflows
    cliff = Surface("cliff", "-exp(x0)", lambda x: -np.exp(x[0]) + 0 * x[1], (-2, 2), (-2, 2),
                    (1.0, 0.0), ())
    monkeypatch.setitem(FUNCTIONS, "cliff", cliff)
    r = descent_path("cliff", lr=1, steps=50)
    assert r["overflowed_at"] == 4 and r["diverged_at"] == 3
    assert len(r["path"]) == 4 and r["path"][2][0] == pytest.approx(1 + np.e + np.exp(1 + np.e))
    assert all(np.isfinite(r["path"][-1]))
    assert "overflowed to inf/NaN at step" in r["note"]
    json.dumps(r)


def test_other_optimizers_take_their_first_steps_by_their_formulas():
    mom = descent_path("bowl", start=(-3, 4), lr=0.1, steps=2, optimizer="momentum")
    # v1 = -0.1 * (-6, 8); v2 = 0.9 v1 - 0.1 * grad(x1)
    np.testing.assert_allclose(mom["path"], [[-3, 4], [-2.4, 3.2], [-1.38, 1.84]], rtol=1e-7)
    for name in ("adagrad", "adam"):  # the first step is lr * sign(gradient)
        r = descent_path("bowl", start=(-3, 4), lr=0.5, steps=1, optimizer=name)
        np.testing.assert_allclose(r["path"][1], [-2.5, 3.5], rtol=1e-6)
    paths = compare_optimizers("elongated", start=(-7, 2), steps=30)
    assert list(paths) == list(OPTIMIZERS)  # every registered one
    assert paths["adam"]["lr"] == 0.3 and paths["adam"]["optimizer"] == "adam"
    assert all(not p["diverged"] for p in paths.values())
    # every optimizer gets far closer to the minimum than the start (f = 2.45 + 4 = 6.45)
    assert all(p["final_value"] < 0.2 for p in paths.values())


def test_compare_only_the_named_optimizers():
    paths = compare_optimizers("bowl", steps=3, lrs={"sgd": 0.1, "adam": 0.5})
    assert list(paths) == ["sgd", "adam"]
    np.testing.assert_allclose(paths["sgd"]["final"], [-3 * 0.8**3, 4 * 0.8**3], rtol=1e-9)
    with pytest.raises(ValueError, match="lrs must map optimizer names"):
        compare_optimizers("bowl", lrs={})


def test_double_well_finds_a_minimum_or_sits_on_the_saddle():
    r = descent_path("double-well", lr=0.1, steps=200)
    np.testing.assert_allclose(r["final"], [1.0, 0.0], atol=1e-7)
    saddle = descent_path("double-well", start=(0.0, 1.0), lr=0.1, steps=200)
    np.testing.assert_allclose(saddle["final"], [0.0, 0.0], atol=1e-9)  # x0's gradient is 0
    h = descent_path("himmelblau", start=(0, 0), lr=0.01, steps=200)
    np.testing.assert_allclose(h["final"], [3.0, 2.0], atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 11}, "lr must be a number from 1e-10 to 10, got 11"),
        ({"lr": 1e-11}, "lr must be a number from 1e-10 to 10, got 1e-11"),
        ({"lr": "fast"}, "lr must be a number from 1e-10 to 10, got 'fast'"),
        ({"lr": float("nan")}, "lr must be a number from 1e-10 to 10, got nan"),
        ({"steps": -1}, "steps must be a whole number 0 to 10,000, got -1"),
        ({"steps": 10_001}, "steps must be a whole number 0 to 10,000, got 10001"),
        ({"steps": 2.5}, "steps must be a whole number 0 to 10,000, got 2.5"),
        ({"start": (1, 2, 3)}, "start must be two finite numbers"),
        ({"start": ("a", 1)}, "start must be two numbers"),
        ({"start": "12"}, "start must be two numbers (x0, x1), got '12'"),
        ({"start": (1e4, 0)}, "no larger than 1000"),
        ({"optimizer": "nadam"},
         "optimizer must be one of sgd, momentum, nesterov, adagrad, adam, rmsprop"),
    ],
)
def test_bad_descent_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        descent_path("bowl", **kwargs)


def test_unknown_function():
    with pytest.raises(ValueError, match="unknown function 'rosen'; expected one of bowl"):
        descent_path("rosen")


def test_contour_grid_values_and_levels():
    g = contour_grid("bowl", resolution=5)
    assert g["xs"] == [-4.5, -2.25, 0.0, 2.25, 4.5]
    assert g["z"][2][2] == 0.0 and g["z"][0][0] == 40.5 and g["z"][2][4] == 20.25
    levels = np.array(g["levels"])
    assert len(levels) == 12 and np.all(np.diff(levels) > 0)
    assert 0 < levels[0] and levels[-1] < 40.5
    e = contour_grid("elongated", resolution=3, xlim=(-10, 10), ylim=(-1, 1))
    assert e["z"][1] == [5.0, 0.0, 5.0]  # 10^2 / 20
    assert e["minima"] == [[0, 0]] and FUNCTIONS["double-well"].saddles == ((0, 0),)
    json.dumps(g)
    with pytest.raises(ValueError, match="resolution must be a whole number 2 to 300, got 1"):
        contour_grid("bowl", resolution=1)
    with pytest.raises(ValueError, match="xlim must be two finite numbers with low < high"):
        contour_grid("bowl", xlim=(1, 0))


def test_results_are_strict_json_even_when_f_overflows():
    r = descent_path("himmelblau", start=(5, 5), lr=10, steps=20)
    assert r["diverged"]
    json.dumps(r, allow_nan=False)  # browsers reject NaN/Infinity in JSON
    assert all(v is None or np.isfinite(v) for v in r["values"])


def test_analytic_comparison_is_optimizer_paths_number_for_number():
    from mitbadak.training.experiments import optimizer_paths
    from mitbadak.views.descent import FUNCTIONS, compare_optimizers

    book = optimizer_paths()["optimizers"]
    paths = compare_optimizers("elongated", (-7, 2), 30, gradient="analytic")
    assert list(paths) == list(book)  # all six registered optimizers
    for name, path in paths.items():
        assert path["lr"] == book[name]["lr"]
        assert [p[0] for p in path["path"]] == book[name]["x"]
        assert [p[1] for p in path["path"]] == book[name]["y"]
    # each surface's formula is its gradient (central differences agree)
    from mitbadak.core.differentiation import numerical_gradient

    x = np.array([0.7, -1.3])
    for surface in FUNCTIONS.values():
        np.testing.assert_allclose(surface.grad(x), numerical_gradient(surface.f, x), atol=1e-6)
    with pytest.raises(ValueError, match="gradient must be one of numerical, analytic"):
        descent_path("bowl", gradient="exact")
