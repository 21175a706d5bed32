"""Networks of chapters 3-5: the fixed three-layer example, SimpleNet, TwoLayerNet, MultiLayerNet.

Parameters live in one dict per network (``net.params['W1']`` ...). The layers hold references to
the same arrays, so an optimizer that updates ``params`` in place updates the layers as well, and
``params`` is a :class:`ParamDict`: replacing an entry (``net.params['W1'] = W1 - lr * dW1``)
rebinds the layers to the new array, so both ways of writing the book's update train the network.
Every network takes a ``seed`` (int or ``numpy.random.Generator``) and a ``dtype``; nothing uses
NumPy's global random state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mitbadak.core import differentiation as _gradient
from mitbadak.core._checks import as_float_array, check_finite, check_x, check_xt
from mitbadak.core.backend import (
    array_namespace,
    device_name,
    device_namespace,
    is_host_array,
    to_device,
    to_host,
)
from mitbadak.core.functions import cross_entropy_error, identity_function, sigmoid, softmax
from mitbadak.nn import gradcheck
from mitbadak.nn.batchnorm import BatchNormalization
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.layers import ACTIVATIONS, Affine, SoftmaxWithLoss, layer_class

__all__ = [
    "init_network",
    "forward",
    "predict",
    "SimpleNet",
    "simpleNet",
    "ParamDict",
    "TwoLayerNet",
    "MultiLayerNet",
    "LayerNet",
    "FeedForwardNet",
    "named_specs",
    "buffer_shapes",
    "network_from_config",
    "param_shapes",
    "Network",
    "make_rng",
    "MultiLayerNetExtend",
    "register_device_scores",
    "register_config_class",
]

#: Device inference engines by array-module name (``"cupy"``): ``(supports(net), scores(net,
#: x2))``. nn imports no device code: ``mitbadak.devices.fused_step`` registers its fused CuPy
#: scores here when imported; the network itself never reads this table (its ``scores`` is the
#: layer path): ``mitbadak.training.steps``, where engines are chosen, does.
DEVICE_SCORES: dict[str, tuple[Callable[[Any], bool], Callable[[Any, Any], Any]]] = {}


def register_device_scores(
    module_name: str, supports: Callable[[Any], bool], scores: Callable[[Any, Any], Any]
) -> None:
    """On arrays of the module named ``module_name``, ``training.steps`` computes inference
    scores with ``scores(net, x2)`` whenever ``supports(net)``."""
    DEVICE_SCORES[module_name] = (supports, scores)


def make_rng(seed=None) -> np.random.Generator:
    """A NumPy Generator from an int seed, an existing Generator (used as is) or None (fresh)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# The parameter dict shared by every network.


class ParamKeyError(KeyError):
    """A key that is not one of the network's parameters (printed without KeyError's quotes)."""

    def __str__(self) -> str:
        return str(self.args[0])


def _host_value(value):
    """``value`` as host data when it is an array of a device library (else as it is)."""
    if isinstance(value, (np.ndarray, np.generic, list, tuple, str, bytes, int, float)):
        return value
    try:
        return to_host(value)
    except TypeError:
        return value  # not an array at all: the checks that follow word the error


def _rebuild_param_dict(items, dtype, on_set):
    return ParamDict(items, dtype=dtype, on_set=on_set)


class ParamDict(dict):
    """A network's parameters: a dict with fixed keys whose arrays are the ones the layers use.

    ``params[key] = value`` (the book's ``params['W1'] = params['W1'] - lr * grads['W1']``)
    replaces the parameter *and* rebinds the network's layers to the new array. ``value`` must
    have the parameter's shape and hold real numbers; an array of the network's dtype is stored as
    it is (no copy), any other real dtype (float64 into a float32 network, integer zeros) is
    converted to the network's dtype. Keys cannot be added or removed. In-place updates
    (``params['W1'] -= ...``, the optimizers) keep working as before.
    """

    def __init__(self, items, *, dtype, on_set=None) -> None:
        super().__init__(items)
        self._dtype = np.dtype(dtype)
        self._on_set = on_set

    def _unknown(self, key) -> ParamKeyError:
        return ParamKeyError(
            f"params has no {key!r}: this network's parameters are {', '.join(self)} "
            "(the keys are fixed by the architecture)"
        )

    def __setitem__(self, key, value) -> None:
        if key not in self:
            raise self._unknown(key)
        current = dict.__getitem__(self, key)
        if value is current:
            return  # `params[k] -= g` ends by storing the same array back: nothing to do
        if not isinstance(current, np.ndarray):  # the network lives on a device
            arr = self._on_device(key, value, current)
        else:
            arr = self._on_host(key, _host_value(value), current.shape)
        dict.__setitem__(self, key, arr)
        if self._on_set is not None:
            self._on_set(key, arr)

    def _on_device(self, key, value, current):
        """``value`` for a device network: device arrays of that device are checked for shape and
        cast to the parameter's dtype; anything else is checked on the host, then moved."""
        xp = array_namespace(current)
        if is_host_array(value) or array_namespace(value) is not xp:
            return to_device(self._on_host(key, _host_value(value), tuple(current.shape)), xp)
        if tuple(value.shape) != tuple(current.shape):
            raise ValueError(
                f"params[{key!r}] must have shape {tuple(current.shape)} (the network's {key}), "
                f"got {tuple(value.shape)}"
            )
        return value if value.dtype == current.dtype else xp.astype(value, current.dtype)

    def _on_host(self, key, value, shape) -> np.ndarray:
        """``value`` checked (real numbers, ``shape``) as a writeable array of the dtype."""
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiub":
            raise ValueError(
                f"params[{key!r}] must hold real numbers, got an array of dtype {arr.dtype}"
            )
        if arr.shape != shape:
            raise ValueError(
                f"params[{key!r}] must have shape {shape} (the network's {key}), "
                f"got {arr.shape}"
            )
        if arr.dtype != self._dtype or not arr.flags.writeable:
            arr = arr.astype(self._dtype)  # a new, writeable array in the network's dtype
        return arr

    def __delitem__(self, key) -> None:
        raise TypeError(
            f"cannot delete params[{key!r}]: a network's parameters are fixed by its architecture; "
            "assign a new array instead (params[key] = ...)"
        )

    def _no_removal(self, *args, **kwargs):
        raise TypeError(
            "cannot remove parameters: a network's parameters are fixed by its architecture"
        )

    pop = popitem = clear = _no_removal

    def update(self, other=(), /, **kwargs) -> None:
        """Assign several parameters, each checked as in ``params[key] = value``."""
        pairs = other.items() if hasattr(other, "items") else other
        for key, value in [*pairs, *kwargs.items()]:
            self[key] = value

    def __ior__(self, other):
        self.update(other)
        return self

    def setdefault(self, key, default=None):
        if key not in self:
            raise self._unknown(key)
        return self[key]

    def copy(self) -> dict:
        """A plain dict holding the same arrays (not copies of them)."""
        return dict(self)

    def __reduce__(self):
        return _rebuild_param_dict, (dict(self), self._dtype, self._on_set)


# --------------------------------------------------------------------------------------------
# Chapter 3: a three-layer network with fixed weights, forward pass only.


def init_network() -> dict[str, np.ndarray]:
    """The chapter-3 example's weights: 2 inputs -> 3 -> 2 -> 2 outputs."""
    return {
        "W1": np.array([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]),
        "b1": np.array([0.1, 0.2, 0.3]),
        "W2": np.array([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]),
        "b2": np.array([0.1, 0.2]),
        "W3": np.array([[0.1, 0.3], [0.2, 0.4]]),
        "b3": np.array([0.1, 0.2]),
    }


def forward(network: dict[str, np.ndarray], x) -> np.ndarray:
    """y = identity(sigmoid(sigmoid(x.W1 + b1).W2 + b2).W3 + b3).

    For ``init_network()`` and x = [1.0, 0.5] this gives [0.31682708, 0.69627909].
    """
    return identity_function(_chapter3_scores(network, x))


def _chapter3_scores(network, x) -> np.ndarray:
    """sigmoid(sigmoid(x.W1 + b1).W2 + b2).W3 + b3, after checking the weights and x."""
    x = as_float_array(x, finite=True)
    network = _check_chapter3_network(network)
    n_in = network["W1"].shape[0]
    if x.ndim == 0 or x.shape[-1] != n_in:
        given = "a scalar" if x.ndim == 0 else f"{x.shape[-1]} features per sample"
        raise ValueError(f"x has {given}, but the network expects {n_in}")
    z1 = sigmoid(x @ network["W1"] + network["b1"])
    z2 = sigmoid(z1 @ network["W2"] + network["b2"])
    return z2 @ network["W3"] + network["b3"]


def _check_chapter3_network(network) -> dict[str, np.ndarray]:
    """``forward``'s weights as float arrays: finite W1, b1, W2, b2, W3, b3 whose shapes chain."""
    names = ("W1", "b1", "W2", "b2", "W3", "b3")
    if not isinstance(network, dict) or not all(k in network for k in names):
        given = sorted(map(str, network)) if isinstance(network, dict) else type(network).__name__
        raise ValueError(f"network must be a dict of {', '.join(names)} arrays, got {given}")
    n_out = None
    arrays = {}
    for i in (1, 2, 3):
        W = arrays[f"W{i}"] = as_float_array(network[f"W{i}"], f"W{i}", finite=True)
        b = arrays[f"b{i}"] = as_float_array(network[f"b{i}"], f"b{i}", finite=True)
        if W.ndim != 2 or b.shape != (W.shape[1],):
            raise ValueError(f"W{i} must be (in, out) and b{i} (out,), got {W.shape} and {b.shape}")
        if n_out is not None and W.shape[0] != n_out:
            raise ValueError(f"W{i} has {W.shape[0]} rows, but layer {i - 1} has {n_out} outputs")
        n_out = W.shape[1]
    return arrays


def predict(network: dict[str, np.ndarray], x) -> np.ndarray:
    """y = softmax(sigmoid(sigmoid(x.W1 + b1).W2 + b2).W3 + b3): the book's chapter-3 classifier.

    ``network`` is a dict of W1, b1, W2, b2, W3, b3 such as ``load_book_weights()`` returns; ``x``
    is one sample (784,) -> probabilities (10,), or a batch (N, 784) -> (N, 10).
    """
    return softmax(_chapter3_scores(network, x))


# --------------------------------------------------------------------------------------------
# Chapter 4: the smallest learnable network.


class SimpleNet:
    """One 2x3 weight matrix: scores = x . W; loss = cross_entropy_error(softmax(scores), t).

    ``W`` is drawn from a standard normal with the given ``seed`` (or passed in directly).
    ``net.W`` and ``net.params['W']`` are the same array; ``net.W -= ...`` updates it in place and
    ``net.W = ...`` or ``net.params['W'] = ...`` replace it (shape (2, 3), converted to ``dtype``).
    """

    def __init__(self, W=None, *, seed=None, dtype=np.float64) -> None:
        if W is None:
            W = make_rng(seed).standard_normal((2, 3))
        W = np.array(W, dtype=dtype)
        if W.shape != (2, 3):
            raise ValueError(f"SimpleNet's W must have shape (2, 3), got {W.shape}")
        self.dtype = W.dtype
        self.params = ParamDict({"W": W}, dtype=self.dtype)

    @property
    def W(self) -> np.ndarray:
        """The weights: the same array as ``params['W']``."""
        return self.params["W"]

    @W.setter
    def W(self, value) -> None:
        self.params["W"] = value

    def predict(self, x) -> np.ndarray:
        """scores = x . W"""
        x = as_float_array(x)
        check_finite(x)
        if x.shape[-1] != 2:
            raise ValueError(f"x has {x.shape[-1]} features per sample, but SimpleNet expects 2")
        return x @ self.W

    def loss(self, x, t) -> float:
        """cross_entropy_error(softmax(x . W), t)"""
        return float(cross_entropy_error(softmax(self.predict(x)), t))

    def numerical_gradient(self, x, t) -> dict[str, np.ndarray]:
        """dL/dW by central differences (the book's chapter-4 ``numerical_gradient(f, net.W)``):
        one element of W at a time, the book's way (six weights: there is no faster path)."""
        return {"W": _gradient.numerical_gradient(lambda _w: self.loss(x, t), self.W)}


#: The book's spelling (``simpleNet`` in ``ch04/gradient_simplenet.py``).
simpleNet = SimpleNet


# --------------------------------------------------------------------------------------------
# Chapters 4-5: fully connected networks built from layers.


@runtime_checkable
class Network(Protocol):
    """The public contract the trainer, gradcheck, evaluation, the CLI and the web pages use.

    ``x2`` is a checked 2-D batch of the network's dtype and ``t_idx`` integer labels (N,)
    (``net.prepare(x, t)`` makes both); the methods taking them skip validation for speed.
    """

    input_size: int
    output_size: int
    dtype: np.dtype

    @property
    def params(self) -> dict[str, np.ndarray]: ...

    def set_params(self, params: dict[str, np.ndarray]) -> None: ...

    def config(self) -> dict[str, Any]: ...

    def scores(self, x2: np.ndarray) -> np.ndarray: ...

    def loss_and_gradient(
        self, x2: np.ndarray, t_idx: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]: ...


class LayerNet:
    """A network as an ordered list of layers, then ``SoftmaxWithLoss``: math only.

    Each layer declares its parameters (:class:`~mitbadak.nn.layers.ParamSpec`); the network
    names them by position (stem + the count of earlier layers with that stem: ``W1``, ``b1``,
    ``W2``, ``gamma1``...), draws them from ``seed`` in layer order on the host, and keeps them in
    one :class:`ParamDict` whose arrays the layers use. ``buffers`` holds the layers' non-trainable
    state (named the same way); stochastic layers get a seeded ``rng`` each (:meth:`rng_states`).
    ``loss`` adds 0.5 * weight_decay_lambda * sum ||p||^2 over the parameters whose spec says
    ``decay`` (the weights W, not the biases).

    ``input_shape`` is one sample's shape (an int for a flat vector, or e.g. (1, 28, 28) for a
    convnet, which then receives (N, 1, 28, 28) batches; data may be given flat). ``output_size``
    defaults to the last dimension of the last parameterised layer's first parameter.

    Every method computes with the array module of the parameters (NumPy, CuPy, PyTorch through
    ``array_namespace``); which engine runs a training step is chosen outside, by
    ``mitbadak.training.steps.choose_step``. ``device`` ('cpu', 'gpu', 'auto' or an array module)
    says where the parameters live; ``net.to(device)`` moves them, ``net.device`` says where.
    """

    architecture = "LayerNet"

    def __init__(
        self,
        layers,
        *,
        input_shape,
        output_size: int | None = None,
        weight_decay_lambda: float = 0.0,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        self._assemble(list(layers), input_shape, output_size, weight_decay_lambda, seed, dtype)
        self._move_to(device)

    def _move_to(self, device) -> None:
        if not (isinstance(device, str) and device.strip().lower() == "cpu"):
            self.to(device)

    def _assemble(self, layers, input_shape, output_size, weight_decay_lambda, seed, dtype):
        """Name, allocate and bind every layer's parameters and buffers (the one place)."""
        shape = (input_shape,) if isinstance(input_shape, int | np.integer) else input_shape
        self.input_shape = tuple(int(s) for s in shape)
        if not self.input_shape or any(s < 1 for s in self.input_shape):
            raise ValueError(f"input_shape must be positive sizes, got {input_shape!r}")
        self.input_size = int(np.prod(self.input_shape))
        if weight_decay_lambda < 0:
            raise ValueError(f"weight_decay_lambda must be >= 0, got {weight_decay_lambda}")
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(
                f"dtype must be a floating type (float32 or float64), got {self.dtype}"
            )
        if not layers:
            raise ValueError("a network needs at least one layer")
        self.sequence: list[Any] = layers
        self.layers: OrderedDict[str, Any] = OrderedDict()
        self._slots: dict[str, tuple[Any, str]] = {}
        self._buffer_slots: dict[str, tuple[Any, str]] = {}
        self.decayed: tuple[str, ...] = ()
        rng = make_rng(seed)
        params: dict[str, np.ndarray] = {}
        buffers: dict[str, np.ndarray] = {}
        names, param_specs, buffer_specs = named_specs(layers)
        self.layers.update(names)
        for name, (layer, spec) in param_specs.items():  # layer order: the seed's draws
            self._slots[name] = (layer, spec.stem)
            given = layer.params.get(spec.stem)
            params[name] = (spec.initial(rng, self.dtype) if given is None
                            else np.array(given, dtype=self.dtype))  # fmt: skip
            if spec.decay:
                self.decayed += (name,)
        for name, (layer, spec) in buffer_specs.items():
            self._buffer_slots[name] = (layer, spec.stem)
            given = layer.buffers.get(spec.stem)  # e.g. BatchNormalization(running_mean=...)
            buffers[name] = (spec.initial(rng, self.dtype) if given is None
                             else np.array(_host_value(given), dtype=self.dtype))  # fmt: skip
        first = next((i for i, la in enumerate(layers) if la.param_specs()), len(layers) - 1)
        self._first_param_layer = first
        for i, layer in enumerate(layers):
            layer.input_grad = i > first
        for layer in layers:
            if layer.stochastic:
                layer.rng = np.random.default_rng(int(rng.integers(2**63)))
        if output_size is None:
            if not self._slots:
                raise ValueError("output_size must be given for a network without parameters")
            output_size = _last_out(layers)
        self.output_size = int(output_size)
        self._xp = np  # the array module of the parameters (see to())
        self._params = ParamDict(params, dtype=self.dtype, on_set=self._rebind)
        self.buffers: dict[str, Any] = buffers
        self._bind_all()
        self.last_layer = SoftmaxWithLoss()

    # -- device ------------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Where the parameters live: 'cpu' (NumPy), 'gpu' (CuPy), else the array module's name."""
        return device_name(self._xp)

    def to(self, device) -> LayerNet:
        """Move the parameters and buffers to ``device`` ('cpu', 'gpu', 'auto' or an array
        module); returns the network. Values and dtype are unchanged (bit-exact); the layers are
        bound to the moved arrays, as after ``set_params``. Raises DeviceError for 'gpu' without
        CuPy/GPU."""
        xp = device_namespace(device)
        if xp is self._xp:
            return self
        moved = to_device(dict(self._params), xp)
        buffers = to_device(dict(self.buffers), xp) if self.buffers else {}
        if xp is np:  # back on the host: own writeable copies, never views of device memory
            moved = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in moved.items()}
            buffers = {k: np.array(v, dtype=self.dtype, copy=True) for k, v in buffers.items()}
        self._xp = xp
        self._params = ParamDict(moved, dtype=self.dtype, on_set=self._rebind)
        self.buffers = buffers
        self._bind_all()
        return self

    def __getstate__(self) -> dict[str, Any]:
        # (pickle: a module cannot be pickled, and device memory belongs to this process)
        if self._xp is not np:
            raise TypeError(
                f"a network on device {self.device!r} cannot be pickled: "
                "move it to the host first (net.to('cpu'))"
            )
        return {**self.__dict__, "_xp": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _xp=np)

    def _on_net_device(self, *arrays):
        """Checked host arrays moved to the network's device (as they are on the CPU)."""
        if self._xp is np:
            return arrays if len(arrays) > 1 else arrays[0]
        moved = tuple(to_device(a, self._xp) for a in arrays)
        return moved if len(moved) > 1 else moved[0]

    # -- parameters, buffers, generators ------------------------------------------------------
    @property
    def params(self) -> ParamDict:
        """W1, b1, W2, b2, ...: the arrays the layers use (see :class:`ParamDict`).

        ``net.params['W1'] = new`` replaces one parameter (the layers follow); assigning a whole
        dict (``net.params = {...}``) replaces them all, arrays of the network's dtype uncopied.
        """
        return self._params

    @params.setter
    def params(self, params) -> None:
        self._check_param_shapes(params)
        if self._xp is np:
            arrays = {k: np.asarray(_host_value(params[k]), dtype=self.dtype) for k in self._params}
        else:
            arrays = {k: self._device_param(params[k]) for k in self._params}
        self._params = ParamDict(arrays, dtype=self.dtype, on_set=self._rebind)
        self._bind_all()

    def _device_param(self, value):
        """``value`` as an array of the network's dtype on its device (moved when elsewhere)."""
        if not is_host_array(value) and array_namespace(value) is self._xp:
            return value if value.dtype == self.dtype else self._xp.astype(value, self.dtype)
        return to_device(np.asarray(_host_value(value), dtype=self.dtype), self._xp)

    def _rebind(self, key: str, arr: np.ndarray) -> None:
        """Point the layer that uses parameter ``key`` at ``arr``."""
        layer, stem = self._slots[key]
        layer.params[stem] = arr

    def _bind_all(self) -> None:
        """Every layer's ``params``/``buffers`` entries are the network's arrays (no copies)."""
        for key, (layer, stem) in self._slots.items():
            layer.params[stem] = self._params[key]
        for key, (layer, stem) in self._buffer_slots.items():
            layer.buffers[stem] = self.buffers[key]

    def set_buffers(self, buffers: dict[str, Any]) -> None:
        """Replace the buffers with copies of ``buffers`` (same names and shapes) on this device."""
        if set(buffers) != set(self.buffers):
            raise ValueError(
                f"buffers {sorted(buffers)} do not match this network's {sorted(self.buffers)}"
            )
        new = {}
        for k, current in self.buffers.items():
            arr = np.array(_host_value(buffers[k]), dtype=self.dtype)
            if arr.shape != tuple(current.shape):
                raise ValueError(f"buffer {k} has shape {arr.shape}, expected {current.shape}")
            new[k] = arr if self._xp is np else to_device(arr, self._xp)
        self.buffers = new
        self._bind_all()

    def rng_states(self) -> dict[str, dict]:
        """The generator state of each stochastic layer, by layer name (for checkpoints)."""
        return {name: layer.rng.bit_generator.state for name, layer in self.layers.items()
                if layer.stochastic}  # fmt: skip

    def set_rng_states(self, states: dict[str, dict]) -> None:
        """Restore :meth:`rng_states` (a resumed run draws the same masks)."""
        for name, state in states.items():
            self.layers[name].rng.bit_generator.state = state

    @property
    def lastLayer(self) -> SoftmaxWithLoss:  # noqa: N802 - the book's name
        """The book's name for :attr:`last_layer` (the SoftmaxWithLoss layer)."""
        return self.last_layer

    @lastLayer.setter
    def lastLayer(self, layer) -> None:  # noqa: N802
        self.last_layer = layer

    def set_params(self, params: dict[str, np.ndarray]) -> None:
        """Replace all parameters with copies (checked against the architecture); rebind layers."""
        self._check_param_shapes(params)
        self.params = {
            k: np.array(_host_value(params[k]), dtype=self.dtype) for k in self._params
        }  # host copies (a device network's setter moves them)

    def _check_param_shapes(self, params) -> None:
        expected = {k: tuple(v.shape) for k, v in self._params.items()}
        given = {k: tuple(np.shape(v)) for k, v in params.items()}
        if set(given) != set(expected):
            raise ValueError(
                f"parameters {sorted(given)} do not match this network's {sorted(expected)}"
            )
        for k, shape in expected.items():
            if given[k] != shape:
                raise ValueError(
                    f"parameter {k} has shape {given[k]}, but the network expects {shape}"
                )

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture (not the weights): JSON-serialisable.
        Each layer is ``{"layer": class name, **layer.config()}``."""
        return {
            "architecture": self.architecture,
            "input_shape": list(self.input_shape),
            "output_size": self.output_size,
            "layers": [{"layer": type(la).__name__, **la.config()} for la in self.sequence],
            "weight_decay_lambda": self.weight_decay_lambda,
            "dtype": self.dtype.name,
        }

    def copy(self, *, dtype=None) -> LayerNet:
        """A new network of the same architecture holding copies of these parameters and buffers,
        in ``dtype`` (default: this network's). ``gradcheck`` takes its float64 copy from here."""
        config = self.config() if dtype is None else dict(self.config(), dtype=np.dtype(dtype).name)
        net = network_from_config(config, {k: to_host(v) for k, v in self.params.items()})
        if self.buffers:
            net.set_buffers({k: to_host(v) for k, v in self.buffers.items()})
        net.set_rng_states(self.rng_states())  # the copy draws the same dropout masks
        return net

    def __repr__(self) -> str:
        where = "" if self._xp is np else f", device={self.device!r}"
        names = ", ".join(self.layers)
        return f"{type(self).__name__}([{names}], dtype={self.dtype.name}{where})"

    # -- checked public API -----------------------------------------------------------------
    def prepare_x(self, x) -> np.ndarray:
        """``x`` checked (finite numbers, (N, input_size), (N, *input_shape) or one sample) as a
        2-D array of the network's dtype: what the unchecked methods below take."""
        x = _host_value(x)
        self._check_sample_shape(x)
        return check_x(x, self.input_size).astype(self.dtype, copy=False)

    def prepare(self, x, t) -> tuple[np.ndarray, np.ndarray]:
        """``(x2, t_idx)``: x as in :meth:`prepare_x`, t (labels or one-hot) as integer labels."""
        x = _host_value(x)
        self._check_sample_shape(x)
        x2, t_idx = check_xt(x, _host_value(t), self.input_size, self.output_size)
        return x2.astype(self.dtype, copy=False), t_idx

    def _check_sample_shape(self, x) -> None:
        """For an N-D input shape, a batch is (N, *input_shape) or flat (N, input_size); a ragged
        or non-numeric ``x`` is left to ``check_x``, which words it."""
        if len(self.input_shape) <= 1:
            return
        try:
            shape = np.shape(x)
        except ValueError:  # ragged nested lists
            return
        if len(shape) > 2 and tuple(shape[1:]) != self.input_shape:
            raise ValueError(
                f"x has samples of shape {tuple(shape[1:])}, but the network expects "
                f"{self.input_shape} (or {self.input_size} values per sample)"
            )

    def predict(self, x, train_flg: bool = False) -> np.ndarray:
        """Scores before softmax: (N, output_size) for a batch, and (output_size,) for one 1-D
        sample (input_size,), as in the book; ``train_flg`` as the book's (Dropout, BatchNorm).

        The book's layer-by-layer forward (:meth:`forward_layers`); the trainer and evaluation
        run the same numbers through their step (``training.steps``), the tests hold them equal.
        """
        scores = self.forward_layers(self._on_net_device(self.prepare_x(x)), train_flg)
        return scores[0] if np.ndim(x) == 1 else scores

    def predict_proba(self, x) -> np.ndarray:
        """softmax(predict(x)): class probabilities, each row summing to 1."""
        return softmax(self.predict(x))

    def loss(self, x, t, train_flg: bool = False) -> float:
        """Mean cross-entropy of softmax(predict(x)) against t (+ the weight-decay penalty)."""
        x2, t2 = self.prepare(x, t)
        return float(self.batch_loss(*self._on_net_device(x2, t2), train_flg=train_flg))

    def accuracy(self, x, t, batch_size: int | None = None) -> float:
        """Fraction of samples whose highest score is the label (t: integer or one-hot)."""
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        x2, t2 = self.prepare(x, t)
        labels = self.predict_labels(self._on_net_device(x2), batch_size, self._accuracy_scores())
        return float(np.mean(to_host(labels) == t2))

    def _accuracy_scores(self):
        """The engine :meth:`accuracy` reads scores from: the layers (a subclass may name a
        fast path tested equal to them)."""
        return self.scores

    def gradient(self, x, t) -> dict[str, np.ndarray]:
        """dL/dparam for every parameter by backpropagation through the layers (the book's way:
        :meth:`loss_and_gradient_layers`, with ``train_flg=True``)."""
        x2, t2 = self.prepare(x, t)
        return self.loss_and_gradient_layers(*self._on_net_device(x2, t2))[1]

    def numerical_gradient(
        self, x, t, h: float = 1e-4, *, method: str = "auto"
    ) -> dict[str, np.ndarray]:
        """dL/dparam for every parameter by central differences (chapter 4), computed in float64:
        (L(p + h) - L(p - h)) / 2h for each element p of each parameter.

        By default (``method='auto'``) this is the fast engine wherever one exists, i.e. for one
        hidden layer (every ``TwoLayerNet``): ``gradcheck.numerical_gradient_fast`` evaluates the
        same central differences while recomputing only what a perturbation changes, batching
        many perturbations into one array operation; the same numbers (to ~1e-12, held to 1e-9
        by the tests) in about 20 ms for 784-50-10 on 100 images. Deeper networks have no fast
        engine and take the book's loop. ``method='fast'`` asks for the fast engine (an error
        for deeper networks).

        ``method='reference'`` is the book's way: perturb one parameter at a time and rerun the
        whole network (``gradcheck.numerical_gradient_reference``, on a float64 copy; the
        network itself is never touched). That costs two forward passes per parameter:
        784-50-10 (39,760 parameters) on a batch of 100 takes about 20 s, as the book warns. Use
        it to see that slowness, or to check the fast engine.
        """
        x2, t2 = self.prepare(x, t)
        if method not in ("auto", "fast", "reference"):
            raise ValueError(f"method must be 'auto', 'fast' or 'reference', got {method!r}")
        if self._xp is not np:  # numerical gradients are a host computation (float64, NumPy)
            return self.copy().to("cpu").numerical_gradient(x2, t2, h, method=method)
        if method == "reference" or (method == "auto" and not gradcheck.supports_fast(self)):
            return gradcheck.numerical_gradient_reference(self, x2, t2, h)
        return gradcheck.numerical_gradient_fast(self, x2, t2, h)

    # -- the book's layer-by-layer path (unchecked: x2, t_idx from prepare/prepare_x) ---------
    def forward_layers(self, x2: np.ndarray, train_flg: bool = False) -> np.ndarray:
        """Scores by ``forward`` through every layer in order (fills the layers' caches); a flat
        batch is first shaped (N, *input_shape)."""
        out = x2
        if len(self.input_shape) > 1 and out.ndim == 2:
            out = out.reshape((out.shape[0], *self.input_shape))
        for layer in self.sequence:
            out = layer.forward(out, train_flg) if layer.train_flag else layer.forward(out)
        return out

    def batch_loss(self, x2: np.ndarray, t_idx: np.ndarray, train_flg: bool = False) -> float:
        """SoftmaxWithLoss of :meth:`forward_layers` + the weight penalty, on checked input."""
        scores = self.forward_layers(x2, train_flg)
        return self.last_layer.forward(scores, t_idx) + self.weight_penalty()

    def loss_and_gradient_layers(
        self, x2: np.ndarray, t_idx: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Forward through every layer (``train_flg=True``), then backward through them in
        reverse, down to the first layer with parameters; grads keyed like ``params``."""
        loss = self.batch_loss(x2, t_idx, train_flg=True)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.sequence[self._first_param_layer :]):
            dout = layer.backward(dout)
        grads: dict[str, np.ndarray] = {}
        lam = self.weight_decay_lambda
        for key, (layer, stem) in self._slots.items():
            g = layer.grads[stem]
            grads[key] = g + lam * layer.params[stem] if lam and key in self.decayed else g
        return loss, grads

    #: The :class:`Network` contract's names: the layer path is the network's math (the fast
    #: engines are chosen by ``training.steps`` and tested against it).
    loss_and_gradient = loss_and_gradient_layers

    def scores(self, x2: np.ndarray) -> np.ndarray:
        """Inference scores of a checked batch (test mode): :meth:`forward_layers`."""
        return self.forward_layers(x2, False)

    def weight_penalty(self) -> float:
        """0.5 * weight_decay_lambda * sum ||p||^2 over the decayed parameters (the weights)."""
        if self.weight_decay_lambda == 0:
            return 0.0
        if self._xp is not np:  # a 0-d device array: no wait for the device in a training step
            xp = self._xp
            total = sum(xp.sum(self.params[k] ** 2) for k in self.decayed)
            return 0.5 * self.weight_decay_lambda * total
        total = sum(float(np.sum(self.params[k] ** 2)) for k in self.decayed)
        return 0.5 * self.weight_decay_lambda * total

    def predict_labels(self, x2: np.ndarray, batch_size: int | None = None, scores=None):
        """argmax of the scores per sample, ``batch_size`` rows at a time (None: all);
        ``scores`` (default :meth:`scores`) is the engine that computes them."""
        xp = self._xp
        scores = self.scores if scores is None else scores
        if batch_size is None:
            return xp.argmax(scores(x2), axis=1)
        parts = [
            xp.argmax(scores(x2[i : i + batch_size]), axis=1)
            for i in range(0, x2.shape[0], batch_size)
        ]
        if xp is np:
            return np.concatenate(parts)
        # the array API's `concat`; CuPy 13 spells it only `concatenate`
        concat = getattr(xp, "concat", None) or xp.concatenate
        return concat(parts)


def _last_out(layers) -> int:
    """The output size of a layer list: the last dim of the last parameterised layer's first
    parameter (an Affine's W (in, out) gives out)."""
    last = [la for la in layers if la.param_specs()][-1]
    return int(last.param_specs()[0].shape[-1])


class FeedForwardNet(LayerNet):
    """Affine -> activation -> ... -> Affine -> SoftmaxWithLoss, with parameters W1, b1, W2, b2, ...

    A :class:`LayerNet` whose list is built from sizes: ``Affine.of_shape`` for each pair of
    sizes, an activation layer (``ACTIVATIONS[activation]``) between them. ``weight_init`` is
    'he' (sqrt(2/n_in)), 'xavier' (sqrt(1/n_in)) or a fixed standard deviation.
    ``input_size`` is an int, or a sample shape such as (1, 28, 28) (then ``input_shape``).
    """

    architecture = "FeedForwardNet"

    def __init__(
        self,
        input_size,
        hidden_sizes: list[int],
        output_size: int,
        *,
        activation: str = "relu",
        weight_init: str | float = "he",
        weight_decay_lambda: float = 0.0,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        shape, sizes = _chain_sizes(input_size, hidden_sizes, output_size, activation)
        self.hidden_sizes = sizes[1:-1]
        self.activation = activation
        self.weight_init = weight_init
        layers: list[Any] = []
        for i in range(1, len(sizes)):
            std = _init_std(weight_init, sizes[i - 1], activation)
            layers.append(Affine.of_shape(sizes[i - 1], sizes[i], std))
            if i < len(sizes) - 1:
                layers.append(ACTIVATIONS[activation]())
        self._assemble(layers, shape, sizes[-1], weight_decay_lambda, seed, dtype)
        self._move_to(device)

    @property
    def n_affine(self) -> int:
        return len(self.hidden_sizes) + 1

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture (not the weights): JSON-serialisable."""
        config = {
            "architecture": self.architecture,
            "input_size": self.input_size,
            "hidden_sizes": list(self.hidden_sizes),
            "output_size": self.output_size,
            "activation": self.activation,
            "weight_init": self.weight_init,
            "weight_decay_lambda": self.weight_decay_lambda,
            "dtype": self.dtype.name,
        }
        if len(self.input_shape) > 1:
            config["input_shape"] = list(self.input_shape)
        return config

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in [self.input_size, *self.hidden_sizes, self.output_size])
        name = type(self).__name__
        where = "" if self._xp is np else f", device={self.device!r}"
        return f"{name}({sizes}, activation={self.activation!r}, dtype={self.dtype.name}{where})"


def named_specs(layers) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The names a network gives a layer list: ``(layers by name, {param name: (layer, spec)},
    {buffer name: (layer, spec)})``, all in layer order.

    A layer is named by its class and its count among layers of that class (``Affine1``,
    ``Relu1``, ``Affine2``: the book's keys); a parameter by its stem and the count of layers
    so far declaring that stem (``W1``, ``b1``, ``gamma1``, ``W2``: the book's names)."""
    names: dict[str, Any] = {}
    params: dict[str, Any] = {}
    buffers: dict[str, Any] = {}
    counts: dict[tuple[str, str], int] = {}

    def number(kind: str, key: str) -> int:
        counts[kind, key] = counts.get((kind, key), 0) + 1
        return counts[kind, key]

    for layer in layers:
        kind = type(layer).__name__
        names[f"{kind}{number('layer', kind)}"] = layer
        for table, specs, what in ((params, layer.param_specs(), "param"),
                                   (buffers, layer.buffer_specs(), "buffer")):  # fmt: skip
            for spec in specs:
                name = f"{spec.stem}{number(what, spec.stem)}"
                if name in params or name in buffers:
                    raise ValueError(f"two arrays would be named {name!r}; use another stem")
                table[name] = (layer, spec)
    return names, params, buffers


def param_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """W1, b1, W2, b2, ... and their shapes for ``config`` (as in ``net.config()``), without
    allocating anything. A sizes config: W_i is (size_{i-1}, size_i) and b_i is (size_i,) over
    input, hidden..., output sizes; a layer-list config: what its layers declare."""
    if config.get("architecture") == "LayerNet":
        return {k: tuple(spec.shape) for k, (_, spec) in
                named_specs(_layers_from_config(config))[1].items()}  # fmt: skip
    hidden = [int(h) for h in config["hidden_sizes"]]
    sizes = [int(config["input_size"]), *hidden, int(config["output_size"])]
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(1, len(sizes)):
        shapes[f"W{i}"] = (sizes[i - 1], sizes[i])
        shapes[f"b{i}"] = (sizes[i],)
    return shapes


def buffer_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The buffers' names and shapes for ``config`` (none for a sizes config)."""
    if config.get("architecture") != "LayerNet":
        return {}
    return {k: tuple(spec.shape) for k, (_, spec) in
            named_specs(_layers_from_config(config))[2].items()}  # fmt: skip


def _layers_from_config(config: dict[str, Any]) -> list[Any]:
    """The layer list of a ``LayerNet`` config (classes found by name, parameters unbound)."""
    entries = config["layers"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"'layers' must be a list of layer objects, got {entries!r}")
    layers = []
    for entry in entries:
        options = {k: v for k, v in entry.items() if k != "layer"}
        layers.append(layer_class(str(entry.get("layer"))).from_config(options))
    return layers


#: The named initial scales (the book's ``weight_init_std`` strings): He for ReLU, Xavier for
#: sigmoid/tanh.
WEIGHT_INIT_NAMES = ("relu", "he", "sigmoid", "xavier")


def _chain_sizes(
    input_size, hidden, output_size: int, activation: str
) -> tuple[tuple[int, ...], list[int]]:
    """``(input_shape, [n_in, *hidden, n_out])`` of an Affine/activation chain, checked: a
    registered activation and positive sizes (``input_size`` an int or a sample shape)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    shape = (input_size,) if isinstance(input_size, int | np.integer) else tuple(input_size)
    n_in = int(np.prod([int(s) for s in shape])) if shape else 0
    sizes = [n_in, *[int(h) for h in hidden], int(output_size)]
    if any(s < 1 for s in sizes) or any(int(s) < 1 for s in shape):
        raise ValueError(f"layer sizes must be positive integers, got {sizes}")
    return shape, sizes


def _init_std(
    weight_init: str | float, n_in: int, activation: str, what: str = "weight_init"
) -> float:
    """Standard deviation of the initial weights: He sqrt(2/n), Xavier sqrt(1/n), or a number."""
    if isinstance(weight_init, str):
        key = weight_init.lower()
        if key in ("he", "relu"):
            return float(np.sqrt(2.0 / n_in))
        if key in ("xavier", "sigmoid"):
            return float(np.sqrt(1.0 / n_in))
        raise ValueError(
            f"{what} must be one of {', '.join(repr(k) for k in WEIGHT_INIT_NAMES)} or a "
            f"number (a standard deviation), got {weight_init!r}"
        )
    try:
        std = float(weight_init)
    except (TypeError, ValueError):
        std = float("nan")
    if not np.isfinite(std) or std < 0:
        raise ValueError(
            f"{what} must be a non-negative standard deviation, got {weight_init!r}"
        )
    return std


class TwoLayerNet(FeedForwardNet):
    """The chapter-4/5 network: Affine -> activation -> Affine -> SoftmaxWithLoss.

    Weights start as weight_init_std * N(0, 1), biases at 0, as in the book.
    """

    architecture = "TwoLayerNet"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        activation: str = "sigmoid",
        *,
        weight_decay_lambda: float = 0.0,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        super().__init__(
            input_size,
            [hidden_size],
            output_size,
            activation=activation,
            weight_init=float(weight_init_std),
            weight_decay_lambda=weight_decay_lambda,
            seed=seed,
            dtype=dtype,
            device=device,
        )

    @property
    def hidden_size(self) -> int:
        return self.hidden_sizes[0]


class MultiLayerNet(FeedForwardNet):
    """Any number of hidden layers: ``MultiLayerNet(784, [100, 100], 10, activation='relu')``.

    ``weight_init`` is 'he' (sqrt(2/n_in), for ReLU), 'xavier' (sqrt(1/n_in), for sigmoid) or a
    fixed standard deviation.
    """

    architecture = "MultiLayerNet"

    def __init__(
        self,
        input_size: int,
        hidden_sizes,
        output_size: int,
        activation: str = "relu",
        weight_init: str | float = "he",
        *,
        weight_decay_lambda: float = 0.0,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        if isinstance(hidden_sizes, int | np.integer):
            hidden_sizes = [int(hidden_sizes)]
        super().__init__(
            input_size,
            list(hidden_sizes),
            output_size,
            activation=activation,
            weight_init=weight_init,
            weight_decay_lambda=weight_decay_lambda,
            seed=seed,
            dtype=dtype,
            device=device,
        )


class MultiLayerNetExtend(LayerNet):
    """The book's ``MultiLayerNetExtend`` as a layer list: for each hidden size h,
    ``Affine -> [BatchNormalization(h)] -> activation -> [Dropout(dropout_ration)]``, then the
    last ``Affine``, then SoftmaxWithLoss. Parameters ``W1, b1, gamma1, beta1, W2, ...``, the
    running statistics ``running_mean1, running_var1, ...`` as buffers; weight decay on the W
    only. ``weight_init_std``: 'relu'/'he' (sqrt(2/n_in)), 'sigmoid'/'xavier' (sqrt(1/n_in)) or
    a number. ``dropout_ration`` is the book's spelling; ``inverted_dropout=True`` picks inverted
    dropout (never the default). ``seed``, ``dtype``, ``device`` are mitbadak's keywords.

    ``predict(x, train_flg=False)`` and ``loss(x, t, train_flg=False)`` as in the book;
    ``gradient`` runs in training mode (BatchNorm's batch statistics, a fresh dropout mask) and
    ``numerical_gradient`` differentiates that same training-mode loss, every evaluation
    starting from the network's current generators and running statistics (so it sees the mask
    the next ``gradient`` call draws, and leaves the network untouched).
    """

    architecture = "MultiLayerNetExtend"

    def __init__(
        self,
        input_size,
        hidden_size_list,
        output_size: int,
        activation: str = "relu",
        weight_init_std: str | float = "relu",
        weight_decay_lambda: float = 0,
        use_dropout: bool = False,
        dropout_ration: float = 0.5,
        use_batchnorm: bool = False,
        *,
        inverted_dropout: bool = False,
        seed=None,
        dtype=np.float64,
        device="cpu",
    ) -> None:
        if activation not in ACTIVATIONS:  # named before the empty-list check, as before
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if isinstance(hidden_size_list, int | np.integer):
            hidden_size_list = [int(hidden_size_list)]
        hidden = list(hidden_size_list)
        if not hidden:
            raise ValueError(
                "hidden_size_list is empty: MultiLayerNetExtend needs at least one hidden layer "
                "(e.g. [100, 100]); for no hidden layer use a LayerNet of one Affine"
            )
        shape, sizes = _chain_sizes(input_size, hidden, output_size, activation)
        self.hidden_size_list = sizes[1:-1]
        self.hidden_layer_num = len(self.hidden_size_list)
        self.activation = activation
        # JSON-ready (np.logspace's np.float64 scales, as the book's batch_norm_test.py passes)
        self.weight_init_std = (weight_init_std if isinstance(weight_init_std, str)
                                else _init_std(weight_init_std, 1, activation, "weight_init_std"))
        self.use_dropout = bool(use_dropout)
        self.use_batchnorm = bool(use_batchnorm)
        self.inverted_dropout = bool(inverted_dropout)
        self.dropout_ration = float(dropout_ration)
        if self.use_dropout:
            Dropout(dropout_ration)  # one clear error for a ratio outside [0, 1), up front
        layers: list[Any] = []
        for i in range(1, len(sizes)):
            std = _init_std(weight_init_std, sizes[i - 1], activation, "weight_init_std")
            layers.append(Affine.of_shape(sizes[i - 1], sizes[i], std))
            if i == len(sizes) - 1:
                break
            if self.use_batchnorm:
                layers.append(BatchNormalization.of_size(sizes[i]))
            layers.append(ACTIVATIONS[activation]())
            if self.use_dropout:
                layers.append(Dropout(dropout_ration, inverted=self.inverted_dropout))
        self._assemble(layers, shape, sizes[-1], weight_decay_lambda, seed, dtype)
        self._move_to(device)

    def config(self) -> dict[str, Any]:
        """A ``LayerNet`` config (model files check the layer list) and, under ``"extend"``, the
        constructor's arguments, from which :func:`network_from_config` rebuilds this class."""
        config = super().config()
        config["extend"] = {
            "hidden_size_list": list(self.hidden_size_list),
            "activation": self.activation,
            "weight_init_std": self.weight_init_std,
            "use_dropout": self.use_dropout,
            "dropout_ration": self.dropout_ration,
            "use_batchnorm": self.use_batchnorm,
            "inverted_dropout": self.inverted_dropout,
        }
        return dict(config, architecture="LayerNet")

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in [self.input_size, *self.hidden_size_list,
                                          self.output_size])  # fmt: skip
        extras = "".join(
            f", {k}={v!r}" for k, v in (("use_batchnorm", self.use_batchnorm),
                                        ("use_dropout", self.use_dropout)) if v
        )  # fmt: skip
        where = "" if self._xp is np else f", device={self.device!r}"
        return (f"MultiLayerNetExtend({sizes}, activation={self.activation!r}{extras}, "
                f"dtype={self.dtype.name}{where})")  # fmt: skip


#: Layer-list networks rebuilt as their own class: a ``LayerNet`` config whose ``"constructor"``
#: is ``{"class": NAME, "arguments": {...}}`` is rebuilt by ``CONFIG_CLASSES[NAME].from_config(
#: config, dtype=, seed=)`` (``nn/convnets.py`` registers ``SimpleConvNet`` and ``DeepConvNet``
#: with :func:`register_config_class`; networks.py cannot import them: they import it).
CONFIG_CLASSES: dict[str, Any] = {}


def register_config_class(cls):
    """Let :func:`network_from_config` rebuild ``cls`` (a class decorator; ``cls.from_config``)."""
    CONFIG_CLASSES[cls.__name__] = cls
    return cls


def network_from_config(config: dict[str, Any], params: dict[str, np.ndarray] | None = None):
    """Rebuild a network from ``net.config()`` (and optionally load ``params`` into it)."""
    arch = config.get("architecture")
    common = {
        "weight_decay_lambda": float(config.get("weight_decay_lambda", 0.0)),
        "dtype": config.get("dtype", "float64"),
        "seed": 0,
    }
    try:
        if arch == "LayerNet" and isinstance(config.get("constructor"), dict):
            name = config["constructor"].get("class")
            if name not in CONFIG_CLASSES:
                raise ValueError(
                    f"the network config names class {name!r}; expected one of "
                    f"{sorted(CONFIG_CLASSES)}"
                )
            net = CONFIG_CLASSES[name].from_config(config, dtype=common["dtype"], seed=0)
            if params is not None:
                net.set_params(params)
            return net
        if arch == "LayerNet" and isinstance(config.get("extend"), dict):
            extend = config["extend"]
            # the sizes it states must be the layer list's (checked without allocating anything)
            n_in = int(np.prod([int(s) for s in config["input_shape"]]))
            sizes = [n_in, *[int(h) for h in extend["hidden_size_list"]],
                     int(config["output_size"])]  # fmt: skip
            stated = param_shapes(config)
            if any(stated.get(f"W{i}") != (sizes[i - 1], sizes[i]) for i in range(1, len(sizes))):
                raise ValueError("the network config's 'extend' does not match its 'layers'")
            net = MultiLayerNetExtend(
                config["input_shape"], extend["hidden_size_list"], int(config["output_size"]),
                activation=extend["activation"], weight_init_std=extend["weight_init_std"],
                use_dropout=bool(extend["use_dropout"]),
                dropout_ration=float(extend["dropout_ration"]),
                use_batchnorm=bool(extend["use_batchnorm"]),
                inverted_dropout=bool(extend.get("inverted_dropout", False)), **common,
            )  # fmt: skip
            if [e["layer"] for e in net.config()["layers"]] != [
                e.get("layer") for e in config["layers"]
            ]:
                raise ValueError("the network config's 'extend' does not match its 'layers'")
            if params is not None:
                net.set_params(params)
            return net
        if arch == "LayerNet":
            net = LayerNet(
                _layers_from_config(config), input_shape=config["input_shape"],
                output_size=int(config["output_size"]), **common,
            )  # fmt: skip
            if params is not None:
                net.set_params(params)
            return net
        hidden = [int(h) for h in config["hidden_sizes"]]
        if "activation" not in config:
            raise ValueError("the network config names no activation")
        shape = config.get("input_shape", config["input_size"])
        if arch == "TwoLayerNet":
            if len(hidden) != 1:
                raise ValueError(f"TwoLayerNet has one hidden layer, config says {hidden}")
            net = TwoLayerNet(
                shape, hidden[0], int(config["output_size"]),
                weight_init_std=float(config.get("weight_init", 0.01)),
                activation=config["activation"], **common,
            )
        elif arch in ("MultiLayerNet", "FeedForwardNet"):
            net = MultiLayerNet(
                shape, hidden, int(config["output_size"]),
                activation=config["activation"],
                weight_init=config.get("weight_init", "he"), **common,
            )
        else:
            raise ValueError(
                f"unknown architecture {arch!r}; expected TwoLayerNet, MultiLayerNet or LayerNet"
            )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"incomplete network config: {exc}") from None
    if params is not None:
        net.set_params(params)
    return net
