"""Export a trained network to ONNX and to PyTorch, and check that the copies agree with it.

A mitbadak network is ``Affine -> act -> ... -> Affine`` followed by softmax, with parameters
``W1, b1, W2, b2, ...`` where ``Wi`` has shape (in, out). Both exports compute the same function:

* ONNX (:func:`to_onnx`): one ``Gemm`` per Affine (``Y = X @ W + b``, W stored as (in, out)),
  the hidden activation between them (the registered activation's ``onnx_op``: ``Relu``,
  ``Sigmoid``, ``Tanh``), and ``Softmax`` (axis 1). The graph has one input,
  ``input`` (N, 784) float32 with a dynamic batch axis, and two outputs: ``scores`` (the
  pre-softmax values mitbadak's ``predict`` returns) and ``probabilities`` (``predict_proba``).
* PyTorch (:func:`to_torch`): ``nn.Sequential(nn.Linear, act, ..., nn.Linear)`` returning the
  scores; ``nn.Linear`` stores its weight as (out, in), so each ``Wi`` is transposed.

Both are float32 whatever the network's dtype (float64 networks are cast; the difference in the
probabilities is of the order of float32 rounding, ~1e-7). ``onnx``/``onnxruntime`` come with
``pip install 'mitbadak[export]'``; ``torch`` is installed separately (``pip install torch``).
Every file is written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.atomic import atomic_write, atomic_write_bytes
from mitbadak.core.errors import MitbadakError
from mitbadak.nn.layers import ACTIVATIONS

__all__ = [
    "ONNX_OPSET",
    "ONNX_IR_VERSION",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "ExportDependencyError",
    "ParityReport",
    "onnx_model",
    "to_onnx",
    "onnx_metadata",
    "run_onnx",
    "to_torch",
    "torch_module",
    "save_torch_state_dict",
    "compare",
]

#: The default opset of the exported graph: Softmax(axis=1) with opset-13 semantics, and old
#: enough that onnxruntime releases since 1.14 (2023) run it.
ONNX_OPSET = 17
#: IR version 8 is the one that goes with opset 17; onnxruntime rejects IR versions newer than
#: it knows, which is what the newest ``onnx.helper.make_model`` would write by default.
ONNX_IR_VERSION = 8
INPUT_NAME = "input"
OUTPUT_NAMES = ("scores", "probabilities")

_EXTRA_HINT = "pip install 'mitbadak[export]'"
_TORCH_HINT = "pip install torch (the CPU build is enough)"


class ExportDependencyError(MitbadakError):
    """A package the export needs (onnx, onnxruntime or torch) is not installed."""


def _require(module: str, hint: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportDependencyError(
            f"{module} is not installed; it is needed here: {hint}"
        ) from None


def _layers(network) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W1, b1), (W2, b2), ...] as float32 arrays, W of shape (in, out), checked for shape."""
    params = getattr(network, "params", None)
    activation = getattr(network, "activation", None)
    if not isinstance(params, dict) or activation not in ACTIVATIONS:
        raise ValueError(
            "expected a mitbadak TwoLayerNet or MultiLayerNet (params W1, b1, ... and an "
            f"activation of {' / '.join(ACTIVATIONS)}), got {type(network).__name__}"
        )
    layers = []
    i = 1
    while f"W{i}" in params:
        W = np.asarray(params[f"W{i}"])
        b = np.asarray(params.get(f"b{i}"))
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(
                f"W{i}/b{i} have shapes {W.shape}/{b.shape}; expected (in, out)/(out,)"
            )
        if layers and layers[-1][0].shape[1] != W.shape[0]:
            raise ValueError(
                f"W{i} takes {W.shape[0]} inputs, but the layer before gives "
                f"{layers[-1][0].shape[1]}"
            )
        layers.append((W.astype(np.float32), b.astype(np.float32)))
        i += 1
    if not layers:
        raise ValueError("the network has no parameters W1, b1")
    return layers


def onnx_metadata(network, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """The key -> string pairs written as the ONNX model's ``metadata_props``.

    architecture (e.g. ``MultiLayerNet 784-50-100-10 sigmoid``), recipe (the training config as
    JSON, or where the weights came from), dataset, accuracy (test accuracy when the model file
    recorded one), mitbadak_version (of the file's writer) and exported_by; then ``extra``.
    """
    from mitbadak.core.version import __version__

    meta = dict(getattr(network, "metadata", None) or {})
    sizes = [int(network.input_size), *map(int, network.hidden_sizes), int(network.output_size)]
    props = {
        "architecture": f"{type(network).__name__} {'-'.join(map(str, sizes))} "
        f"{network.activation}",
        "network": json.dumps(network.config(), sort_keys=True),
    }
    if "training" in meta:
        props["recipe"] = json.dumps(meta["training"], sort_keys=True)
    elif isinstance(meta.get("source"), dict):
        props["recipe"] = json.dumps(meta["source"], sort_keys=True)
    if meta.get("dataset"):
        props["dataset"] = str(meta["dataset"])
    final = meta.get("final_metrics") or {}
    accuracy = meta.get("accuracy", final.get("test_acc"))
    if accuracy is not None:
        props["accuracy"] = f"{float(accuracy):.4f}"
    props["mitbadak_version"] = str(meta.get("mitbadak_version", __version__))
    props["exported_by"] = f"mitbadak {__version__}"
    for key, value in (extra or {}).items():
        props[str(key)] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return props


def onnx_model(network, *, metadata: dict[str, Any] | None = None, opset: int = ONNX_OPSET):
    """The network as an ``onnx.ModelProto`` (checked with ``onnx.checker``); see the module doc."""
    onnx = _require("onnx", _EXTRA_HINT)
    from onnx import TensorProto, helper, numpy_helper

    if opset < 13:
        raise ValueError(f"opset must be at least 13 (Softmax over one axis), got {opset}")
    layers = _layers(network)
    act = ACTIVATIONS[network.activation].onnx_op
    nodes, inits = [], []
    h = INPUT_NAME
    for i, (W, b) in enumerate(layers, start=1):
        inits += [numpy_helper.from_array(W, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(layers)
        out = OUTPUT_NAMES[0] if last else f"a{i}"
        nodes.append(helper.make_node("Gemm", [h, f"W{i}", f"b{i}"], [out], name=f"Affine{i}"))
        if not last:
            nodes.append(helper.make_node(act, [out], [f"z{i}"], name=f"{act}{i}"))
            h = f"z{i}"
    nodes.append(
        helper.make_node("Softmax", [OUTPUT_NAMES[0]], [OUTPUT_NAMES[1]], axis=1, name="Softmax")
    )
    n_in, n_out = layers[0][0].shape[0], layers[-1][0].shape[1]
    graph = helper.make_graph(
        nodes,
        "mitbadak",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", n_in])],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", n_out])
            for name in OUTPUT_NAMES
        ],
        initializer=inits,
        doc_string="scores = Affine -> act -> ... -> Affine; probabilities = softmax(scores)",
    )
    from mitbadak.core.version import __version__

    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="mitbadak",
        producer_version=__version__,
        ir_version=ONNX_IR_VERSION,
    )
    helper.set_model_props(model, onnx_metadata(network, metadata))
    onnx.checker.check_model(model, full_check=True)
    return model


def to_onnx(
    network,
    path: str | os.PathLike,
    *,
    metadata: dict[str, Any] | None = None,
    opset: int = ONNX_OPSET,
) -> Path:
    """Write ``network`` as an ONNX file at ``path`` (atomically) and return the path.

    ``metadata`` adds key/value pairs to the model's metadata props. Needs ``onnx``.
    """
    model = onnx_model(network, metadata=metadata, opset=opset)
    return atomic_write_bytes(path, model.SerializeToString())


def run_onnx(path: str | os.PathLike, x: np.ndarray, batch_size: int = 10000):
    """(scores, probabilities) of the ONNX file at ``path`` on ``x`` (N, 784), via onnxruntime."""
    ort = _require("onnxruntime", _EXTRA_HINT)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    parts = [
        session.run(list(OUTPUT_NAMES), {INPUT_NAME: x[i : i + batch_size]})
        for i in range(0, len(x), batch_size)
    ]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def torch_module(sizes: list[int], activation: str = "relu"):
    """``nn.Sequential(Linear(sizes[0], sizes[1]), act, ..., Linear(sizes[-2], sizes[-1]))``.

    Uninitialised-by-mitbadak (PyTorch's own init); the shape :func:`save_torch_state_dict`'s
    files load into. Needs ``torch``.
    """
    torch = _require("torch", _TORCH_HINT)
    nn = torch.nn
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {sizes!r}")
    modules = []
    for i in range(len(sizes) - 1):
        modules.append(nn.Linear(int(sizes[i]), int(sizes[i + 1])))
        if i < len(sizes) - 2:
            modules.append(getattr(nn, ACTIVATIONS[activation].torch_name)())
    return nn.Sequential(*modules)


def to_torch(network):
    """An ``nn.Sequential`` (float32, CPU) computing ``network.predict`` (the scores).

    ``nn.Linear(in, out)`` computes ``x @ weight.T + bias`` with weight (out, in), so
    ``weight = Wi.T``. Apply ``torch.softmax(module(x), dim=1)`` for the probabilities.
    """
    torch = _require("torch", _TORCH_HINT)
    layers = _layers(network)
    sizes = [layers[0][0].shape[0], *[W.shape[1] for W, _ in layers]]
    module = torch_module(sizes, network.activation)
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for linear, (W, b) in zip(linears, layers, strict=True):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))
    return module.eval()


def save_torch_state_dict(network, path: str | os.PathLike) -> Path:
    """Save ``to_torch(network).state_dict()`` with ``torch.save`` (atomically); return the path.

    Load it with ``module.load_state_dict(torch.load(path, weights_only=True))`` into
    ``torch_module(sizes, activation)`` (keys ``0.weight``, ``0.bias``, ``2.weight``, ...).
    """
    torch = _require("torch", _TORCH_HINT)
    state = to_torch(network).state_dict()
    return atomic_write(path, lambda fh: torch.save(state, fh))


@dataclass(frozen=True)
class ParityReport:
    """How closely an export reproduces mitbadak on the same inputs."""

    n: int
    max_abs_diff: float  # max |p_export - p_mitbadak| over all probabilities
    label_agreement: float  # fraction of inputs whose argmax is the same
    accuracy: float | None = None  # of the export, when labels were given

    def __str__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.4f}"
        return (
            f"{self.n} inputs: max |Δp| {self.max_abs_diff:.2e}, "
            f"labels agree {self.label_agreement:.4%}{acc}"
        )


def compare(network, probabilities: np.ndarray, x: np.ndarray, t=None) -> ParityReport:
    """Compare an export's ``probabilities`` on ``x`` with ``network.predict_proba(x)``."""
    x2 = np.asarray(x).reshape(len(x), -1)
    ours = np.concatenate(
        [network.predict_proba(x2[i : i + 1000]) for i in range(0, len(x2), 1000)]
    )
    theirs = np.asarray(probabilities)
    if theirs.shape != ours.shape:
        raise ValueError(f"probabilities have shape {theirs.shape}, expected {ours.shape}")
    labels = np.argmax(theirs, axis=1)
    accuracy = None
    if t is not None:
        t = np.asarray(t)
        t = np.argmax(t, axis=1) if t.ndim == 2 else t
        accuracy = float(np.mean(labels == t))
    return ParityReport(
        n=len(x2),
        max_abs_diff=float(np.max(np.abs(theirs.astype(np.float64) - ours))),
        label_agreement=float(np.mean(labels == np.argmax(ours, axis=1))),
        accuracy=accuracy,
    )
