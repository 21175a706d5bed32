"""Look inside a network for one input: every layer's output, and the units that fire most.

These walk the network's own public layers (``network.layers``: Affine1, Relu1, Affine2, ...) in
order, so what they show is exactly the layer-by-layer forward pass of chapter 5. A forward pass
sets the layers' caches (as any forward pass does), so calls on one network must not run
concurrently; callers that share a network between threads hold a lock around them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mitbadak.core.functions import softmax

__all__ = [
    "LayerOutput",
    "layer_activations",
    "strongest_units",
    "first_layer_weight_images",
    "PROBE_SIZE",
    "HISTOGRAM_BINS",
    "probe_batch",
    "hidden_outputs",
    "activation_limits",
    "histogram_ranges",
    "activation_histograms",
    "ActivationProbe",
    "run_probe",
    "initial_network",
]


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


# --- the hidden layers' activation histograms of a run (the train page's panel) ----------------

#: Inputs in a run's probe batch: the first of its training set.
PROBE_SIZE = 200
#: Equal bins of each hidden layer's histogram.
HISTOGRAM_BINS = 30
#: |y| beyond which an activation counts as unbounded on that side (its limit is measured at ±50).
_UNBOUNDED = 25.0


def probe_batch(x_train, size: int = PROBE_SIZE) -> np.ndarray:
    """The probe batch of a run: the first ``size`` training inputs (all, when fewer), a copy.

    Nothing is drawn: the same data set gives the same probe, so every frame of a run, and a
    later look at its saved model, counts the same inputs.
    """
    x = np.asarray(x_train)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x_train must be a batch of samples, got shape {x.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return np.array(x[:size], copy=True)


def hidden_outputs(network, x) -> list[LayerOutput]:
    """Each hidden activation layer's output for ``x`` in test mode (``train_flg=False``: BatchNorm
    uses its running statistics, the book's Dropout scales by 1 - ratio after the activation, so
    the activation's own output is what is kept here).

    One exception: a BatchNormalization layer that has not seen a training batch yet (its running
    variance is still the book's starting 0, so test mode would multiply by 1/sqrt(1e-6) = 1000)
    normalises ``x`` with the batch's own mean and variance, and its running statistics are put
    back as they were. Walks ``network.layers`` in order (Affine, [BatchNormalization],
    activation, [Dropout], ...), as :meth:`~mitbadak.nn.networks.LayerNet.forward_layers` does.
    """
    from mitbadak.nn.activations import Activation
    from mitbadak.nn.batchnorm import BatchNormalization

    out = network.prepare_x(x) if hasattr(network, "prepare_x") else _as_batch(network, x)
    shape = tuple(getattr(network, "input_shape", ()) or ())
    if len(shape) > 1:
        out = out.reshape((out.shape[0], *shape))
    kept = []
    for name, layer in network.layers.items():
        if isinstance(layer, BatchNormalization) and _untrained(layer) and len(out) > 1:
            saved = {k: np.array(v, copy=True) for k, v in layer.buffers.items()}
            out = layer.forward(out, True)
            for k, v in saved.items():
                layer.buffers[k][...] = v
            continue
        test_mode = getattr(layer, "train_flag", False)
        out = layer.forward(out, False) if test_mode else layer.forward(out)
        if isinstance(layer, Activation):
            kept.append(
                LayerOutput(name=name, kind="activation", values=np.array(out, dtype=np.float64))
            )
    return kept


def _untrained(batchnorm) -> bool:
    """True while a BatchNormalization layer's running variance is all 0 (no training batch)."""
    var = batchnorm.running_var
    return var is None or not np.any(np.asarray(var))


def activation_limits(name: str) -> tuple[float | None, float | None]:
    """Where the registered activation ``name`` levels off: its output at -50 and +50, rounded,
    when finite and small (sigmoid (0, 1), tanh (-1, 1)); None on a side where it grows without
    bound (ReLU (0, None), ELU (-1, None))."""
    from mitbadak.nn.activations import ACTIVATIONS

    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    with np.errstate(over="ignore"):
        lo, hi = (float(v) for v in ACTIVATIONS[name]().forward(np.array([-50.0, 50.0])))
    return (
        round(lo, 6) if abs(lo) < _UNBOUNDED else None,
        round(hi, 6) if abs(hi) < _UNBOUNDED else None,
    )


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is >= ``value`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * power >= value * (1 - 1e-12):
            return step * power
    return 10.0 * power


def _activation_name(layer_output: LayerOutput, network) -> str:
    layer = network.layers[layer_output.name]
    return str(getattr(layer, "name", type(layer).__name__.lower()))


def histogram_ranges(network, x) -> list[tuple[float, float]]:
    """The bins' range of each hidden layer, fixed for a run from its *initial* network.

    A bounded side is the activation's limit (:func:`activation_limits`: sigmoid [0, 1], tanh
    [-1, 1]); an unbounded one is the nice ceiling (1, 2, 5 × 10^k) of twice the 99th
    percentile of all the hidden values ``network`` gives ``x`` (the 1st percentile, below), at
    least 1 in size, so a network that learns can double its values before they reach the end
    bin (a percentile, not the maximum: one outlier would squeeze every bar into the first).
    All hidden layers share one range: their histograms are drawn on one scale.
    """
    outputs = hidden_outputs(network, x)
    if not outputs:
        raise ValueError("the network has no hidden activation layers")
    every = np.concatenate([o.values.reshape(-1) for o in outputs])
    bottom, top = (float(v) for v in np.percentile(every, [1.0, 99.0]))
    ranges = []
    for o in outputs:
        lo, hi = activation_limits(_activation_name(o, network))
        if hi is None:
            hi = _nice_ceiling(max(2.0 * top, 1.0))
        if lo is None:
            lo = -_nice_ceiling(max(-2.0 * bottom, 1.0))
        ranges.append((float(lo), float(hi)))
    return ranges


def activation_histograms(
    network, x, ranges: list[tuple[float, float]], bins: int = HISTOGRAM_BINS
) -> list[dict]:
    """Each hidden layer's test-mode outputs for ``x`` counted in ``bins`` equal bins over its
    range (:func:`histogram_ranges`); a value outside the range is counted in the end bin on
    its side, so each layer's counts sum to N × units, and ``below``/``above`` say how many were
    moved there. Also per layer: ``zeros`` (fraction exactly 0: ReLU's silent units), ``mean``,
    ``std``. JSON-ready: ``[{"layer", "activation", "range", "edges", "counts", "below",
    "above", "zeros", "mean", "std"}, ...]``.
    """
    outputs = hidden_outputs(network, x)
    if len(ranges) != len(outputs):
        raise ValueError(
            f"ranges has {len(ranges)} entries, but the network has {len(outputs)} hidden layers"
        )
    frames = []
    for o, (lo, hi) in zip(outputs, ranges, strict=True):
        v = o.values.reshape(-1)
        edges = np.linspace(lo, hi, bins + 1)
        counts, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
        frames.append(
            {
                "layer": o.name,
                "activation": _activation_name(o, network),
                "range": [float(lo), float(hi)],
                "edges": edges.tolist(),
                "counts": counts.astype(int).tolist(),
                "below": int(np.count_nonzero(v < lo)),
                "above": int(np.count_nonzero(v > hi)),
                "zeros": float(np.mean(v == 0.0)),
                "mean": float(np.mean(v)),
                "std": float(np.std(v)),
            }
        )
    return frames


class ActivationProbe:
    """One run's histogram frames: the probe batch and the bins, both fixed when the run starts,
    so every frame (the initial weights, each epoch, the saved model) is counted alike.

    ``ActivationProbe(initial_network, x_train)`` takes :func:`probe_batch` of ``x_train`` and
    :func:`histogram_ranges` of the initial network (``initial_frame``: its frame);
    :meth:`frame` counts a network's outputs, :meth:`frame_from_checkpoint` those of a run's
    ``checkpoint.npz`` (its parameters and running statistics loaded into a copy of the initial
    network); :func:`run_probe` rebuilds the probe of a run folder.
    """

    def __init__(self, initial_network, x_train, size: int = PROBE_SIZE,
                 bins: int = HISTOGRAM_BINS) -> None:  # fmt: skip
        self.x = probe_batch(x_train, size)
        self.bins = int(bins)
        self.ranges = histogram_ranges(initial_network, self.x)
        #: the frame of the initial weights (epoch 0)
        self.initial_frame = self.frame(initial_network)
        self._net = initial_network.copy()  # loaded with each checkpoint; the caller's untouched

    @property
    def network(self):
        """The probe's own network: the initial weights, then those of the last checkpoint read
        by :meth:`frame_from_checkpoint` (the network of the latest frame)."""
        return self._net

    def frame(self, network) -> list[dict]:
        """:func:`activation_histograms` of ``network`` on this probe and bins."""
        return activation_histograms(network, self.x, self.ranges, self.bins)

    def frame_from_checkpoint(self, path) -> list[dict]:
        """The frame of a run's checkpoint: only its ``param/*`` and ``buffer/*`` arrays are read
        (not the history or optimizer state), into this probe's own network."""
        with np.load(path, allow_pickle=False) as archive:
            params = {k[6:]: archive[k] for k in archive.files if k.startswith("param/")}
            buffers = {k[7:]: archive[k] for k in archive.files if k.startswith("buffer/")}
        self._net.set_params(params)
        if buffers:
            self._net.set_buffers(buffers)
        return self.frame(self._net)


def run_probe(run_dir, size: int = PROBE_SIZE, bins: int = HISTOGRAM_BINS) -> ActivationProbe:
    """The :class:`ActivationProbe` of a run folder, rebuilt from its ``config.json``: the data
    set (from this machine, never downloaded) and the initial network (the same seed, so the
    same weights the run started from)."""
    from pathlib import Path

    from mitbadak.training.run_folder import read_run_config
    from mitbadak.training.runs import load_training_data

    config = read_run_config(Path(run_dir))
    train_set, test_set, dataset, _ = load_training_data(config, download=False)
    return ActivationProbe(initial_network(config, train_set, test_set, dataset), train_set[0],
                           size, bins)  # fmt: skip


def initial_network(config, train_set, test_set, dataset: str):
    """The network a run of ``config`` on this data starts from (its seed's initial weights)."""
    from mitbadak.files.datasets.toy import class_count
    from mitbadak.training.runs import build_network

    n_classes = class_count(dataset, train_set[1], test_set[1])
    return build_network(config, int(np.prod(np.shape(train_set[0])[1:])), n_classes)
