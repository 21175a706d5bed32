"""Look inside a network for one input: every layer's output, and the units that fire most.

These walk the network's own public layers (``network.layers``: Affine1, Relu1, Affine2, ...) in
order, so what they show is exactly the layer-by-layer forward pass of chapter 5. A forward pass
sets the layers' caches (as any forward pass does), so calls on one network must not run
concurrently; callers that share a network between threads hold a lock around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mitbadak.core.functions import softmax

__all__ = ["LayerOutput", "layer_activations", "strongest_units", "first_layer_weight_images"]


@dataclass(frozen=True)
class LayerOutput:
    """One layer's output for a batch: ``values`` is (N, units)."""

    name: str  # the key in ``network.layers``, e.g. 'Affine1', 'Relu1', 'Sigmoid2'
    kind: str  # 'affine' (x . W + b) or 'activation' (the hidden activation function)
    values: np.ndarray


def _as_batch(network, x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"x must be numeric, but has dtype {x.dtype}")
    if x.ndim == 1:
        x = x[None, :]
    x = x.reshape(x.shape[0], -1)
    if x.shape[1] != network.input_size:
        raise ValueError(
            f"x has {x.shape[1]} features per sample, but the network expects "
            f"{network.input_size}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or infinite values")
    return x.astype(network.dtype, copy=False)


def layer_activations(network, x) -> list[LayerOutput]:
    """Run x (one sample (D,) or a batch (N, D)) through ``network.layers`` one by one.

    Returns every layer's output in order; the last is the scores before softmax, equal to
    ``network.predict(x)``. ``softmax`` of it is ``network.predict_proba(x)``.
    """
    out = _as_batch(network, x)
    outputs = []
    for name, layer in network.layers.items():
        out = layer.forward(out)
        kind = "affine" if name.startswith("Affine") else "activation"
        outputs.append(LayerOutput(name=name, kind=kind, values=np.array(out, copy=True)))
    return outputs


def hidden_activations(outputs: list[LayerOutput]) -> list[LayerOutput]:
    """The outputs of the hidden activation layers (h1, h2, ...) among ``layer_activations``."""
    return [o for o in outputs if o.kind == "activation"]


def probabilities(outputs: list[LayerOutput]) -> np.ndarray:
    """softmax of the last layer's output: the class probabilities (N, classes)."""
    return softmax(outputs[-1].values)


def strongest_units(activation: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the ``k`` largest values of a (units,) activation, largest first (ties: lower
    index first)."""
    a = np.asarray(activation, dtype=np.float64).reshape(-1)
    k = max(0, min(int(k), a.size))
    order = np.lexsort((np.arange(a.size), -a))  # by value descending, then index ascending
    return order[:k]


def first_layer_weight_images(network, units, shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """The first Affine layer's incoming weights of ``units`` as images: (len(units), *shape).

    Unit j's image is ``W1[:, j]`` reshaped; a pixel's value is how strongly that pixel drives
    the unit (positive: excites, negative: inhibits).
    """
    W1 = network.layers["Affine1"].W
    if W1.shape[0] != shape[0] * shape[1]:
        raise ValueError(f"the first layer has {W1.shape[0]} inputs, not a {shape} image")
    idx = np.asarray(units, dtype=np.int64).reshape(-1)
    return W1[:, idx].T.reshape(len(idx), *shape).astype(np.float64)
