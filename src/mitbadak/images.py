"""Turn a photo or scan of a hand-written digit into an MNIST-like 28x28 input.

MNIST was made like this, and so are our inputs: grayscale; white digit on black (a dark-on-light
photo is inverted); cropped to the digit's bounding box; scaled, keeping its aspect ratio, so the
longer side is 20 pixels; pasted into a 28x28 frame so that its centre of mass is the centre.
Reading files needs Pillow (``pip install 'mitbadak[images]'``); the steps after it are NumPy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mitbadak.errors import MitbadakError

__all__ = ["load_image", "preprocess_digit", "ImageError"]


class ImageError(MitbadakError):
    """An image file that cannot be read, or holds no visible digit."""


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float grayscale in [0, 1] (H, W). Raises ImageError if unreadable."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - depends on the install
        raise MitbadakError("reading images needs Pillow: pip install 'mitbadak[images]'") from None
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA") or "transparency" in img.info:
                # Transparent pixels become white paper, not black ink.
                rgba = img.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(background, rgba)
            gray = img.convert("L")
            return np.asarray(gray, dtype=np.float64) / 255.0
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__})") from None


def preprocess_digit(gray: np.ndarray, *, invert: bool | None = None) -> np.ndarray:
    """A grayscale image (H, W) in [0, 1] -> an MNIST-style (784,) float32 vector in [0, 1].

    ``invert=None`` decides from the border: a light border means dark ink on light paper.
    """
    from PIL import Image

    img = np.asarray(gray, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale image, got shape {img.shape}")
    if invert is None:
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        invert = float(np.median(border)) > 0.5
    ink = 1.0 - img if invert else img.copy()
    # Remove the paper's own level and noise: stretch so the background is 0 and the ink is 1.
    lo, hi = np.percentile(ink, 50), ink.max()
    if hi - lo < 0.1:
        raise ImageError("no digit found: the image is (almost) uniform")
    ink = np.clip((ink - lo) / (hi - lo), 0.0, 1.0)
    ink[ink < 0.2] = 0.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize(
        (new_w, new_h), Image.Resampling.LANCZOS
    )
    small = np.asarray(resized, dtype=np.float64) / 255.0
    canvas = np.zeros((28, 28))
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = small
    # Shift so the centre of mass sits at the centre (13.5, 13.5), as MNIST did.
    total = canvas.sum()
    ys, xs = np.indices(canvas.shape)
    cy, cx = (ys * canvas).sum() / total, (xs * canvas).sum() / total
    dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
    dy = int(np.clip(dy, -top, 28 - (top + new_h)))
    dx = int(np.clip(dx, -left, 28 - (left + new_w)))
    canvas = np.roll(canvas, (dy, dx), axis=(0, 1))
    return canvas.reshape(784).astype(np.float32)
