"""``apply-filter``: what trained first-layer filters respond to in an image (the book's
``ch07/apply_filter.py``, fig. 7-25, on a digit or the user's image instead of its photo)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet
from mitbadak.training.experiments._convnets import (
    SIMPLE_FILE,
    book_net,
    optional_weights,
    short_run,
    source_line,
    test_images,
)

#: the filters the book shows (its first 16) and the longest side an image is looked at with
SHOWN = 16
MAX_SIDE = 256


def filter_responses(image: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """Each filter's response to a grayscale ``image`` (H, W): a Convolution of the filter with
    bias 0, stride 1, no padding, as the book does: (F, H - FH + 1, W - FW + 1)."""
    from mitbadak.nn.convolution import Convolution

    img = np.asarray(image, dtype=np.float64)
    w = np.asarray(filters, dtype=np.float64)
    if w.ndim == 3:
        w = w[:, None]
    layer = Convolution(w, np.zeros(len(w)))
    return layer.forward(img.reshape(1, 1, *img.shape))[0]


def apply_filter(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    image: np.ndarray,
    weights=None,
    x_train: np.ndarray | None = None,
    t_train: np.ndarray | None = None,
    image_source: str = "an image",
    used: str | None = None,
) -> dict[str, Any]:
    """The first 16 filters W1 of a trained SimpleConvNet (the book's ``params.pkl`` where
    ``weights`` is its path, else a short run on ``x_train``; 150 steps, 1,200 with ``full``)
    applied to ``image`` (H, W in [0, 1], at most 256 pixels a side: larger ones are sampled
    down): ``{"image", "filters" (16, 5, 5), "responses" (16, H-4, W-4), "filters_source",
    "image_source", "partial"}``."""
    img = _fit(np.asarray(image, dtype=np.float64))
    partial = False
    if weights is not None:
        net = book_net(SIMPLE_FILE, weights)
        source = source_line(net, weights)
    else:
        if x_train is None or t_train is None:
            raise ValueError("apply-filter needs the book's params.pkl or training images "
                             "(x_train, t_train) for a short run")  # fmt: skip
        iters = 1200 if full else 150
        net, steps = short_run(x_train, t_train, seed, iters, progress, should_stop)
        partial = steps < iters
        source = f"a short run: {steps:,} steps of Adam lr 0.001, batch 100"
    filters = np.asarray(net.params["W1"], dtype=np.float64)[:SHOWN, 0]
    return {"image": img, "filters": filters, "responses": filter_responses(img, filters),
            "filters_source": source, "image_source": image_source,
            "partial": partial}  # fmt: skip


def _fit(img: np.ndarray) -> np.ndarray:
    """A 2-D image of at least 5x5 pixels, sampled down to at most :data:`MAX_SIDE` a side."""
    if img.ndim != 2 or min(img.shape) < 5:
        raise ValueError(f"apply-filter needs a grayscale image of at least 5x5 pixels, got an "
                         f"array of shape {img.shape}")  # fmt: skip
    step = -(-max(img.shape) // MAX_SIDE)
    return img[::step, ::step] if step > 1 else img


def load_inputs(data=None, data_dir=None, image=None) -> dict[str, Any]:
    """apply-filter's inputs: ``image`` (a file) read as grayscale, else the first test digit;
    the book's params.pkl where found, else training images for a short run."""
    if image is not None:
        from mitbadak.files.photos import load_image

        picture, what = load_image(image), f"{image}"
    else:
        sets = test_images(data, data_dir)
        picture = np.asarray(sets["x_test"][0], dtype=np.float64).reshape(28, 28)
        what = f"the first digit of the {sets['used'].split(':')[0]} (a {int(sets['t_test'][0])})"
    weights = optional_weights(SIMPLE_FILE, data_dir)
    inputs: dict[str, Any] = {"image": picture, "image_source": what, "weights": weights}
    if weights is None:
        from mitbadak.training.experiments._common import load_experiment_data

        sets = load_experiment_data(data, data_dir)
        inputs.update(x_train=sets["x_train"], t_train=sets["t_train"])
        inputs["used"] = f"{what}; filters from a short run on {sets['used']}"
    else:
        inputs["used"] = f"{what}; filters from {weights}"
    return inputs
