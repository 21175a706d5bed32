"""The CPU fast path of convolutional networks (``SimpleConvNet``, ``DeepConvNet``).

The same arithmetic as the layer list (``Convolution``, ``Pooling``, activations, ``Affine``,
``Dropout``, then ``SoftmaxWithLoss``) with another memory layout. Read the layers first
(``nn/convolution.py``: the book's ``im2col``; ``nn/pooling.py``): they are the reference, and
``tests/test_fast_conv.py`` holds the two equal (1e-12 in float64, 1e-5 relative in float32).

What differs from the layers, and why it gives the same numbers:

* **Channels last inside.** Between layers an image batch is kept as (N, H, W, C) (NHWC), so
  that one convolution is *one* matrix product ``col (N*OH*OW, KH*KW*C) . Wmat (KH*KW*C, FN)``
  whose result is already the next layer's input, with no transpose. ``col`` is copied from a
  strided view of the (padded) input (``as_strided``: no Python loop over the batch); its
  columns are ordered (kh, kw, c) instead of the book's (c, kh, kw), and ``Wmat`` is ``W``'s
  axes reordered to match, read from ``net.params`` on every call (never cached, so a change of
  ``params[...]`` in place, as the book's ``half_float_network.py`` makes, is seen by the next
  call). Every output is the same sum of the same products.
* **Max pooling without im2col.** Each window position (di, dj) is a strided view of the input
  (by ``reshape`` where the window tiles the input, e.g. 2x2 stride 2 on even sizes; by slicing
  otherwise); the maximum is taken over the positions in the book's order, keeping the first
  maximum (``np.argmax``'s choice), whose index is what the backward pass routes to. A pooling
  layer whose next layer is an Affine writes its output channel-first, so the Affine reads the
  book's flattening (c, h, w) without a copy.
* **No input gradient for the first layer with parameters** (and none below it); activations in
  place (their backward written from the output, as ``nn/fast_path.py``); the book's Dropout
  with its mask drawn from the layer's own generator, as ``nn/fast_extend.py`` does, in the
  layer's (N, C, H, W) order, so the generator ends in the same state as the layer's.
* **Inference in chunks** (:func:`scores`): at most :data:`CHUNK_BYTES` of work arrays at once,
  so 10,000 images need no more memory than a few hundred.

The plan (the layer list read into operations and shapes) is read once per run
(``training.steps`` keeps it); :func:`unsupported` says in words why a network is not this
path's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from mitbadak.nn.activations import ACTIVATIONS, Activation, Relu
from mitbadak.nn.convolution import Convolution
from mitbadak.nn.dropout import Dropout
from mitbadak.nn.fast_path import softmax_cross_entropy_
from mitbadak.nn.layers import Affine
from mitbadak.nn.pooling import Pooling

__all__ = ["CHUNK_BYTES", "ConvPlan", "loss_and_gradient", "plan", "scores", "unsupported"]

#: The work arrays :func:`scores` allows itself at once (bytes): the batch is cut into chunks
#: of as many images as fit.
CHUNK_BYTES = 48 * 2**20


@dataclass
class _Conv:
    W: str
    b: str
    stride: int
    pad: int
    c: int
    h: int
    w: int
    fn: int
    kh: int
    kw: int
    oh: int
    ow: int
    input_grad: bool


@dataclass
class _Pool:
    ph: int
    pw: int
    stride: int
    pad: int
    c: int
    h: int
    w: int
    oh: int
    ow: int
    tiles: bool  # the windows tile the (padded) input exactly: views by reshape, no overlap
    channels_first_out: bool  # the next layer is an Affine: write (N, C, OH, OW)


@dataclass
class _Act:
    act: type[Activation]
    copy_input: bool  # the network's input itself: never modified in place


@dataclass
class _Affine:
    W: str
    b: str
    input_grad: bool
    image: tuple[int, int, int] | None  # (C, H, W) when its input is an image batch


@dataclass
class _Drop:
    layer: Dropout
    spatial: bool
    copy_input: bool


_Op = _Conv | _Pool | _Act | _Affine | _Drop


@dataclass
class ConvPlan:
    """The operations of a network, read once from its layer list, and the work buffers of
    the training step (per batch size and dtype, reused from step to step)."""

    net: object
    ops: list[_Op]
    input_shape: tuple[int, int, int]
    _work: dict = field(default_factory=dict)
    _work_key: tuple = ()

    def buffer(self, key, shape, dtype, zero: bool = False) -> np.ndarray:
        """A work array named ``key``, kept between calls of the same batch size and dtype."""
        arr = self._work.get(key)
        if arr is None or arr.shape != shape or arr.dtype != dtype:
            arr = np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
            self._work[key] = arr
        elif zero:
            arr.fill(0)
        return arr

    def per_image_bytes(self, itemsize: int) -> int:
        """The largest work set one image needs in one layer (its im2col rows and output)."""
        most = 0
        for op in self.ops:
            if isinstance(op, _Conv):
                k = op.kh * op.kw * op.c
                hp, wp = op.h + 2 * op.pad, op.w + 2 * op.pad
                n = op.oh * op.ow * (k + op.fn) + hp * wp * op.c
                most = max(most, n)
            elif isinstance(op, _Pool):
                most = max(most, 2 * op.h * op.w * op.c + op.oh * op.ow * op.c * 2)
        return most * itemsize


def _keys(net) -> dict[int, dict[str, str]]:
    """id(layer) -> {stem: the network's parameter name}."""
    out: dict[int, dict[str, str]] = {}
    for name, (layer, stem) in net._slots.items():
        out.setdefault(id(layer), {})[stem] = name
    return out


def _int(value) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return None
    return int(value)


def _read(net) -> ConvPlan | str:
    """The plan of ``net``'s layer list, or why it is not this path's (in words)."""
    seq = getattr(net, "sequence", None)
    if seq is None or not hasattr(net, "_slots"):
        return f"{type(net).__name__} is not a layer list (LayerNet)"
    if not all(isinstance(p, np.ndarray) for p in net.params.values()):
        return "the parameters are not NumPy arrays (the fast path is NumPy's in-place code)"
    if not any(type(layer) in (Convolution, Pooling) for layer in seq):
        return "a network without Convolution or Pooling layers is not a convnet"
    if len(net.input_shape) != 3:
        return f"the input shape {net.input_shape} is not (channels, height, width)"
    keys = _keys(net)
    params = net.params
    first = net._first_param_layer
    c, h, w = (int(s) for s in net.input_shape)
    spatial = True
    ops: list[_Op] = []
    for i, layer in enumerate(seq):
        where = f"layer {i + 1} ({type(layer).__name__})"
        kind = type(layer)
        if kind is Convolution:
            if not spatial:
                return f"{where} comes after an Affine layer"
            k = keys[id(layer)]
            wshape = params[k["W"]].shape
            stride, pad = _int(layer.stride), _int(layer.pad)
            if len(wshape) != 4 or wshape[1] != c or stride is None or pad is None:
                return f"{where} has filters {wshape} for {c} input channels"
            if stride < 1 or pad < 0:
                return f"{where} has stride {stride} and pad {pad}"
            fn, _, kh, kw = (int(s) for s in wshape)
            oh = (h + 2 * pad - kh) // stride + 1
            ow = (w + 2 * pad - kw) // stride + 1
            if oh < 1 or ow < 1 or kh > h + 2 * pad or kw > w + 2 * pad:
                return f"{where}: a {kh}x{kw} filter does not fit a padded {h}x{w} input"
            ops.append(_Conv(k["W"], k["b"], stride, pad, c, h, w, fn, kh, kw, oh, ow,
                             input_grad=i > first))  # fmt: skip
            c, h, w = fn, oh, ow
        elif kind is Pooling:
            if not spatial:
                return f"{where} comes after an Affine layer"
            ph, pw = _int(layer.pool_h), _int(layer.pool_w)
            stride, pad = _int(layer.stride), _int(layer.pad)
            if None in (ph, pw, stride, pad) or min(ph, pw, stride) < 1 or pad < 0:
                return f"{where} has window {layer.pool_h}x{layer.pool_w}, stride {layer.stride}"
            hp, wp = h + 2 * pad, w + 2 * pad
            if ph > hp or pw > wp:
                return f"{where}: a {ph}x{pw} window does not fit a {h}x{w} input"
            oh, ow = (hp - ph) // stride + 1, (wp - pw) // stride + 1
            tiles = ph == stride and pw == stride and hp == oh * ph and wp == ow * pw
            ops.append(_Pool(ph, pw, stride, pad, c, h, w, oh, ow, tiles, False))
            h, w = oh, ow
        elif kind is Affine:
            k = keys[id(layer)]
            n_in = params[k["W"]].shape[0]
            size = c * h * w if spatial else c
            if n_in != size:
                return f"{where} expects {n_in} inputs, but {size} reach it"
            image = (c, h, w) if spatial else None
            ops.append(_Affine(k["W"], k["b"], input_grad=i > first, image=image))
            spatial, c = False, int(params[k["W"]].shape[1])
        elif kind is Dropout:
            ops.append(_Drop(layer, spatial, copy_input=not ops))
        elif ACTIVATIONS.get(getattr(layer, "name", None)) is kind:
            ops.append(_Act(kind, copy_input=not ops))
        else:
            return (f"{where} is not one of Convolution, Pooling, Affine, Dropout or a "
                    "registered activation")  # fmt: skip
    if spatial:
        return "the layer list does not end with an Affine layer (scores are a vector)"
    for j in range(len(ops) - 1):
        # ReLU then max pooling = max pooling then ReLU (ReLU is monotone, and a window whose
        # maximum is <= 0 sends back 0 either way): the ReLU runs on a quarter of the values
        if isinstance(ops[j], _Act) and ops[j].act is Relu and not ops[j].copy_input:
            nxt = ops[j + 1]
            if isinstance(nxt, _Pool) and nxt.pad == 0:
                ops[j], ops[j + 1] = nxt, ops[j]
    for j, op in enumerate(ops):  # a pooling layer read by an Affine writes channel-first
        if isinstance(op, _Pool):
            nxt = next((o for o in ops[j + 1 :] if not isinstance(o, _Act | _Drop)), None)
            op.channels_first_out = isinstance(nxt, _Affine)
    return ConvPlan(net, ops, (int(net.input_shape[0]), int(net.input_shape[1]),
                               int(net.input_shape[2])))  # fmt: skip


def unsupported(net) -> str | None:
    """None when :func:`loss_and_gradient` and :func:`scores` compute ``net``'s math (a NumPy
    layer list of Convolution, Pooling, activations, Affine and Dropout on (C, H, W) images,
    ending with an Affine); else what is missing, in words."""
    found = _read(net)
    return found if isinstance(found, str) else None


def plan(net) -> ConvPlan:
    """The plan of ``net`` (read once per run by ``training.steps``); ValueError if
    :func:`unsupported`."""
    found = _read(net)
    if isinstance(found, str):
        raise ValueError(f"the convolution fast path cannot run this network: {found}")
    return found


# -- the operations ---------------------------------------------------------------------------


def _padded(p: ConvPlan, key, a: np.ndarray, pad: int) -> np.ndarray:
    """``a`` (N, H, W, C) inside a zero border of ``pad`` (a work array; ``a`` itself if 0)."""
    if pad == 0:
        return a
    n, h, w, c = a.shape
    out = p.buffer(key, (n, h + 2 * pad, w + 2 * pad, c), a.dtype)
    out[:, :pad].fill(0)
    out[:, h + pad :].fill(0)
    out[:, pad : h + pad, :pad].fill(0)
    out[:, pad : h + pad, w + pad :].fill(0)
    out[:, pad : h + pad, pad : w + pad] = a
    return out


def _weights(op: _Conv, params) -> np.ndarray:
    """Wb (KH*KW*C + 1, FN): Wb[(i, j, c), f] = W[f, c, i, j] and the last row b. A fresh copy
    from this call's ``params`` (never cached)."""
    k = op.kh * op.kw * op.c
    wb = np.empty((k + 1, op.fn), dtype=params[op.W].dtype)
    wb[:k].reshape(op.kh, op.kw, op.c, op.fn)[...] = params[op.W].transpose(2, 3, 1, 0)
    wb[k] = params[op.b]
    return wb


def _conv_forward(p: ConvPlan, j: int, op: _Conv, a: np.ndarray, params, keep: bool):
    """out (N, OH, OW, FN) = [col, 1] . Wb: col[(n, y, x), (i, j, c)] = a_pad[n, s*y + i,
    s*x + j, c] (the book's im2col, columns in (i, j, c) order) and a column of ones that
    multiplies the bias row of :func:`_weights`. One matrix product. One input channel: col
    is stored transposed (K + 1, M), one contiguous copy per filter position; else (M, K + 1),
    copied from one strided view. Returns (out, col, Wb)."""
    n = a.shape[0]
    ap = _padded(p, (j, "pad"), a, op.pad)
    m, k = n * op.oh * op.ow, op.kh * op.kw * op.c
    s = op.stride
    dtype = a.dtype

    def buffer(name, shape):
        if keep:
            return p.buffer((j, name), shape, dtype)
        return np.empty(shape, dtype)

    if op.c == 1:
        col = buffer("colT", (k + 1, m))
        img = ap[..., 0]
        hs, ws = s * (op.oh - 1) + 1, s * (op.ow - 1) + 1
        for i in range(op.kh):
            for jj in range(op.kw):
                row = col[i * op.kw + jj].reshape(n, op.oh, op.ow)
                row[...] = img[:, i : i + hs : s, jj : jj + ws : s]
        col[k].fill(1)
        lhs = col.T
    else:
        col = buffer("col", (m, k + 1))
        sn, sh, sw, sc = ap.strides
        view = as_strided(ap, (n, op.oh, op.ow, op.kh, op.kw, op.c),
                          (sn, sh * s, sw * s, sh, sw, sc), writeable=False)  # fmt: skip
        col[:, :k].reshape(view.shape)[...] = view
        col[:, k].fill(1)
        lhs = col
    wb = _weights(op, params)
    out = buffer("out", (m, op.fn))
    np.matmul(lhs, wb, out=out)
    return out.reshape(n, op.oh, op.ow, op.fn), col, wb


def _conv_input_gradient(p: ConvPlan, j: int, op: _Conv, d: np.ndarray, params) -> np.ndarray:
    """Stride 1: dx[n, y, x, c] = sum over (i, j, f) of d[n, y + pad - i, x + pad - j, f] *
    W[f, c, i, j] (d = 0 outside), the book's col2im of d . Wmat^T summed in another order:
    one matrix product of the windows of d, zero-bordered by KH - 1, with the filters turned
    by 180 degrees. Returns dx (N, H, W, C)."""
    n = d.shape[0]
    kh, kw, pad = op.kh, op.kw, op.pad
    rows = max(pad + op.h + kh - 1, kh - 1 + op.oh)
    cols = max(pad + op.w + kw - 1, kw - 1 + op.ow)
    dpad = p.buffer((j, "dpad"), (n, rows, cols, op.fn), d.dtype, zero=True)
    dpad[:, kh - 1 : kh - 1 + op.oh, kw - 1 : kw - 1 + op.ow] = d
    sn, sh, sw, sc = dpad.strides
    windows = as_strided(dpad[:, pad:, pad:], (n, op.h, op.w, kh, kw, op.fn),
                         (sn, sh, sw, sh, sw, sc), writeable=False)  # fmt: skip
    m, k = n * op.h * op.w, kh * kw * op.fn
    col = p.buffer((j, "dcolT"), (m, k), d.dtype)
    col.reshape(windows.shape)[...] = windows
    turned = params[op.W][:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(k, op.c)
    dx = p.buffer((j, "dx"), (m, op.c), d.dtype)
    np.matmul(col, turned, out=dx)
    return dx.reshape(n, op.h, op.w, op.c)


def _conv_backward(p: ConvPlan, j: int, op: _Conv, d: np.ndarray, col, wb, grads, params):
    """[dWmat; db] = [col, 1]^T . d (one product: the ones column sums d for the bias), dW its
    rows reordered to (FN, C, KH, KW); dx: stride 1 by :func:`_conv_input_gradient`, else
    dcol = d . Wmat^T scattered back over the windows (the book's col2im, one strided add per
    filter position)."""
    n = d.shape[0]
    s = op.stride
    d2 = d.reshape(-1, op.fn)  # the pooling backward writes it contiguous
    k = op.kh * op.kw * op.c
    dwb = (col @ d2) if op.c == 1 else (col.T @ d2)
    grads[op.W] = np.ascontiguousarray(
        dwb[:k].reshape(op.kh, op.kw, op.c, op.fn).transpose(3, 2, 0, 1)
    )
    grads[op.b] = dwb[k].copy()
    if not op.input_grad:
        return None
    if s == 1:
        return _conv_input_gradient(p, j, op, d2.reshape(n, op.oh, op.ow, op.fn), params)
    dcol = np.matmul(d2, wb[:k].T, out=p.buffer((j, "dcol"), (d2.shape[0], k), d2.dtype))
    dcol6 = dcol.reshape(n, op.oh, op.ow, op.kh, op.kw, op.c)
    hp, wp = op.h + 2 * op.pad, op.w + 2 * op.pad
    dxp = p.buffer((j, "dx"), (n, hp, wp, op.c), d2.dtype, zero=True)
    hs, ws = s * (op.oh - 1) + 1, s * (op.ow - 1) + 1
    for i in range(op.kh):
        for jj in range(op.kw):
            dxp[:, i : i + hs : s, jj : jj + ws : s] += dcol6[:, :, :, i, jj]
    return dxp[:, op.pad : op.pad + op.h, op.pad : op.pad + op.w]


def _pool_views(op: _Pool, a: np.ndarray) -> list[np.ndarray]:
    """The window positions (di, dj) in the book's order, each a strided view (N, OH, OW, C)
    of the padded input: by reshape where the windows tile it, by slicing otherwise."""
    n, _, _, c = a.shape
    if op.tiles:
        six = a.reshape(n, op.oh, op.ph, op.ow, op.pw, c)
        return [six[:, :, di, :, dj] for di in range(op.ph) for dj in range(op.pw)]
    s = op.stride
    hs, ws = s * (op.oh - 1) + 1, s * (op.ow - 1) + 1
    return [a[:, di : di + hs : s, dj : dj + ws : s]
            for di in range(op.ph) for dj in range(op.pw)]  # fmt: skip


def _pool_forward(p: ConvPlan, j: int, op: _Pool, a: np.ndarray, keep: bool):
    """out = the maximum over each window; in training also where it was taken: the first
    position holding it in the book's (di, dj) row-major order (``np.argmax``'s choice).

    2x2 windows that tile the input are reduced in pairs: per window row the right value wins
    only when strictly greater, then the lower row only when its maximum is strictly greater;
    three bool arrays say so. Other windows keep one bool array per position. Returns (out as
    an (N, OH, OW, C) view, the bool arrays or None)."""
    n = a.shape[0]
    ap = _padded(p, (j, "pad"), a, op.pad)
    views = _pool_views(op, ap)
    dtype = a.dtype
    shape = (n, op.c, op.oh, op.ow) if op.channels_first_out else (n, op.oh, op.ow, op.c)
    out = p.buffer((j, "out"), shape, dtype) if keep else np.empty(shape, dtype)
    if op.channels_first_out:
        out = out.transpose(0, 2, 3, 1)
    pshape = (n, op.oh, op.ow, op.c)

    def work(name, dt=dtype):
        return p.buffer((j, name), pshape, dt) if keep else np.empty(pshape, dt)

    if op.tiles and op.ph == op.pw == 2:
        v00, v01, v10, v11 = views
        top, bottom = work("top"), work("bottom")
        np.maximum(v00, v01, out=top)
        np.maximum(v10, v11, out=bottom)
        if not keep:
            np.maximum(top, bottom, out=out)
            return out, None
        right_top, right_bottom, lower = (work(name, np.bool_) for name in ("rt", "rb", "lo"))
        np.greater(v01, v00, out=right_top)
        np.greater(v11, v10, out=right_bottom)
        np.greater(bottom, top, out=lower)
        np.maximum(top, bottom, out=out)
        return out, (right_top, right_bottom, lower)
    np.copyto(out, views[0])
    for v in views[1:]:
        np.maximum(out, v, out=out)
    if not keep:
        return out, None
    taken = work("taken", np.bool_)
    taken.fill(False)
    hits = []
    for k, v in enumerate(views):
        hit = work(f"hit{k}", np.bool_)
        np.equal(v, out, out=hit)
        hit &= ~taken
        taken |= hit
        hits.append(hit)
    return out, hits


def _pool_backward(p: ConvPlan, j: int, op: _Pool, d: np.ndarray, where):
    """Each output's gradient goes to the first maximum of its window (added up where windows
    overlap), nothing to the other positions. Returns dx (N, H, W, C), stored contiguously."""
    n = d.shape[0]
    hp, wp = op.h + 2 * op.pad, op.w + 2 * op.pad
    dxp = p.buffer((j, "dx"), (n, hp, wp, op.c), d.dtype, zero=not op.tiles)
    views = _pool_views(op, dxp)
    if op.tiles and op.ph == op.pw == 2:
        right_top, right_bottom, lower = where
        d00, d01, d10, d11 = views
        low = p.buffer((j, "dlow"), d.shape, d.dtype)
        up = p.buffer((j, "dup"), d.shape, d.dtype)
        np.multiply(d, lower, out=low)
        np.subtract(d, low, out=up)  # exact: d - d or d - 0
        np.multiply(up, right_top, out=d01)
        np.subtract(up, d01, out=d00)
        np.multiply(low, right_bottom, out=d11)
        np.subtract(low, d11, out=d10)
    elif op.tiles:
        for v, hit in zip(views, where, strict=True):
            np.multiply(d, hit, out=v)
    else:
        for v, hit in zip(views, where, strict=True):
            v += d * hit
    return dxp[:, op.pad : op.pad + op.h, op.pad : op.pad + op.w]


def _mask(drop: Dropout, shape, dtype, p: ConvPlan, key) -> np.ndarray:
    """``Dropout.forward``'s mask, rand(shape) > ratio from the layer's own generator (float64
    draws, in the layer's (N, C, H, W) order), as 0/1 in ``dtype``."""
    if drop.rng is None:
        drop.rng = np.random.default_rng()
    draw = p.buffer((key, "draw"), shape, np.float64)
    drop.rng.random(out=draw)
    mask = p.buffer((key, "mask"), shape, dtype)
    np.greater(draw, drop.dropout_ratio, out=mask)
    if drop.inverted:
        mask *= 1.0 / (1.0 - drop.dropout_ratio)
    return mask


def _as_nhwc(p: ConvPlan, x2: np.ndarray) -> np.ndarray:
    """A flat (N, C*H*W) or (N, C, H, W) batch as an (N, H, W, C) view."""
    c, h, w = p.input_shape
    return x2.reshape(x2.shape[0], c, h, w).transpose(0, 2, 3, 1)


def _flat(a: np.ndarray) -> np.ndarray:
    """An (N, H, W, C) batch flattened in the book's (c, h, w) order (a view when it is stored
    channel-first, as a pooling layer before an Affine writes it)."""
    return a.transpose(0, 3, 1, 2).reshape(a.shape[0], -1)


def _forward(p: ConvPlan, x2: np.ndarray, train: bool):
    """Scores of a batch, and (training) what the backward pass needs per operation."""
    params = p.net.params
    a = _as_nhwc(p, x2)
    caches: list = []
    for j, op in enumerate(p.ops):
        if isinstance(op, _Conv):
            a, col, wmat = _conv_forward(p, j, op, a, params, keep=train)
            caches.append((col, wmat))
        elif isinstance(op, _Pool):
            a, arg = _pool_forward(p, j, op, a, keep=train)
            caches.append(arg)
        elif isinstance(op, _Act):
            if op.copy_input:
                a = a.copy()
            op.act.forward_(a)
            caches.append(a)  # its output: the derivative is written from it
        elif isinstance(op, _Affine):
            h = _flat(a) if a.ndim == 4 else a
            a = h @ params[op.W]
            a += params[op.b]
            caches.append(h)
        else:  # Dropout
            if op.copy_input:
                a = a.copy()
            if train:
                if op.spatial:
                    n, hh, ww, cc = a.shape
                    mask = _mask(op.layer, (n, cc, hh, ww), a.dtype, p, j).transpose(0, 2, 3, 1)
                else:
                    mask = _mask(op.layer, a.shape, a.dtype, p, j)
                a *= mask
                caches.append(mask)
            else:
                if not op.layer.inverted:
                    a *= 1.0 - op.layer.dropout_ratio
                caches.append(None)
    return a, caches


def loss_and_gradient(
    net, x2: np.ndarray, t2: np.ndarray, plan_: ConvPlan | None = None
) -> tuple[float, dict[str, np.ndarray]]:
    """Training-mode loss and the gradient of every parameter; tested against
    ``net.loss_and_gradient_layers(x2, t2)``.

    Forward: per Convolution out = col . Wmat + b (see the module docstring), per Pooling the
    max over each window, activations in place, per Affine h.W + b, per Dropout h * mask; then
    L = mean cross-entropy of softmax(s) + the weight penalty. Backward: ds = (softmax(s) -
    onehot(t)) / N, Dropout d * mask, activation d * act'(y) from its output y, Affine dW =
    h^T.d (+ lambda W), db = sum_n d, dh = d.W^T; Pooling routes d to the first maximum of each
    window; Convolution dW from col^T.d, db = sum of d, dx by col2im of d.Wmat^T. Nothing is
    computed below the first layer with parameters. ``x2`` is (N, C*H*W) or (N, C, H, W);
    returns fresh gradient arrays keyed like ``net.params``.
    """
    p = plan_ if plan_ is not None else plan(net)
    params = net.params
    s, caches = _forward(p, x2, train=True)
    loss = softmax_cross_entropy_(s, t2) + net.weight_penalty()
    grads: dict[str, np.ndarray] = {}
    lam = net.weight_decay_lambda
    decayed = net.decayed
    d = s
    for j in range(len(p.ops) - 1, -1, -1):
        op, cache = p.ops[j], caches[j]
        if isinstance(op, _Affine):
            h = cache
            dW = h.T @ d
            if lam and op.W in decayed:
                dW += lam * params[op.W]
            grads[op.W] = dW
            grads[op.b] = np.ones(d.shape[0], dtype=d.dtype) @ d
            if not op.input_grad:
                break
            d = d @ params[op.W].T
            if op.image is not None:  # back to the images, (N, H, W, C) as a view
                d = d.reshape(d.shape[0], *op.image).transpose(0, 2, 3, 1)
        elif isinstance(op, _Conv):
            col, wmat = cache
            d = _conv_backward(p, j, op, d, col, wmat, grads, params)
            if lam and op.W in decayed:
                grads[op.W] += lam * params[op.W]
            if d is None:
                break
        elif isinstance(op, _Pool):
            d = _pool_backward(p, j, op, d, cache)
        elif isinstance(op, _Act):
            op.act.backward_from_output_(d, cache)
        else:  # Dropout
            d *= cache
    return loss, {key: grads[key] for key in params}


def scores(net, x2: np.ndarray, plan_: ConvPlan | None = None) -> np.ndarray:
    """Test-mode scores, in chunks of at most :data:`CHUNK_BYTES` of work arrays (no layer
    state touched); tested against ``net.forward_layers(x2, False)``. The book's Dropout is a
    multiplication by 1 - ratio here (inverted: none)."""
    p = plan_ if plan_ is not None else plan(net)
    dtype = next(iter(net.params.values())).dtype
    n = x2.shape[0]
    step = max(1, CHUNK_BYTES // max(1, p.per_image_bytes(np.dtype(dtype).itemsize)))
    if n <= step:
        return _forward(p, x2.astype(dtype, copy=False), train=False)[0]
    out = np.empty((n, net.output_size), dtype=dtype)
    for i in range(0, n, step):
        out[i : i + step] = _forward(p, x2[i : i + step].astype(dtype, copy=False), False)[0]
    return out
