"""mitbadak.views.inspection (a network's layer outputs) and images.preprocess_digit_steps."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mitbadak.nn.networks import MultiLayerNet, TwoLayerNet
from mitbadak.views.inspection import (
    first_layer_weight_images,
    hidden_activations,
    layer_activations,
    probabilities,
    strongest_units,
)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_layer_outputs_follow_the_layers_and_end_in_predict(activation):
    net = MultiLayerNet(784, [30, 20], 10, activation=activation, seed=3)
    x = np.random.default_rng(0).random((4, 784))
    outputs = layer_activations(net, x)
    act = activation.capitalize()
    assert [o.name for o in outputs] == ["Affine1", f"{act}1", "Affine2", f"{act}2", "Affine3"]
    assert [o.kind for o in outputs] == ["affine", "activation"] * 2 + ["affine"]
    a1 = x @ net.params["W1"] + net.params["b1"]
    np.testing.assert_allclose(outputs[0].values, a1, rtol=1e-12)
    z1 = np.maximum(a1, 0) if activation == "relu" else 1 / (1 + np.exp(-a1))
    np.testing.assert_allclose(outputs[1].values, z1, rtol=1e-12)
    np.testing.assert_allclose(outputs[-1].values, net.predict(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probabilities(outputs), net.predict_proba(x), rtol=1e-10)
    assert [h.values.shape for h in hidden_activations(outputs)] == [(4, 30), (4, 20)]


def test_one_sample_and_checks():
    net = TwoLayerNet(784, 16, 10, seed=0)
    x = np.zeros(784)
    x[300:320] = 1.0
    outputs = layer_activations(net, x)
    assert outputs[0].values.shape == (1, 16)
    with pytest.raises(ValueError, match="expects 784"):
        layer_activations(net, np.zeros(783))
    with pytest.raises(ValueError, match="NaN"):
        layer_activations(net, np.full(784, np.nan))
    with pytest.raises(ValueError, match="numeric"):
        layer_activations(net, np.array(["a"] * 784))


def test_strongest_units_and_their_weight_images():
    a = np.array([0.5, 2.0, 0.0, 2.0, 1.0])
    assert strongest_units(a, 3).tolist() == [1, 3, 4]  # ties: lower index first
    assert strongest_units(a, 10).tolist() == [1, 3, 4, 0, 2]
    net = TwoLayerNet(784, 16, 10, seed=1)
    images = first_layer_weight_images(net, [5, 2])
    assert images.shape == (2, 28, 28)
    np.testing.assert_array_equal(images[0].reshape(-1), net.params["W1"][:, 5])
    np.testing.assert_array_equal(images[1][3, 4], net.params["W1"][3 * 28 + 4, 2])


# -- preprocess_digit_steps ------------------------------------------------------------------

needs_pil = pytest.mark.skipif(
    importlib.util.find_spec("PIL") is None, reason="Pillow is needed for the 20x20 rescale"
)


def _paper_with_bar(top=40, bottom=200, left=100, right=130, size=(240, 300)) -> np.ndarray:
    """Dark ink (0) on white paper (1): a vertical bar, off-centre."""
    img = np.ones(size)
    img[top:bottom, left:right] = 0.0
    return img


@needs_pil
def test_steps_record_every_stage():
    from mitbadak.files.photos import preprocess_digit, preprocess_digit_steps

    img = _paper_with_bar()
    steps = preprocess_digit_steps(img)
    assert steps.inverted is True
    assert steps.box == (40, 200, 100, 130)
    assert steps.crop.shape == (160, 30)
    assert steps.resized.shape == (20, 4)  # the longer side becomes 20, 30 * 20/160 = 3.75 -> 4
    assert steps.placed.shape == (28, 28)
    # Pasted in the middle: rows 4..24, columns 12..16.
    assert steps.placed[4:24, 12:16].sum() == pytest.approx(steps.resized.sum())
    cy, cx = steps.center_of_mass
    assert cy == pytest.approx(13.5, abs=0.01) and cx == pytest.approx(13.5, abs=0.01)
    assert steps.shift == (0, 0)
    np.testing.assert_array_equal(steps.final, steps.placed)
    # preprocess_digit is the same computation (one implementation).
    np.testing.assert_array_equal(preprocess_digit(img), steps.vector)
    assert steps.vector.dtype == np.float32 and steps.vector.shape == (784,)


@needs_pil
def test_centre_of_mass_shift_is_recorded():
    from mitbadak.files.photos import preprocess_digit_steps

    # An L: heavy at the bottom-left, so its centre of mass is off the box centre.
    img = np.ones((200, 200))
    img[20:180, 20:50] = 0.0
    img[150:180, 20:180] = 0.0
    steps = preprocess_digit_steps(img)
    cy, cx = steps.center_of_mass
    assert cy > 13.5 and cx < 13.5
    dy, dx = steps.shift
    assert dy < 0 and dx > 0  # moved up and to the right
    np.testing.assert_array_equal(steps.final, np.roll(steps.placed, (dy, dx), axis=(0, 1)))
    ys, xs = np.indices((28, 28))
    total = steps.final.sum()
    assert abs((ys * steps.final).sum() / total - 13.5) <= 0.5 + 1e-9
    assert abs((xs * steps.final).sum() / total - 13.5) <= 0.5 + 1e-9


@needs_pil
def test_bad_images_raise_image_error():
    from mitbadak.files.photos import ImageError, preprocess_digit_steps

    with pytest.raises(ImageError, match="uniform"):
        preprocess_digit_steps(np.ones((50, 50)))
    with pytest.raises(ImageError, match="2-D"):
        preprocess_digit_steps(np.ones((5, 5, 3)))
    bad = _paper_with_bar()
    bad[0, 0] = np.nan
    with pytest.raises(ImageError, match="NaN"):
        preprocess_digit_steps(bad)


# --- the hidden layers' activation histograms (the train page's panel) ------------------------


def test_activation_limits_come_from_the_registry():
    from mitbadak.views.inspection import activation_limits

    assert activation_limits("sigmoid") == (0.0, 1.0)
    assert activation_limits("tanh") == (-1.0, 1.0)
    assert activation_limits("relu") == (0.0, None)
    assert activation_limits("elu") == (-1.0, None)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        activation_limits("swish")


def test_histograms_count_each_hidden_layer_in_the_runs_fixed_bins():
    from mitbadak.nn.networks import MultiLayerNetExtend
    from mitbadak.views.inspection import (
        ActivationProbe,
        activation_histograms,
        hidden_outputs,
        histogram_ranges,
    )

    x = np.random.default_rng(1).random((300, 20))
    net = MultiLayerNet(20, [16, 12], 3, activation="relu", seed=2)
    outs = hidden_outputs(net, x[:200])
    assert [o.name for o in outs] == ["Relu1", "Relu2"]
    h1 = np.maximum(x[:200] @ net.params["W1"] + net.params["b1"], 0)
    np.testing.assert_allclose(outs[0].values, h1, rtol=1e-12)
    # ReLU: [0, nice ceiling of 2 x the 99th percentile of every hidden value, at least 1]
    top = np.percentile(np.concatenate([o.values.ravel() for o in outs]), 99)
    (lo, hi), same = histogram_ranges(net, x[:200])
    assert lo == 0.0 and same == (lo, hi) and hi >= 2 * top and hi in (1, 2, 5, 10, 20, 50)
    frame = activation_histograms(net, x[:200], [(0.0, 0.5), (0.0, 0.5)], bins=10)
    v = outs[0].values.ravel()
    expected, _ = np.histogram(np.clip(v, 0.0, 0.5), bins=np.linspace(0, 0.5, 11))
    assert frame[0]["counts"] == expected.tolist() and sum(frame[0]["counts"]) == 200 * 16
    assert frame[0]["above"] == int(np.sum(v > 0.5)) > 0 and frame[0]["below"] == 0
    assert frame[0]["zeros"] == pytest.approx(np.mean(v == 0))
    assert frame[1]["activation"] == "relu" and frame[0]["edges"][-1] == 0.5

    # BatchNorm + Dropout: test mode (running statistics; the activation's own output)
    ext = MultiLayerNetExtend(20, [10], 3, activation="sigmoid", use_batchnorm=True,
                              use_dropout=True, dropout_ration=0.3, seed=0)  # fmt: skip
    ext.set_buffers({k: np.full_like(v, 0.5 if "var" in k else 0.1)
                     for k, v in ext.buffers.items()})  # fmt: skip
    a = x[:5] @ ext.params["W1"] + ext.params["b1"]
    z = 1 / (1 + np.exp(-((a - 0.1) / np.sqrt(0.5 + 10e-7) * ext.params["gamma1"]
                          + ext.params["beta1"])))  # fmt: skip
    np.testing.assert_allclose(hidden_outputs(ext, x[:5])[0].values, z, rtol=1e-10)
    probe = ActivationProbe(ext, x)
    assert probe.x.shape == (200, 20) and probe.ranges == [(0.0, 1.0)]
    assert probe.initial_frame == probe.frame(ext)

    # before any training batch (running variance 0, the book's start) BatchNorm normalises the
    # probe with its own statistics, and leaves the running statistics as they were
    fresh = MultiLayerNetExtend(20, [10], 3, activation="relu", use_batchnorm=True, seed=0)
    assert not np.any(fresh.buffers["running_var1"])
    a = x[:50] @ fresh.params["W1"] + fresh.params["b1"]
    z = np.maximum((a - a.mean(0)) / np.sqrt(a.var(0) + 10e-7), 0)  # gamma 1, beta 0
    np.testing.assert_allclose(hidden_outputs(fresh, x[:50])[0].values, z, rtol=1e-10)
    assert not np.any(fresh.buffers["running_var1"]) and not np.any(fresh.buffers["running_mean1"])
    assert histogram_ranges(fresh, x[:50]) == [(0.0, 5.0)]  # 2 x the 99th percentile (~2.3)


def test_a_runs_probe_reads_its_checkpoint_and_equals_its_saved_model(tmp_path):
    from mitbadak.training.evaluation import load_any_model
    from mitbadak.training.recipes import TrainConfig
    from mitbadak.training.runs import run_training
    from mitbadak.views.inspection import run_probe

    config = TrainConfig(dataset="moons", hidden=[12, 8], epochs=2, batchnorm=True, dropout=0.1,
                         activation="tanh", seed=4)  # fmt: skip
    run_training(config, tmp_path / "run")
    probe = run_probe(tmp_path / "run")
    assert probe.ranges == [(-1.0, 1.0), (-1.0, 1.0)]
    saved = probe.frame(load_any_model(tmp_path / "run")[0])
    assert probe.frame_from_checkpoint(tmp_path / "run" / "checkpoint.npz") == saved
    assert saved != probe.initial_frame  # two epochs moved them
    assert [sum(layer["counts"]) for layer in saved] == [200 * 12, 200 * 8]
