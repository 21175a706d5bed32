"""Max pooling (chapter 7): ``Pooling(pool_h, pool_w, stride=2, pad=0)``, the book's.

forward: ``y[n, c, i, j] = max_{u,v} x_pad[n, c, i*stride + u, j*stride + v]``, read through
:func:`~mitbadak.nn.convolution.im2col` (one row of ``pool_h * pool_w`` values per window and
channel); it stores ``x`` and ``arg_max`` (which entry of each window was the largest, the first
one on a tie). backward: each ``dout`` value goes to the input pixel that won its window
(:func:`~mitbadak.nn.convolution.col2im`, so a pixel winning several windows receives the sum);
every other pixel gets 0. No parameters. The book's default stride is 2 (windows that tile a
2x2 grid); the padding is zeros, as the book's im2col pads.
"""

from __future__ import annotations

from typing import Any

from mitbadak.core.backend import array_namespace
from mitbadak.nn.convolution import _whole, check_window, col2im, im2col, permute
from mitbadak.nn.layer_base import Layer, register_layer

__all__ = ["Pooling"]


@register_layer
class Pooling(Layer):
    """Max over each ``pool_h x pool_w`` window, moved by ``stride`` over the padded input."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        super().__init__()
        check_window(None, pool_h, pool_w, stride, pad, what="the pooling window")
        self.pool_h = _whole(pool_h, "pool_h", 1)
        self.pool_w = _whole(pool_w, "pool_w", 1)
        self.stride = int(stride)
        self.pad = int(pad)

    def config(self) -> dict[str, Any]:
        return {"pool_h": self.pool_h, "pool_w": self.pool_w, "stride": self.stride,
                "pad": self.pad}  # fmt: skip

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(C, out_h, out_w) for one sample of shape (C, H, W)."""
        out_h, out_w = check_window((1, *input_shape), self.pool_h, self.pool_w, self.stride,
                                    self.pad, what="the pooling window")  # fmt: skip
        return int(input_shape[0]), out_h, out_w

    def forward(self, x):
        xp = array_namespace(x)
        out_h, out_w = check_window(tuple(x.shape), self.pool_h, self.pool_w, self.stride,
                                    self.pad, what="the pooling window")  # fmt: skip
        n, c = x.shape[:2]
        # im2col's columns are (channel, u, v): one row per (n, i, j, channel) window
        windows = xp.reshape(im2col(x, self.pool_h, self.pool_w, self.stride, self.pad),
                             (-1, self.pool_h * self.pool_w))  # fmt: skip
        self.x = x
        self.arg_max = xp.argmax(windows, axis=1)
        out = xp.max(windows, axis=1)
        return permute(xp.reshape(out, (n, out_h, out_w, c)), (0, 3, 1, 2))

    def backward(self, dout):
        """dx: dout[n, c, i, j] added at the argmax of window (n, c, i, j), 0 elsewhere."""
        xp = array_namespace(dout)
        size = self.pool_h * self.pool_w
        flat = xp.reshape(permute(dout, (0, 2, 3, 1)), (-1,))  # (n, i, j, c) order, as arg_max
        dmax = xp.zeros((flat.shape[0], size), dtype=dout.dtype)
        dmax[xp.arange(flat.shape[0]), self.arg_max] = flat
        n, c = self.x.shape[:2]
        dcol = xp.reshape(dmax, (-1, c * size))  # (N*out_h*out_w, C*pool_h*pool_w)
        return col2im(dcol, tuple(self.x.shape), self.pool_h, self.pool_w, self.stride, self.pad)
