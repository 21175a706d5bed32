"""Decision boundaries of 2-D classifiers: the network's own prediction on a grid of points.

``decision_grid(network, xlim, ylim, resolution)`` evaluates ``network.predict`` at every point
of a ``resolution`` x ``resolution`` grid and returns the softmax probabilities and the winning
class per point: the heat map a page draws behind the data to show what a hidden layer learned.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.errors import MitbadakError
from mitbadak.core.functions import softmax

__all__ = [
    "DecisionGrid",
    "decision_grid",
    "unit_grids",
    "data_limits",
    "run_boundary",
    "MAX_RESOLUTION",
]

MAX_RESOLUTION = 400
"""The finest grid ``decision_grid`` computes (400 x 400 = 160,000 predictions)."""


@dataclass(frozen=True)
class DecisionGrid:
    """Grid coordinates and the network's answer at each grid point.

    ``probs[i, j, c]`` is P(class c) at (xs[j], ys[i]) (rows follow y, columns follow x, as an
    image is drawn); ``classes[i, j]`` = argmax_c probs[i, j, c]; ``confidence`` = its probability.
    """

    xs: np.ndarray  # (R,)
    ys: np.ndarray  # (R,)
    probs: np.ndarray  # (R, R, C)
    classes: np.ndarray  # (R, R) int
    confidence: np.ndarray  # (R, R)

    def to_dict(self, decimals: int = 4) -> dict[str, Any]:
        """Plain lists (JSON-ready), probabilities rounded to ``decimals`` places; NaN (from a
        network whose weights blew up) becomes None, since JSON has no NaN."""
        return {
            "xs": self.xs.tolist(),
            "ys": self.ys.tolist(),
            "classes": self.classes.tolist(),
            "confidence": _rounded(self.confidence, decimals),
            "probs": _rounded(self.probs, decimals),
            "n_classes": int(self.probs.shape[-1]),
        }


def decision_grid(
    network,
    xlim: tuple[float, float] = (-1.5, 1.5),
    ylim: tuple[float, float] = (-1.5, 1.5),
    resolution: int = 100,
) -> DecisionGrid:
    """Evaluate ``network`` (2 inputs) on a grid spanning ``xlim`` x ``ylim``, both ends included.

    probs = softmax(network.predict(points)). Raises ``ValueError`` for a network that does not
    take 2 inputs, limits that are not two finite increasing numbers, or a resolution outside
    2..MAX_RESOLUTION.
    """
    n_in = getattr(network, "input_size", None)
    if n_in != 2:
        raise ValueError(
            f"a decision boundary needs a network with 2 inputs, got one with {n_in} inputs"
        )
    x0, x1 = _limits("xlim", xlim)
    y0, y1 = _limits("ylim", ylim)
    if isinstance(resolution, bool) or int(resolution) != resolution:
        raise ValueError(f"resolution must be a whole number, got {resolution!r}")
    resolution = int(resolution)
    if not 2 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution must be 2 to {MAX_RESOLUTION}, got {resolution}")
    xs = np.linspace(x0, x1, resolution)
    ys = np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)  # (R, R): row i is y = ys[i]
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):  # blown-up weights: NaN, reported as such
        scores = np.asarray(network.predict(points), dtype=np.float64)
    finite = np.all(np.isfinite(scores), axis=1)
    probs = np.full(scores.shape, np.nan)
    if finite.any():  # softmax refuses NaN/inf: rows whose scores blew up stay NaN
        probs[finite] = softmax(scores[finite])
    probs = probs.reshape(resolution, resolution, -1)
    classes = np.argmax(probs, axis=-1)
    confidence = np.take_along_axis(probs, classes[..., None], axis=-1)[..., 0]
    return DecisionGrid(xs, ys, probs, classes, confidence)


def unit_grids(network, xs, ys) -> list[np.ndarray]:
    """Each hidden unit's own heat map: its activation at every point of the grid xs x ys.

    ``result[l][u, i, j]`` is unit ``u`` of hidden layer ``l + 1`` (its activation function's
    output, test mode: :func:`mitbadak.views.inspection.hidden_outputs`) at (xs[j], ys[i]), rows
    following y as in :class:`DecisionGrid`. One array (units, len(ys), len(xs)) per hidden layer.
    """
    from mitbadak.views.inspection import hidden_outputs

    n_in = getattr(network, "input_size", None)
    if n_in != 2:
        raise ValueError(f"unit heat maps need a network with 2 inputs, got one with {n_in}")
    xs = np.asarray(xs, dtype=np.float64).reshape(-1)
    ys = np.asarray(ys, dtype=np.float64).reshape(-1)
    if not (1 <= xs.size <= MAX_RESOLUTION and 1 <= ys.size <= MAX_RESOLUTION):
        raise ValueError(f"the grid must have 1 to {MAX_RESOLUTION} points a side")
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        outputs = hidden_outputs(network, points)
    return [
        np.ascontiguousarray(o.values.T.reshape(o.values.shape[1], ys.size, xs.size))
        for o in outputs
    ]


def data_limits(x: np.ndarray, margin: float = 0.1) -> tuple[tuple[float, float], ...]:
    """(xlim, ylim) enclosing the points ``x`` (N, 2), widened by ``margin`` of their span
    on each side (a span of 0 becomes 1, so one point still gets a grid around it)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"x must be 2-D points of shape (N, 2), got shape {x.shape}")
    lo, hi = x.min(axis=0), x.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def run_boundary(
    run_dir: str | os.PathLike,
    resolution: int = 100,
    *,
    max_points: int = 2000,
    limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The decision grid of a 2-D training run as it stands, from its folder alone.

    Reads ``config.json`` and the newer of ``model.npz`` (the finished run) and
    ``checkpoint.npz`` (written after every epoch), regenerates the run's toy set or point file
    from its seed, and returns ``{"grid", "points", "source", "epoch", "dataset"}``: the grid
    (:meth:`DecisionGrid.to_dict`) spans the data with a 10 % margin, or ``limits`` = (xlim, ylim)
    when given (a page's fixed view: the axes do not move between epochs); ``points`` holds up to
    ``max_points`` training and test points as ``[x, y, label]``. So a page can follow a run that
    the CLI started. Raises :class:`MitbadakError` for a folder that has no 2-D run (yet).
    """
    from mitbadak.files.datasets.toy import load_generated

    folder = Path(run_dir)
    try:
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config = saved["config"]
        dataset, seed = config["dataset"], int(config["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MitbadakError(f"{folder}: no readable run config.json ({exc})") from None
    data = load_generated(dataset, seed) if dataset else None
    if data is None:
        raise MitbadakError(
            f"{folder} trained on {dataset or 'MNIST'}, not a 2-D data set: no decision boundary"
        )
    candidates = [p for p in (folder / "model.npz", folder / "checkpoint.npz") if p.is_file()]
    if not candidates:
        raise MitbadakError(f"{folder} has no model.npz or checkpoint.npz yet")
    newest = max(candidates, key=lambda p: p.stat().st_mtime_ns)
    if newest.name == "model.npz":
        from mitbadak.files.modelfile import load_model

        network = load_model(newest)
        epochs = (getattr(network, "metadata", None) or {}).get("final_metrics", {}).get("epoch")
    else:
        from mitbadak.training.loop import load_checkpoint

        network, _, _, history = load_checkpoint(newest)
        epochs = history.last.get("epoch")
    if limits is None:
        xlim, ylim = data_limits(np.concatenate([data.train[0], data.test[0]]))
    else:
        xlim, ylim = limits
    grid = decision_grid(network, xlim, ylim, resolution)

    def rows(x: np.ndarray, t: np.ndarray) -> list[list[float]]:
        return [
            [float(a), float(b), int(k)]
            for (a, b), k in zip(x[:max_points], t[:max_points], strict=True)
        ]

    return {
        "dataset": dataset,
        "source": newest.name,
        "epoch": epochs,
        "n_classes": data.n_classes,
        "grid": grid.to_dict(),
        "points": {"train": rows(*data.train), "test": rows(*data.test)},
    }


def _rounded(values: np.ndarray, decimals: int) -> list:
    rounded = np.round(values, decimals)
    if np.all(np.isfinite(rounded)):
        return rounded.tolist()
    return np.where(np.isfinite(rounded), rounded, None).tolist()


def _limits(name: str, lim) -> tuple[float, float]:
    try:
        if isinstance(lim, (str, bytes)):
            raise TypeError
        lo, hi = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two numbers (low, high), got {lim!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be two finite numbers with low < high, got {lim!r}")
    return lo, hi
