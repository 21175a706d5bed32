"""Export a trained network to ONNX and to PyTorch, and check that the copies agree with it.

A mitbadak network is an ordered list of layers (``network.layers``) followed by softmax. Both
exports read that list, layer by layer, and compute the same function:

* ONNX (:func:`to_onnx`): each layer becomes its ONNX node(s) (:data:`ONNX_LAYERS`): an
  ``Affine`` one ``Gemm`` (``Y = X @ W + b``, W stored as (in, out), initializers named as the
  network names them, ``W1``, ``b1``, ...), an activation the operator it declares (``onnx_op``:
  ``Relu``, ``Sigmoid``, ``Tanh``, ``Elu``), a ``BatchNormalization`` layer the ONNX op of the
  same name with its running statistics (inference; the book normalises each of the D values of
  an (N, D) input, which is ONNX's per-channel form with C = D), the book's ``Dropout`` a ``Mul``
  by ``1 - ratio`` (its test-time form; inverted dropout an ``Identity``), then ``Softmax``
  (axis 1). The graph has one input, ``input`` (N, 784) float32 with a dynamic batch axis,
  and two outputs: ``scores`` (the pre-softmax values mitbadak's ``predict``
  returns) and ``probabilities`` (``predict_proba``).
* PyTorch (:func:`to_torch`): ``nn.Sequential`` of each layer's module (:data:`TORCH_LAYERS`:
  ``nn.Linear`` for an Affine, the activation's ``torch_name``, ``nn.BatchNorm1d`` with the
  running statistics for a BatchNormalization, ``Scale(1 - ratio)`` for the book's Dropout and
  ``nn.Identity`` for inverted dropout; in eval mode) returning the scores;
  ``nn.Linear`` stores its weight as (out, in), so each ``Wi`` is transposed.

A layer type with no entry (and no declared operator) is refused before anything is written,
with one line naming it (:class:`LayerNotExportable`). To export a new layer type, add one
function to :data:`ONNX_LAYERS` and :data:`TORCH_LAYERS`.

Both are float32 whatever the network's dtype (float64 networks are cast; the difference in the
probabilities is of the order of float32 rounding, ~1e-7). ``onnx``/``onnxruntime`` come with
``pip install 'mitbadak[export]'``; ``torch`` is installed separately (``pip install torch``).
Every file is written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.core.atomic import atomic_write, atomic_write_bytes
from mitbadak.core.backend import to_host
from mitbadak.core.errors import MitbadakError
from mitbadak.nn.activations import Activation
from mitbadak.nn.batchnorm import EPS as BATCHNORM_EPS
from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.convolution import Convolution
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.layers import ACTIVATIONS, Affine
from mitbadak.nn.networks import named_specs
from mitbadak.nn.pooling import Pooling

__all__ = [
    "ONNX_OPSET",
    "ONNX_IR_VERSION",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "ExportDependencyError",
    "LayerNotExportable",
    "ONNX_LAYERS",
    "TORCH_LAYERS",
    "ParityReport",
    "onnx_model",
    "to_onnx",
    "onnx_metadata",
    "run_onnx",
    "to_torch",
    "torch_module",
    "torch_module_args",
    "torch_convnet",
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


class LayerNotExportable(MitbadakError, ValueError):
    """The network holds a layer type the export has no ONNX operator or torch module for."""


def _layers(network) -> list[tuple[str, Any, dict[str, tuple[str, np.ndarray]]]]:
    """The network's layers in order: [(name, layer, {stem: (param name, float32 array)}), ...].

    ``Affine1``, ``Relu1``, ...; a layer's parameters and buffers by their stem (``W``,
    ``running_mean``) with the name the network gives them (``W1``, ``running_mean1``) and their
    values (from ``network.params`` / ``network.buffers``, on the host).
    """
    layers = getattr(network, "layers", None)
    params = getattr(network, "params", None)
    if not isinstance(layers, dict) or not layers or not isinstance(params, dict):
        raise ValueError(
            "expected a mitbadak network with a layer list (e.g. TwoLayerNet or MultiLayerNet), "
            f"got {type(network).__name__}"
        )
    _, param_specs, buffer_specs = named_specs(list(layers.values()))
    buffers = getattr(network, "buffers", None) or {}
    own: dict[int, dict[str, tuple[str, np.ndarray]]] = {}
    for table, specs in ((params, param_specs), (buffers, buffer_specs)):
        for pname, (layer, spec) in specs.items():
            value = np.asarray(to_host(table[pname]), dtype=np.float32)
            own.setdefault(id(layer), {})[spec.stem] = (pname, value)
    return [(name, layer, own.get(id(layer), {})) for name, layer in layers.items()]


def _not_exportable(name: str, layer, target: str, known) -> LayerNotExportable:
    kinds = sorted({cls.__name__ for cls in known} | {c.__name__ for c in ACTIVATIONS.values()})
    return LayerNotExportable(
        f"cannot export layer {name} to {target}: mitbadak has no {target} form for a "
        f"{type(layer).__name__} layer (it exports {', '.join(kinds)})"
    )


class _OnnxGraph:
    """The nodes and initializers being built; layer functions add to it."""

    def __init__(self, helper, numpy_helper) -> None:
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def node(self, op: str, inputs: list[str], outputs: list[str], name: str, **attrs) -> None:
        self.nodes.append(self.helper.make_node(op, inputs, outputs, name=name, **attrs))

    def initializer(self, array: np.ndarray, name: str) -> str:
        self.initializers.append(self.numpy_helper.from_array(array, name))
        return name


#: What a layer becomes in ONNX: ``(graph, name, layer, params, x, y)`` adds the nodes computing
#: tensor ``y`` from tensor ``x``; ``params`` = {stem: (network name, float32 array)}.
OnnxLayer = Callable[[_OnnxGraph, str, Any, dict[str, tuple[str, np.ndarray]], str, str], None]
#: What a layer becomes in PyTorch: ``(torch, layer, params)`` -> a module (weights copied),
#: ``params`` = {stem: (network name, float32 array)}.
TorchLayer = Callable[[Any, Any, dict[str, np.ndarray]], Any]


def _affine_onnx(graph: _OnnxGraph, name, layer, params, x, y) -> None:
    (w_name, W), (b_name, b) = params["W"], params["b"]
    graph.initializer(W, w_name)
    graph.initializer(b, b_name)
    graph.node("Gemm", [x, w_name, b_name], [y], name)  # Y = X @ W + b


def _affine_torch(torch, layer, params):
    (_, W), (_, b) = params["W"], params["b"]
    linear = torch.nn.Linear(int(W.shape[0]), int(W.shape[1]))
    with torch.no_grad():  # nn.Linear computes x @ weight.T + bias: weight = W.T
        linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
        linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
    return linear


def _batchnorm_onnx(graph: _OnnxGraph, name, layer, params, x, y) -> None:
    # Inference with the running statistics: y = gamma * (x - mean) / sqrt(var + eps) + beta.
    # ONNX normalises per channel of (N, C, ...); the book normalises each of the D values of an
    # (N, D) input on its own, which is the same thing with C = D.
    names = []
    for stem in ("gamma", "beta", "running_mean", "running_var"):
        pname, value = params[stem]
        names.append(graph.initializer(value, pname))
    graph.node("BatchNormalization", [x, *names], [y], name, epsilon=float(BATCHNORM_EPS))


def _batchnorm_torch(torch, layer, params):
    size = int(params["gamma"][1].shape[0])
    # torch's momentum weighs the new batch (running = (1 - m) * running + m * batch): 1 - ours.
    bn = torch.nn.BatchNorm1d(size, eps=float(BATCHNORM_EPS), momentum=1.0 - layer.momentum)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(params["gamma"][1]))
        bn.bias.copy_(torch.from_numpy(params["beta"][1]))
        bn.running_mean.copy_(torch.from_numpy(params["running_mean"][1]))
        bn.running_var.copy_(torch.from_numpy(params["running_var"][1]))
    return bn.eval()


def _dropout_onnx(graph: _OnnxGraph, name, layer, params, x, y) -> None:
    # At test time the book's dropout multiplies by 1 - ratio; inverted dropout passes x through.
    if layer.inverted:
        graph.node("Identity", [x], [y], name)
        return
    scale = graph.initializer(np.array(1.0 - layer.dropout_ratio, dtype=np.float32),
                              f"{name}_scale")  # fmt: skip
    graph.node("Mul", [x, scale], [y], name)


def _dropout_torch(torch, layer, params):
    if layer.inverted:
        return torch.nn.Identity()
    from mitbadak.files._torch_modules import Scale

    return Scale(1.0 - layer.dropout_ratio)


def _conv_onnx(graph: _OnnxGraph, name, layer, params, x, y) -> None:
    # The book's im2col convolution is a cross-correlation with W (FN, C, FH, FW), the layout
    # and the operation of ONNX Conv; zero padding on all four sides.
    (w_name, W), (b_name, b) = params["W"], params["b"]
    graph.initializer(W, w_name)
    graph.initializer(b, b_name)
    p, s = int(layer.pad), int(layer.stride)
    graph.node("Conv", [x, w_name, b_name], [y], name, kernel_shape=list(W.shape[2:]),
               strides=[s, s], pads=[p, p, p, p])  # fmt: skip


def _conv_torch(torch, layer, params):
    (_, W), (_, b) = params["W"], params["b"]
    fn, c, fh, fw = (int(d) for d in W.shape)
    conv = torch.nn.Conv2d(c, fn, (fh, fw), stride=int(layer.stride), padding=int(layer.pad))
    with torch.no_grad():  # the same (FN, C, FH, FW) layout and cross-correlation
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(W)))
        conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
    return conv


def _pooling_onnx(graph: _OnnxGraph, name, layer, params, x, y) -> None:
    # The book pads with zeros before taking the maximum (im2col), ONNX MaxPool's own pads
    # never win the maximum: a padded pooling gets an explicit zero Pad first.
    if layer.pad:
        p = int(layer.pad)
        pads = graph.initializer(np.array([0, 0, p, p, 0, 0, p, p], dtype=np.int64),
                                 f"{name}_pads")  # fmt: skip
        padded = f"{y}_padded"
        graph.node("Pad", [x, pads], [padded], f"{name}_pad", mode="constant")
        x = padded
    s = int(layer.stride)
    graph.node("MaxPool", [x], [y], name, kernel_shape=[layer.pool_h, layer.pool_w],
               strides=[s, s], pads=[0, 0, 0, 0])  # fmt: skip


def _pooling_torch(torch, layer, params):
    pool = torch.nn.MaxPool2d((layer.pool_h, layer.pool_w), stride=int(layer.stride))
    if not layer.pad:
        return pool
    # zeros around the input first, as the book's im2col (MaxPool2d's padding is -inf)
    return torch.nn.Sequential(torch.nn.ZeroPad2d(int(layer.pad)), pool)


#: Layer class -> its ONNX form. Activations need no entry: their ``onnx_op`` is used.
ONNX_LAYERS: dict[type, OnnxLayer] = {
    Affine: _affine_onnx,
    BatchNormalization: _batchnorm_onnx,
    Convolution: _conv_onnx,
    Dropout: _dropout_onnx,
    Pooling: _pooling_onnx,
}
#: Layer class -> its torch module. Activations need no entry: their ``torch_name`` is used.
TORCH_LAYERS: dict[type, TorchLayer] = {
    Affine: _affine_torch,
    BatchNormalization: _batchnorm_torch,
    Convolution: _conv_torch,
    Dropout: _dropout_torch,
    Pooling: _pooling_torch,
}
#: Layers that read an (N, ...) input as (N, -1), as ``Affine.forward`` does: after a layer of
#: images (N, C, H, W) the export writes that reshape as its own ``Flatten`` node / module.
FLATTENING_LAYERS: tuple[type, ...] = (Affine,)


def _flattens(layer, rank: int) -> bool:
    """Whether ``layer`` reads an input of ``rank`` dimensions through a flatten first."""
    return rank > 2 and isinstance(layer, FLATTENING_LAYERS)


def _rank_after(layer, rank: int) -> int:
    """The number of dimensions of ``layer``'s output for an input of ``rank`` dimensions."""
    return 2 if isinstance(layer, FLATTENING_LAYERS) else rank


def _check_rank(name: str, layer, rank: int, target: str) -> None:
    """A BatchNormalization of images: the book normalises the C*H*W values one by one; ONNX
    and torch per channel. Not the same function: refused rather than exported wrong."""
    if rank > 2 and isinstance(layer, BatchNormalization):
        raise LayerNotExportable(
            f"cannot export layer {name} to {target}: a BatchNormalization of images "
            f"({rank}-D input) normalises each pixel on its own in mitbadak, per channel in "
            f"{target}"
        )


def _onnx_form(name: str, layer) -> OnnxLayer:
    form = ONNX_LAYERS.get(type(layer))
    if form is not None:
        return form
    op = getattr(layer, "onnx_op", "") if isinstance(layer, Activation) else ""
    if op:
        return lambda graph, name, _layer, _params, x, y: graph.node(op, [x], [y], name)
    raise _not_exportable(name, layer, "ONNX", ONNX_LAYERS)


def _torch_form(name: str, layer) -> TorchLayer:
    form = TORCH_LAYERS.get(type(layer))
    if form is not None:
        return form
    module = getattr(layer, "torch_name", "") if isinstance(layer, Activation) else ""
    if module:
        return lambda torch, _layer, _params: getattr(torch.nn, module)()
    raise _not_exportable(name, layer, "PyTorch", TORCH_LAYERS)


def _describe(network) -> str:
    """``MultiLayerNet 784-50-100-10 sigmoid``; a network of other layers: its layer names."""
    kind = type(network).__name__
    hidden = getattr(network, "hidden_sizes", getattr(network, "hidden_size_list", None))
    activation = getattr(network, "activation", None)
    if hidden is not None and activation is not None:
        sizes = [int(network.input_size), *map(int, hidden), int(network.output_size)]
        extras = ""
        if getattr(network, "use_batchnorm", False):
            extras += " batchnorm"
        if getattr(network, "use_dropout", False):
            kind_ = "inverted dropout" if network.inverted_dropout else "dropout"
            extras += f" {kind_} {network.dropout_ration:g}"
        return f"{kind} {'-'.join(map(str, sizes))} {activation}{extras}"
    shape = _input_shape(network)
    size = "x".join(map(str, shape)) if len(shape) > 1 else str(shape[0])
    return f"{kind} {size}-{int(network.output_size)} {'-'.join(network.layers)}"


def onnx_metadata(network, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """The key -> string pairs written as the ONNX model's ``metadata_props``.

    architecture (e.g. ``MultiLayerNet 784-50-100-10 sigmoid``), recipe (the training config as
    JSON, or where the weights came from), dataset, accuracy (test accuracy when the model file
    recorded one), mitbadak_version (of the file's writer) and exported_by; then ``extra``.
    """
    from mitbadak.core.version import __version__

    meta = dict(getattr(network, "metadata", None) or {})
    props = {
        "architecture": _describe(network),
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
    forms = [_onnx_form(name, layer) for name, layer, _ in layers]  # refuse before building
    input_shape = _input_shape(network)
    rank = 1 + len(input_shape)
    for name, layer, _ in layers:
        _check_rank(name, layer, rank, "ONNX")
        rank = _rank_after(layer, rank)
    graph_ = _OnnxGraph(helper, numpy_helper)
    h = INPUT_NAME
    rank = 1 + len(input_shape)
    made = {"a": 0, "z": 0}  # tensor names: a1, a2 after layers with parameters; z1, z2 others
    for k, ((name, layer, params), form) in enumerate(zip(layers, forms, strict=True)):
        if _flattens(layer, rank):  # (N, C, H, W) -> (N, C*H*W) in the book's (c, h, w) order
            graph_.node("Flatten", [h], [f"{h}_flat"], f"Flatten_{name}", axis=1)
            h = f"{h}_flat"
        rank = _rank_after(layer, rank)
        if k == len(layers) - 1:
            out = OUTPUT_NAMES[0]
        else:
            kind = "a" if params else "z"
            made[kind] += 1
            out = f"{kind}{made[kind]}"
        form(graph_, name, layer, params, h, out)
        h = out
    nodes, inits = graph_.nodes, graph_.initializers
    nodes.append(
        helper.make_node("Softmax", [OUTPUT_NAMES[0]], [OUTPUT_NAMES[1]], axis=1, name="Softmax")
    )
    n_out = int(network.output_size)
    graph = helper.make_graph(
        nodes,
        "mitbadak",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *input_shape])],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", n_out])
            for name in OUTPUT_NAMES
        ],
        initializer=inits,
        doc_string="scores = the network's layers in order; probabilities = softmax(scores)",
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


def _input_shape(network) -> tuple[int, ...]:
    """One sample's shape as the network reads it: (784,) for a MultiLayerNet, (1, 28, 28) for a
    convnet (``network.input_shape``; ``(input_size,)`` for a network without one)."""
    shape = getattr(network, "input_shape", None)
    if shape is None:
        return (int(network.input_size),)
    return tuple(int(d) for d in shape)


def run_onnx(path: str | os.PathLike, x: np.ndarray, batch_size: int = 10000):
    """(scores, probabilities) of the ONNX file at ``path`` on ``x``, via onnxruntime.

    ``x`` is a batch of N samples, given in the model's input shape (``(N, 784)`` for a
    MultiLayerNet, ``(N, 1, 28, 28)`` for a convnet) or flat (N, 784): it is reshaped to the
    shape the model's input declares.
    """
    ort = _require("onnxruntime", _EXTRA_HINT)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    declared = session.get_inputs()[0].shape[1:]
    sample = [int(d) for d in declared] if all(isinstance(d, int) for d in declared) else [-1]
    x = np.asarray(x, dtype=np.float32).reshape(len(x), *sample)
    parts = [
        session.run(list(OUTPUT_NAMES), {INPUT_NAME: x[i : i + batch_size]})
        for i in range(0, len(x), batch_size)
    ]
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def torch_module(
    sizes: list[int],
    activation: str = "relu",
    *,
    batchnorm: bool = False,
    dropout: float | None = None,
    inverted_dropout: bool = False,
):
    """``nn.Sequential(Linear(sizes[0], sizes[1]), act, ..., Linear(sizes[-2], sizes[-1]))``.

    With ``batchnorm`` each hidden Linear is followed by ``BatchNorm1d`` (before the
    activation), with ``dropout`` (a ratio) each activation by the book's test-time dropout
    (``Scale(1 - ratio)``; ``nn.Identity`` when ``inverted_dropout``): a MultiLayerNetExtend's
    layout. Uninitialised-by-mitbadak (PyTorch's own init); the shape
    :func:`save_torch_state_dict`'s files load into. In eval mode. Needs ``torch``.
    """
    torch = _require("torch", _TORCH_HINT)
    nn = torch.nn
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size, got {sizes!r}")
    drop = None if dropout is None else Dropout(dropout, inverted=inverted_dropout)
    modules = []
    for i in range(len(sizes) - 1):
        modules.append(nn.Linear(int(sizes[i]), int(sizes[i + 1])))
        if i < len(sizes) - 2:
            if batchnorm:
                modules.append(nn.BatchNorm1d(int(sizes[i + 1]), eps=float(BATCHNORM_EPS)))
            modules.append(getattr(nn, ACTIVATIONS[activation].torch_name)())
            if drop is not None:
                modules.append(_dropout_torch(torch, drop, {}))
    return nn.Sequential(*modules).eval()


def torch_module_args(network) -> tuple[list[int], str, dict[str, Any]]:
    """``(sizes, activation, keywords)`` for :func:`torch_module` of ``network``'s shape:
    a MultiLayerNet's sizes, and a MultiLayerNetExtend's batchnorm/dropout keywords."""
    hidden = getattr(network, "hidden_sizes", getattr(network, "hidden_size_list", None))
    if hidden is None or getattr(network, "activation", None) is None:
        raise ValueError(
            f"expected a MultiLayerNet-shaped network (sizes and one activation), "
            f"got {type(network).__name__}"
        )
    sizes = [int(network.input_size), *map(int, hidden), int(network.output_size)]
    keywords: dict[str, Any] = {}
    if getattr(network, "use_batchnorm", False):
        keywords["batchnorm"] = True
    if getattr(network, "use_dropout", False):
        keywords["dropout"] = float(network.dropout_ration)
        if network.inverted_dropout:
            keywords["inverted_dropout"] = True
    return sizes, str(network.activation), keywords


def to_torch(network):
    """An ``nn.Sequential`` (float32, CPU) computing ``network.predict`` (the scores).

    ``nn.Linear(in, out)`` computes ``x @ weight.T + bias`` with weight (out, in), so
    ``weight = Wi.T``. Apply ``torch.softmax(module(x), dim=1)`` for the probabilities.
    """
    torch = _require("torch", _TORCH_HINT)
    layers = _layers(network)
    forms = [_torch_form(name, layer) for name, layer, _ in layers]  # refuse before building
    rank = 1 + len(_input_shape(network))
    for name, layer, _ in layers:
        _check_rank(name, layer, rank, "PyTorch")
        rank = _rank_after(layer, rank)
    modules = []
    rank = 1 + len(_input_shape(network))
    for (_, layer, params), form in zip(layers, forms, strict=True):
        if _flattens(layer, rank):  # (N, C, H, W) -> (N, C*H*W), as Affine reads it
            modules.append(torch.nn.Flatten())
        rank = _rank_after(layer, rank)
        modules.append(form(torch, layer, params))
    return torch.nn.Sequential(*modules).eval()


def torch_convnet(kind: str = "SimpleConvNet", **arguments: Any):
    """``to_torch(SimpleConvNet(**arguments))`` (or ``DeepConvNet``): a module of that net's
    shape, the one :func:`save_torch_state_dict`'s file of such a net loads into (its own
    weights are a fresh draw, replaced by ``load_state_dict``). In eval mode. Needs ``torch``.
    """
    from mitbadak.nn.convnets import DeepConvNet, SimpleConvNet

    classes = {"SimpleConvNet": SimpleConvNet, "DeepConvNet": DeepConvNet}
    if kind not in classes:
        raise ValueError(f"kind must be one of {', '.join(classes)}, got {kind!r}")
    return to_torch(classes[kind](**arguments, seed=0, dtype=np.float32))


def save_torch_state_dict(network, path: str | os.PathLike) -> Path:
    """Save ``to_torch(network).state_dict()`` with ``torch.save`` (atomically); return the path.

    Load it with ``module.load_state_dict(torch.load(path, weights_only=True))`` into
    ``torch_module(sizes, activation)`` (keys ``0.weight``, ``0.bias``, ``2.weight``, ...); for
    a MultiLayerNetExtend into ``torch_module(sizes, activation, batchnorm=..., dropout=...,
    inverted_dropout=...)`` (:func:`torch_module_args` gives them).
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


def compare(
    network, probabilities: np.ndarray, x: np.ndarray, t=None, *, reference=None
) -> ParityReport:
    """Compare an export's ``probabilities`` on ``x`` with ``network.predict_proba(x)``.

    ``x`` flat (N, 784) or in the network's input shape; ``reference``: mitbadak's
    probabilities on ``x`` when already computed (e.g. by the fast path), else
    ``predict_proba`` (the layers) in batches of 1,000.
    """
    if reference is None:
        x2 = np.asarray(x).reshape(len(x), *_input_shape(network))
        ours = np.concatenate(
            [network.predict_proba(x2[i : i + 1000]) for i in range(0, len(x2), 1000)]
        )
    else:
        ours = np.asarray(reference)
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
        n=len(ours),
        max_abs_diff=float(np.max(np.abs(theirs.astype(np.float64) - ours))),
        label_agreement=float(np.mean(labels == np.argmax(ours, axis=1))),
        accuracy=accuracy,
    )
