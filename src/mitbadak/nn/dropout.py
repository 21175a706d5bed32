"""Dropout (chapter 6.4.3): ``Dropout(dropout_ratio=0.5)``, the book's semantics.

Training: ``mask = rand(x.shape) > dropout_ratio`` and ``y = x * mask`` (each unit kept with
probability 1 - ratio); test: ``y = x * (1 - dropout_ratio)``, so a unit's expected output is
the same in both modes. ``inverted=True`` is the other common convention, never the default:
``y = x * mask / (1 - ratio)`` in training and ``y = x`` at test time.

The mask is drawn from the layer's own generator ``self.rng``, which a network seeds (and saves in
checkpoints, so a resumed run draws the same masks); a layer used on its own gets a fresh
generator on its first training forward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mitbadak.core.backend import array_namespace, draw_on_host, to_device
from mitbadak.nn.layer_base import Layer, register_layer

__all__ = ["Dropout"]


def _check_ratio(ratio) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float | np.integer | np.floating):
        raise ValueError(f"dropout ratio must be a number in [0, 1), got {ratio!r}")
    r = float(ratio)
    if not (math.isfinite(r) and 0.0 <= r < 1.0):
        raise ValueError(
            f"dropout ratio must be in [0, 1) (the fraction of units dropped), got {ratio!r}"
        )
    return r


@register_layer
class Dropout(Layer):
    """y = x * (rand > ratio) in training, x * (1 - ratio) at test (the book's); with
    ``inverted=True``: x * mask / (1 - ratio) in training, x at test."""

    train_flag = True
    stochastic = True

    def __init__(self, dropout_ratio: float = 0.5, *, inverted: bool = False) -> None:
        super().__init__()
        self.dropout_ratio = _check_ratio(dropout_ratio)
        self.inverted = bool(inverted)

    def config(self) -> dict[str, Any]:
        return {"dropout_ratio": self.dropout_ratio, "inverted": self.inverted}

    def forward(self, x, train_flg: bool = True):
        ratio = self.dropout_ratio
        if not train_flg:
            return x if self.inverted else x * (1.0 - ratio)
        if self.rng is None:
            self.rng = np.random.default_rng()
        xp = array_namespace(x)
        keep = draw_on_host(self.rng, "random", tuple(x.shape)) > ratio  # drawn on the host
        self.mask = keep if xp is np else to_device(keep, xp)
        if self.inverted:
            self.scale = 1.0 / (1.0 - ratio)
            return x * self.mask * self.scale
        return x * self.mask

    def backward(self, dout):
        if self.inverted:
            return dout * self.mask * self.scale
        return dout * self.mask

