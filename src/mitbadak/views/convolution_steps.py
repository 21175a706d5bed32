"""Chapter 7 step by step, for one image and a convnet's own layers (the convolution page).

Every number comes from the network's layers and :func:`~mitbadak.nn.convolution.im2col` /
:func:`~mitbadak.nn.convolution.col2im`:

* :func:`conv_step`: output position ``k`` of the first convolution: the window on the (padded)
  image, its row ``im2col(x, FH, FW, stride, pad)[k]``, the filter matrix ``col_W`` (``W``
  reshaped (FN, C*FH*FW), transposed), and ``row @ col_W + b``, the output pixel (i, j) of every
  filter (equal to the layer's ``forward`` at (i, j));
* :func:`pool_step`: the first max pooling's window ``k`` on one channel, the value it keeps and
  where (the first maximum, as the layer's ``arg_max``), and the argmax of every window;
  :func:`busiest_pool_window`: where to open it (the most active channel, its largest value);
* :func:`backward_steps`: dL/d(input) of the predicted class's score s backwards through the
  same layers: the gradient at the pooling's output, sent to each window's argmax, through the
  ReLU, then ``dcol = dout_col @ col_W^T`` and ``col2im(dcol)``, which adds the overlapping
  windows' entries (``overlaps``: how many windows cover each pixel, ``col2im`` of ones);
* :func:`feature_maps`: the output of every Convolution and Pooling layer;
* :func:`initial_network`: the same recipe drawn from a seed (the filters before training).

Networks run in test mode (Dropout scales by 1 - ratio); callers that share a network between
threads hold its lock, because the layers keep their caches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.nn.convolution import Convolution, col2im, im2col
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.pooling import Pooling

__all__ = [
    "NotAConvNet",
    "as_image",
    "conv_layers",
    "feature_maps",
    "conv_step",
    "pool_step",
    "busiest_pool_window",
    "backward_steps",
    "first_filters",
    "initial_network",
]


class NotAConvNet(ValueError):
    """The network has no convolution layer (or the step asked for is out of range).

    ``argument``: the name of the function's argument that was out of range, else None.
    """

    def __init__(self, message: str, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


def conv_layers(net) -> list[tuple[int, Any]]:
    """(position in ``net.sequence``, layer) of every Convolution and Pooling layer.

    Raises :class:`NotAConvNet` naming the network when it has no Convolution layer.
    """
    found = [(i, layer) for i, layer in enumerate(getattr(net, "sequence", ()))
             if isinstance(layer, Convolution | Pooling)]  # fmt: skip
    if not any(isinstance(layer, Convolution) for _, layer in found):
        raise NotAConvNet(
            f"the model is a {type(net).__name__} without a convolution layer; pick a "
            "SimpleConvNet or DeepConvNet model"
        )
    return found


def as_image(net, x) -> np.ndarray:
    """One sample ``x`` (flat, (H, W) or (C, H, W)) as a (1, C, H, W) batch of the net's dtype."""
    shape = tuple(getattr(net, "input_shape", ()))
    a = np.asarray(x, dtype=np.float64)
    if len(shape) != 3 or a.size != int(np.prod(shape)):
        raise NotAConvNet(f"the model takes images of shape {shape}, got {a.size} values")
    dtype = net.params[next(iter(net.params))].dtype
    return a.reshape((1, *shape)).astype(dtype)


def _forward(net, x4: np.ndarray) -> list[np.ndarray]:
    """The output of each layer of ``net.sequence`` (test mode), in order."""
    outs, out = [], x4
    for layer in net.sequence:
        out = layer.forward(out, False) if layer.train_flag else layer.forward(out)
        outs.append(out)
    return outs


def feature_maps(net, x) -> dict[str, Any]:
    """Every Convolution/Pooling layer's output for one image, and the scores.

    ``{"maps": [{"index", "kind", "name", "values" (C, H, W)}], "scores", "prediction"}``;
    ``index`` is the layer's position in ``net.sequence``; names count per kind from 1.
    """
    layers = conv_layers(net)
    outs = _forward(net, as_image(net, x))
    counts: dict[str, int] = {}
    maps = []
    for i, layer in layers:
        kind = type(layer).__name__
        counts[kind] = counts.get(kind, 0) + 1
        maps.append({"index": i, "kind": kind, "name": f"{kind} {counts[kind]}",
                     "values": outs[i][0]})  # fmt: skip
    scores = outs[-1][0]
    return {"maps": maps, "scores": scores, "prediction": int(np.argmax(scores))}


def _first(net, kind: type) -> tuple[int, Any]:
    for i, layer in conv_layers(net):
        if isinstance(layer, kind):
            return i, layer
    raise NotAConvNet(f"the model has no {kind.__name__} layer")


def _position(k: Any, count: int, what: str, argument: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 <= k < count:
        given = repr(k) if len(repr(k)) <= 20 else f"{repr(k)[:17]}..."
        raise NotAConvNet(f"{what} must be a whole number from 0 to {count - 1}, got {given}",
                          argument)  # fmt: skip
    return int(k)


def conv_step(net, x, k: int) -> dict[str, Any]:
    """Output position ``k`` (row-major over out_h x out_w) of the first convolution.

    ``row = im2col(x, FH, FW, stride, pad)[k]``; ``out = row @ col_W + b`` is the output pixel
    (i, j) = divmod(k, out_w) of all FN filters; ``window`` is (top, left, FH, FW) on the
    unpadded image (top/left below 0 where the padding is read).
    """
    i_layer, conv = _first(net, Convolution)
    if i_layer != 0:
        raise NotAConvNet("the first convolution must be the network's first layer")
    x4 = as_image(net, x)
    fn, c, fh, fw = conv.filter_shape
    col = im2col(x4, fh, fw, conv.stride, conv.pad)
    out_map = conv.forward(x4)[0]  # (FN, out_h, out_w): the layer's own numbers
    out_h, out_w = out_map.shape[1:]
    k = _position(k, col.shape[0], "the window number", "k")
    i, j = divmod(k, out_w)
    col_W = conv.W.reshape(fn, -1).T  # (C*FH*FW, FN)
    row = col[k]
    return {
        "k": k,
        "rows": int(col.shape[0]),
        "row_length": int(col.shape[1]),
        "out_shape": [int(fn), int(out_h), int(out_w)],
        "position": [int(i), int(j)],
        "window": [int(i * conv.stride - conv.pad), int(j * conv.stride - conv.pad), fh, fw],
        "stride": int(conv.stride),
        "pad": int(conv.pad),
        "row": row,
        "filter_matrix": col_W.T,  # (FN, C*FH*FW): filter f's weights as row f
        "bias": conv.b,
        "products": row @ col_W + conv.b,  # (FN,)
        "output_pixel": out_map[:, i, j],
    }


def pool_step(net, x, k: int, channel: int = 0) -> dict[str, Any]:
    """Window ``k`` of the first Pooling layer on ``channel``: its values, the first maximum's
    place (``argmax``, row-major in the window, as the layer's ``arg_max``) and the value kept;
    ``argmax_map``: the argmax of every window of that channel (out_h, out_w)."""
    i_pool, pool = _first(net, Pooling)
    outs = _forward(net, as_image(net, x))
    before = outs[i_pool - 1] if i_pool else as_image(net, x)
    c_count = before.shape[1]
    channel = _position(channel, c_count, "the channel", "channel")
    pooled = outs[i_pool][0, channel]
    out_h, out_w = pooled.shape
    k = _position(k, out_h * out_w, "the pooling window number", "k")
    i, j = divmod(k, out_w)
    # the layer's arg_max rows are ordered (n, i, j, channel)
    arg = np.asarray(pool.arg_max).reshape(out_h, out_w, c_count)[:, :, channel]
    top, left = i * pool.stride - pool.pad, j * pool.stride - pool.pad
    padded = np.pad(before[0, channel], pool.pad)
    window = padded[top + pool.pad : top + pool.pad + pool.pool_h,
                    left + pool.pad : left + pool.pad + pool.pool_w]  # fmt: skip
    return {
        "k": k,
        "channel": channel,
        "channels": int(c_count),
        "position": [int(i), int(j)],
        "window": [int(top), int(left), pool.pool_h, pool.pool_w],
        "stride": int(pool.stride),
        "input": before[0, channel],
        "values": window,
        "argmax": int(arg[i, j]),
        "kept": pooled[i, j],
        "argmax_map": arg,
        "output": pooled,
        "input_layer": type(net.sequence[i_pool - 1]).__name__ if i_pool else "input",
    }


def busiest_pool_window(net, x) -> dict[str, int]:
    """Where the pooling view opens for ``x``: ``{"channel", "k"}``.

    The channel is the one whose pooled map has the largest sum (the most active; the first of
    equals), ``k`` the window (row-major) holding that map's largest value (its first maximum).
    A drawing leaves most of channel 0's windows at 0; this one always shows a kept value.
    """
    i_pool, _pool = _first(net, Pooling)
    pooled = _forward(net, as_image(net, x))[i_pool][0]  # (C, out_h, out_w)
    channel = int(np.argmax(pooled.reshape(pooled.shape[0], -1).sum(axis=1)))
    return {"channel": channel, "k": int(np.argmax(pooled[channel]))}


def backward_steps(net, x, channel: int = 0) -> dict[str, Any]:
    """The gradient of the predicted class's score s (before softmax) back through the layers.

    Returns, for ``channel``: ``pool_grad_out`` dL/d(pool output), ``pool_grad_in`` (each value
    sent to its window's argmax, 0 elsewhere), and for the first convolution (the first layer):
    ``conv_grad_out`` dL/d(conv output) (after the layers between), ``dcol`` = ``dout_col @
    col_W^T`` (rows x C*FH*FW), ``input_grad`` = ``col2im(dcol)[0, 0]``, ``overlaps`` (windows
    covering each pixel: ``col2im`` of ones) and ``dW`` of that channel's filter.
    """
    i_pool, pool = _first(net, Pooling)
    i_conv, conv = _first(net, Convolution)
    if i_conv != 0:
        raise NotAConvNet("the first convolution must be the network's first layer")
    x4 = as_image(net, x)
    outs = _forward(net, x4)
    scores = outs[-1][0]
    target = int(np.argmax(scores))
    dout = np.zeros_like(outs[-1])
    dout[0, target] = 1.0
    grads: dict[int, np.ndarray] = {}
    for i in range(len(net.sequence) - 1, -1, -1):
        grads[i] = dout  # dL/d(output of layer i)
        layer = net.sequence[i]
        if isinstance(layer, Dropout):  # test mode: y = x * (1 - ratio), or x when inverted
            dout = dout if layer.inverted else dout * (1.0 - layer.dropout_ratio)
        elif i == i_conv:
            break
        else:
            dout = layer.backward(dout)
        if i == i_pool:
            grads[-i_pool - 1] = dout  # dL/d(pool input)
    fn, c, fh, fw = conv.filter_shape
    channel = _position(channel, int(outs[i_pool].shape[1]), "the channel", "channel")
    conv.backward(grads[i_conv])  # dW, db; the layer itself skips col2im as a first layer
    dout_col = grads[i_conv][0].reshape(fn, -1).T  # (out_h*out_w, FN), rows (i, j)
    col_W = conv.W.reshape(fn, -1).T
    dcol = dout_col @ col_W.T
    dx = col2im(dcol, x4.shape, fh, fw, conv.stride, conv.pad)
    col = im2col(x4, fh, fw, conv.stride, conv.pad)
    overlaps = col2im(np.ones_like(col), x4.shape, fh, fw, conv.stride, conv.pad)
    return {
        "target": target,
        "channel": channel,
        "pool_grad_out": grads[i_pool][0, channel],
        "pool_grad_in": grads[-i_pool - 1][0, channel],
        "conv_grad_out": grads[i_conv][0, channel],
        "dcol": dcol,
        "input_grad": dx[0, 0],
        "overlaps": overlaps[0, 0],
        "dW": conv.dW[channel, 0],
    }


def first_filters(net) -> np.ndarray:
    """The first convolution's filters W (FN, C, FH, FW)."""
    return np.asarray(_first(net, Convolution)[1].W)


def initial_network(net, seed: int | np.random.Generator | None = 0):
    """``net``'s own recipe (its class and constructor arguments) drawn from ``seed`` (an int or
    a Generator, as the constructors take it): the weights before training."""
    return type(net).from_config(net.config(), seed=seed)
