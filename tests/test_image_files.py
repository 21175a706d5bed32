"""Reading digit photos for `predict`: bit depths, transparency, EXIF orientation, bombs.

Every image is made here from a real MNIST digit (a 7 of the shipped sample), scaled up and drawn
dark on white paper as a photo or scan would be, and classified by a small network trained on the
sample in a few seconds.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL", reason="Pillow is needed to read images (mitbadak[images])")
from PIL import Image  # noqa: E402

from mitbadak.files.datasets import load_mnist  # noqa: E402
from mitbadak.files.modelfile import save_model  # noqa: E402
from mitbadak.files.photos import MAX_PIXELS, ImageError, load_image, preprocess_digit  # noqa: E402
from mitbadak.nn.networks import TwoLayerNet  # noqa: E402
from mitbadak.training.loop import train  # noqa: E402

SCALE = 6  # 28 -> 168 pixels, like a small scan


@pytest.fixture(scope="module")
def digits():
    """(network trained on the sample, an upright 7 as gray paper in [0, 1], its label)."""
    (x, t), (xt, tt) = load_mnist(name="mnist-sample")
    net = TwoLayerNet(784, 50, 10, seed=0)
    train(net, (x, t), epochs=2, optimizer="adam", lr=0.003, batch_size=100, seed=0,
          evaluate_train=False)
    for image, label in zip(xt, tt, strict=True):
        if label != 7:
            continue
        paper = 1.0 - np.kron(image.reshape(28, 28), np.ones((SCALE, SCALE)))
        if _classify(net, paper) == 7:
            return net, paper, 7
    raise AssertionError("no 7 in the sample test set is recognised")  # pragma: no cover


def _classify(net, gray: np.ndarray) -> int:
    return int(np.argmax(net.predict(preprocess_digit(gray)[None, :])))


def _u8(gray: np.ndarray) -> np.ndarray:
    return np.round(gray * 255).astype(np.uint8)


def test_16_bit_png_is_scaled_not_clipped(tmp_path, digits):
    net, paper, label = digits
    path = tmp_path / "seven16.png"
    Image.fromarray(_u8(paper).astype(np.uint16) * 257).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I;16")  # the case that used to clip to white
    gray = load_image(path)
    np.testing.assert_allclose(gray, _u8(paper) / 255.0, atol=1e-12)
    assert _classify(net, gray) == label


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I", "F", "1"])
def test_every_mode_reads_as_the_same_gray_paper(tmp_path, digits, mode):
    net, paper, label = digits
    u8 = _u8(paper)
    if mode == "LA":
        img = Image.merge("LA", [Image.fromarray(u8), Image.fromarray(np.full_like(u8, 255))])
    elif mode == "RGBA":
        # ink opaque, paper fully transparent (and black underneath): must read as white paper
        rgb = np.zeros((*u8.shape, 4), np.uint8)
        rgb[..., 3] = 255 - u8
        img = Image.fromarray(rgb, "RGBA")
    elif mode == "P":
        img = Image.fromarray(u8).convert("P")
    elif mode == "I":
        img = Image.fromarray(u8.astype(np.int32) * 257)  # 32-bit integers in 16-bit range
    elif mode == "F":
        img = Image.fromarray((u8 / 255.0).astype(np.float32))
    elif mode == "1":
        img = Image.fromarray(u8).point(lambda v: 255 if v > 128 else 0).convert("1")
    else:
        img = Image.fromarray(u8)
    path = tmp_path / ("seven.tif" if mode in ("I", "F") else "seven.png")
    img.save(path)
    gray = load_image(path)
    assert gray.shape == u8.shape and gray.dtype == np.float64
    assert 0.0 <= gray.min() and gray.max() <= 1.0
    if mode == "1":
        assert np.mean(np.abs(gray - u8 / 255.0)) < 0.05
    else:
        np.testing.assert_allclose(gray, u8 / 255.0, atol=1.5 / 255)
    assert _classify(net, gray) == label


def test_exif_rotated_phone_jpeg_reads_upright(tmp_path, digits):
    net, paper, label = digits
    upright = Image.fromarray(_u8(paper)).convert("RGB")
    # A phone stores the sensor's pixels turned and says "rotate 90 degrees clockwise to view"
    # (EXIF Orientation 6).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=95, exif=exif)

    gray = load_image(path)
    assert gray.shape == paper.shape
    assert np.mean(np.abs(gray - _u8(paper) / 255.0)) < 0.02
    assert _classify(net, gray) == label
    # the same pixels without the tag are a sideways 7: the orientation really mattered
    plain = tmp_path / "plain.jpg"
    stored.save(plain, quality=95)
    assert load_image(plain).shape == paper.shape[::-1]
    assert _classify(net, load_image(plain)) != label


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header declares width x height (its pixel data is never reached)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(
    "width, height, message",
    [
        (9000, 8000, "image is 9000x8000 = 72,000,000 pixels; at most 64,000,000 are read"),
        (10000, 9500, "refused: too many pixels to decode safely"),  # Pillow's warning
        (100000, 100000, "refused: too many pixels to decode safely"),  # Pillow's error
    ],
)
def test_decompression_bombs_are_one_line_errors(tmp_path, width, height, message):
    path = _png_header_only(tmp_path / "bomb.png", width, height)
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning may escape either
        with pytest.raises(ImageError) as info:
            load_image(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text
    assert Image.MAX_IMAGE_PIXELS == limit_before  # the user's process keeps its setting


def test_pixel_cap_is_a_parameter_and_large_jpegs_are_decoded_reduced(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("L", (4000, 3000), 255).save(path)
    with pytest.raises(ImageError, match="image is 400x300 = 120,000 pixels; at most 100,000"):
        load_image(_png_as(path, tmp_path / "big.png", (400, 300)), max_pixels=100_000)
    gray = load_image(path, max_pixels=1_000_000)  # decoded at 1/4 scale: 1000x750
    assert gray.shape == (750, 1000) and gray.min() > 0.99
    assert MAX_PIXELS == 64_000_000


def _png_as(jpeg: Path, png: Path, size: tuple[int, int]) -> Path:
    with Image.open(jpeg) as img:
        img.resize(size).save(png)
    return png


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a readable image"),
        (b"GIF89a" + b"\xff" * 30, "not a readable image"),
    ],
)
def test_broken_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_image(path)


def test_cli_predict_reads_a_16_bit_png_and_a_rotated_jpeg(tmp_path, digits):
    net, paper, label = digits
    model = save_model(tmp_path / "model.npz", net)
    png = tmp_path / "seven16.png"
    Image.fromarray(_u8(paper).astype(np.uint16) * 257).save(png)
    jpg = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 degrees counter-clockwise to view"
    Image.fromarray(_u8(paper)).transpose(Image.Transpose.ROTATE_270).save(jpg, exif=exif)
    bomb = _png_header_only(tmp_path / "bomb.png", 100000, 100000)
    done = subprocess.run(
        [sys.executable, "-m", "mitbadak", "predict", str(model), str(png), str(jpg), str(bomb)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{png}: 7 ") and lines[1].startswith(f"{jpg}: 7 ")
    assert done.stderr.startswith(f"mitbadak: error: {bomb}: refused: too many pixels")
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_digit_array_round_trip_and_refusals(tmp_path):
    """A .npy input (the draw page's download) is read back bit for bit, and bad ones refused."""
    from mitbadak.files.photos import digit_array_bytes, load_digit_array

    x = (np.arange(784) % 256 / 255.0).astype(np.float32)
    good = tmp_path / "good.npy"
    good.write_bytes(digit_array_bytes(x))
    back = load_digit_array(good)
    assert back.dtype == np.float32 and back.shape == (784,)
    np.testing.assert_array_equal(back, x)
    cases = {
        "shape.npy": (np.zeros(100), "shape (100,)"),
        "range.npy": (np.full(784, 2.0), "[0, 1]"),
        "nan.npy": (np.full(784, np.nan), "NaN"),
        "text.npy": (np.array(["a"] * 784), "dtype <U1"),
    }
    for name, (values, words) in cases.items():
        np.save(tmp_path / name, values)
        with pytest.raises(ImageError, match=re.escape(words)):
            load_digit_array(tmp_path / name)
    (tmp_path / "big.npy").write_bytes(b"\x93NUMPY" + b"0" * 70_000)
    with pytest.raises(ImageError, match="too large"):
        load_digit_array(tmp_path / "big.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(ImageError, match="not a readable .npy"):
        load_digit_array(tmp_path / "junk.npy")
    with pytest.raises(ImageError, match="no such file"):
        load_digit_array(tmp_path / "missing.npy")
