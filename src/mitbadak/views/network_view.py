"""The network drawn: its layers as columns of units, its weights as lines, its units' pictures.

:func:`network_view` describes a multilayer perceptron (every ``W1``, ``W2``, ... an Affine
matrix) for a page to draw, any depth: which units are shown (at most ``max_units`` of a layer:
the first ones), every weight between shown units as (from, to, w) (a page draws the sign as
colour and |w| as thickness; at most ``max_edges`` per pair of layers: the largest |w|, and the
view says how many there were), and for each shown hidden unit

* on 2-D data, its own heat map: its activation over a grid (:func:`~mitbadak.views.boundary.
  unit_grids`, the boundary's grid);
* on 28x28 data, its first-layer weights as an image (first hidden layer only);
* on a probe batch, the histogram of its activations in its layer's bins (the chapter-6 panel's
  ranges: :class:`~mitbadak.views.inspection.ActivationProbe`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.views.boundary import unit_grids
from mitbadak.views.inspection import HISTOGRAM_BINS, hidden_outputs

__all__ = ["network_view", "unit_histograms", "affine_weights", "MAX_UNITS", "MAX_EDGES"]

#: The most units of one layer a view shows (the first ones), and the most weights between two.
MAX_UNITS = 12
MAX_EDGES = 150


def affine_weights(network) -> list[np.ndarray] | None:
    """The Affine matrices W1, W2, ... in order (host float64), or None when the network is not a
    chain of 2-D matrices whose sizes meet (a convnet)."""
    params = getattr(network, "params", None) or {}
    mats = []
    k = 1
    while f"W{k}" in params:
        w = np.asarray(params[f"W{k}"])
        if hasattr(w, "get"):  # a CuPy array
            w = w.get()
        if w.ndim != 2 or (mats and mats[-1].shape[1] != w.shape[0]):
            return None
        mats.append(np.asarray(w, dtype=np.float64))
        k += 1
    return mats or None


def unit_histograms(network, x, ranges, bins: int = HISTOGRAM_BINS) -> list[np.ndarray]:
    """Each hidden unit's activations on ``x`` counted in ``bins`` equal bins of its layer's range
    (``ranges[l]`` = (lo, hi); outside values go to the end bins, as in
    :func:`~mitbadak.views.inspection.activation_histograms`). One (units, bins) int array a layer.
    """
    outputs = hidden_outputs(network, x)
    if len(ranges) != len(outputs):
        raise ValueError(f"ranges has {len(ranges)} entries for {len(outputs)} hidden layers")
    result = []
    for o, (lo, hi) in zip(outputs, ranges, strict=True):
        v = np.clip(o.values, lo, hi)
        index = np.minimum(((v - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        counts = np.zeros((v.shape[1], bins), dtype=np.int64)
        for u in range(v.shape[1]):
            counts[u] = np.bincount(index[:, u], minlength=bins)
        result.append(counts)
    return result


def _rounded(a: np.ndarray, digits: int) -> list:
    r = np.round(np.asarray(a, dtype=np.float64), digits)
    return np.where(np.isfinite(r), r, None).tolist() if not np.all(np.isfinite(r)) else r.tolist()


def network_view(
    network,
    *,
    grid: tuple[np.ndarray, np.ndarray] | None = None,
    probe: np.ndarray | None = None,
    ranges: list[tuple[float, float]] | None = None,
    bins: int = HISTOGRAM_BINS,
    max_units: int = MAX_UNITS,
    max_edges: int = MAX_EDGES,
) -> dict[str, Any] | None:
    """A JSON-ready description of ``network`` to draw (None for a network that is not a chain of
    Affine layers). ``grid`` = (xs, ys): each shown hidden unit's heat map (2-input networks);
    ``probe`` and ``ranges``: each shown hidden unit's histogram (``bins`` bins).

    ``{"sizes": [n_in, h1, ..., n_out], "shown": [[unit, ...] per layer], "edges": [{"weights":
    [[i, j, w], ...], "total": n, "kept": k} per pair of layers], "max_abs_w": m, "maps": [[R x R
    per shown unit] per hidden layer] | None, "map_range": [[lo, hi] per hidden layer], "xs",
    "ys", "images": [[784] per shown unit of hidden layer 1] | None, "histograms": [[counts per
    shown unit] per hidden layer] | None, "hist_ranges"}``.
    """
    mats = affine_weights(network)
    if mats is None:
        return None
    sizes = [mats[0].shape[0], *(w.shape[1] for w in mats)]
    shown = [list(range(min(n, max_units))) for n in sizes]
    edges = []
    for k, w in enumerate(mats):
        sub = w[np.ix_(shown[k], shown[k + 1])]
        flat = np.argsort(-np.abs(sub), axis=None, kind="stable")[:max_edges]
        i, j = np.unravel_index(flat, sub.shape)
        kept = [[int(a), int(b), round(float(sub[a, b]), 5)] for a, b in zip(i, j, strict=True)]
        edges.append({"weights": kept, "total": int(w.size), "kept": len(kept)})
    finite = [np.abs(w[np.isfinite(w)]) for w in mats]
    view: dict[str, Any] = {
        "sizes": [int(n) for n in sizes],
        "shown": shown,
        "edges": edges,
        "max_abs_w": float(max((f.max() for f in finite if f.size), default=1.0)),
        "maps": None,
        "map_range": None,
        "xs": None,
        "ys": None,
        "images": None,
        "histograms": None,
        "hist_ranges": None,
    }
    hidden = range(1, len(sizes) - 1)
    if grid is not None and sizes[0] == 2:
        xs, ys = grid
        maps = unit_grids(network, xs, ys)
        view["xs"] = np.asarray(xs, dtype=np.float64).tolist()
        view["ys"] = np.asarray(ys, dtype=np.float64).tolist()
        view["maps"] = [_rounded(maps[h - 1][shown[h]], 4) for h in hidden]
        view["map_range"] = [
            [float(np.nanmin(maps[h - 1])), float(np.nanmax(maps[h - 1]))] for h in hidden
        ]
    if sizes[0] == 784 and len(sizes) > 2:
        view["images"] = [_rounded(mats[0][:, u], 4) for u in shown[1]]
    if probe is not None and ranges is not None:
        counts = unit_histograms(network, probe, ranges, bins)
        view["histograms"] = [counts[h - 1][shown[h]].tolist() for h in hidden]
        view["hist_ranges"] = [[float(lo), float(hi)] for lo, hi in ranges]
    return view
