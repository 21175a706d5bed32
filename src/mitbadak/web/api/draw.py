"""The draw page's API: ``GET /api/models`` and ``POST /api/predict``.

``/api/predict`` accepts

* ``application/json``: ``{"image": "data:image/png;base64,...", "model": "run-demo"}`` (a
  PNG/JPEG data-URL or plain base64), or ``{"pixels": [784 numbers in [0, 1]]}`` (an input that is
  already MNIST-style: white ink on black, 28x28 row by row; a 28x28 nested list also works);
* a raw ``image/png`` or ``image/jpeg`` body (``?model=`` picks the model);
* ``multipart/form-data`` with a file field ``image`` (and an optional ``model`` field).

An image goes through :func:`mitbadak.files.photos.load_image` and
:func:`mitbadak.files.photos.preprocess_digit_steps`, and the probabilities come from
``network.predict_proba``: exactly what ``mitbadak predict`` does with the same file.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import io
import math
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from mitbadak.web.api._json import BadRequest, parse_object
from mitbadak.web.hardening import json_error
from mitbadak.web.models import UnknownModel

__all__ = ["routes", "BadInput", "decode_image", "parse_pixels", "analyse"]

#: Uploaded images larger than this (either side, or in pixels) are refused before decoding.
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = 4_000_000
#: Formats an upload may be in (what Pillow reports as ``Image.format``).
IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp"}
#: How many of the first hidden layer's most active units show their weight images.
TOP_UNITS = 8

_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg|gif|bmp|webp);base64,", re.IGNORECASE)


class BadInput(BadRequest):
    """A request the server refuses with 400 (the message says what was expected)."""


# -- decoding --------------------------------------------------------------------------------


def decode_image(data: bytes) -> np.ndarray:
    """Image bytes -> grayscale (H, W) in [0, 1], read by ``mitbadak.files.photos.load_image``.

    The header is checked first (format, dimensions), so a small file that would decompress into
    a huge image (a decompression bomb) is refused without being decoded.
    """
    from PIL import Image, UnidentifiedImageError

    from mitbadak.files.photos import ImageError, load_image

    if not data:
        raise BadInput("the image is empty")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format
    except Image.DecompressionBombError:
        raise BadInput(
            f"the image's dimensions are too large (at most {MAX_IMAGE_SIDE} pixels a side, "
            f"{MAX_IMAGE_PIXELS:,} pixels in all)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise BadInput("not a readable image: send a PNG or JPEG") from None
    if fmt not in IMAGE_FORMATS:
        raise BadInput(f"images in {fmt} format are not accepted: send a PNG or JPEG")
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise BadInput(
            f"the image is {width}x{height} pixels; at most {MAX_IMAGE_SIDE} pixels a side and "
            f"{MAX_IMAGE_PIXELS:,} pixels in all are accepted"
        )
    # load_image reads files: hand it the bytes as one, so uploads are read exactly like
    # `mitbadak predict` reads a file (transparency, modes, and whatever load_image learns).
    path = _upload_dir() / f"{uuid.uuid4().hex}{IMAGE_FORMATS[fmt]}"
    try:
        path.write_bytes(data)
        return load_image(path)
    except ImageError as exc:
        raise BadInput(str(exc).replace(str(path), "the image")) from None
    except Exception:  # Pillow can raise many kinds on a corrupt file
        raise BadInput("not a readable image: the file is damaged or truncated") from None
    finally:
        path.unlink(missing_ok=True)


_UPLOADS: Path | None = None


def _upload_dir() -> Path:
    """A private temporary folder for uploads, made once per process, removed at exit."""
    global _UPLOADS
    if _UPLOADS is None or not _UPLOADS.is_dir():
        _UPLOADS = Path(tempfile.mkdtemp(prefix="mitbadak-uploads-"))
        atexit.register(shutil.rmtree, _UPLOADS, True)
    return _UPLOADS


def decode_data_url(text: Any) -> bytes:
    """A ``data:image/...;base64,`` URL (or plain base64) -> bytes."""
    if not isinstance(text, str):
        raise BadInput(f"'image' must be a data-URL string, got {type(text).__name__}")
    match = _DATA_URL.match(text)
    payload = text[match.end() :] if match else text
    if not match and text.startswith("data:"):
        raise BadInput(
            "'image' must be a base64 data-URL of a PNG or JPEG (data:image/png;base64,...)"
        )
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("'image' is not valid base64") from None


def parse_pixels(value: Any, size: int = 784) -> np.ndarray:
    """784 numbers in [0, 1] (flat, or 28 rows of 28) -> a (784,) float32 vector."""
    if not isinstance(value, list):
        raise BadInput(f"'pixels' must be a list of {size} numbers, got {type(value).__name__}")
    side = math.isqrt(size)
    if len(value) == side and all(isinstance(row, list) for row in value):
        if any(len(row) != side for row in value):
            raise BadInput(f"'pixels' as rows must be {side} rows of {side} numbers")
        value = [v for row in value for v in row]
    if len(value) != size:
        raise BadInput(f"'pixels' must hold {size} numbers (28x28), got {len(value)}")
    if not all(type(v) in (int, float) for v in value):
        bad = next(v for v in value if type(v) not in (int, float))
        raise BadInput(f"'pixels' must be numbers, found {type(bad).__name__} {str(bad)[:20]!r}")
    try:
        x = np.array(value, dtype=np.float64)
    except OverflowError:
        raise BadInput("'pixels' holds a number too large for a float") from None
    if not np.all(np.isfinite(x)):
        raise BadInput("'pixels' must be finite numbers (found NaN or infinity)")
    if x.min() < 0.0 or x.max() > 1.0:
        raise BadInput(
            f"'pixels' must lie in [0, 1] (white ink on black), got [{x.min():g}, {x.max():g}]"
        )
    return x.astype(np.float32)


# -- the analysis ----------------------------------------------------------------------------


def _png_data_url(image: np.ndarray, max_side: int | None = None) -> str:
    """A float image in [0, 1] as a grayscale PNG data-URL (downscaled to ``max_side``)."""
    from PIL import Image

    img = Image.fromarray(np.clip(np.round(image * 255), 0, 255).astype(np.uint8))
    if max_side is not None and max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _npy_data_url(x: np.ndarray) -> str:
    """The network's input as a downloadable ``.npy`` file (a data-URL), exactly its values."""
    from mitbadak.files.photos import digit_array_bytes

    data = base64.b64encode(digit_array_bytes(x)).decode("ascii")
    return "data:application/octet-stream;base64," + data


def _rounded(a: np.ndarray, digits: int = 4) -> list:
    return np.round(np.asarray(a, dtype=np.float64), digits).tolist()


def analyse(entry, x: np.ndarray, steps=None) -> dict[str, Any]:
    """Everything the draw page shows for one (784,) input (``steps``: the preprocessing)."""
    from mitbadak.views.inspection import (
        first_layer_weight_images,
        hidden_activations,
        layer_activations,
        strongest_units,
    )

    network = entry.network()
    if network.input_size != x.size:
        raise BadInput(f"the model expects {network.input_size} inputs, got {x.size}")
    if len(getattr(network, "input_shape", ())) > 1:  # a convnet: (1, 1, 28, 28), no layer walk
        batch = x.reshape((1, *network.input_shape))
        with entry.lock:  # the layers keep their caches
            scores = network.predict(batch)[0]
            probs = network.predict_proba(batch)[0]
        return {"model": entry.id, "prediction": int(np.argmax(probs)),
                "probabilities": [float(p) for p in probs], "scores": _rounded(scores, 5),
                "input": _rounded(x, 4), "input_npy": _npy_data_url(x), "layers": [],
                "top_units": None, "steps": _steps(steps)}  # fmt: skip
    # The same call `mitbadak predict` makes; the layer walk below shows the inside of it.
    probs = network.predict_proba(x[None, :])[0]
    with entry.lock:  # the layer-by-layer pass writes the layers' caches
        outputs = layer_activations(network, x)
    hidden = hidden_activations(outputs)
    result: dict[str, Any] = {
        "model": entry.id,
        "prediction": int(np.argmax(probs)),
        "probabilities": [float(p) for p in probs],
        "scores": _rounded(outputs[-1].values[0], 5),
        "input": _rounded(x, 4),
        # the exact input as a .npy file (float32, 28x28): `mitbadak predict MODEL it.npy`
        "input_npy": _npy_data_url(x) if x.size == 784 else None,
        "layers": [
            {
                "name": o.name,
                "index": i + 1,
                "activation": network.activation,
                "units": int(o.values.shape[1]),
                "values": _rounded(o.values[0], 4),
            }
            for i, o in enumerate(hidden)
        ],
        "top_units": None,
        "steps": None,
    }
    if hidden:
        first = hidden[0].values[0]
        units = strongest_units(first, TOP_UNITS)
        weights = first_layer_weight_images(network, units)
        result["top_units"] = {
            "layer": hidden[0].name,
            "units": [int(u) for u in units],
            "activations": _rounded(first[units], 4),
            "weights": [_rounded(w.reshape(-1), 3) for w in weights],
        }
    result["steps"] = _steps(steps)
    return result


def _steps(steps) -> dict[str, Any] | None:
    """The preprocessing steps the draw page shows (None for raw pixels)."""
    if steps is None:
        return None
    return {
            "inverted": steps.inverted,
            "image_size": [int(s) for s in steps.ink.shape],
            "box": list(steps.box),
            "crop": _png_data_url(steps.crop, max_side=112),
            "crop_size": [int(s) for s in steps.crop.shape],
            "resized": _png_data_url(steps.resized),
            "resized_size": [int(s) for s in steps.resized.shape],
            "placed": _png_data_url(steps.placed),
            "center_of_mass": [round(v, 3) for v in steps.center_of_mass],
            "shift": list(steps.shift),
            "final": _png_data_url(steps.final),
        }


def predict_image_bytes(entry, data: bytes) -> dict[str, Any]:
    """Decode, preprocess (keeping the steps) and analyse an uploaded image."""
    from mitbadak.files.photos import ImageError, preprocess_digit_steps

    gray = decode_image(data)
    try:
        steps = preprocess_digit_steps(gray)
    except ImageError as exc:
        raise BadInput(str(exc)) from None
    return analyse(entry, steps.vector, steps)


# -- HTTP ------------------------------------------------------------------------------------


async def _read_request(request) -> tuple[str, Any, Any]:
    """(kind, payload, model id) from the request; kind is 'image' (bytes) or 'pixels'."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    model = request.query_params.get("model")
    if ctype in ("application/json", ""):
        raw = await request.body()
        if not raw:
            raise BadInput('empty request body: send JSON {"image": ...} or {"pixels": [...]}')
        obj = parse_object(raw, {"image", "pixels", "model"})
        if ("image" in obj) == ("pixels" in obj):
            raise BadInput("send exactly one of 'image' (a data-URL) or 'pixels' (784 numbers)")
        if "model" in obj:
            model = obj["model"]
            if not isinstance(model, str):
                raise BadInput(f"'model' must be a string id, got {type(model).__name__}")
        if "image" in obj:
            return "image", decode_data_url(obj["image"]), model
        return "pixels", parse_pixels(obj["pixels"]), model
    if ctype in ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp"):
        return "image", await request.body(), model
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=4)
        except Exception as exc:  # the multipart parser's own errors
            raise BadInput(f"malformed multipart form: {str(exc)[:120]}") from None
        upload = form.get("image") or form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadInput("the form needs a file field named 'image'")
        if isinstance(form.get("model"), str):
            model = form.get("model")
        data = await upload.read()
        await form.close()
        return "image", data, model
    raise BadInput(
        f"unsupported Content-Type {ctype!r}: send application/json, image/png, image/jpeg "
        "or multipart/form-data"
    )


def routes(ctx) -> list:
    """The Starlette routes of the draw page's API (``ctx``: the app's :class:`AppContext`)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(request):
        if ctx.runs_dir is not None:
            await run_in_threadpool(ctx.registry.add_runs, ctx.runs_dir)
        return JSONResponse(
            {
                "models": [entry.to_json() for entry in ctx.registry],
                "default": ctx.registry.default.id if len(ctx.registry) else None,
            }
        )

    async def predict(request):
        try:
            kind, payload, model_id = await _read_request(request)
            entry = ctx.registry.get(model_id)
            if kind == "image":
                result = await run_in_threadpool(predict_image_bytes, entry, payload)
            else:
                result = await run_in_threadpool(analyse, entry, payload)
        except UnknownModel as exc:
            return json_error(404, str(exc))
        except BadRequest as exc:  # BadInput and the shared JSON-body errors
            return json_error(400, str(exc))
        return JSONResponse(result)

    return [
        Route("/api/models", models, methods=["GET"]),
        Route("/api/predict", predict, methods=["POST"]),
    ]
