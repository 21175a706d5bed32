"""mitbadak.nn.optimizers: each update rule by hand, in-place updates, resumable state."""

from __future__ import annotations

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
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose one of sgd"):
        make_optimizer("rmsprop")
    assert isinstance(make_optimizer("Adam"), Adam)
    assert make_optimizer("momentum", momentum=0.5).momentum == 0.5
    assert make_optimizer("sgd").lr == 0.01


def test_registry_holds_each_optimizer_once_with_its_run_lr():
    from mitbadak.nn.optimizers import REGISTRY
    from mitbadak.training.recipes import DEFAULT_LR
    from mitbadak.training.runs import DEFAULT_RECIPE

    assert set(REGISTRY) == set(OPTIMIZERS) == {"sgd", "momentum", "adagrad", "adam"}
    assert all(OPTIMIZERS[name] is e.cls and e.name == name for name, e in REGISTRY.items())
    # the default recipe's optimizer keeps its lr when named explicitly
    assert REGISTRY[DEFAULT_RECIPE.optimizer].run_lr == DEFAULT_RECIPE.lr
    assert DEFAULT_LR == {"sgd": 0.05, "momentum": 0.05, "adagrad": 0.01, "adam": 0.001}
