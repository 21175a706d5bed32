"""The Layer contract: a layer class written here, inside the tests, plugs into a network with
nothing else edited: its parameters are named by position, trained by an optimizer, saved and
loaded by model files and checkpoints, gradient-checked numerically; its buffers are kept by
files but never seen by an optimizer; its generator makes resumed runs exact; N-D inputs reach
it in their shape."""

from __future__ import annotations

import numpy as np
import pytest

from mitbadak.core.backend import array_namespace
from mitbadak.files.modelfile import load_model, save_model
from mitbadak.nn.gradcheck import gradient_check
from mitbadak.nn.layers import LAYERS, Affine, Layer, ParamSpec, Relu
from mitbadak.nn.networks import LayerNet, TwoLayerNet, network_from_config
from mitbadak.training.loop import TrainingStopped, load_checkpoint, train


class Scale(Layer):
    """y = x * s, one learnable vector s (starts at ones); never weight-decayed."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def param_specs(self):
        return (ParamSpec("s", (self.size,), "ones"),)

    def config(self):
        return {"size": self.size}

    def forward(self, x):
        self.x = x
        return x * self.params["s"]

    def backward(self, dout):
        xp = array_namespace(dout)
        self.grads = {"s": xp.sum(dout * self.x, axis=0)}
        return dout * self.params["s"]


class Noise(Layer):
    """Dropout-like: in training, zero a random ``ratio`` of the units (drawn from the layer's
    own generator) and keep a running mean of its input (a buffer, like BatchNorm's)."""

    train_flag = True
    stochastic = True

    def __init__(self, size: int, ratio: float = 0.3) -> None:
        super().__init__()
        self.size, self.ratio = size, ratio

    def buffer_specs(self):
        return (ParamSpec("mean", (self.size,), "zeros"),)

    def config(self):
        return {"size": self.size, "ratio": self.ratio}

    def forward(self, x, train_flg=False):
        if not train_flg:
            return x * (1.0 - self.ratio)
        self.buffers["mean"][...] = 0.9 * self.buffers["mean"] + 0.1 * x.mean(axis=0)
        self.mask = self.rng.random(x.shape) >= self.ratio
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class Flatten(Layer):
    """(N, C, H, W) -> (N, C*H*W); records the shape it was given."""

    def forward(self, x):
        self.seen = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.seen)


@pytest.fixture
def registered(monkeypatch):
    """The throw-away classes, registered for this test only (model files find them by name)."""
    for cls in (Scale, Noise, Flatten):
        monkeypatch.setitem(LAYERS, cls.__name__, cls)


def _data(n=60, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)


def _scale_net(noise: bool = True, seed: int = 0, **kw) -> LayerNet:
    layers = [Affine.of_shape(6, 5, 0.5), Scale(5), Relu()]
    layers += [Noise(5)] if noise else []
    return LayerNet([*layers, Affine.of_shape(5, 3, 0.5)], input_shape=6, seed=seed, **kw)


def test_parameters_and_buffers_are_named_by_position():
    net = _scale_net(weight_decay_lambda=0.1)
    assert list(net.layers) == ["Affine1", "Scale1", "Relu1", "Noise1", "Affine2"]
    assert list(net.params) == ["W1", "b1", "s1", "W2", "b2"]
    assert list(net.buffers) == ["mean1"]
    assert net.decayed == ("W1", "W2")  # weights only: not b, not s
    assert net.output_size == 3 and net.input_size == 6
    np.testing.assert_array_equal(net.params["s1"], np.ones(5))
    assert net.layers["Scale1"].params["s"] is net.params["s1"]
    assert net.layers["Noise1"].buffers["mean"] is net.buffers["mean1"]
    assert net.layers["Affine1"].input_grad is False and net.layers["Affine2"].input_grad
    # the same draws as the sizes-built network: W1, W2 from the seed, in layer order
    two = TwoLayerNet(6, 5, 3, weight_init_std=0.5, activation="relu", seed=0)
    np.testing.assert_array_equal(net.params["W1"], two.params["W1"])
    np.testing.assert_array_equal(net.params["W2"], two.params["W2"])


def test_the_penalty_and_its_gradient_cover_the_decayed_parameters_only():
    net = _scale_net(noise=False, weight_decay_lambda=0.5)
    net.params["s1"][...] = 3.0
    w = sum(float(np.sum(net.params[k] ** 2)) for k in ("W1", "W2"))
    assert net.weight_penalty() == pytest.approx(0.25 * w)
    x, t = _data()
    plain = _scale_net(noise=False)
    plain.set_params(net.params)
    g, g0 = net.gradient(x, t), plain.gradient(x, t)
    np.testing.assert_allclose(g["W1"], g0["W1"] + 0.5 * net.params["W1"])
    np.testing.assert_array_equal(g["s1"], g0["s1"])
    np.testing.assert_array_equal(g["b2"], g0["b2"])


def test_a_new_layer_is_gradient_checked_numerically(registered):
    net = _scale_net(noise=False, weight_decay_lambda=0.1)
    x, t = _data(12)
    rows = gradient_check(net, x, t)
    assert [r.name for r in rows] == ["W1", "b1", "s1", "W2", "b2"]
    assert max(r.max_rel for r in rows) < 1e-6


def test_a_new_layer_trains_saves_and_loads(registered, tmp_path):
    net = _scale_net()
    x, t = _data()
    s_before = net.params["s1"].copy()
    result = train(net, (x, t), (x, t), optimizer="adam", lr=0.01, epochs=3, batch_size=20)
    losses = result.history.iteration_loss
    assert losses[-1] < losses[0]
    assert not np.array_equal(net.params["s1"], s_before)  # the optimizer reached it
    assert net.layers["Scale1"].params["s"] is net.params["s1"]  # and the layer follows
    assert not np.any(net.buffers["mean1"] == 0)  # training (train_flg=True) filled the buffer
    assert "mean1" not in result.optimizer.state_dict().get("m", {})  # never an optimizer's
    path = save_model(tmp_path / "scale.npz", net)
    loaded = load_model(path)
    assert type(loaded) is LayerNet and list(loaded.params) == list(net.params)
    assert loaded.layers["Scale1"].params["s"] is loaded.params["s1"]
    np.testing.assert_array_equal(loaded.buffers["mean1"], net.buffers["mean1"])
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))  # test mode: no noise
    copy = network_from_config(net.config(), dict(net.params))
    np.testing.assert_array_equal(copy.predict(x), net.predict(x))


def test_a_stochastic_layer_resumes_exactly(registered, tmp_path):
    x, t = _data(90)
    kw = {"optimizer": "momentum", "lr": 0.05, "epochs": 3, "batch_size": 20, "seed": 4}
    whole = train(_scale_net(seed=1), (x, t), **kw)
    calls = []

    def stop_after_seven() -> bool:
        calls.append(1)
        return len(calls) > 7

    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(TrainingStopped):
        train(_scale_net(seed=1), (x, t), checkpoint_path=ckpt, should_stop=stop_after_seven, **kw)
    resumed_net = _scale_net(seed=99)  # other weights and generator: the checkpoint's win
    resumed = train(resumed_net, (x, t), resume=load_checkpoint(ckpt), **kw)
    assert resumed.history.iteration_loss == whole.history.iteration_loss
    for k in whole.network.params:
        np.testing.assert_array_equal(resumed.network.params[k], whole.network.params[k])
    np.testing.assert_array_equal(resumed_net.buffers["mean1"], whole.network.buffers["mean1"])


def test_n_d_inputs_reach_the_layers_in_their_shape(registered):
    net = LayerNet([Flatten(), Affine.of_shape(6, 3, 0.5)], input_shape=(1, 2, 3), seed=0)
    assert net.input_shape == (1, 2, 3) and net.input_size == 6
    x = np.random.default_rng(0).standard_normal((4, 1, 2, 3))
    y = net.predict(x)
    assert net.layers["Flatten1"].seen == (4, 1, 2, 3)
    np.testing.assert_array_equal(net.predict(x.reshape(4, 6)), y)  # flat data is shaped too
    with pytest.raises(ValueError, match=r"expects \(1, 2, 3\)"):
        net.predict(x.reshape(4, 2, 3, 1))
    rows = gradient_check(net, x, [0, 1, 2, 0])
    assert max(r.max_rel for r in rows) < 1e-6


def test_an_unknown_layer_in_a_config_is_named():
    config = {"architecture": "LayerNet", "input_shape": [2], "output_size": 2,
              "layers": [{"layer": "Nope"}], "dtype": "float64"}  # fmt: skip
    with pytest.raises(ValueError, match="unknown layer 'Nope'"):
        network_from_config(config)
