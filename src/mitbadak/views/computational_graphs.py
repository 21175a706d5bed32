"""Chapter 5's computational graphs, step by step, as plain JSON-ready dicts.

* :func:`apple_graph` and :func:`apple_orange_graph` - the shopping examples, built from
  :class:`MulLayer` and :class:`AddLayer`: every node's forward value, then the backward pass node
  by node with each local derivative (the node's ``backward(1)``) and the gradient it sends to
  each input (``backward(dout)``). The defaults reproduce the book: 220 and (2.2, 110, 200);
  715 and (2.2, 110, 3.3, 165, 650).
* :func:`network_graph` - a tiny network Affine -> ReLU/Sigmoid -> Affine -> SoftmaxWithLoss on
  2-3 samples, built from the library's layers: shapes and values at each node, forward then
  backward, and beside each parameter gradient the numerical gradient
  (:func:`mitbadak.numerical_gradient`) and their relative difference.

Every number returned is a Python float (or nested lists of them), so ``json.dumps`` takes the
result as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mitbadak.core.differentiation import numerical_gradient
from mitbadak.nn.activations import ACTIVATIONS as _REGISTRY
from mitbadak.nn.layers import AddLayer, Affine, MulLayer, SoftmaxWithLoss

__all__ = ["apple_graph", "apple_orange_graph", "network_graph", "relative_difference"]

#: Inputs of the shopping graphs must stay below this in size (the page's fields are free text).
MAX_INPUT = 1e12

# (node id, layer class, input edges, output edge); the order is the forward order
_APPLE = (
    ("mul_apple", MulLayer, ("apple", "apple_num"), "apple_price"),
    ("mul_tax", MulLayer, ("apple_price", "tax"), "price"),
)
_APPLE_ORANGE = (
    ("mul_apple", MulLayer, ("apple", "apple_num"), "apple_price"),
    ("mul_orange", MulLayer, ("orange", "orange_num"), "orange_price"),
    ("add_apple_orange", AddLayer, ("apple_price", "orange_price"), "all_price"),
    ("mul_tax", MulLayer, ("all_price", "tax"), "price"),
)


def apple_graph(apple: float = 100, apple_num: float = 2, tax: float = 1.1) -> dict[str, Any]:
    """price = apple * apple_num * tax, forward and backward (book: 220; 2.2, 110, 200)."""
    return _run_graph(_APPLE, {"apple": apple, "apple_num": apple_num, "tax": tax})


def apple_orange_graph(
    apple: float = 100,
    apple_num: float = 2,
    orange: float = 150,
    orange_num: float = 3,
    tax: float = 1.1,
) -> dict[str, Any]:
    """price = (apple * apple_num + orange * orange_num) * tax, forward and backward.

    Book: price 715; d/d apple 2.2, apple_num 110, orange 3.3, orange_num 165, tax 650.
    """
    inputs = {
        "apple": apple,
        "apple_num": apple_num,
        "orange": orange,
        "orange_num": orange_num,
        "tax": tax,
    }
    return _run_graph(_APPLE_ORANGE, inputs)


def _run_graph(spec, raw_inputs: dict[str, Any]) -> dict[str, Any]:
    """Forward through the nodes in order, then backward in reverse, recording every step.

    Returns ``{"inputs", "nodes", "forward", "backward", "values", "grads", "price", "display"}``;
    ``grads[edge]`` is d price / d edge for every edge (inputs and intermediate values);
    ``display`` holds the same numbers as strings with 10 significant digits.
    """
    values = {name: _number(name, v) for name, v in raw_inputs.items()}
    layers = {}
    forward = []
    for node, layer_cls, ins, out in spec:
        layer = layer_cls()
        layers[node] = layer
        values[out] = float(layer.forward(*(values[i] for i in ins)))
        forward.append(
            {
                "node": node,
                "layer": layer_cls.__name__,
                "inputs": {i: values[i] for i in ins},
                "output": {out: values[out]},
            }
        )
    grads: dict[str, float] = {spec[-1][3]: 1.0}  # d price / d price
    backward = []
    for node, layer_cls, ins, out in reversed(spec):
        layer = layers[node]
        dout = grads[out]
        local = [float(v) for v in layer.backward(1.0)]  # d out / d input, for each input
        sent = [float(v) for v in layer.backward(dout)]  # dout * local derivative
        for name, g in zip(ins, sent, strict=True):
            grads[name] = grads.get(name, 0.0) + g
        backward.append(
            {
                "node": node,
                "layer": layer_cls.__name__,
                "dout": {out: dout},
                "local": dict(zip(ins, local, strict=True)),
                "grads": dict(zip(ins, sent, strict=True)),
            }
        )
    return {
        "inputs": {k: values[k] for k in raw_inputs},
        "nodes": [
            {"node": node, "layer": cls.__name__, "inputs": list(ins), "output": out}
            for node, cls, ins, out in spec
        ],
        "forward": forward,
        "backward": backward,
        "values": values,
        "grads": grads,
        "price": values[spec[-1][3]],
        # what a page shows: 10 significant digits hide float noise (220.00000000000003 -> 220)
        "display": {
            "values": {k: f"{v:.10g}" for k, v in values.items()},
            "grads": {k: f"{v:.10g}" for k, v in grads.items()},
        },
    }


def _number(name: str, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or abs(number) > MAX_INPUT:
        raise ValueError(
            f"{name} must be a finite number below {MAX_INPUT:g} in size, got {value!r}"
        )
    return number


# --- the tiny network ---------------------------------------------------------------------

DEFAULT_X = ((1.0, 0.5), (-0.5, 1.5), (0.3, -0.8))
DEFAULT_T = (0, 1, 2)
MAX_SAMPLES, MAX_FEATURES, MAX_HIDDEN, MAX_CLASSES = 4, 4, 6, 5
ACTIVATIONS = _REGISTRY  # every registered activation (nn/activations.py), read live


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max|a - b| / max(max|a|, max|b|): the worst difference relative to the gradient's scale
    (the same measure as :func:`mitbadak.gradient_check`); 0 when both are all zero."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b)))) if a.size else 0.0
    return float(np.max(np.abs(a - b))) / scale if scale > 0 else 0.0


def network_graph(
    x: Sequence[Sequence[float]] | np.ndarray | None = None,
    t: Sequence[int] | np.ndarray | None = None,
    *,
    hidden: int = 3,
    n_classes: int | None = None,
    activation: str = "relu",
    params: dict[str, Any] | None = None,
    seed: int = 0,
    h: float = 1e-4,
    dtype: str = "float64",
) -> dict[str, Any]:
    """Affine1 -> ReLU/Sigmoid -> Affine2 -> SoftmaxWithLoss on a few samples, step by step.

    x: (N, D) with N <= 4, D <= 4 (default 3 samples of 2 features); t: N integer labels;
    n_classes: default max(t) + 1 (at least 2). Parameters are ``params`` (W1 (D, H), b1 (H,),
    W2 (H, C), b2 (C,)) or drawn from ``seed``: N(0, 0.5^2) rounded to 2 decimals, biases 0.
    Returns ``{"params", "nodes", "forward", "backward", "gradcheck", "loss", "kinks"}``: forward
    steps with each node's input/output shapes and values, backward steps with the gradient arriving
    (dout) and the gradients sent to the inputs and parameters, and per parameter the backprop
    gradient, the numerical gradient (central differences with step ``h``) and max_abs/relative
    difference. ``kinks`` lists ReLU inputs within ``h`` of 0, where the numerical gradient
    straddles the kink and the two gradients may honestly disagree. ``dtype='float32'`` runs
    everything in single precision, the other classic reason for disagreement: rounding of
    L(w + h) - L(w - h) then swamps the difference.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    h = float(h)
    if not (math.isfinite(h) and 0 < h <= 1):
        raise ValueError(f"h must be a positive number no larger than 1, got {h!r}")
    xa = _matrix(DEFAULT_X if x is None else x)
    n, d = xa.shape
    ta = _labels(DEFAULT_T[:n] if t is None and n <= 3 else t, n)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if isinstance(hidden, bool) or int(hidden) != hidden or not 1 <= hidden <= MAX_HIDDEN:
        raise ValueError(f"hidden must be a whole number 1 to {MAX_HIDDEN}, got {hidden!r}")
    hidden = int(hidden)
    c = max(2, int(ta.max()) + 1) if n_classes is None else int(n_classes)
    if not 2 <= c <= MAX_CLASSES:
        raise ValueError(f"n_classes must be 2 to {MAX_CLASSES}, got {n_classes!r}")
    if int(ta.max()) >= c:
        raise ValueError(f"label {int(ta.max())} is out of range for {c} classes (0 to {c - 1})")
    shapes = {"W1": (d, hidden), "b1": (hidden,), "W2": (hidden, c), "b2": (c,)}
    p = {k: v.astype(dtype) for k, v in _params(params, shapes, seed).items()}
    xa = xa.astype(dtype)

    affine1 = Affine(p["W1"], p["b1"])  # input_grad on: the page shows dx too
    act = ACTIVATIONS[activation]()
    affine2 = Affine(p["W2"], p["b2"])
    last = SoftmaxWithLoss()
    act_name = type(act).__name__

    a1 = affine1.forward(xa)
    z1 = act.forward(a1)
    scores = affine2.forward(z1)
    loss = float(last.forward(scores, ta))
    forward = [
        _step("Affine1", {"x": xa, "W1": p["W1"], "b1": p["b1"]}, {"a1": a1}, "a1 = x · W1 + b1"),
        _step(act_name, {"a1": a1}, {"z1": z1}, _ACT_FORMULA[activation]),
        _step("Affine2", {"z1": z1, "W2": p["W2"], "b2": p["b2"]}, {"s": scores},
              "s = z1 · W2 + b2"),
        _step("SoftmaxWithLoss", {"s": scores, "t": ta}, {"y": last.y, "L": loss},
              "y = softmax(s); L = -1/N Σ log y[n, t_n]"),
    ]

    ds = last.backward(1.0)
    dz1 = affine2.backward(ds)
    da1 = act.backward(dz1)
    dx = affine1.backward(da1)
    backprop = {"W1": affine1.dW, "b1": affine1.db, "W2": affine2.dW, "b2": affine2.db}
    if activation == "relu":
        local = (a1 > 0).astype(np.float64)
        local_formula = "d z1 / d a1 = 1 where a1 > 0, else 0"
    else:
        local = z1 * (1.0 - z1)
        local_formula = "d z1 / d a1 = z1 (1 - z1)"
    backward = [
        _back("SoftmaxWithLoss", {"L": 1.0}, {"s": ds}, "dL/ds = (y - onehot(t)) / N"),
        _back("Affine2", {"s": ds}, {"z1": dz1, "W2": backprop["W2"], "b2": backprop["b2"]},
              "dz1 = ds · W2ᵀ; dW2 = z1ᵀ · ds; db2 = Σ_n ds"),
        {**_back(act_name, {"z1": dz1}, {"a1": da1}, local_formula), "local": _json(local)},
        _back("Affine1", {"a1": da1}, {"x": dx, "W1": backprop["W1"], "b1": backprop["b1"]},
              "dx = da1 · W1ᵀ; dW1 = xᵀ · da1; db1 = Σ_n da1"),
    ]

    def loss_of(_: np.ndarray) -> float:
        # the parameter arrays are perturbed in place; the layers hold the same arrays
        return float(last.forward(affine2.forward(act.forward(affine1.forward(xa))), ta))

    gradcheck = []
    for name in ("W1", "b1", "W2", "b2"):
        numeric = numerical_gradient(loss_of, p[name], h=h)
        gradcheck.append(
            {
                "param": name,
                "shape": list(p[name].shape),
                "backprop": _json(backprop[name]),
                "numerical": _json(numeric),
                "difference": _json(numeric - backprop[name]),
                "max_abs": float(np.max(np.abs(numeric - backprop[name]))),
                "relative": relative_difference(numeric, backprop[name]),
            }
        )
    kinks = []
    if activation == "relu":
        for i, j in zip(*np.nonzero(np.abs(a1) < h), strict=True):
            kinks.append({"sample": int(i), "unit": int(j), "a1": float(a1[i, j])})
    return {
        "activation": activation,
        "x": _json(xa),
        "t": ta.tolist(),
        "params": {k: _json(v) for k, v in p.items()},
        "nodes": [
            {"node": "Affine1", "layer": "Affine", "inputs": ["x", "W1", "b1"], "output": "a1"},
            {"node": act_name, "layer": act_name, "inputs": ["a1"], "output": "z1"},
            {"node": "Affine2", "layer": "Affine", "inputs": ["z1", "W2", "b2"], "output": "s"},
            {"node": "SoftmaxWithLoss", "layer": "SoftmaxWithLoss", "inputs": ["s", "t"],
             "output": "L"},
        ],
        "forward": forward,
        "backward": backward,
        "loss": loss,
        "gradcheck": gradcheck,
        "kinks": kinks,
        "h": h,
        "dtype": dtype,
    }


_ACT_FORMULA = {"relu": "z1 = max(0, a1)", "sigmoid": "z1 = 1 / (1 + exp(-a1))"}


def _json(value) -> Any:
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        return arr.tolist()
    return np.asarray(value, dtype=np.float64).tolist()


def _entry(value) -> dict[str, Any]:
    return {"shape": list(np.shape(value)), "value": _json(value)}


def _step(node: str, inputs: dict, outputs: dict, formula: str) -> dict[str, Any]:
    return {
        "node": node,
        "formula": formula,
        "inputs": {k: _entry(v) for k, v in inputs.items()},
        "outputs": {k: _entry(v) for k, v in outputs.items()},
    }


def _back(node: str, dout: dict, grads: dict, formula: str) -> dict[str, Any]:
    return {
        "node": node,
        "formula": formula,
        "dout": {k: _entry(v) for k, v in dout.items()},
        "grads": {k: _entry(v) for k, v in grads.items()},
    }


def _matrix(x) -> np.ndarray:
    try:
        arr = np.array(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("x must be a list of samples, each a list of numbers") from None
    fits = arr.ndim == 2 and 1 <= arr.shape[0] <= MAX_SAMPLES and 1 <= arr.shape[1] <= MAX_FEATURES
    if not fits:
        raise ValueError(
            f"x must be 1 to {MAX_SAMPLES} samples of 1 to {MAX_FEATURES} numbers each, "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError("x must hold finite numbers")
    return arr


def _labels(t, n: int) -> np.ndarray:
    if t is None:
        raise ValueError(f"t (one class label per sample) is needed for {n} samples")
    arr = np.asarray(t)
    if arr.shape != (n,) or arr.dtype.kind not in "iu" and not (
        arr.dtype.kind == "f" and np.all(arr == np.round(arr))
    ):
        raise ValueError(f"t must be {n} whole-number class labels, one per sample, got {t!r}")
    arr = arr.astype(np.int64)
    if arr.min() < 0:
        raise ValueError(f"class labels must be >= 0, got {t!r}")
    return arr


def _params(params, shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    if params is None:
        rng = np.random.default_rng(seed)
        out = {}
        for name, shape in shapes.items():
            if name.startswith("W"):
                out[name] = np.round(0.5 * rng.standard_normal(shape), 2)
            else:
                out[name] = np.zeros(shape)
        return out
    missing = sorted(set(shapes) - set(params))
    if missing or set(params) - set(shapes):
        raise ValueError(f"params must be exactly W1, b1, W2, b2, got {sorted(params)}")
    out = {}
    for name, shape in shapes.items():
        try:
            arr = np.array(params[name], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name} must hold numbers") from None
        if arr.shape != shape:
            raise ValueError(f"parameter {name} must have shape {shape}, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"parameter {name} must hold finite numbers")
        out[name] = arr
    return out
