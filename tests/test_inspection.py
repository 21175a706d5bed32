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
