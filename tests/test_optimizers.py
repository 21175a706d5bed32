"""mitbadak.nn.optimizers: each update rule by hand, in-place updates, resumable state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mitbadak.nn.optimizers import OPTIMIZERS, SGD, AdaGrad, Adam, Momentum, make_optimizer

W0 = np.array([[1.0, -2.0], [0.5, 0.0]])
G1 = np.array([[0.1, -0.4], [2.0, 0.0]])
G2 = np.array([[-0.3, 0.2], [1.0, 5.0]])


def fresh():
    return {"W": W0.copy(), "b": np.array([0.25, -0.75])}


def grads(g):
    return {"W": g, "b": np.array([1.0, -1.0]) * g[0, 0]}


def test_sgd_one_step():
    p = fresh()
    w = p["W"]
    SGD(lr=0.1).update(p, grads(G1))
    assert p["W"] is w  # updated in place
    np.testing.assert_allclose(p["W"], W0 - 0.1 * G1, rtol=1e-15)
    np.testing.assert_allclose(p["b"], [0.25 - 0.01, -0.75 + 0.01], rtol=1e-15)
    assert SGD().lr == 0.01  # the book's default


def test_momentum_two_steps():
    p = fresh()
    opt = Momentum(lr=0.1, momentum=0.9)
    opt.update(p, grads(G1))
    v1 = -0.1 * G1
    np.testing.assert_allclose(p["W"], W0 + v1, rtol=1e-15)
    opt.update(p, grads(G2))
    v2 = 0.9 * v1 - 0.1 * G2
    np.testing.assert_allclose(p["W"], W0 + v1 + v2, rtol=1e-14, atol=1e-16)


def test_adagrad_two_steps():
    p = fresh()
    opt = AdaGrad(lr=0.5)
    opt.update(p, grads(G1))
    h1 = G1**2
    w1 = W0 - 0.5 * G1 / (np.sqrt(h1) + 1e-7)
    np.testing.assert_allclose(p["W"], w1, rtol=1e-15)
    # first step moves each weight by ~lr * sign(g); exactly 0 where g is 0
    np.testing.assert_allclose(p["W"][0, 0], 1.0 - 0.5 * 0.1 / (0.1 + 1e-7), rtol=1e-15)
    assert p["W"][1, 1] == 0.0
    opt.update(p, grads(G2))
    h2 = h1 + G2**2
    np.testing.assert_allclose(p["W"], w1 - 0.5 * G2 / (np.sqrt(h2) + 1e-7), rtol=1e-14)


def test_adam_two_steps():
    p = fresh()
    lr, b1, b2 = 0.01, 0.9, 0.999
    opt = Adam(lr=lr, beta1=b1, beta2=b2)
    opt.update(p, grads(G1))
    m = (1 - b1) * G1
    v = (1 - b2) * G1**2
    lr_t = lr * np.sqrt(1 - b2) / (1 - b1)
    w1 = W0 - lr_t * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(p["W"], w1, rtol=1e-14)
    # bias correction makes the first step ~lr * sign(g)
    np.testing.assert_allclose(p["W"][0, 1], -2.0 + 0.01, rtol=1e-6)
    opt.update(p, grads(G2))
    m = b1 * m + (1 - b1) * G2
    v = b2 * v + (1 - b2) * G2**2
    lr_t = lr * np.sqrt(1 - b2**2) / (1 - b1**2)
    np.testing.assert_allclose(p["W"], w1 - lr_t * m / (np.sqrt(v) + 1e-7), rtol=1e-13)
    assert opt.t == 2
    assert Adam().lr == 0.001


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_state_dict_round_trip_gives_identical_updates(name):
    a = make_optimizer(name, lr=0.05)
    p_a = fresh()
    a.update(p_a, grads(G1))
    a.update(p_a, grads(G2))
    state = a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    snapshot = {k: v.copy() for k, v in state.items()}

    b = make_optimizer(name, lr=0.05)
    b.load_state_dict(state)
    p_b = {k: v.copy() for k, v in p_a.items()}
    for g in (G2, G1, G2 * 3):
        a.update(p_a, grads(g))
        b.update(p_b, grads(g))
        for k in p_a:
            np.testing.assert_array_equal(p_a[k], p_b[k])
    # the saved state is a snapshot: continuing to train does not change it
    for k, v in state.items():
        np.testing.assert_array_equal(v, snapshot[k])
    # without the loaded state the next step differs (except for stateless SGD): the state matters
    c = make_optimizer(name, lr=0.05)
    a2 = make_optimizer(name, lr=0.05)
    p_a2 = fresh()
    for g in (G1, G2):
        a2.update(p_a2, grads(g))
    p_c = {k: v.copy() for k, v in p_a2.items()}
    a2.update(p_a2, grads(G1))
    c.update(p_c, grads(G1))
    assert np.array_equal(p_a2["W"], p_c["W"]) == (name == "sgd")


def test_state_keys():
    p = fresh()
    m = Momentum()
    assert m.state_dict() == {}
    m.update(p, grads(G1))
    assert sorted(m.state_dict()) == ["v/W", "v/b"]
    adam = Adam()
    adam.update(p, grads(G1))
    state = adam.state_dict()
    assert sorted(state) == ["m/W", "m/b", "t", "v/W", "v/b"]
    assert int(state["t"]) == 1
    assert sorted(AdaGrad().state_dict()) == []
    assert SGD().state_dict() == {}


def test_float32_params_stay_float32():
    for name in OPTIMIZERS:
        p = {"W": W0.astype(np.float32)}
        opt = make_optimizer(name, lr=0.1)
        opt.update(p, {"W": G1.astype(np.float32)})
        opt.update(p, {"W": G2.astype(np.float32)})
        assert p["W"].dtype == np.float32, name


def test_bad_arguments():
    with pytest.raises(ValueError, match="learning rate must be a positive number, got 0"):
        SGD(lr=0)
    with pytest.raises(ValueError, match="positive number, got nan"):
        Adam(lr=float("nan"))
    with pytest.raises(ValueError, match="unknown optimizer 'nadam'; choose one of sgd"):
        make_optimizer("nadam")
    assert isinstance(make_optimizer("Adam"), Adam)
    assert make_optimizer("momentum", momentum=0.5).momentum == 0.5
    assert make_optimizer("sgd").lr == 0.01


def test_registry_holds_each_optimizer_once_with_its_run_lr():
    from mitbadak.nn.optimizers import REGISTRY
    from mitbadak.training.recipes import DEFAULT_LR, DEFAULT_RECIPE

    assert set(REGISTRY) == set(OPTIMIZERS) == {"sgd", "momentum", "nesterov",
                                                     "adagrad", "adam", "rmsprop"}
    assert all(OPTIMIZERS[name] is e.cls and e.name == name for name, e in REGISTRY.items())
    # the default recipe's optimizer keeps its lr when named explicitly
    assert REGISTRY[DEFAULT_RECIPE.optimizer].run_lr == DEFAULT_RECIPE.lr
    assert DEFAULT_LR == {"sgd": 0.05, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.01,
                          "adam": 0.001, "rmsprop": 0.001}  # fmt: skip


def test_rmsprop_is_the_books_formula_to_1e_12_over_100_steps():
    from mitbadak.nn.optimizers import RMSprop

    opt = RMSprop()
    assert (opt.lr, opt.decay_rate) == (0.01, 0.99)  # the book's defaults
    rng = np.random.default_rng(2)
    W = rng.standard_normal((5, 3))
    params, mine, h = {"W": W.copy()}, W.copy(), np.zeros_like(W)
    for _ in range(100):
        g = rng.standard_normal((5, 3))
        opt.update(params, {"W": g})
        h = 0.99 * h + (1 - 0.99) * g * g  # common/optimizer.py, transcribed
        mine = mine - 0.01 * g / (np.sqrt(h) + 1e-7)  # 1e-7 outside the square root
        np.testing.assert_allclose(params["W"], mine, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(opt.h["W"], h, rtol=1e-12, atol=1e-15)
    resumed = RMSprop()
    resumed.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(resumed.h["W"], opt.h["W"])
    with pytest.raises(ValueError, match=r"decay_rate must be in \[0, 1\), got 1"):
        RMSprop(decay_rate=1)


# -- the book's naive comparison: x and y are plain Python numbers ------------------------------

# optimizer_compare_naive.py's learning rates, start (-7, 2) and 30 steps on f = x^2/20 + y^2
BOOK_NAIVE_LR = {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}


def _book_gradient(x, y):
    """(df/dx, df/dy) of f(x, y) = x^2 / 20 + y^2."""
    return x / 10.0, 2.0 * y


def _reference_path(name: str, lr: float, steps: int = 30) -> list[tuple[float, float]]:
    """The update rules written out on Python floats (momentum 0.9, beta1 0.9, beta2 0.999)."""
    pos, state, path = [-7.0, 2.0], [[0.0, 0.0], [0.0, 0.0]], []
    for t in range(1, steps + 1):
        path.append((pos[0], pos[1]))
        g = _book_gradient(*pos)
        for i in range(2):
            if name == "sgd":
                pos[i] -= lr * g[i]
            elif name == "momentum":
                state[0][i] = 0.9 * state[0][i] - lr * g[i]
                pos[i] += state[0][i]
            elif name == "adagrad":
                state[0][i] += g[i] * g[i]
                pos[i] -= lr * g[i] / (math.sqrt(state[0][i]) + 1e-7)
            else:
                lr_t = lr * math.sqrt(1.0 - 0.999**t) / (1.0 - 0.9**t)
                state[0][i] += 0.1 * (g[i] - state[0][i])
                state[1][i] += 0.001 * (g[i] * g[i] - state[1][i])
                pos[i] -= lr_t * state[0][i] / (math.sqrt(state[1][i]) + 1e-7)
    path.append((pos[0], pos[1]))
    return path


@pytest.mark.parametrize("name", sorted(BOOK_NAIVE_LR))
def test_python_float_parameters_follow_the_books_naive_comparison(name):
    """params = {'x': -7.0, 'y': 2.0}, grads a dict of floats: update stores each new value back
    into the dict (a float cannot change in place), so the book's loop draws the same path."""
    optimizer = make_optimizer(name, lr=BOOK_NAIVE_LR[name])
    params = {"x": -7.0, "y": 2.0}
    path = []
    for _ in range(30):
        path.append((params["x"], params["y"]))
        grads = {}
        grads["x"], grads["y"] = _book_gradient(params["x"], params["y"])
        optimizer.update(params, grads)
    path.append((params["x"], params["y"]))
    expected = _reference_path(name, BOOK_NAIVE_LR[name])
    np.testing.assert_allclose(np.array(path), np.array(expected), rtol=1e-12, atol=1e-15)
    assert all(isinstance(v, float | np.floating) for v in params.values())
    assert abs(params["x"]) < 7.0 and abs(params["y"]) < 2.0  # it moved towards the minimum


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_zero_d_arrays_and_integer_numbers_as_parameters(name):
    """A 0-d array is updated in place (the same object); a Python int is replaced by a float."""
    x = np.array(-7.0)
    params = {"x": x, "n": 3}
    make_optimizer(name, lr=0.5).update(params, {"x": np.array(-0.7), "n": 1})
    assert params["x"] is x and float(x) > -7.0
    assert isinstance(params["n"], float | np.floating) and params["n"] < 3


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([1, 2]), r"parameter 'W' is an array of int64, which the optimizer cannot "
                           r"update in place .*params\['W'\] = params\['W'\]\.astype\(float\)"),
        (np.array([1, 2], np.uint8), r"parameter 'W' is an array of uint8"),
        (np.array([True, False]), r"parameter 'W' is an array of bool"),
        (np.array([1j, 2j]), r"parameter 'W' is an array of complex128"),
        ("1.0", r"parameter 'W' must be a floating-point array or a number, got str '1.0'"),
        ([1.0, 2.0], r"parameter 'W' must be a floating-point array or a number, got list"),
        (None, r"parameter 'W' must be a floating-point array or a number, got None"),
    ],
)
def test_parameters_that_cannot_be_updated_are_refused_by_name(name, bad, message):
    params = {"b": np.zeros(2), "W": bad}
    with pytest.raises(TypeError, match=message) as info:
        make_optimizer(name).update(params, {"b": np.ones(2), "W": np.ones(2)})
    assert "\n" not in str(info.value) and "ufunc" not in str(info.value)
    assert not params["b"].any()  # nothing was updated


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_number_parameter_needs_a_number_gradient(name):
    params = {"x": 1.0}
    for g, given in ((np.ones(2), r"shape \(2,\) \(float64\)"), ("0.1", "str '0.1'"),
                     (True, "bool True"), (None, "None")):  # fmt: skip
        with pytest.raises(ValueError, match=rf"gradient 'x' must be a real number, .*{given}"):
            make_optimizer(name).update(params, {"x": g})
    assert params == {"x": 1.0}
    with pytest.raises(ValueError, match=r"gradient 'W' must be a real array of shape \(2,\).* "
                                         r"got the number 1.0"):  # fmt: skip
        make_optimizer(name).update({"W": np.zeros(2)}, {"W": 1.0})
