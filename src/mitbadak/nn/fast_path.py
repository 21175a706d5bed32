"""The fast paths of :class:`~mitbadak.nn.networks.FeedForwardNet`: the same arithmetic as the
book's
layer-by-layer code, written as one in-place function each.

Read ``networks.py`` first: its layer-by-layer methods (``forward_layers``,
``loss_and_gradient_layers``) are the reference, and ``tests/test_fast_paths.py`` compares every
function here with them for every registered activation. The activation itself comes from
:data:`mitbadak.nn.layers.ACTIVATIONS` (``forward_`` in place, ``backward_from_output_`` from its
output), so a new activation needs no change here.
"""

from __future__ import annotations

import numpy as np

from mitbadak.nn.layers import ACTIVATIONS

__all__ = ["scores", "loss_and_gradient", "softmax_cross_entropy_", "unsupported"]


def unsupported(net) -> str | None:
    """None when these functions compute ``net``'s math: a NumPy ``FeedForwardNet`` (Affine and
    one registered activation alternating, as ``TwoLayerNet``/``MultiLayerNet`` build it); else
    what is missing, in words (``training.steps`` then runs the layers, or says so loudly)."""
    if not hasattr(net, "hidden_sizes") or not hasattr(net, "activation"):
        return f"{type(net).__name__} is not an Affine/activation chain (FeedForwardNet)"
    if net.activation not in ACTIVATIONS:
        return f"activation {net.activation!r} is not registered"
    first = next(iter(net.params.values()))
    if not isinstance(first, np.ndarray):
        return "the parameters are not NumPy arrays (the fast path is NumPy's in-place code)"
    return None


def scores(net, x2: np.ndarray) -> np.ndarray:
    """h = act(h.W + b) for each hidden layer, then scores = h.W + b; no layer state is touched.

    Tested against ``net.forward_layers(x2)`` (Affine -> activation -> ... -> Affine).
    """
    params = net.params
    act = ACTIVATIONS[net.activation]
    n_affine = len(net.hidden_sizes) + 1
    h = x2
    for i in range(1, n_affine):
        h = h @ params[f"W{i}"]
        h += params[f"b{i}"]
        act.forward_(h)
    s = h @ params[f"W{n_affine}"]
    s += params[f"b{n_affine}"]
    return s


def softmax_cross_entropy_(s: np.ndarray, t2: np.ndarray) -> float:
    """Mean cross-entropy of softmax(s) against the labels ``t2``; ``s`` becomes dL/ds, in place.

    L = mean_n [logsumexp(s_n) - s[n, t_n]] (``SoftmaxWithLoss.forward``) and
    dL/ds = (softmax(s) - onehot(t)) / N (its ``backward(1)``).
    """
    n, c = s.shape
    flat_target = np.arange(0, n * c, c) + t2  # s.flat index of s[n, t_n]
    s -= s.max(axis=1, keepdims=True)
    s_flat = s.reshape(-1)
    target = s_flat[flat_target]
    np.exp(s, out=s)
    total = s.sum(axis=1, keepdims=True)
    loss = float(np.log(total).sum() - target.sum()) / n
    s /= total  # softmax
    s_flat[flat_target] -= 1.0
    s *= 1.0 / n
    return loss


def loss_and_gradient(net, x2: np.ndarray, t2: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Affine -> activation -> ... -> softmax + cross-entropy, forward and backward, in place.

    Tested against ``net.loss_and_gradient_layers(x2, t2)`` (forward through the layer objects,
    then ``backward`` through them in reverse).

    Per hidden layer: a = h.W + b, z = act(a); scores s = h.W + b; y = softmax(s);
    L = mean_n [logsumexp(s_n) - s[n, t_n]] (+ weight penalty). Backward: ds = (y - onehot(t)) / N,
    dW = h^T.ds, db = sum_n ds, dh = ds.W^T, da = dh * act'(a) written from z (sigmoid z (1 - z),
    tanh 1 - z^2, ReLU z > 0). The first layer's input gradient is never computed. On a 784-50-10
    batch of 100 the two big matrix products are ~2/3 of the time, so each saved elementwise pass
    counts.
    """
    params = net.params
    act = ACTIVATIONS[net.activation]
    n_affine = len(net.hidden_sizes) + 1
    hs = [x2]  # the input of each Affine layer
    h = x2
    for i in range(1, n_affine):
        a = h @ params[f"W{i}"]
        a += params[f"b{i}"]
        act.forward_(a)
        h = a
        hs.append(h)
    s = h @ params[f"W{n_affine}"]
    s += params[f"b{n_affine}"]

    n = s.shape[0]
    loss = softmax_cross_entropy_(s, t2) + net.weight_penalty()
    dout = s

    ones = np.ones(n, dtype=s.dtype)
    grads: dict[str, np.ndarray] = {}
    lam = net.weight_decay_lambda
    for i in range(n_affine, 0, -1):
        h = hs[i - 1]
        W = params[f"W{i}"]
        dW = h.T @ dout
        if lam:
            dW += lam * W
        grads[f"W{i}"] = dW
        grads[f"b{i}"] = ones @ dout  # sum over the batch, as one BLAS call
        if i == 1:
            break
        dh = dout @ W.T
        act.backward_from_output_(dh, h)
        dout = dh
    return loss, {k: grads[k] for k in params}
