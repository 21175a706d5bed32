"""mitbadak.nn.networks: the chapter-3 example, SimpleNet, TwoLayerNet and MultiLayerNet."""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak import MultiLayerNet, SimpleNet, TwoLayerNet, forward, init_network
from mitbadak.core.functions import softmax
from mitbadak.nn.optimizers import SGD, AdaGrad, Adam, Momentum


def assert_printed(actual, printed, decimals: int = 8) -> None:
    """``actual`` rounds to the ``printed`` value (fixed notation, ``decimals`` after the point)."""
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        printed,
        rtol=0,
        atol=0.5 * 10.0**-decimals * 1.0000001,
    )


def toy_data(n=6, d=20, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, c, size=n)


# -- chapter 3 --------------------------------------------------------------------------------


def test_init_network_weights_and_shapes():
    net = init_network()
    assert sorted(net) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert {k: v.shape for k, v in net.items()} == {
        "W1": (2, 3), "b1": (3,), "W2": (3, 2), "b2": (2,), "W3": (2, 2), "b3": (2,)
    }
    np.testing.assert_array_equal(net["W1"], [[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]])
    np.testing.assert_array_equal(net["b1"], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(net["W2"], [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]])
    np.testing.assert_array_equal(net["b2"], [0.1, 0.2])
    np.testing.assert_array_equal(net["W3"], [[0.1, 0.3], [0.2, 0.4]])
    np.testing.assert_array_equal(net["b3"], [0.1, 0.2])
    assert init_network()["W1"] is not net["W1"]  # fresh arrays each call


def test_forward_book_value():
    y = forward(init_network(), np.array([1.0, 0.5]))
    assert y.shape == (2,)
    assert_printed(y, [0.31682708, 0.69627909])
    # a batch of two identical rows gives the same row twice
    yb = forward(init_network(), np.array([[1.0, 0.5], [1.0, 0.5]]))
    np.testing.assert_allclose(yb, [y, y], rtol=1e-15)


def test_forward_intermediate_layer_from_the_notes():
    # Z2 = sigmoid(Z1.W2 + B2) = [0.62624937, 0.7710107] is the output layer's input
    net = init_network()
    net_only_2_layers = dict(net, W3=np.eye(2), b3=np.zeros(2))
    assert_printed(forward(net_only_2_layers, [1.0, 0.5]), [0.62624937, 0.77101070])


# -- SimpleNet (chapter 4) ---------------------------------------------------------------------

BOOK_W = np.array([[-1.88592905, 0.433029, -0.8528666], [-2.5660367, -0.70119347, -1.32334046]])


def test_simplenet_study_notes_example():
    """The study notes' run, with its printed random W passed in (W is printed to 8 digits,
    so values derived from it agree to ~1e-8)."""
    net = SimpleNet(BOOK_W)
    x = np.array([0.6, 0.9])
    t = np.array([0, 0, 1])
    p = net.predict(x)
    np.testing.assert_allclose(p, [-3.44099046, -0.37125673, -1.70272638], atol=2e-8)
    assert int(np.argmax(p)) == 1
    assert net.loss(x, t) == pytest.approx(1.601894968202963, abs=2e-8)
    dW = net.numerical_gradient(x, t)["W"]
    np.testing.assert_allclose(
        dW, [[0.02125877, 0.45783247, -0.47909125], [0.03188816, 0.68674871, -0.71863687]],
        atol=2e-8,
    )
    net.W -= 0.1 * dW  # in place, as the notes do: params follow
    assert net.params["W"] is net.W
    np.testing.assert_allclose(
        net.W, [[-1.88805493, 0.38724575, -0.80495748], [-2.56922551, -0.76986835, -1.25147677]],
        atol=2e-8,
    )
    np.testing.assert_allclose(
        net.predict(x), [-3.44513592, -0.46053406, -1.60930358], atol=2e-8
    )
    assert net.loss(x, t) == pytest.approx(1.461816416855366, abs=2e-8)
    # integer label gives the same loss as one-hot
    assert net.loss(x, 2) == net.loss(x, t)


def test_simplenet_gradient_is_analytic():
    net = SimpleNet(seed=3)
    x = np.array([[0.6, 0.9], [-0.2, 0.4]])
    t = np.array([2, 0])
    dW = net.numerical_gradient(x, t)["W"]
    y = softmax(x @ net.W)
    analytic = x.T @ (y - np.eye(3)[t]) / 2
    np.testing.assert_allclose(dW, analytic, rtol=1e-6, atol=1e-9)


def test_simplenet_is_seedable_and_global_state_free():
    np.random.seed(0)
    a = SimpleNet(seed=42)
    np.random.seed(1)
    b = SimpleNet(seed=42)
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(SimpleNet(seed=np.random.default_rng(42)).W, a.W)
    assert not np.array_equal(SimpleNet(seed=43).W, a.W)
    assert a.W.shape == (2, 3)
    assert SimpleNet(seed=1, dtype=np.float32).W.dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(2, 3\), got \(3, 2\)"):
        SimpleNet(np.ones((3, 2)))
    with pytest.raises(ValueError, match="3 features per sample, but SimpleNet expects 2"):
        a.predict(np.ones(3))


# -- TwoLayerNet / MultiLayerNet: construction --------------------------------------------------


def test_two_layer_net_params_and_init():
    net = TwoLayerNet(784, 100, 10, seed=0)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (784, 100), "b1": (100,), "W2": (100, 10), "b2": (10,)
    }
    assert all(v.dtype == np.float64 for v in net.params.values())
    np.testing.assert_array_equal(net.params["b1"], 0)
    np.testing.assert_array_equal(net.params["b2"], 0)
    assert net.params["W1"].std() == pytest.approx(0.01, rel=0.02)  # weight_init_std=0.01
    assert net.activation == "sigmoid"  # the book's default
    assert net.hidden_size == 100
    assert TwoLayerNet(784, 100, 10, weight_init_std=0.1, seed=0).params["W1"].std() == \
        pytest.approx(0.1, rel=0.02)


@pytest.mark.parametrize(
    ("weight_init", "expected_std"),
    [
        ("he", lambda n: np.sqrt(2 / n)),
        ("xavier", lambda n: np.sqrt(1 / n)),
        (0.05, lambda n: 0.05),
    ],
)
def test_multi_layer_net_weight_init(weight_init, expected_std):
    net = MultiLayerNet(784, [400, 300], 10, weight_init=weight_init, seed=1)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {"W1": (784, 400), "b1": (400,), "W2": (400, 300), "b2": (300,),
                      "W3": (300, 10), "b3": (10,)}
    for i, n_in in ((1, 784), (2, 400), (3, 300)):
        assert net.params[f"W{i}"].std() == pytest.approx(expected_std(n_in), rel=0.03)
        np.testing.assert_array_equal(net.params[f"b{i}"], 0)


def test_multi_layer_net_accepts_an_int_hidden_size():
    net = MultiLayerNet(5, 4, 3, seed=0)
    assert [v.shape for v in net.params.values()] == [(5, 4), (4,), (4, 3), (3,)]


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="activation must be one of.*'tanh'"):
        TwoLayerNet(4, 3, 2, activation="softplus")
    with pytest.raises(ValueError, match="weight_init must be one of 'relu', 'he', 'sigmoid'"):
        MultiLayerNet(4, [3], 2, weight_init="lecun")
    with pytest.raises(ValueError, match="non-negative standard deviation"):
        MultiLayerNet(4, [3], 2, weight_init=-1.0)
    with pytest.raises(ValueError, match=r"positive integers, got \[4, 0, 2\]"):
        MultiLayerNet(4, [0], 2)
    with pytest.raises(ValueError, match="floating type"):
        TwoLayerNet(4, 3, 2, dtype=np.int32)


@pytest.mark.parametrize("cls", ["two", "multi"])
def test_seed_and_generator_and_no_global_state(cls):
    def make(seed):
        if cls == "two":
            return TwoLayerNet(20, 10, 3, seed=seed)
        return MultiLayerNet(20, [10, 8], 3, seed=seed)

    np.random.seed(123)
    a = make(7)
    np.random.seed(999)
    b = make(7)
    c = make(np.random.default_rng(7))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
        np.testing.assert_array_equal(a.params[k], c.params[k])
    assert not np.array_equal(make(8).params["W1"], a.params["W1"])
    # building networks never advances NumPy's global random state
    np.random.seed(5)
    expected = np.random.random()
    np.random.seed(5)
    make(1)
    make(None)
    assert np.random.random() == expected
    # a shared Generator gives different (but reproducible) networks in sequence
    rng = np.random.default_rng(0)
    n1, n2 = make(rng), make(rng)
    assert not np.array_equal(n1.params["W1"], n2.params["W1"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_dtype_is_respected(dtype, activation):
    net = MultiLayerNet(20, [10], 3, activation=activation, seed=0, dtype=dtype)
    x, t = toy_data()
    assert all(v.dtype == dtype for v in net.params.values())
    assert net.predict(x).dtype == dtype
    assert net.predict(x.astype(np.float32)).dtype == dtype
    assert net.predict_proba(x).dtype == dtype
    assert all(g.dtype == dtype for g in net.gradient(x, t).values())
    assert all(g.dtype == dtype for g in net.numerical_gradient(x, t).values())
    assert isinstance(net.loss(x, t), float)
    # float32 and float64 nets with the same seed agree to float32 precision
    other = MultiLayerNet(20, [10], 3, activation=activation, seed=0, dtype=np.float64)
    np.testing.assert_allclose(net.predict(x), other.predict(x), rtol=1e-5, atol=1e-6)


# -- predict / loss / accuracy ------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_predict_loss_accuracy_by_hand(activation):
    net = TwoLayerNet(20, 10, 3, weight_init_std=0.5, activation=activation, seed=2)
    x, t = toy_data()
    p = net.params
    if activation == "sigmoid":
        act = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    else:
        act = lambda a: np.maximum(a, 0)  # noqa: E731
    scores = act(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(net.predict(x), scores, rtol=1e-12)
    y = softmax(scores)
    np.testing.assert_allclose(net.predict_proba(x), y, rtol=1e-12)
    exact_ce = -np.mean(np.log(y[np.arange(6), t]))
    assert net.loss(x, t) == pytest.approx(exact_ce, rel=1e-12)
    assert net.loss(x, np.eye(3)[t]) == net.loss(x, t)
    acc = np.mean(np.argmax(scores, axis=1) == t)
    assert net.accuracy(x, t) == acc
    assert net.accuracy(x, np.eye(3)[t]) == acc
    assert net.accuracy(x, t, batch_size=4) == acc
    # one sample, and image-shaped input (N, 1, 4, 5)
    np.testing.assert_allclose(net.predict(x[0]), scores[0], rtol=1e-12)  # 1-D, as the book
    np.testing.assert_allclose(net.predict(x.reshape(6, 1, 4, 5)), scores, rtol=1e-12)


def test_accuracy_known_fraction():
    net = TwoLayerNet(2, 3, 2, seed=0)
    W2 = np.array([[1.0, 0], [0, 1], [0, 0]])
    net.set_params({"W1": np.eye(2, 3), "b1": np.zeros(3), "W2": W2, "b2": np.zeros(2)})
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    assert net.accuracy(x, [0, 1, 1, 1]) == 0.75
    assert net.accuracy(x, [1, 0, 1, 0]) == 0.0


def test_weight_decay_adds_the_l2_penalty():
    x, t = toy_data()
    plain = TwoLayerNet(20, 10, 3, weight_init_std=0.3, seed=4)
    decayed = TwoLayerNet(20, 10, 3, weight_init_std=0.3, seed=4, weight_decay_lambda=0.1)
    penalty = 0.5 * 0.1 * sum(np.sum(plain.params[k] ** 2) for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-13)
    g_plain, g_decay = plain.gradient(x, t), decayed.gradient(x, t)
    np.testing.assert_allclose(g_decay["W1"], g_plain["W1"] + 0.1 * plain.params["W1"], rtol=1e-13)
    np.testing.assert_array_equal(g_decay["b1"], g_plain["b1"])


# -- gradients -------------------------------------------------------------------------------


def _nets_for_gradients():
    yield "two-sigmoid", TwoLayerNet(20, 10, 3, weight_init_std=0.5, activation="sigmoid", seed=0)
    yield "two-relu", TwoLayerNet(20, 10, 3, weight_init_std=0.5, activation="relu", seed=0)
    yield "multi-relu-he", MultiLayerNet(20, [10, 8], 3, activation="relu", seed=0)
    yield "multi-sigmoid-xavier", MultiLayerNet(20, [10, 8], 3, activation="sigmoid",
                                                weight_init="xavier", seed=0)
    yield "multi-decay", MultiLayerNet(20, [10, 8], 3, weight_decay_lambda=0.05, seed=0)


@pytest.mark.parametrize(("name", "net"), list(_nets_for_gradients()))
def test_backprop_matches_numerical_gradient(name, net):
    x, t = toy_data()
    grad = net.gradient(x, t)
    num = net.numerical_gradient(x, t)
    assert list(grad) == list(net.params)
    for k in net.params:
        assert grad[k].shape == net.params[k].shape
        np.testing.assert_allclose(grad[k], num[k], rtol=1e-6, atol=1e-8, err_msg=f"{name} {k}")
    # with one-hot labels the same
    g_hot = net.gradient(x, np.eye(3)[t])
    for k in net.params:
        np.testing.assert_array_equal(g_hot[k], grad[k])


def test_numerical_gradient_leaves_params_untouched():
    net = MultiLayerNet(20, [10, 8], 3, seed=0)
    before = {k: v.tobytes() for k, v in net.params.items()}
    arrays = dict(net.params)
    x, t = toy_data()
    net.numerical_gradient(x, t, method="reference")
    net.numerical_gradient(x, t)
    assert all(net.params[k] is arrays[k] for k in arrays)
    assert all(net.params[k].tobytes() == before[k] for k in before)
    _assert_layers_share_params(net)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_fast_numerical_gradient_equals_reference(activation, decay):
    net = TwoLayerNet(20, 10, 3, weight_init_std=0.5, activation=activation, seed=1,
                      weight_decay_lambda=decay)
    x, t = toy_data(n=5, seed=1)
    x[:, :4] = 0.0  # zero inputs are skipped by the fast path: cover that branch
    fast = net.numerical_gradient(x, t, method="fast")
    ref = net.numerical_gradient(x, t, method="reference")
    auto = net.numerical_gradient(x, t, method="auto")
    for k in net.params:
        np.testing.assert_allclose(fast[k], ref[k], rtol=0, atol=1e-9, err_msg=k)
        np.testing.assert_array_equal(auto[k], fast[k])


def test_fast_numerical_gradient_mnist_784_50_10():
    from _mnist import first_images

    x, t = first_images(3)  # the real test set's, else mnist-sample's
    net = TwoLayerNet(784, 50, 10, activation="sigmoid", seed=0)
    fast = net.numerical_gradient(x, t, method="fast")
    ref = net.numerical_gradient(x, t, method="reference")  # ~40k parameters: a few seconds
    for k in net.params:
        np.testing.assert_allclose(fast[k], ref[k], rtol=0, atol=1e-9, err_msg=k)


def test_fast_method_refuses_deeper_networks():
    net = MultiLayerNet(20, [10, 8], 3, seed=0)
    x, t = toy_data()
    with pytest.raises(ValueError, match="exactly one hidden layer"):
        net.numerical_gradient(x, t, method="fast")
    with pytest.raises(ValueError, match="method must be 'auto', 'fast' or 'reference'"):
        net.numerical_gradient(x, t, method="quick")


# -- params and layers never drift apart ----------------------------------------------------


def _assert_layers_share_params(net):
    for i in range(1, net.n_affine + 1):
        affine = net.layers[f"Affine{i}"]
        assert affine.W is net.params[f"W{i}"]
        assert affine.b is net.params[f"b{i}"]


@pytest.mark.parametrize(
    "make_opt",
    [lambda: SGD(lr=0.5), lambda: Momentum(lr=0.5), lambda: AdaGrad(lr=0.5), lambda: Adam(lr=0.05)],
    ids=["sgd", "momentum", "adagrad", "adam"],
)
@pytest.mark.parametrize("arch", ["two", "multi"])
def test_optimizer_step_updates_layers_through_shared_params(make_opt, arch):
    opt = make_opt()
    if arch == "two":
        net = TwoLayerNet(20, 10, 3, weight_init_std=0.5, seed=0)
    else:
        net = MultiLayerNet(20, [10, 8], 3, seed=0)
    x, t = toy_data()
    arrays = dict(net.params)
    loss0 = net.loss(x, t)
    before = net.predict(x)
    for _ in range(3):
        opt.update(net.params, net.gradient(x, t))
    _assert_layers_share_params(net)
    assert all(net.params[k] is arrays[k] for k in arrays)
    after = net.predict(x)
    assert not np.allclose(after, before)
    # predictions follow the updated params: recompute from the params dict by hand
    fresh = (TwoLayerNet(20, 10, 3, seed=99) if arch == "two" else MultiLayerNet(20, [10, 8], 3,
                                                                               seed=99))
    fresh.set_params({k: v.copy() for k, v in net.params.items()})
    np.testing.assert_array_equal(fresh.predict(x), after)
    assert net.loss(x, t) < loss0


def test_set_params_rebuilds_layers_and_checks_shapes():
    net = TwoLayerNet(4, 3, 2, seed=0)
    new = {k: np.full_like(v, 0.5) for k, v in net.params.items()}
    net.set_params(new)
    _assert_layers_share_params(net)
    # every hidden unit: sigmoid(4 * 0.5 + 0.5); every score: 3 * that * 0.5 + 0.5
    expected = 0.5 * 3 / (1 + np.exp(-2.5)) + 0.5
    np.testing.assert_allclose(net.predict(np.ones((1, 4))), [[expected, expected]], rtol=1e-15)
    with pytest.raises(ValueError, match=r"W1 has shape \(3, 4\), but the network expects \(4,"):
        net.set_params(dict(new, W1=np.zeros((3, 4))))
    with pytest.raises(ValueError, match="do not match"):
        net.set_params({"W1": new["W1"]})


def test_forward_rejects_wrong_feature_count():
    with pytest.raises(ValueError, match="x has 3 features per sample, but the network expects 2"):
        forward(init_network(), np.array([1.0, 0.5, 0.2]))


def test_accuracy_rejects_bad_batch_size():
    net = TwoLayerNet(20, 10, 3, seed=0)
    x, t = toy_data()
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match=f"batch_size must be a positive integer.*{bad}"):
            net.accuracy(x, t, batch_size=bad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("hidden", [[10], [10, 8]])
@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_training_path_matches_the_layers(dtype, activation, hidden, decay):
    """The trainer's ``_loss_and_gradient`` (may be a fused fast path) equals backprop through the
    layers (``gradient``) and ``loss``, and leaves the parameters alone."""
    net = MultiLayerNet(20, hidden, 3, activation=activation, weight_init=0.5, seed=3,
                        weight_decay_lambda=decay, dtype=dtype)
    x, t = toy_data()
    before = {k: v.copy() for k, v in net.params.items()}
    x2 = x.astype(dtype)
    loss, grads = net.loss_and_gradient(x2, t)
    ref = net.gradient(x, t)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-15}
    assert loss == pytest.approx(net.loss(x, t), rel=tol["rtol"])
    assert list(grads) == list(net.params)
    for k in net.params:
        assert grads[k].dtype == dtype
        np.testing.assert_allclose(grads[k], ref[k], **tol, err_msg=k)
        np.testing.assert_array_equal(net.params[k], before[k])
    np.testing.assert_array_equal(x2, x.astype(dtype))  # the input is not overwritten either


@pytest.mark.parametrize("arch", ["two", "multi"])
def test_config_round_trip(arch):
    from mitbadak.nn.networks import network_from_config

    if arch == "two":
        net = TwoLayerNet(20, 10, 3, weight_init_std=0.3, activation="relu", seed=0,
                          weight_decay_lambda=0.01, dtype=np.float32)
    else:
        net = MultiLayerNet(20, [10, 8], 3, activation="sigmoid", weight_init="xavier", seed=0)
    clone = network_from_config(net.config(), net.params)
    assert type(clone) is type(net)
    assert clone.config() == net.config()
    x, _ = toy_data()
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    _assert_layers_share_params(clone)
    assert all(clone.params[k] is not net.params[k] for k in net.params)  # copies, not aliases
