"""Convolution (chapter 7): ``im2col``, ``col2im``, ``conv_output_size`` and the layer
``Convolution(W, b, stride=1, pad=0)``, in the book's layout, readable first.

The layout (the one the book's ``common/util.py`` uses, so its figures and shapes hold):

* ``im2col(x, fh, fw, stride, pad)`` turns a batch ``x`` (N, C, H, W) into a matrix of
  ``N * out_h * out_w`` rows, one per output position, ordered (n, i, j) with j fastest; each
  row holds the ``C * fh * fw`` input values under the filter at that position, ordered
  (c, u, v) with v fastest: ``col[(n*out_h + i)*out_w + j, (c*fh + u)*fw + v] =
  x_padded[n, c, i*stride + u, j*stride + v]``.
* ``col2im`` is its adjoint: every entry of ``col`` is *added* back to the pixel it was read
  from (a pixel under several windows receives the sum), and the padding is cut off.
* ``out_h = (H + 2*pad - fh) // stride + 1`` (:func:`conv_output_size`).

The layer: ``y = col . W_col + b`` reshaped to (N, FN, out_h, out_w), where ``W_col`` is W
(FN, C, fh, fw) flattened to (C*fh*fw, FN). Backward, written next to it:
``dW = col^T . dout_col``, ``db = sum(dout_col)``, ``dx = col2im(dout_col . W_col^T)``.
The layer stores ``x``, ``col`` and ``col_W`` (the book's names) in forward; ``dW``, ``db``
in backward. The fast path lives beside this one (``nn/fast_conv.py``) and is tested against it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mitbadak.core.backend import array_namespace
from mitbadak.nn.layer_base import Layer, ParamSpec, register_layer

__all__ = ["conv_output_size", "check_window", "im2col", "col2im", "permute", "Convolution"]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """(input_size + 2*pad - filter_size) // stride + 1: the output length along one axis."""
    return (int(input_size) + 2 * int(pad) - int(filter_size)) // int(stride) + 1


def _whole(value: Any, what: str, least: int) -> int:
    """``value`` as an int >= ``least`` (a bool, float or anything else is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer >= {least}, got {value!r}")
    if int(value) < least:
        raise ValueError(f"{what} must be an integer >= {least}, got {int(value)}")
    return int(value)


def check_window(
    shape: tuple[int, ...] | None,
    filter_h: int,
    filter_w: int,
    stride: int,
    pad: int,
    *,
    what: str = "the filter",
    channels: int | None = None,
) -> tuple[int, int]:
    """The one check of a sliding window over a batch: ``(out_h, out_w)``.

    ``filter_h``, ``filter_w``, ``stride`` >= 1 and ``pad`` >= 0 integers; ``shape`` (when
    given) a 4-D batch (N, C, H, W) with ``channels`` channels (when given) whose padded
    H + 2*pad, W + 2*pad hold the window. Every failure is one ``ValueError`` saying what was
    expected and what was given.
    """
    filter_h = _whole(filter_h, f"{what}'s height", 1)
    filter_w = _whole(filter_w, f"{what}'s width", 1)
    stride = _whole(stride, "stride", 1)
    pad = _whole(pad, "pad", 0)
    if shape is None:
        return 0, 0
    shape = tuple(int(s) for s in shape)
    expected = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
    if len(shape) != 4:
        hint = ""
        if len(shape) == 2:
            hint = (" (a flattened batch: reshape it to images, e.g. x.reshape(-1, 1, 28, 28),"
                    " or load MNIST with flatten=False)")  # fmt: skip
        raise ValueError(
            f"a convolution needs a 4-D batch of images {expected}, got shape {shape}{hint}"
        )
    if channels is not None and shape[1] != channels:
        raise ValueError(
            f"x has {shape[1]} channels (shape {shape}), but {what} expects {channels}: "
            f"a batch {expected}"
        )
    n, _, h, w = shape
    if n < 1:
        raise ValueError(f"x is an empty batch (shape {shape}); expected at least one image")
    if filter_h > h + 2 * pad or filter_w > w + 2 * pad:
        raise ValueError(
            f"{what} ({filter_h}x{filter_w}) is larger than the padded input "
            f"({h + 2 * pad}x{w + 2 * pad}: {h}x{w} with pad {pad})"
        )
    return conv_output_size(h, filter_h, stride, pad), conv_output_size(w, filter_w, stride, pad)


def permute(x, axes: tuple[int, ...]):
    """x with its axes reordered (``np.transpose``) on any array module (CuPy 13 has no
    ``permute_dims``)."""
    xp = array_namespace(x)
    return (getattr(xp, "permute_dims", None) or xp.transpose)(x, axes)


def _padded(x, pad: int):
    """x (N, C, H, W) with ``pad`` zeros around H and W (x itself when pad is 0)."""
    if pad == 0:
        return x
    xp = array_namespace(x)
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    out[:, :, pad : pad + h, pad : pad + w] = x
    return out


def im2col(input_data, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0):
    """The book's im2col: (N, C, H, W) -> (N*out_h*out_w, C*filter_h*filter_w), the layout in
    the module docstring. One slice per filter offset (u, v): the pixels that offset sees at
    every output position, for every image and channel at once. Keeps the input's dtype."""
    xp = array_namespace(input_data)
    out_h, out_w = check_window(tuple(input_data.shape), filter_h, filter_w, stride, pad)
    n, c = input_data.shape[:2]
    img = _padded(input_data, pad)
    # windows[n, i, j, c, u, v] = img[n, c, i*stride + u, j*stride + v]
    windows = xp.zeros((n, out_h, out_w, c, filter_h, filter_w), dtype=input_data.dtype)
    for u in range(filter_h):
        rows = slice(u, u + stride * (out_h - 1) + 1, stride)
        for v in range(filter_w):
            cols = slice(v, v + stride * (out_w - 1) + 1, stride)
            seen = img[:, :, rows, cols]  # (N, C, out_h, out_w)
            windows[:, :, :, :, u, v] = permute(seen, (0, 2, 3, 1))
    return xp.reshape(windows, (n * out_h * out_w, c * filter_h * filter_w))


def col2im(col, input_shape, filter_h: int, filter_w: int, stride: int = 1, pad: int = 0):
    """The adjoint of :func:`im2col`: (N*out_h*out_w, C*fh*fw) -> (N, C, H, W), each entry
    added to the pixel im2col read it from; the padding is dropped."""
    xp = array_namespace(col)
    shape = tuple(int(s) for s in input_shape)
    out_h, out_w = check_window(shape, filter_h, filter_w, stride, pad)
    n, c, h, w = shape
    expected = (n * out_h * out_w, c * filter_h * filter_w)
    if tuple(col.shape) != expected:
        raise ValueError(
            f"col must have shape {expected} for input {shape} and a {filter_h}x{filter_w} "
            f"window (stride {stride}, pad {pad}), got {tuple(col.shape)}"
        )
    windows = xp.reshape(col, (n, out_h, out_w, c, filter_h, filter_w))
    img = xp.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=col.dtype)
    for u in range(filter_h):
        rows = slice(u, u + stride * (out_h - 1) + 1, stride)
        for v in range(filter_w):
            cols = slice(v, v + stride * (out_w - 1) + 1, stride)
            img[:, :, rows, cols] += permute(windows[:, :, :, :, u, v], (0, 3, 1, 2))
    return img[:, :, pad : pad + h, pad : pad + w]


@register_layer
class Convolution(Layer):
    """y[n, f, i, j] = b[f] + sum_{c,u,v} W[f, c, u, v] * x_pad[n, c, i*s + u, j*s + v].

    ``Convolution(W, b, stride=1, pad=0)`` as the book (W (FN, C, FH, FW), b (FN,)), or
    :meth:`of_shape` for a network to allocate. forward stores ``x``, ``col``, ``col_W``;
    backward stores ``dW`` (FN, C, FH, FW) and ``db`` (FN,) and returns dx (None when
    ``input_grad`` is False, a network's first layer: no col2im then).
    """

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        super().__init__()
        if np.ndim(W) != 4 or tuple(np.shape(b)) != (np.shape(W)[0],):
            raise ValueError(
                "Convolution needs W (filter_num, channels, filter_h, filter_w) and b "
                f"(filter_num,), got W {tuple(np.shape(W))} and b {tuple(np.shape(b))}"
            )
        self._setup(tuple(int(s) for s in W.shape), stride, pad, 0.01)
        self.params = {"W": W, "b": b}

    def _setup(self, shape: tuple[int, ...], stride, pad, weight_std: float) -> None:
        if min(shape) < 1:
            raise ValueError(f"Convolution's filter sizes must be positive, got {shape}")
        check_window(None, shape[2], shape[3], stride, pad)
        self.filter_shape = shape
        self.stride = int(stride)
        self.pad = int(pad)
        self.weight_std = float(weight_std)
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    @classmethod
    def of_shape(
        cls,
        filter_num: int,
        channels: int,
        filter_h: int,
        filter_w: int,
        stride: int = 1,
        pad: int = 0,
        weight_std: float = 0.01,
    ) -> Convolution:
        """A layer for a network to build: W (filter_num, channels, filter_h, filter_w) from
        weight_std * N(0, 1), b = 0, allocated and bound by the network."""
        layer = cls.__new__(cls)
        Layer.__init__(layer)
        named = {"filter_num": filter_num, "channels": channels, "filter_h": filter_h,
                 "filter_w": filter_w}  # fmt: skip
        sizes = [_whole(size, name, 1) for name, size in named.items()]
        layer._setup(tuple(sizes), stride, pad, weight_std)
        return layer

    def param_specs(self) -> tuple[ParamSpec, ...]:
        """W (FN, C, FH, FW): weight_std * N(0, 1), decayed; b (FN,): zeros."""
        return (
            ParamSpec("W", self.filter_shape, self.weight_std, decay=True),
            ParamSpec("b", (self.filter_shape[0],), "zeros"),
        )

    def config(self) -> dict[str, Any]:
        fn, c, fh, fw = self.filter_shape
        return {"filter_num": fn, "channels": c, "filter_h": fh, "filter_w": fw,
                "stride": self.stride, "pad": self.pad, "weight_std": self.weight_std}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Convolution:
        return cls.of_shape(**config)

    @property
    def W(self) -> np.ndarray:
        return self.params["W"]

    @property
    def b(self) -> np.ndarray:
        return self.params["b"]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(FN, out_h, out_w) for one sample of shape (C, H, W); checked as forward checks."""
        fn, c, fh, fw = self.filter_shape
        out_h, out_w = check_window((1, *input_shape), fh, fw, self.stride, self.pad,
                                    what="this convolution's filter", channels=c)  # fmt: skip
        return fn, out_h, out_w

    def forward(self, x):
        fn, c, fh, fw = self.filter_shape
        xp = array_namespace(x)
        out_h, out_w = check_window(tuple(x.shape), fh, fw, self.stride, self.pad,
                                    what="this convolution's filter", channels=c)  # fmt: skip
        n = x.shape[0]
        self.x = x
        self.col = im2col(x, fh, fw, self.stride, self.pad)  # (N*out_h*out_w, C*FH*FW)
        self.col_W = xp.reshape(self.W, (fn, -1)).T  # (C*FH*FW, FN): a view of W
        out = self.col @ self.col_W
        out += self.b
        return permute(xp.reshape(out, (n, out_h, out_w, fn)), (0, 3, 1, 2))

    def backward(self, dout):
        """dW = col^T . dout_col (as W's shape), db = sum over rows; dx = col2im(dout_col .
        col_W^T) (or None without ``input_grad``)."""
        fn, c, fh, fw = self.filter_shape
        xp = array_namespace(dout)
        dout_col = xp.reshape(permute(dout, (0, 2, 3, 1)), (-1, fn))  # (N*oh*ow, FN)
        self.db = xp.sum(dout_col, axis=0)
        self.dW = xp.reshape((self.col.T @ dout_col).T, (fn, c, fh, fw))
        self.grads = {"W": self.dW, "b": self.db}
        if not self.input_grad:
            return None
        dcol = dout_col @ self.col_W.T
        return col2im(dcol, tuple(self.x.shape), fh, fw, self.stride, self.pad)
