"""The convnets through mitbadak's files: model files, checkpoints and ``net.copy`` rebuild a
``SimpleConvNet``/``DeepConvNet`` as that class (its config names the class and its constructor
arguments), and ``DeepConvNet.loss`` is the book's (training mode)."""

from __future__ import annotations

import numpy as np
import pytest

import mitbadak
from mitbadak.core.errors import ModelFileError
from mitbadak.files.modelfile import load_model, save_model
from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet
from mitbadak.nn.networks import network_from_config
from mitbadak.training.loop import TrainingStopped, load_checkpoint, train


def small_simple(seed=0) -> SimpleConvNet:
    conv_param = {"filter_num": 4, "filter_size": 3, "pad": 1, "stride": 1}
    return SimpleConvNet(input_dim=(1, 8, 8), conv_param=conv_param, hidden_size=6,
                         output_size=3, weight_init_std=0.1, seed=seed)  # fmt: skip


def small_deep(seed=0) -> DeepConvNet:
    params = [{"filter_num": n, "filter_size": 3, "pad": p, "stride": 1}
              for n, p in ((2, 1), (2, 1), (3, 1), (3, 2), (4, 1), (4, 1))]  # fmt: skip
    return DeepConvNet((1, 8, 8), *params, hidden_size=5, output_size=3, seed=seed)


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8)), rng.integers(0, 3, n)


def test_the_convnets_are_public_names():
    assert mitbadak.SimpleConvNet is SimpleConvNet
    assert mitbadak.DeepConvNet is DeepConvNet
    assert {"SimpleConvNet", "DeepConvNet"} <= set(mitbadak.__all__)


def test_config_names_the_class_and_its_constructor_arguments():
    config = small_simple().config()
    assert config["architecture"] == "LayerNet"
    assert config["constructor"] == {"class": "SimpleConvNet", "arguments": {
        "input_dim": [1, 8, 8], "conv_param": {"filter_num": 4, "filter_size": 3, "pad": 1,
                                               "stride": 1},
        "hidden_size": 6, "output_size": 3, "weight_init_std": 0.1}}  # fmt: skip
    deep = DeepConvNet(seed=0).config()["constructor"]
    assert deep["class"] == "DeepConvNet"
    assert deep["arguments"]["conv_param_4"] == {"filter_num": 32, "filter_size": 3, "pad": 2,
                                                 "stride": 1}  # fmt: skip
    assert deep["arguments"]["hidden_size"] == 50


@pytest.mark.parametrize("make", [small_simple, small_deep, lambda seed: SimpleConvNet(seed=seed)],
                         ids=["simple", "deep", "simple-book-size"])  # fmt: skip
def test_model_file_round_trip_gives_the_same_class_and_scores(tmp_path, make):
    net = make(seed=3)
    shape = (5, *net.input_shape)
    x = np.random.default_rng(1).random(shape)
    path = save_model(tmp_path / "net.npz", net, {"note": "round trip"})
    loaded = load_model(path)
    assert type(loaded) is type(net)
    assert loaded.config() == net.config()
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    for key in net.params:
        np.testing.assert_array_equal(loaded.params[key], net.params[key])
    assert loaded.metadata["note"] == "round trip"


def test_copy_keeps_the_class_and_changes_the_dtype():
    net = small_deep(seed=1)
    copy = net.copy(dtype="float32")
    assert type(copy) is DeepConvNet and copy.dtype == np.float32
    x, _ = images(4)
    np.testing.assert_allclose(copy.predict(x), net.predict(x), rtol=1e-5, atol=1e-6)


def test_arguments_that_do_not_state_the_layers_are_refused_before_allocating(tmp_path):
    config = small_simple().config()
    huge = dict(config["constructor"]["arguments"],
                conv_param={"filter_num": 10**7, "filter_size": 3, "pad": 1, "stride": 1})
    bad = dict(config, constructor={"class": "SimpleConvNet", "arguments": huge})
    with pytest.raises(ValueError, match="SimpleConvNet arguments do not match its 'layers'"):
        network_from_config(bad)
    unknown = dict(config, constructor={"class": "Nope", "arguments": {}})
    with pytest.raises(ValueError, match=r"names class 'Nope'; expected one of \['DeepConvNet'"):
        network_from_config(unknown)
    # the same through a model file: one ModelFileError naming the file
    net = small_simple()
    net_config = net.config
    net.config = lambda: bad  # type: ignore[method-assign]
    path = save_model(tmp_path / "bad.npz", net)
    net.config = net_config  # type: ignore[method-assign]
    with pytest.raises(ModelFileError, match="bad.npz: cannot rebuild the network"):
        load_model(path)


def test_a_checkpoint_of_a_convnet_resumes_as_that_class(tmp_path):
    x, t = images(40)
    kw = {"optimizer": "sgd", "lr": 0.05, "epochs": 2, "batch_size": 10, "seed": 2}
    whole = train(small_deep(seed=1), (x, t), **kw)
    calls = []

    def stop_after_five() -> bool:
        calls.append(1)
        return len(calls) > 5

    ckpt = tmp_path / "ckpt.npz"
    with pytest.raises(TrainingStopped):
        train(small_deep(seed=1), (x, t), checkpoint_path=ckpt, should_stop=stop_after_five, **kw)
    resume = load_checkpoint(ckpt)
    assert type(resume[0]) is DeepConvNet
    resumed = train(small_deep(seed=9), (x, t), resume=resume, **kw)
    assert type(resumed.network) is DeepConvNet
    assert resumed.history.iteration_loss == whole.history.iteration_loss
    for key in whole.network.params:
        np.testing.assert_array_equal(resumed.network.params[key], whole.network.params[key])


def test_deep_convnet_loss_is_the_books_training_mode_loss():
    """The book's ``DeepConvNet.loss(x, t)`` runs ``predict(x, train_flg=True)``: the dropout
    masks are drawn (the loss ``gradient`` reports for the same generator states)."""
    net = small_deep(seed=4)
    x, t = images(6, seed=5)
    states = net.rng_states()
    book_loss = net.loss(x, t)
    net.set_rng_states(states)
    x2, t2 = net.prepare(x, t)
    grad_loss, _ = net.loss_and_gradient_layers(x2, t2)
    assert book_loss == grad_loss
    test_mode = net.loss(x, t, train_flg=False)
    assert test_mode == net.loss(x, t, train_flg=False)  # no mask: the same every time
    assert test_mode != book_loss
    logits = net.predict(x)  # test mode: both dropout layers scale by 0.5
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert test_mode == pytest.approx(-np.mean(np.log(p[np.arange(6), t])), rel=1e-6)
