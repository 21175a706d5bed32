"""Chapter 6's BatchNormalization and Dropout layers and the book's MultiLayerNetExtend: the book's
formulas (written out here by hand, on small arrays), running statistics, test-mode scaling, the
one-sample batch, gradient checks of whole networks, model files, exact resume, the training
engine, and one clear error for each bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mitbadak.files.modelfile import load_model, save_model
from mitbadak.nn.batchnorm import EPS, BatchNormalization, BatchNormWarning
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.gradcheck import gradient_check
from mitbadak.nn.networks import LayerNet, MultiLayerNetExtend, network_from_config
from mitbadak.training.loop import TrainingStopped, load_checkpoint, train
from mitbadak.training.steps import choose_step


def _bn_by_hand(x, gamma, beta, dout):
    """The book's batch normalization, step by step (forward, then its backward graph)."""
    n = x.shape[0]
    mu = x.sum(axis=0) / n
    xc = x - mu
    var = (xc * xc).sum(axis=0) / n
    std = np.sqrt(var + 1e-6)
    xn = xc / std
    out = gamma * xn + beta
    dbeta = dout.sum(axis=0)
    dgamma = (xn * dout).sum(axis=0)
    dxn = gamma * dout
    dxc = dxn / std
    dstd = -((dxn * xc) / (std * std)).sum(axis=0)
    dvar = 0.5 * dstd / std
    dxc = dxc + (2.0 / n) * xc * dvar
    dmu = dxc.sum(axis=0)
    dx = dxc - dmu / n
    return out, mu, var, dx, dgamma, dbeta


X = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, 0.25], [-1.0, 4.0, 0.75], [2.0, 1.0, -0.5]])
GAMMA = np.array([1.5, 0.5, 2.0])
BETA = np.array([0.1, -0.2, 0.3])
DOUT = np.array([[0.3, -0.1, 0.2], [0.0, 0.4, -0.3], [-0.2, 0.1, 0.5], [0.6, -0.5, 0.1]])


def test_batchnorm_forward_and_backward_are_the_books_formulas():
    assert EPS == pytest.approx(1e-6)  # the book's 10e-7
    layer = BatchNormalization(GAMMA.copy(), BETA.copy())
    out = layer.forward(X)  # train_flg=True by default, as the book's
    want, mu, var, dx, dgamma, dbeta = _bn_by_hand(X, GAMMA, BETA, DOUT)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-13)
    got = layer.backward(DOUT)
    np.testing.assert_allclose(got, dx, rtol=0, atol=1e-13)
    np.testing.assert_allclose(layer.dgamma, dgamma, rtol=0, atol=1e-14)
    np.testing.assert_allclose(layer.dbeta, dbeta, rtol=0, atol=1e-15)
    # running statistics: 0.9 * 0 + 0.1 * batch statistic, then test mode reads them
    np.testing.assert_allclose(layer.running_mean, 0.1 * mu, rtol=1e-15)
    np.testing.assert_allclose(layer.running_var, 0.1 * var, rtol=1e-15)
    layer.forward(X + 1.0)
    np.testing.assert_allclose(layer.running_mean, 0.9 * 0.1 * mu + 0.1 * (mu + 1.0), rtol=1e-14)
    np.testing.assert_allclose(layer.running_var, 0.19 * var, rtol=1e-14)
    test = layer.forward(X, train_flg=False)
    rm, rv = layer.running_mean, layer.running_var
    np.testing.assert_allclose(test, GAMMA * (X - rm) / np.sqrt(rv + 1e-6) + BETA, rtol=1e-14)
    np.testing.assert_allclose(layer.running_mean, 0.19 * mu + 0.1, rtol=1e-14)  # unchanged


def test_batchnorm_normalises_a_4d_batch_per_element_not_per_channel():
    x = np.random.default_rng(0).standard_normal((5, 2, 3, 2))
    d = 2 * 3 * 2
    g, b = np.linspace(0.5, 2.0, d), np.linspace(-1.0, 1.0, d)
    dout = np.random.default_rng(1).standard_normal(x.shape)
    layer = BatchNormalization(g, b, momentum=0.5)
    out = layer.forward(x)
    assert out.shape == x.shape
    want, mu, _, dx, dgamma, _ = _bn_by_hand(x.reshape(5, d), g, b, dout.reshape(5, d))
    np.testing.assert_allclose(out.reshape(5, d), want, atol=1e-13)
    np.testing.assert_allclose(layer.backward(dout).reshape(5, d), dx, atol=1e-13)
    np.testing.assert_allclose(layer.dgamma, dgamma, atol=1e-13)
    np.testing.assert_allclose(layer.running_mean, 0.5 * mu, rtol=1e-15)


def test_a_one_sample_training_batch_gives_beta_with_a_warning():
    layer = BatchNormalization(GAMMA.copy(), BETA.copy())
    with pytest.warns(BatchNormWarning, match="every output equals beta"):
        out = layer.forward(X[:1])
    np.testing.assert_array_equal(out, BETA[None, :])
    dx = layer.backward(DOUT[:1])  # the book's gradient check runs backward on it too
    np.testing.assert_array_equal(dx, np.zeros((1, 3)))
    assert issubclass(BatchNormWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.forward(X[:1], train_flg=False)  # test mode: the running statistics, no warning


def test_given_running_statistics_are_used_and_kept_by_a_network():
    rm, rv = np.array([1.0, 2.0, 3.0]), np.array([4.0, 1.0, 0.25])
    layer = BatchNormalization(GAMMA.copy(), BETA.copy(), running_mean=rm, running_var=rv)
    out = layer.forward(X, train_flg=False)
    np.testing.assert_allclose(out, GAMMA * (X - rm) / np.sqrt(rv + 1e-6) + BETA)
    net = LayerNet([BatchNormalization(GAMMA.copy(), BETA.copy(), running_mean=rm, running_var=rv),
                    Dropout(0.0)], input_shape=3, output_size=3)  # fmt: skip
    np.testing.assert_array_equal(net.buffers["running_mean1"], rm)
    np.testing.assert_array_equal(net.params["gamma1"], GAMMA)
    np.testing.assert_allclose(net.predict(X), out)


def test_dropout_is_the_books_and_inverted_is_a_named_option():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    layer = Dropout(0.25)
    layer.rng = np.random.default_rng(7)
    out = layer.forward(x)  # train_flg=True by default
    keep = np.random.default_rng(7).random(x.shape) > 0.25  # the book's rand > ratio
    np.testing.assert_array_equal(out, x * keep)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), keep.astype(float))
    np.testing.assert_array_equal(layer.forward(x, train_flg=False), x * 0.75)
    inv = Dropout(0.25, inverted=True)
    inv.rng = np.random.default_rng(7)
    np.testing.assert_allclose(inv.forward(x), x * keep / 0.75, rtol=1e-15)
    np.testing.assert_allclose(inv.backward(np.ones_like(x)), keep / 0.75, rtol=1e-15)
    np.testing.assert_array_equal(inv.forward(x, train_flg=False), x)
    assert Dropout().dropout_ratio == 0.5 and not Dropout().inverted


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5, float("nan"), "0.5", True])
def test_a_dropout_ratio_outside_0_1_is_one_clear_error(ratio):
    with pytest.raises(ValueError, match=r"dropout ratio must be .*\[0, 1\)"):
        Dropout(ratio)
    with pytest.raises(ValueError, match=r"dropout ratio must be"):
        MultiLayerNetExtend(4, [3], 2, use_dropout=True, dropout_ration=ratio)


def test_bad_gamma_beta_and_input_shapes_are_one_clear_error():
    with pytest.raises(ValueError, match=r"gamma and beta must have the same shape.*\(2,\)"):
        BatchNormalization(np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"gamma must be a 1-D array.*\(2, 3\)"):
        BatchNormalization(np.ones((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="running_mean has 2 values, but gamma and beta have 3"):
        BatchNormalization(np.ones(3), np.zeros(3), running_mean=np.zeros(2))
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        BatchNormalization(np.ones(3), np.zeros(3), momentum=2)
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"has 3 units .* input has 4 values per sample"):
        layer.forward(np.ones((2, 4)))
    with pytest.raises(AttributeError, match="call forward in training mode first"):
        BatchNormalization(np.ones(3), np.zeros(3)).backward(np.ones((2, 3)))


def test_bad_network_arguments_are_one_clear_error():
    with pytest.raises(ValueError, match="hidden_size_list is empty"):
        MultiLayerNetExtend(4, [], 2)
    with pytest.raises(ValueError, match="weight_init_std must be one of 'relu', 'he', 'sigmoid', "
                                         "'xavier' or a number"):  # fmt: skip
        MultiLayerNetExtend(4, [3], 2, weight_init_std="lecun")
    with pytest.raises(ValueError, match="activation must be one of"):
        MultiLayerNetExtend(4, [3], 2, activation="softplus")


def test_the_books_constructor_names_layers_and_parameters():
    from mitbadak.book.common import layers as book_layers
    from mitbadak.book.common.multi_layer_net_extend import MultiLayerNetExtend as Book

    assert book_layers.BatchNormalization is BatchNormalization and book_layers.Dropout is Dropout
    net = Book(input_size=6, hidden_size_list=[5, 4], output_size=3, activation="relu",
               weight_init_std="he", weight_decay_lambda=0.1, use_dropout=True,
               dropout_ration=0.3, use_batchnorm=True, seed=0)  # fmt: skip
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                "W3", "b3"]  # fmt: skip
    assert list(net.buffers) == ["running_mean1", "running_var1", "running_mean2", "running_var2"]
    assert list(net.layers) == ["Affine1", "BatchNormalization1", "Relu1", "Dropout1", "Affine2",
                                "BatchNormalization2", "Relu2", "Dropout2", "Affine3"]  # fmt: skip
    assert net.decayed == ("W1", "W2", "W3")  # weights only
    assert net.layers["Dropout2"].dropout_ratio == 0.3
    np.testing.assert_array_equal(net.params["gamma2"], np.ones(4))
    # He's scale sqrt(2 / n_in), as MultiLayerNet draws it from the same seed
    from mitbadak.book.common.multi_layer_net import MultiLayerNet

    plain = MultiLayerNet(6, [5, 4], 3, weight_init_std="relu", seed=0)
    for k in ("W1", "W2", "W3"):
        np.testing.assert_array_equal(net.params[k], plain.params[k])
    plain_ext = Book(6, [5, 4], 3, weight_init_std=0.01, activation="sigmoid", seed=0)
    assert list(plain_ext.layers) == ["Affine1", "Sigmoid1", "Affine2", "Sigmoid2", "Affine3"]
    assert float(np.std(plain_ext.params["W1"])) < 0.02


def _data(n=10, d=6, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, 3, n)


def _assert_gradients_agree(net, x, t, bn_biases=()):
    """max|bp - num| / max(|bp|, |num|, 1e-8) < 1e-6 per parameter; a bias feeding straight
    into BatchNorm has gradient 0 both ways (BatchNorm subtracts the batch mean: the loss does
    not depend on it), to rounding: |g| < 1e-10 (the central difference of a constant loss is
    its rounding / 2h, about 1e-12, so it has no relative error to speak of)."""
    numeric = net.numerical_gradient(x, t)  # from the generator state the next gradient() uses
    backprop = net.gradient(x, t)
    for k in net.params:
        if k in bn_biases:
            continue
        a, b = numeric[k], backprop[k]
        scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b))), 1e-8)
        assert float(np.max(np.abs(a - b))) / scale < 1e-6, k
    for k in bn_biases:
        assert float(np.max(np.abs(numeric[k]))) < 1e-10, k
        assert float(np.max(np.abs(backprop[k]))) < 1e-10, k


def test_gradient_check_with_batchnorm_and_dropout_tanh():
    net = MultiLayerNetExtend(6, [5, 4], 3, activation="tanh", weight_init_std="xavier",
                              weight_decay_lambda=0.1, use_dropout=True, dropout_ration=0.3,
                              use_batchnorm=True, seed=0)  # fmt: skip
    x, t = _data()
    _assert_gradients_agree(net, x, t, bn_biases=("b1", "b2"))
    rows = gradient_check(net, x, t)  # the library's check runs in the same order
    assert [r.name for r in rows] == list(net.params)


def test_gradient_check_with_batchnorm_and_dropout_relu_away_from_the_kink():
    h = 1e-4
    net = MultiLayerNetExtend(6, [5, 4], 3, use_dropout=True, dropout_ration=0.2,
                              use_batchnorm=True, seed=3)  # fmt: skip
    for k in ("beta1", "beta2"):
        net.params[k] = np.full(net.params[k].shape, 0.05)
    x, t = _data(seed=5)
    # every ReLU input (BatchNorm's output in training mode) lies more than 20 h from 0
    states = net.rng_states()
    x2 = net.prepare_x(x)
    out = x2
    for layer in net.sequence:
        if type(layer).__name__ == "Relu":
            assert float(np.min(np.abs(out))) > 20 * h
        out = layer.forward(out, True) if layer.train_flag else layer.forward(out)
    net.set_rng_states(states)
    net.set_buffers({k: np.zeros_like(v) for k, v in net.buffers.items()})
    _assert_gradients_agree(net, x, t, bn_biases=("b1", "b2"))


def test_numerical_gradient_leaves_the_network_untouched():
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, use_batchnorm=True, seed=0)
    x, t = _data()
    states, buffers = net.rng_states(), {k: v.copy() for k, v in net.buffers.items()}
    net.numerical_gradient(x, t)
    assert net.rng_states() == states
    for k, v in buffers.items():
        np.testing.assert_array_equal(net.buffers[k], v)
    net.gradient(x, t)  # training mode: running statistics move, the generator advances
    assert net.rng_states() != states and not np.array_equal(net.buffers["running_mean1"], 0)


def test_predict_and_loss_take_the_books_train_flg():
    net = MultiLayerNetExtend(6, [5], 3, use_dropout=True, dropout_ration=0.5, seed=0)
    x, t = _data()
    np.testing.assert_array_equal(net.predict(x), net.predict(x, train_flg=False))
    assert not np.array_equal(net.predict(x, train_flg=True), net.predict(x, train_flg=True))
    assert net.loss(x, t) == net.loss(x, t, train_flg=False)
    assert 0.0 <= net.accuracy(x, t) <= 1.0


def test_a_model_file_keeps_the_running_statistics(tmp_path):
    net = MultiLayerNetExtend(6, [5, 4], 3, use_dropout=True, dropout_ration=0.2,
                              use_batchnorm=True, seed=0)  # fmt: skip
    x, t = _data(40)
    for _ in range(3):
        net.gradient(x, t)  # fills the running statistics
    path = save_model(tmp_path / "ext.npz", net)
    loaded = load_model(path)
    assert type(loaded) is MultiLayerNetExtend and repr(loaded) == repr(net)
    assert loaded.layers["Dropout1"].dropout_ratio == 0.2
    for k, v in net.buffers.items():
        assert np.any(v != 0)
        np.testing.assert_array_equal(loaded.buffers[k], v)
    assert loaded.layers["BatchNormalization1"].running_mean is loaded.buffers["running_mean1"]
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    copy = network_from_config(net.config(), dict(net.params))
    assert type(copy) is MultiLayerNetExtend
    config = net.config()
    config["extend"] = dict(config["extend"], hidden_size_list=[10**6, 4])  # never allocated
    with pytest.raises(ValueError, match="'extend' does not match its 'layers'"):
        network_from_config(config)
    config["extend"] = dict(config["extend"], hidden_size_list=[5, 4], use_batchnorm=False)
    with pytest.raises(ValueError, match="'extend' does not match its 'layers'"):
        network_from_config(config)


def _resume_net(seed):
    return MultiLayerNetExtend(6, [8, 6], 3, use_dropout=True, dropout_ration=0.3,
                               use_batchnorm=True, seed=seed)  # fmt: skip


def test_a_dropout_batchnorm_run_resumes_exactly(tmp_path):
    x, t = _data(90)
    kw = {"optimizer": "momentum", "lr": 0.05, "epochs": 3, "batch_size": 20, "seed": 4}
    whole = train(_resume_net(1), (x, t), **kw)
    calls = []

    def stop_after_seven() -> bool:
        calls.append(1)
        return len(calls) > 7

    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(TrainingStopped):
        train(_resume_net(1), (x, t), checkpoint_path=ckpt, should_stop=stop_after_seven, **kw)
    resumed_net = _resume_net(99)  # other weights and generators: the checkpoint's win
    resumed = train(resumed_net, (x, t), resume=load_checkpoint(ckpt), **kw)
    assert resumed.history.iteration_loss == whole.history.iteration_loss
    for k in whole.network.params:
        np.testing.assert_array_equal(resumed.network.params[k], whole.network.params[k])
    for k in whole.network.buffers:
        np.testing.assert_array_equal(resumed_net.buffers[k], whole.network.buffers[k])


def test_training_runs_on_the_fast_engine_and_evaluates_in_test_mode(monkeypatch):
    """``auto`` picks the BatchNorm/Dropout fast path (nn/fast_extend.py, held equal to the
    layers by tests/test_fast_extend.py); the layer engine stays available by name and runs the
    layers in training mode."""
    x, t = _data(60)
    net = MultiLayerNetExtend(6, [8], 3, use_dropout=True, dropout_ration=0.2,
                              use_batchnorm=True, seed=0)  # fmt: skip
    flags: list[bool] = []
    original = BatchNormalization.forward

    def spy(self, x, train_flg=True):
        flags.append(bool(train_flg))
        return original(self, x, train_flg)

    monkeypatch.setattr(BatchNormalization, "forward", spy)
    from mitbadak.nn.optimizers import SGD
    from mitbadak.training.history import LoopState

    loop = LoopState(0, 1, np.random.default_rng(0).bit_generator.state)
    step = choose_step(net, SGD(lr=0.1), (x, t), loop)
    assert step.engine == "fast" and step.note == ""
    layers = choose_step(net, SGD(lr=0.1), (x, t), loop, engine="layers")
    assert layers.engine == "layers"
    layers.run(np.arange(20))
    assert flags == [True]  # the layer engine: one training-mode forward per step
    flags.clear()
    result = train(net, (x, t), (x, t), optimizer="sgd", lr=0.1, epochs=2, batch_size=20)
    assert flags == []  # steps and evaluation on the fast path, no layer forward
    assert result.history.last["test_acc"] == pytest.approx(net.accuracy(x, t))
    assert flags and not any(flags)  # net.accuracy: the layers in test mode
    assert np.any(net.buffers["running_var1"] != 0)


def test_the_books_batch_norm_gradient_check_runs_on_one_image():
    """ch06/batch_norm_gradient_check.py, smaller: one sample, BatchNorm, both gradients. With
    the book's ReLU every ReLU input is beta = 0, exactly the kink, where the central difference
    reads half a slope and backprop none (the book's printout shows it for beta); sigmoid here."""
    net = MultiLayerNetExtend(input_size=12, hidden_size_list=[6, 5], output_size=4,
                              activation="sigmoid", use_batchnorm=True, seed=0)  # fmt: skip
    x, t = np.random.default_rng(2).random((1, 12)), np.eye(4)[[1]]
    with pytest.warns(BatchNormWarning):
        grad_backprop = net.gradient(x, t)
    with pytest.warns(BatchNormWarning):
        grad_numerical = net.numerical_gradient(x, t)
    for key in grad_numerical:
        diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
        assert diff < 1e-9, key
    # every unit normalised to 0: only beta and the last Affine see the loss
    assert np.all(grad_backprop["W1"] == 0) and np.all(grad_backprop["gamma2"] == 0)
    assert np.any(grad_backprop["beta2"] != 0) and np.any(grad_backprop["W3"] != 0)


def test_the_layers_train_on_a_device_array_module_as_on_numpy():
    """The layer engine on ``strict_xp`` (a stand-in device that refuses silent conversion):
    the same losses and running statistics as on NumPy (masks drawn on the host). NumPy trains
    on the fast path (nn/fast_extend.py), whose sums differ in the last bits: to 1e-10."""
    import strict_xp

    from mitbadak.core.backend import to_host

    x, t = _data(40)
    kw = {"optimizer": "adam", "lr": 0.01, "epochs": 2, "batch_size": 10}
    host = _resume_net(0)
    r0 = train(host, (x, t), (x, t), **kw)
    dev = _resume_net(0)
    r1 = train(dev, (x, t), (x, t), device=strict_xp, **kw)
    np.testing.assert_allclose(r1.history.iteration_loss, r0.history.iteration_loss,
                               rtol=1e-10, atol=0)
    for k, v in host.buffers.items():
        np.testing.assert_allclose(to_host(dev.buffers[k]), v, rtol=1e-10, atol=1e-13)
