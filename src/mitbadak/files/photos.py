"""Turn a photo or scan of a hand-written digit into an MNIST-like 28x28 input.

MNIST was made like this, and so are our inputs: grayscale; white digit on black (a dark-on-light
photo is inverted); cropped to the digit's bounding box; scaled, keeping its aspect ratio, so the
longer side is 20 pixels; pasted into a 28x28 frame so that its centre of mass is the centre.
Reading files needs Pillow (``pip install 'mitbadak[images]'``); the steps after it are NumPy.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mitbadak.core.errors import MitbadakError

__all__ = [
    "load_image",
    "load_digit_array",
    "digit_array_bytes",
    "preprocess_digit",
    "preprocess_digit_steps",
    "DigitSteps",
    "ImageError",
]


class ImageError(MitbadakError):
    """An image file that cannot be read, or holds no visible digit."""


#: The most pixels ``load_image`` decodes (a 64-megapixel photo). Larger JPEGs are decoded at a
#: reduced scale first; anything else larger is refused before its pixels are decompressed.
MAX_PIXELS = 64_000_000


def load_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as float grayscale in [0, 1] (H, W), upright and on white paper.

    * EXIF orientation is applied (a phone photo taken sideways comes out upright).
    * Transparent pixels become white paper (RGBA, LA, palette transparency).
    * 16-bit and float images are scaled from their own range (``I;16`` / 16-bit PNG: /65535),
      not clipped to 8 bits.
    * Images of more than ``max_pixels`` are refused before decompression (a large JPEG is
      first decoded at 1/2, 1/4 or 1/8 scale); Pillow's own decompression-bomb limit applies
      too, and its warning becomes this error. Pillow's global settings are not changed.

    Raises :class:`ImageError` (one line naming the file) for anything unreadable or too large.
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the install
        raise MitbadakError("reading images needs Pillow: pip install 'mitbadak[images]'") from None
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return _decode(img, path, max_pixels)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path}: refused: too many pixels to decode safely ({exc})") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode this image") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise many kinds for bad files
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__})") from None


def _decode(img, path: Path, max_pixels: int) -> np.ndarray:
    """Pixels of an opened (not yet decoded) image -> float gray (H, W) in [0, 1]."""
    from PIL import Image, ImageOps

    width, height = img.size
    if width * height > max_pixels and img.format == "JPEG":
        # JPEG decodes at 1/2, 1/4 or 1/8 scale cheaply; draft picks the scale for this size.
        k = next((k for k in (2, 4, 8) if math.ceil(width / k) * math.ceil(height / k)
                  <= max_pixels), 8)
        img.draft(img.mode, (math.ceil(width / k), math.ceil(height / k)))
        width, height = img.size
    if width * height > max_pixels:
        raise ImageError(
            f"{path}: image is {width}x{height} = {width * height:,} pixels; "
            f"at most {max_pixels:,} are read (scale it down first)"
        )
    img.load()
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - damaged EXIF data: read the pixels as stored
        pass
    mode = img.mode
    if mode.startswith("I;16") or (mode == "I" and img.format == "PNG"):
        # 16-bit grayscale (Pillow opens 16-bit PNGs as I;16 or I): 0..65535
        return np.clip(np.asarray(img, dtype=np.float64) / 65535.0, 0.0, 1.0)
    if mode in ("I", "F"):
        return _scale_by_range(np.asarray(img, dtype=np.float64), path)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        # Transparent pixels become white paper, not black ink.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    if img.mode not in ("L", "RGB", "RGBA", "1", "P", "CMYK", "YCbCr"):
        img = img.convert("RGB")  # LAB, HSV...: through RGB to gray
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def _scale_by_range(values: np.ndarray, path: Path) -> np.ndarray:
    """32-bit integer or float pixels: [0, 1] kept, 8- or 16-bit ranges scaled, else stretched."""
    if not np.all(np.isfinite(values)):
        raise ImageError(f"{path}: the image holds NaN or infinite pixel values")
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0.0 and hi <= 1.0:
        return values
    if lo >= 0.0 and hi <= 255.0:
        return values / 255.0
    if lo >= 0.0 and hi <= 65535.0:
        return values / 65535.0
    if hi == lo:
        return np.zeros_like(values)
    return (values - lo) / (hi - lo)


@dataclass(frozen=True)
class DigitSteps:
    """Every intermediate image of :func:`preprocess_digit_steps` (all floats in [0, 1]).

    ``ink``: the whole image as white ink on black, background stretched to 0;
    ``box``: the digit's bounding box in ``ink`` as (top, bottom, left, right), bottom/right
    exclusive; ``crop``: ``ink[top:bottom, left:right]``; ``resized``: the crop scaled so its
    longer side is 20 pixels; ``placed``: ``resized`` pasted in the middle of a 28x28 frame;
    ``center_of_mass``: (row, col) of ``placed``'s centre of mass; ``shift``: the (rows, cols)
    roll that moves it to (13.5, 13.5) as far as the frame allows; ``final``: the 28x28 input.
    """

    inverted: bool
    ink: np.ndarray
    box: tuple[int, int, int, int]
    crop: np.ndarray
    resized: np.ndarray
    placed: np.ndarray
    center_of_mass: tuple[float, float]
    shift: tuple[int, int]
    final: np.ndarray

    @property
    def vector(self) -> np.ndarray:
        """The network's input: ``final`` flattened to (784,) float32."""
        return self.final.reshape(784).astype(np.float32)


def preprocess_digit_steps(gray: np.ndarray, *, invert: bool | None = None) -> DigitSteps:
    """The MNIST-style preprocessing of :func:`preprocess_digit`, keeping every step.

    ``invert=None`` decides from the border: a light border means dark ink on light paper.
    """
    from PIL import Image

    img = np.asarray(gray, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 1:
        raise ImageError(f"expected a 2-D grayscale image, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ImageError("the image contains NaN or infinite values")
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
    box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    crop = ink[box[0] : box[1], box[2] : box[3]]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized_img = Image.fromarray((crop * 255).astype(np.uint8)).resize(
        (new_w, new_h), Image.Resampling.LANCZOS
    )
    resized = np.asarray(resized_img, dtype=np.float64) / 255.0
    placed = np.zeros((28, 28))
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    placed[top : top + new_h, left : left + new_w] = resized
    # Shift so the centre of mass sits at the centre (13.5, 13.5), as MNIST did.
    total = placed.sum()
    ys, xs = np.indices(placed.shape)
    if total > 0:
        cy, cx = float((ys * placed).sum() / total), float((xs * placed).sum() / total)
    else:  # the rescale faded a tiny speck to nothing: nothing to centre
        cy, cx = 13.5, 13.5
    dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
    dy = int(np.clip(dy, -top, 28 - (top + new_h)))
    dx = int(np.clip(dx, -left, 28 - (left + new_w)))
    final = np.roll(placed, (dy, dx), axis=(0, 1))
    return DigitSteps(
        inverted=bool(invert),
        ink=ink,
        box=box,
        crop=crop,
        resized=resized,
        placed=placed,
        center_of_mass=(cy, cx),
        shift=(dy, dx),
        final=final,
    )


def preprocess_digit(gray: np.ndarray, *, invert: bool | None = None) -> np.ndarray:
    """A grayscale image (H, W) in [0, 1] -> an MNIST-style (784,) float32 vector in [0, 1].

    ``invert=None`` decides from the border: a light border means dark ink on light paper.
    The steps are those of :func:`preprocess_digit_steps` (this is its ``.vector``).
    """
    return preprocess_digit_steps(gray, invert=invert).vector


#: The largest ``.npy`` file :func:`load_digit_array` opens (784 float64 values and a header).
MAX_ARRAY_FILE_BYTES = 64 * 1024


def digit_array_bytes(x: np.ndarray) -> bytes:
    """An MNIST-style input (784 values) as the bytes of a ``.npy`` file: float32, shape (28, 28).

    :func:`load_digit_array` reads it back bit for bit, and ``mitbadak predict MODEL file.npy``
    classifies exactly these values (no preprocessing).
    """
    import io

    values = np.asarray(x, dtype=np.float32)
    if values.size != 784:
        raise ValueError(f"an MNIST-style input has 784 values (28x28), got {values.size}")
    buf = io.BytesIO()
    np.save(buf, values.reshape(28, 28), allow_pickle=False)
    return buf.getvalue()


def load_digit_array(path: str | os.PathLike) -> np.ndarray:
    """A ``.npy`` file holding an input that is already MNIST-style -> a (784,) float32 vector.

    The array must be 784 real numbers (shape (784,), (28, 28) or (1, 784)) in [0, 1]: white ink
    on black, row by row, as the draw page's download and ``digit_array_bytes`` write it. It is
    used as it is, not preprocessed again. Read with ``allow_pickle=False``, after its size and
    header are checked. Raises :class:`ImageError` naming the file.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ARRAY_FILE_BYTES:
            raise ImageError(
                f"{path}: {size:,} bytes is too large for one 28x28 input "
                f"(at most {MAX_ARRAY_FILE_BYTES:,})"
            )
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            readers = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }
            if version not in readers:
                raise ImageError(f"{path}: .npy format version {version} is not read")
            shape, _order, dtype = readers[version](f)
            if dtype.kind not in "fiu" or int(np.prod(shape)) != 784:
                raise ImageError(
                    f"{path}: expected 784 numbers (a 28x28 input), got an array of "
                    f"shape {shape} and dtype {dtype}"
                )
        values = np.load(path, allow_pickle=False)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not a .npy file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ImageError(f"{path}: not a readable .npy file ({exc})") from None
    x = np.asarray(values, dtype=np.float64).reshape(784)
    if not np.all(np.isfinite(x)):
        raise ImageError(f"{path}: the array holds NaN or infinite values")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ImageError(
            f"{path}: the values must lie in [0, 1] (white ink on black), "
            f"got [{x.min():g}, {x.max():g}]"
        )
    return np.asarray(values, dtype=np.float32).reshape(784)
