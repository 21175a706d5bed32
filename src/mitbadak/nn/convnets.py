"""The book's convolutional networks (chapters 7-8) as layer lists: ``SimpleConvNet`` and
``DeepConvNet``, with the book's constructor arguments and methods.

``SimpleConvNet``: Convolution -> Relu -> Pooling(2, 2, stride 2) -> Affine -> Relu -> Affine
(parameters W1 (FN, C, FS, FS), b1, W2, b2, W3, b3; every weight from weight_init_std * N(0, 1)).

``DeepConvNet``: six 3x3 convolutions (16, 16, 32, 32, 64, 64 filters; pad 1, conv4 pad 2),
Relu after each, Pooling(2, 2, stride 2) after conv2, conv4 and conv6, then Affine -> Relu ->
Dropout(0.5) -> Affine -> Dropout(0.5) (the book's dropout: at test time both the hidden layer
and the logits are scaled by 0.5). Parameters W1..W8, b1..b8; the weights of each layer start at
He's sqrt(2 / fan_in) * N(0, 1), fan_in = channels * 3 * 3 for a convolution and the flattened
input for an Affine (the book's ``pre_node_nums``).

Both are :class:`~mitbadak.nn.networks.LayerNet` s: ``predict(x, train_flg=False)``, ``loss``,
``gradient`` (backprop through the layers), ``numerical_gradient`` (the book's loop on a float64
copy) and ``accuracy(x, t, batch_size=100)``. Input is a batch of images (N, C, H, W); labels are
class indices (N,) or (N, 1) (the book's ``ch07/gradient_check.py``) or one-hot rows.

Files: ``save_params(file_name)`` / ``load_params(file_name)`` reach code in ``mitbadak.files``
(above ``nn``) through :data:`PARAM_FILES`, a table that ``mitbadak.files.convnet_params`` fills
when imported (the package root imports it): ``load_params`` reads mitbadak's ``.npz`` and the
book's pickles without running them and says which file it was (``net.metadata['source']``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mitbadak.core.errors import ModelFileError
from mitbadak.nn.convolution import Convolution, check_window
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.engines import host_scores
from mitbadak.nn.layers import Affine, Relu
from mitbadak.nn.networks import LayerNet, register_config_class
from mitbadak.nn.pooling import Pooling

__all__ = [
    "ConvNet",
    "SimpleConvNet",
    "DeepConvNet",
    "DEEP_CONV_PARAMS",
    "PARAM_FILES",
    "register_param_files",
]

#: The code that reads and writes parameter files, registered by ``mitbadak.files`` (nn imports
#: no files code): ``"load"``: ``load(path) -> (arrays, source)`` where ``source`` is a dict
#: describing the file (``sha256``, ``version``, ...); ``"save"``: ``save(path, arrays,
#: metadata) -> Path`` (atomic).
PARAM_FILES: dict[str, Callable[..., Any]] = {}


def register_param_files(
    load: Callable[[Any], tuple[dict[str, np.ndarray], dict[str, Any]]],
    save: Callable[[Any, Mapping[str, np.ndarray], Mapping[str, Any]], Any],
) -> None:
    """Make ``save_params``/``load_params`` of the convnets use ``load`` and ``save``."""
    PARAM_FILES["load"] = load
    PARAM_FILES["save"] = save


def _conv_param(param: Mapping[str, Any], what: str) -> tuple[int, int, int, int]:
    """(filter_num, filter_size, pad, stride) of the book's ``conv_param`` dict."""
    keys = ("filter_num", "filter_size", "pad", "stride")
    if not isinstance(param, Mapping) or any(k not in param for k in keys):
        raise ValueError(
            f"{what} must be a dict with keys {', '.join(keys)} (e.g. {{'filter_num': 30, "
            f"'filter_size': 5, 'pad': 0, 'stride': 1}}), got {param!r}"
        )
    return tuple(param[k] for k in keys)  # type: ignore[return-value]


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists), for comparing configs."""
    return json.loads(json.dumps(value))


class ConvNet(LayerNet):
    """What the two convnets share: image input, (N, 1) labels, accuracy in batches of 100, and
    the book's ``save_params``/``load_params``. Its config is a ``LayerNet`` config plus, under
    ``"constructor"``, the class name and its constructor's arguments, from which
    :func:`~mitbadak.nn.networks.network_from_config` (model files, checkpoints, ``net.copy``)
    rebuilds this class."""

    architecture = "LayerNet"
    metadata: dict[str, Any]
    #: the constructor's arguments (JSON-ready), set by ``__init__``
    _arguments: dict[str, Any]

    def config(self) -> dict[str, Any]:
        """A ``LayerNet`` config and ``"constructor": {"class": NAME, "arguments": {...}}``."""
        config = super().config()
        config["constructor"] = {"class": type(self).__name__,
                                 "arguments": _plain(self._arguments)}  # fmt: skip
        return config

    @classmethod
    def implied_arguments(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor arguments a config's layer list states (read without allocating)."""
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, dtype="float64", seed=0) -> ConvNet:
        """This class rebuilt from ``config["constructor"]["arguments"]``; the arguments must
        state the config's layer list (checked before anything is allocated, and after)."""
        arguments = config["constructor"]["arguments"]
        if not isinstance(arguments, Mapping):
            raise ValueError("the network config's 'constructor' has no 'arguments' object")
        try:
            implied = cls.implied_arguments(config)
        except (IndexError, KeyError, TypeError, ValueError):
            implied = None
        if implied is None or any(
            _plain(arguments.get(k)) != _plain(v) for k, v in implied.items()
        ):
            raise ValueError(
                f"the network config's {cls.__name__} arguments do not match its 'layers'"
            )
        net = cls(**arguments, dtype=dtype, seed=seed)
        if _plain(net.config()["layers"]) != _plain(config["layers"]):
            raise ValueError(
                f"the network config's {cls.__name__} arguments do not match its 'layers'"
            )
        return net

    def _check_sample_shape(self, x) -> None:
        """A convnet takes images (N, C, H, W) of its input shape (one flattened batch is the
        mistake this names)."""
        try:
            shape = tuple(np.shape(x))
        except ValueError:  # ragged nested lists: check_x words it
            return
        if len(shape) == 4 and shape[1:] == self.input_shape:
            return
        expected = f"images (N, {', '.join(map(str, self.input_shape))})"
        hint = ""
        if len(shape) in (1, 2) and shape[-1] == self.input_size:
            hint = (f": a flattened batch; reshape it with x.reshape(-1, "
                    f"{', '.join(map(str, self.input_shape))}) or load MNIST with "
                    "flatten=False")  # fmt: skip
        raise ValueError(
            f"x has shape {shape}, but {type(self).__name__} expects a batch of {expected}{hint}"
        )

    def prepare(self, x, t):
        """As ``LayerNet.prepare``; labels (N, 1) of class indices are read as (N,)."""
        t_shape = np.shape(t)
        if len(t_shape) == 2 and t_shape[1] == 1 and self.output_size > 1:
            t = np.reshape(t, (-1,))
        return super().prepare(x, t)

    def accuracy(self, x, t, batch_size: int | None = 100) -> float:
        """Fraction of images whose highest score is the label, ``batch_size`` images at a time
        (every image counts; the book's loop leaves out a last partial batch)."""
        return super().accuracy(x, t, batch_size)

    def _accuracy_scores(self):
        """On NumPy the convnet fast path (``nn.engines.host_scores``, tested equal to the
        layers: 1e-12 in float64), several times faster than :meth:`predict`'s layer-by-layer
        forward; on a device, the layers."""
        return (host_scores(self) if self._xp is np else None) or self.scores

    def save_params(self, file_name: str = "params.pkl") -> Any:
        """Write the parameters to ``file_name`` exactly (atomically) in mitbadak's safe ``.npz``
        format (never a pickle, whatever the name says); returns the path written."""
        save = _param_files("save")
        arrays = {k: np.asarray(v) for k, v in self.params.items()}
        metadata = {"kind": "convnet params", "network": self.config(),
                    "class": type(self).__name__}  # fmt: skip
        if isinstance(getattr(self, "metadata", None), dict) and "source" in self.metadata:
            metadata["source"] = self.metadata["source"]  # where these weights came from
        return save(file_name, arrays, metadata)

    def load_params(self, file_name: str = "params.pkl") -> dict[str, Any]:
        """Read ``file_name`` (mitbadak's ``.npz``, or one of the book's pickles, read without
        running it) into this network. The arrays must be exactly this network's parameters
        (a wrong key or shape names the key and both shapes). Returns and stores in
        ``net.metadata['source']`` what the file was: its SHA-256 and, for the book's files,
        ``version`` ('2016 book' or '2022 master') and a ``note``."""
        arrays, source = _param_files("load")(file_name)
        where = source.get("file", str(file_name))
        expected = {k: tuple(v.shape) for k, v in self.params.items()}
        missing = [k for k in expected if k not in arrays]
        extra = [k for k in arrays if k not in expected]
        if missing or extra:
            raise ModelFileError(
                f"{where}: the file holds {', '.join(sorted(arrays)) or 'no arrays'}, but this "
                f"{type(self).__name__} has parameters {', '.join(expected)}"
                + (f" (missing {', '.join(missing)})" if missing else "")
                + (f" (not used: {', '.join(extra)})" if extra else "")
            )
        for key, shape in expected.items():
            value = arrays[key]
            if tuple(value.shape) != shape:
                raise ModelFileError(
                    f"{where}: {key} has shape {tuple(value.shape)}, but this "
                    f"{type(self).__name__} expects {shape} (another network's file?)"
                )
            if value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
                raise ModelFileError(f"{where}: {key} must hold finite numbers")
        self.set_params(arrays)
        self.metadata = {"source": dict(source)}
        return self.metadata["source"]


def _param_files(kind: str) -> Callable[..., Any]:
    if kind not in PARAM_FILES:  # only without the package root (which registers them)
        raise RuntimeError(
            "no parameter-file code registered: import mitbadak (mitbadak.files.convnet_params)"
        )
    return PARAM_FILES[kind]


def _conv_dict(param: Mapping[str, Any], what: str) -> dict[str, int]:
    """The book's ``conv_param`` as a plain dict of ints (a config's JSON)."""
    keys = ("filter_num", "filter_size", "pad", "stride")
    return {k: int(v) for k, v in zip(keys, _conv_param(param, what), strict=True)}


def _conv_layer(
    channels: int, param: Mapping[str, Any], std: float | None, what: str
) -> Convolution:
    filter_num, size, pad, stride = _conv_param(param, what)
    fan_in = int(channels) * int(size) * int(size)
    weight_std = float(np.sqrt(2.0 / fan_in)) if std is None else std
    return Convolution.of_shape(filter_num, channels, size, size, stride, pad, weight_std)


class SimpleConvNet(ConvNet):
    """``SimpleConvNet(input_dim=(1, 28, 28), conv_param={'filter_num': 30, 'filter_size': 5,
    'pad': 0, 'stride': 1}, hidden_size=100, output_size=10, weight_init_std=0.01)``, the
    book's ``ch07/simple_convnet.py``: conv -> Relu -> 2x2 max-pool (stride 2) -> Affine ->
    Relu -> Affine. ``seed``, ``dtype``, ``device`` are mitbadak's keywords."""

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_param: Mapping[str, Any] | None = None,
        hidden_size: int = 100,
        output_size: int = 10,
        weight_init_std: float = 0.01,
        *,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        if conv_param is None:
            conv_param = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        shape = _input_dim(input_dim)
        std = float(weight_init_std)
        conv = _conv_layer(shape[0], conv_param, std, "conv_param")
        pool = Pooling(2, 2, stride=2)
        pooled = pool.output_shape(conv.output_shape(shape))
        layers = [conv, Relu(), pool,
                  Affine.of_shape(int(np.prod(pooled)), hidden_size, std), Relu(),
                  Affine.of_shape(hidden_size, output_size, std)]  # fmt: skip
        self._arguments = {"input_dim": list(shape),
                           "conv_param": _conv_dict(conv_param, "conv_param"),
                           "hidden_size": int(hidden_size), "output_size": int(output_size),
                           "weight_init_std": std}  # fmt: skip
        self._assemble(layers, shape, int(output_size), 0.0, seed, dtype)
        self._move_to(device)

    @classmethod
    def implied_arguments(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """input_dim, conv_param, hidden_size, output_size as the layer list states them."""
        layers = config["layers"]
        return {"input_dim": list(config["input_shape"]), "conv_param": _stated_conv(layers[0]),
                "hidden_size": layers[3]["out_size"],
                "output_size": config["output_size"]}  # fmt: skip


#: DeepConvNet's default ``conv_param_1`` .. ``conv_param_6`` (the book's).
DEEP_CONV_PARAMS: tuple[dict[str, int], ...] = tuple(
    {"filter_num": n, "filter_size": 3, "pad": p, "stride": 1}
    for n, p in ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))
)


class DeepConvNet(ConvNet):
    """``DeepConvNet(input_dim=(1, 28, 28), conv_param_1=..., ..., conv_param_6=...,
    hidden_size=50, output_size=10)``, the book's ``ch08/deep_convnet.py`` (see the module
    docstring; He initial weights per layer). ``seed``, ``dtype``, ``device`` are mitbadak's
    keywords."""

    def __init__(
        self,
        input_dim=(1, 28, 28),
        conv_param_1: Mapping[str, Any] = DEEP_CONV_PARAMS[0],
        conv_param_2: Mapping[str, Any] = DEEP_CONV_PARAMS[1],
        conv_param_3: Mapping[str, Any] = DEEP_CONV_PARAMS[2],
        conv_param_4: Mapping[str, Any] = DEEP_CONV_PARAMS[3],
        conv_param_5: Mapping[str, Any] = DEEP_CONV_PARAMS[4],
        conv_param_6: Mapping[str, Any] = DEEP_CONV_PARAMS[5],
        hidden_size: int = 50,
        output_size: int = 10,
        *,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        shape = _input_dim(input_dim)
        params = (conv_param_1, conv_param_2, conv_param_3,
                  conv_param_4, conv_param_5, conv_param_6)  # fmt: skip
        layers: list[Any] = []
        current = shape
        for i, param in enumerate(params, start=1):
            conv = _conv_layer(current[0], param, None, f"conv_param_{i}")
            current = conv.output_shape(current)
            layers += [conv, Relu()]
            if i % 2 == 0:
                pool = Pooling(2, 2, stride=2)
                current = pool.output_shape(current)
                layers.append(pool)
        flat = int(np.prod(current))
        hidden = int(hidden_size)
        layers += [Affine.of_shape(flat, hidden, float(np.sqrt(2.0 / flat))), Relu(),
                   Dropout(0.5),
                   Affine.of_shape(hidden, output_size, float(np.sqrt(2.0 / hidden))),
                   Dropout(0.5)]  # fmt: skip
        self._arguments = {"input_dim": list(shape),
                           **{f"conv_param_{i}": _conv_dict(p, f"conv_param_{i}")
                              for i, p in enumerate(params, start=1)},
                           "hidden_size": hidden, "output_size": int(output_size)}  # fmt: skip
        self._assemble(layers, shape, int(output_size), 0.0, seed, dtype)
        self._move_to(device)

    def loss(self, x, t, train_flg: bool = True) -> float:
        """The book's ``loss(x, t)``: mean cross-entropy of ``predict(x, train_flg=True)``, so
        the dropout layers draw a fresh mask (training mode) unless ``train_flg=False``."""
        return super().loss(x, t, train_flg=train_flg)

    @classmethod
    def implied_arguments(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """input_dim, conv_param_1..6, hidden_size, output_size as the layer list states them."""
        convs = [e for e in config["layers"] if e["layer"] == "Convolution"]
        affines = [e for e in config["layers"] if e["layer"] == "Affine"]
        if len(convs) != 6:
            raise ValueError("a DeepConvNet has six convolutions")
        return {"input_dim": list(config["input_shape"]),
                **{f"conv_param_{i}": _stated_conv(e) for i, e in enumerate(convs, start=1)},
                "hidden_size": affines[0]["out_size"],
                "output_size": config["output_size"]}  # fmt: skip


register_config_class(SimpleConvNet)
register_config_class(DeepConvNet)


def _stated_conv(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The book's ``conv_param`` of a stated Convolution layer (square filters only)."""
    if entry["layer"] != "Convolution" or entry["filter_h"] != entry["filter_w"]:
        raise ValueError("not the book's square convolution")
    return {"filter_num": entry["filter_num"], "filter_size": entry["filter_h"],
            "pad": entry["pad"], "stride": entry["stride"]}  # fmt: skip


def _input_dim(input_dim) -> tuple[int, int, int]:
    """The book's ``input_dim`` (C, H, W), checked."""
    try:
        shape = tuple(int(s) for s in input_dim)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_dim must be (channels, height, width), got {input_dim!r}")
    check_window((1, *shape), 1, 1, 1, 0)
    return shape  # type: ignore[return-value]
