"""The CPU fast path of networks with BatchNorm and Dropout (``MultiLayerNetExtend``).

The same arithmetic as the layer list ``Affine -> [BatchNormalization] -> activation ->
[Dropout]`` per hidden layer, then ``Affine -> SoftmaxWithLoss``, written as one in-place
forward and backward over preallocated buffers. Read the layers first (``nn/batchnorm.py``,
``nn/dropout.py``, ``LayerNet.loss_and_gradient_layers``): they are the reference, and
``tests/test_fast_extend.py`` compares loss, every gradient, the running statistics and the
dropout generators after a step with them.

What keeps the two paths the same run:

* the dropout masks are drawn from the Dropout layers' own generators (``layer.rng.random`` of
  the activation's shape, float64, in forward order), exactly as ``Dropout.forward`` draws them,
  so the generators end in the same state and a resumed run draws the same masks;
* the batch statistics are computed with the layer's operations (mean over the batch, mean of
  the squared centred values) and the running statistics updated with its expression
  ``m * running + (1 - m) * batch`` into the network's buffer arrays;
* weight decay adds ``lambda * W`` to the gradient of the decayed parameters (the W) only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from mitbadak.nn.activations import ACTIVATIONS, Activation
from mitbadak.nn.batchnorm import EPS, BatchNormalization, BatchNormWarning
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.fast_path import softmax_cross_entropy_
from mitbadak.nn.layers import Affine

__all__ = ["ExtendPlan", "loss_and_gradient", "plan", "scores", "unsupported"]


@dataclass
class _Hidden:
    """One hidden block: Affine (W, b) -> [BatchNorm (gamma, beta, running stats)] -> act ->
    [Dropout]; the names are the network's parameter/buffer keys."""

    W: str
    b: str
    act: type[Activation]
    bn: BatchNormalization | None = None
    gamma: str = ""
    beta: str = ""
    running_mean: str = ""
    running_var: str = ""
    drop: Dropout | None = None


class ExtendPlan:
    """The blocks of a network, read once from its layer list, and the step's work buffers
    (per batch size and dtype, reused from step to step)."""

    def __init__(self, net, hidden: list[_Hidden], last: tuple[str, str]) -> None:
        self.net = net
        self.hidden = hidden
        self.last = last
        self._work: dict[tuple[int, np.dtype], list[dict[str, np.ndarray]]] = {}

    def work(self, n: int, dtype) -> list[dict[str, np.ndarray]]:
        """Per hidden block: 'a' (the Affine output, then xn under BatchNorm), 'z' (the
        activation output under BatchNorm), 'dh' (the gradient reaching the block)."""
        key = (n, np.dtype(dtype))
        bufs = self._work.get(key)
        if bufs is None:
            params = self.net.params
            bufs = []
            for blk in self.hidden:
                width = params[blk.W].shape[1]
                names = ("a", "z", "dh") if blk.bn is not None else ("a", "dh")
                buf = {k: np.empty((n, width), dtype=dtype) for k in names}
                if blk.drop is not None:  # the draws (float64, as the layer's) and the 0/1 mask
                    buf["draw"] = np.empty((n, width), dtype=np.float64)
                    buf["mask"] = np.empty((n, width), dtype=dtype)
                bufs.append(buf)
            self._work = {key: bufs}  # one batch size at a time (the last batch may differ)
        return bufs


def _keys(net) -> dict[int, dict[str, str]]:
    """id(layer) -> {stem: the network's name} for parameters and buffers."""
    out: dict[int, dict[str, str]] = {}
    for slots in (net._slots, net._buffer_slots):
        for name, (layer, stem) in slots.items():
            out.setdefault(id(layer), {})[stem] = name
    return out


def _read(net) -> ExtendPlan | str:
    """The plan of ``net``'s layer list, or why it is not this path's shape (in words)."""
    seq = getattr(net, "sequence", None)
    if seq is None or not hasattr(net, "_slots"):
        return f"{type(net).__name__} is not a layer list (LayerNet)"
    if not all(isinstance(p, np.ndarray) for p in net.params.values()):
        return "the parameters are not NumPy arrays (the fast path is NumPy's in-place code)"
    keys = _keys(net)
    hidden: list[_Hidden] = []
    i, n = 0, len(seq)
    shape = ("Affine -> [BatchNormalization] -> activation -> [Dropout] per hidden layer, "
             "then Affine")  # fmt: skip
    while i < n:
        layer = seq[i]
        if type(layer) is not Affine:
            return f"layer {i + 1} is {type(layer).__name__}, not Affine ({shape})"
        w, b = keys[id(layer)]["W"], keys[id(layer)]["b"]
        if i == n - 1:
            if not hidden:
                return "a network without a hidden layer is the FeedForwardNet fast path's"
            return ExtendPlan(net, hidden, (w, b))
        blk = _Hidden(W=w, b=b, act=Activation)
        i += 1
        if type(seq[i]) is BatchNormalization:
            bn = seq[i]
            k = keys[id(bn)]
            if "running_mean" not in k:
                return "a BatchNormalization layer has no running statistics buffers"
            blk.bn, blk.gamma, blk.beta = bn, k["gamma"], k["beta"]
            blk.running_mean, blk.running_var = k["running_mean"], k["running_var"]
            i += 1
        act = seq[i] if i < n else None
        name = getattr(act, "name", None)
        if act is None or ACTIVATIONS.get(name) is not type(act):
            what = type(act).__name__ if act is not None else "nothing"
            return f"after Affine {len(hidden) + 1} comes {what}, not a registered activation"
        blk.act = type(act)
        i += 1
        if i < n and type(seq[i]) is Dropout:
            blk.drop = seq[i]
            i += 1
        hidden.append(blk)
    return "the layer list does not end with an Affine layer"


def unsupported(net) -> str | None:
    """None when :func:`loss_and_gradient` computes ``net``'s math (a NumPy layer list of the
    shape above, as ``MultiLayerNetExtend`` builds it); else what is missing, in words."""
    found = _read(net)
    return found if isinstance(found, str) else None


def plan(net) -> ExtendPlan:
    """The plan of ``net`` (read once per run by ``training.steps``); ValueError if
    :func:`unsupported`."""
    found = _read(net)
    if isinstance(found, str):
        raise ValueError(f"the BatchNorm/Dropout fast path cannot run this network: {found}")
    return found


def _batch_norm_(a: np.ndarray, z: np.ndarray, blk: _Hidden, net) -> np.ndarray:
    """Training-mode BatchNormalization.forward, in place: ``a`` becomes xn, ``z`` the output
    gamma * xn + beta; the running statistics are updated; returns std = sqrt(var + EPS)."""
    if a.shape[0] == 1:
        warnings.warn(
            "BatchNormalization in training mode got a batch of one sample: its variance over "
            "the batch is 0 and x - mean is 0, so every normalised value is 0 and every output "
            "equals beta (as in the book); use a batch of two or more samples",
            BatchNormWarning,
            stacklevel=3,
        )
    mu = a.mean(axis=0)
    a -= mu  # xc
    var = np.square(a, out=z).mean(axis=0)
    std = np.sqrt(var + EPS)
    a /= std  # xn
    m = blk.bn.momentum
    rm, rv = net.buffers[blk.running_mean], net.buffers[blk.running_var]
    rm[...] = m * rm + (1 - m) * mu
    rv[...] = m * rv + (1 - m) * var
    params = net.params
    np.multiply(a, params[blk.gamma], out=z)
    z += params[blk.beta]
    return std


def _draw_mask(drop: Dropout, buf: dict[str, np.ndarray]) -> np.ndarray:
    """``Dropout.forward``'s mask, rand(shape) > ratio from the layer's generator (float64
    draws into ``buf['draw']``, so the generator advances exactly as the layer's), as 0/1 in
    the network's dtype (``buf['mask']``: a float times float multiply, no bool cast)."""
    if drop.rng is None:
        drop.rng = np.random.default_rng()
    drop.rng.random(out=buf["draw"])
    return np.greater(buf["draw"], drop.dropout_ratio, out=buf["mask"])


def loss_and_gradient(
    net, x2: np.ndarray, t2: np.ndarray, plan_: ExtendPlan | None = None
) -> tuple[float, dict[str, np.ndarray]]:
    """Training-mode loss and gradients of every parameter, in place; tested against
    ``net.loss_and_gradient_layers(x2, t2)``.

    Forward per block: a = h.W + b; under BatchNorm mu = mean_n a, xc = a - mu,
    var = mean_n xc^2, std = sqrt(var + EPS), xn = xc / std, z = gamma * xn + beta (running
    statistics updated); z = act(z); under Dropout h = z * (rand > ratio) (inverted: times
    1 / (1 - ratio)). Scores s = h.W + b, L = mean cross-entropy of softmax(s) + penalty.

    Backward per block, from dh: under Dropout dz = dh * mask (* scale); da = dz * act'(z)
    written from the output (with the book's dropout from h = z * mask: a dropped unit's
    gradient is 0 either way); under BatchNorm dbeta = sum_n da, dgamma = sum_n xn * da and
    da <- (gamma / std) * (da - dbeta / N - xn * dgamma / N) (the layer's g - mean(g) -
    xn mean(g xn), over std, with g = gamma * da); then dW = h^T.da + lambda W, db = sum_n da,
    dh = da.W^T (not for the first block). Returns fresh gradient arrays, keyed like
    ``net.params``.
    """
    p = plan_ if plan_ is not None else plan(net)
    params = net.params
    n = x2.shape[0]
    dtype = params[p.last[0]].dtype
    work = p.work(n, dtype)
    hs: list[np.ndarray] = [x2]  # the input of each Affine layer
    keep: list[tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]] = []
    h = x2
    for blk, buf in zip(p.hidden, work, strict=True):
        a = np.matmul(h, params[blk.W], out=buf["a"])
        a += params[blk.b]
        std = None
        if blk.bn is not None:
            std = _batch_norm_(a, buf["z"], blk, net)
            z = buf["z"]
        else:
            z = a
        blk.act.forward_(z)
        y = z  # what act'(.) is written from
        mask = None
        if blk.drop is not None:
            mask = _draw_mask(blk.drop, buf)
            if blk.drop.inverted:
                mask = mask * (1.0 / (1.0 - blk.drop.dropout_ratio))
                mask = mask.astype(dtype, copy=False)
                h = z * mask
            else:
                np.multiply(z, mask, out=z)
                h = z
        else:
            h = z
        keep.append((y, mask, std))
        hs.append(h)
    w_last, b_last = p.last
    s = h @ params[w_last]
    s += params[b_last]
    loss = softmax_cross_entropy_(s, t2) + net.weight_penalty()

    grads: dict[str, np.ndarray] = {}
    lam = net.weight_decay_lambda
    decayed = net.decayed
    ones = np.ones(n, dtype=dtype)
    inv_n = 1.0 / n

    def affine_grads(w: str, b: str, h_in: np.ndarray, d: np.ndarray) -> None:
        dW = h_in.T @ d
        if lam and w in decayed:
            dW += lam * params[w]
        grads[w] = dW
        grads[b] = ones @ d  # sum over the batch, as one BLAS call

    affine_grads(w_last, b_last, h, s)
    d = s
    w_above = w_last
    for k in range(len(p.hidden) - 1, -1, -1):
        blk, buf = p.hidden[k], work[k]
        y, mask, std = keep[k]
        dh = np.matmul(d, params[w_above].T, out=buf["dh"])
        if mask is not None:
            np.multiply(dh, mask, out=dh)
        blk.act.backward_from_output_(dh, y)
        if blk.bn is not None:
            xn = buf["a"]
            dbeta = ones @ dh
            dgamma = ones @ np.multiply(xn, dh, out=buf["z"])
            grads[blk.beta], grads[blk.gamma] = dbeta, dgamma
            dh -= dbeta * inv_n
            xn *= dgamma * inv_n
            dh -= xn
            dh *= params[blk.gamma] / std
        affine_grads(blk.W, blk.b, hs[k], dh)
        d, w_above = dh, blk.W
    return loss, {key: grads[key] for key in params}


def scores(net, x2: np.ndarray, plan_: ExtendPlan | None = None) -> np.ndarray:
    """Test-mode scores (no state touched); tested against ``net.forward_layers(x2, False)``:
    BatchNorm by the running statistics, (x - running_mean) / sqrt(running_var + EPS) * gamma
    + beta, the book's Dropout as a multiplication by 1 - ratio (inverted: none)."""
    p = plan_ if plan_ is not None else plan(net)
    params = net.params
    h = x2
    for blk in p.hidden:
        a = h @ params[blk.W]
        a += params[blk.b]
        if blk.bn is not None:
            a -= net.buffers[blk.running_mean]
            a /= np.sqrt(net.buffers[blk.running_var] + EPS)
            a *= params[blk.gamma]
            a += params[blk.beta]
        blk.act.forward_(a)
        if blk.drop is not None and not blk.drop.inverted:
            a *= 1.0 - blk.drop.dropout_ratio
        h = a
    s = h @ params[p.last[0]]
    s += params[p.last[1]]
    return s
