"""``half-float``: a trained convnet's accuracy with its weights and images rounded to 16-bit
floats (the book's ``ch08/half_float_network.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.training.experiments._common import Progress, StopCheck, never, quiet
from mitbadak.training.experiments._convnets import (
    DEEP_FILE,
    accuracy_of,
    book_net,
    optional_weights,
    short_run,
    source_line,
    test_images,
)

DTYPES = ("float64", "float32", "float16")


def half_float(
    seed: int = 0,
    full: bool = False,
    progress: Progress = quiet,
    should_stop: StopCheck = never,
    *,
    x_test: np.ndarray,
    t_test: np.ndarray,
    weights=None,
    x_train: np.ndarray | None = None,
    t_train: np.ndarray | None = None,
    used: str | None = None,
) -> dict[str, Any]:
    """Accuracy on ``x_test`` (1,000 images; all with ``full``) of the book's DeepConvNet
    (``weights``: its ``deep_convnet_params.pkl``; else a SimpleConvNet after a short run on
    ``x_train``) with its parameters and the images rounded to float64, float32 and float16 and
    computed in float64, as the book does (``param[...] = param.astype(np.float16)``).

    Returns ``{"network", "source", "n", "accuracy": {dtype: acc}, "changed": {dtype: images
    whose answer differs from float64's}, "max_weight_error": {dtype: max |w16 - w|},
    "partial"}``; ``should_stop()`` is asked between precisions."""
    if weights is not None:
        net = book_net(DEEP_FILE, weights)
        network, source = "DeepConvNet", source_line(net, weights)
    else:
        if x_train is None or t_train is None:
            raise ValueError("half-float needs the book's deep_convnet_params.pkl or training "
                             "images (x_train, t_train) for a short run")  # fmt: skip
        trained, steps = short_run(x_train, t_train, seed, 1200 if full else 150, progress,
                                   should_stop)  # fmt: skip
        net = trained.copy(dtype="float64")
        network, source = "SimpleConvNet", f"a short run: {steps:,} steps of Adam lr 0.001"
    n = len(x_test) if full else min(len(x_test), 1000)
    x = np.asarray(x_test[:n], dtype=np.float64)
    t = np.asarray(t_test[:n]).reshape(-1)
    original = {k: np.asarray(v).copy() for k, v in net.params.items()}
    out: dict[str, Any] = {"network": network, "source": source, "n": n, "accuracy": {},
                           "changed": {}, "max_weight_error": {}, "partial": False}  # fmt: skip
    reference = None
    for i, dtype in enumerate(DTYPES):
        if should_stop():
            out["partial"] = True
            break
        for key, value in original.items():  # the book: param[...] = param.astype(np.float16)
            net.params[key][...] = value.astype(dtype)
        rounded = x.astype(dtype).astype(np.float64)
        acc, guess = accuracy_of(net, rounded, t)
        reference = guess if reference is None else reference
        out["accuracy"][dtype] = acc
        out["changed"][dtype] = int(np.count_nonzero(guess != reference))
        out["max_weight_error"][dtype] = max(
            float(np.max(np.abs(value.astype(dtype).astype(np.float64) - value)))
            for value in original.values()
        )
        progress(i + 1, len(DTYPES), dtype)
    for key, value in original.items():
        net.params[key][...] = value
    return out


def load_inputs(data=None, data_dir=None, image=None) -> dict[str, Any]:
    """half-float's inputs: the test images and the book's deep_convnet_params.pkl where found,
    else the training images of a short SimpleConvNet run."""
    sets = test_images(data, data_dir)
    weights = optional_weights(DEEP_FILE, data_dir)
    inputs: dict[str, Any] = {"x_test": sets["x_test"], "t_test": sets["t_test"],
                              "weights": weights}  # fmt: skip
    if weights is None:
        from mitbadak.training.experiments._common import load_experiment_data

        train = load_experiment_data(data, data_dir)
        inputs.update(x_train=train["x_train"], t_train=train["t_train"])
        inputs["used"] = (f"{sets['used']}; the book's {DEEP_FILE} was not found: a "
                          f"SimpleConvNet trained briefly on {train['used']}")  # fmt: skip
    else:
        inputs["used"] = f"{sets['used']}; weights: {weights}"
    return inputs
