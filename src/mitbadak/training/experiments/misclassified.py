"""``misclassified``: the test images the book's trained DeepConvNet gets wrong, with their
labels and its answers (the book's ``ch08/misclassified_mnist.py``, fig. 8-3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet
from mitbadak.training.experiments._convnets import (
    DEEP_FILE,
    book_net,
    find_convnet_weights,
    source_line,
    test_images,
)

#: how many wrong answers are kept (the book's ``max_view``)
MAX_VIEW = 20


def misclassified(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_test: np.ndarray,
    t_test: np.ndarray,
    weights,
    used: str | None = None,
) -> dict[str, Any]:
    """The book's DeepConvNet (``weights``: the path of its ``deep_convnet_params.pkl``) on
    ``x_test`` (the first 1,000 images; all with ``full``), 100 at a time, in test mode:
    ``{"accuracy", "n", "wrong": [{"view", "index", "label", "predicted", "image" (28, 28)}]
    (the first 20, the book's figure), "pairs": {view: [label, predicted]} (the book's print),
    "source", "partial"}``. ``should_stop()`` is asked between batches (then the images seen so
    far count). ``seed`` is not used: nothing is random here."""
    net = book_net(DEEP_FILE, weights)
    n_all = len(x_test) if full else min(len(x_test), 1000)
    images = np.asarray(x_test[:n_all], dtype=np.float64).reshape(-1, *net.input_shape)
    labels = np.asarray(t_test[:n_all]).reshape(-1)
    predicted: list[np.ndarray] = []
    partial = False
    for start in range(0, n_all, 100):
        if should_stop():
            partial = True
            break
        scores = np.asarray(net.predict(images[start : start + 100], train_flg=False))
        predicted.append(np.argmax(scores, axis=1))
        progress(min(start + 100, n_all), n_all, "DeepConvNet, test mode")
    guess = np.concatenate(predicted) if predicted else np.zeros(0, dtype=int)
    seen = labels[: len(guess)]
    wrong = []
    for index in np.flatnonzero(guess != seen)[:MAX_VIEW]:
        wrong.append({"view": len(wrong) + 1, "index": int(index), "label": int(seen[index]),
                      "predicted": int(guess[index]),
                      "image": images[index, 0]})  # fmt: skip
    return {"accuracy": float(np.mean(guess == seen)) if len(guess) else None, "n": len(guess),
            "wrong": wrong, "pairs": {w["view"]: [w["label"], w["predicted"]] for w in wrong},
            "source": source_line(net, weights), "partial": partial}  # fmt: skip


def load_inputs(data=None, data_dir=None, image=None) -> dict[str, Any]:
    """misclassified's inputs: the book's deep_convnet_params.pkl (required: a
    :class:`~mitbadak.core.errors.BookWeightsUnavailable` says where it looked and how to get
    it) and the test images."""
    weights = find_convnet_weights(DEEP_FILE, data_dir)
    sets = test_images(data, data_dir)
    return {"weights": weights, "x_test": sets["x_test"], "t_test": sets["t_test"],
            "used": f"{sets['used']}; weights: {weights}"}  # fmt: skip
