"""The convolution page's API, and model uploads (Draw uses them too).

* ``POST /api/conv`` (JSON): ``{"model": id, "pixels": [784] | "image": data-URL | "sample": i,
  "k": window, "pool_k": pooling window, "channel": c}`` -> everything the page draws, computed
  by :mod:`mitbadak.views.convolution_steps` (``k`` defaults to 0; without ``channel``/``pool_k``
  the pooling opens on the most active channel at its largest pooled value); a field of the
  wrong type or out of range is a 400 naming it;
* ``GET /api/conv/filters?model=id`` -> the first convolution's filters before and after
  training: for a run folder, its initial weights (its ``config.json``'s seed, drawn as the run
  drew them); else (the book's weights, a file without a seed) a fresh draw of the same recipe
  (seed 0), said so;
* ``POST /api/models/upload?name=LABEL`` (raw body, ``Content-Type: application/octet-stream``):
  a model file (see :mod:`mitbadak.web.uploads`), listed by ``GET /api/models`` afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mitbadak.web.api._json import BadRequest, parse_object
from mitbadak.web.api.draw import BadInput, decode_data_url, decode_image, parse_pixels
from mitbadak.web.hardening import json_error
from mitbadak.web.models import UnknownModel
from mitbadak.web.uploads import UPLOAD_PATH, ModelUploads, UploadRefused

__all__ = ["routes", "conv_view", "filters_view", "UPLOAD_PATH", "UPLOAD_TYPE"]

#: The one content type an upload is sent as (the file's own bytes are checked after).
UPLOAD_TYPE = "application/octet-stream"
#: How many packaged MNIST test images the page can pick from.
SAMPLES = 100


def _json(a: Any, digits: int = 5) -> Any:
    """Arrays (rounded) and NumPy scalars as plain JSON values."""
    if isinstance(a, dict):
        return {k: _json(v, digits) for k, v in a.items()}
    if isinstance(a, list | tuple):
        return [_json(v, digits) for v in a]
    if isinstance(a, np.ndarray):
        if a.dtype.kind in "iub":
            return a.tolist()
        return np.round(a.astype(np.float64), digits).tolist()
    if isinstance(a, np.integer):
        return int(a)
    if isinstance(a, np.floating):
        return round(float(a), digits)
    return a


def _sample(i: Any) -> tuple[np.ndarray, int]:
    from mitbadak.files.datasets import load_split

    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < SAMPLES:
        raise BadInput(f"'sample' must be a whole number from 0 to {SAMPLES - 1}, got {_short(i)}")
    x, t = load_split("mnist-sample", "test", download=False)
    return x[i].astype(np.float64), int(t[i])


def _input(obj: dict[str, Any]) -> tuple[np.ndarray, int | None]:
    """The 784 input pixels (and the label of a picked sample)."""
    given = [key for key in ("pixels", "image", "sample") if key in obj]
    if len(given) != 1:
        raise BadInput("send exactly one of 'pixels' (784 numbers), 'image' (a data-URL) or "
                       "'sample' (a test image number)")  # fmt: skip
    if given[0] == "pixels":
        return parse_pixels(obj["pixels"]).astype(np.float64), None
    if given[0] == "sample":
        return _sample(obj["sample"])
    from mitbadak.files.photos import ImageError, preprocess_digit_steps

    gray = decode_image(decode_data_url(obj["image"]))
    try:
        return preprocess_digit_steps(gray).vector.astype(np.float64), None
    except ImageError as exc:
        raise BadInput(str(exc)) from None


def _short(value: Any) -> str:
    """A value as the user sent it, cut to 20 characters (a 400-digit number stays one line)."""
    text = repr(value)
    return text if len(text) <= 20 else f"{text[:17]}..."


def _whole(obj: dict[str, Any], key: str) -> int | None:
    """``obj[key]`` as a non-negative whole number, or None when the page left it out."""
    if key not in obj:
        return None
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadInput(f"'{key}' must be a whole number from 0 up, got {_short(value)}")
    return value


def _step(fields: dict[str, str], fn, *args):
    """``fn(*args)``; a position out of range is a BadInput naming the request's field
    (``fields``: the function's argument -> the field of the request)."""
    from mitbadak.views.convolution_steps import NotAConvNet

    try:
        return fn(*args)
    except NotAConvNet as exc:
        field = fields.get(exc.argument or "")
        raise BadInput(f"'{field}': {exc}" if field else str(exc)) from None


def conv_view(entry, obj: dict[str, Any]) -> dict[str, Any]:
    """Everything the convolution page shows for one request (``obj`` already parsed).

    Without ``channel``/``pool_k`` the pooling opens where the drawing is: the most active
    channel and its largest pooled value (``convolution_steps.busiest_pool_window``).
    """
    from mitbadak.views import convolution_steps as cs

    x, label = _input(obj)
    k, pool_k, channel = _whole(obj, "k"), _whole(obj, "pool_k"), _whole(obj, "channel")
    net = entry.network()
    try:
        with entry.lock:  # the layers keep their caches
            maps = cs.feature_maps(net, x)
            if pool_k is None or channel is None:
                start = cs.busiest_pool_window(net, x)
                channel = start["channel"] if channel is None else channel
                pool_k = start["k"] if pool_k is None else pool_k
            conv = _step({"k": "k"}, cs.conv_step, net, x, k or 0)
            pool = _step({"k": "pool_k", "channel": "channel"}, cs.pool_step, net, x, pool_k,
                         channel)  # fmt: skip
            back = cs.backward_steps(net, x, channel)
    except cs.NotAConvNet as exc:
        raise BadInput(str(exc)) from None
    probs = np.exp(maps["scores"] - maps["scores"].max())
    return _json({
        "model": entry.id,
        "network": type(net).__name__,
        "label": label,
        "input": x.reshape(28, 28),
        "prediction": maps["prediction"],
        "probabilities": probs / probs.sum(),
        "maps": [{k2: v for k2, v in m.items()} for m in maps["maps"]],
        "conv": conv,
        "pool": pool,
        "backward": back,
    }, 5)  # fmt: skip


def _recorded_seed(entry, meta: dict[str, Any]) -> tuple[int | None, bool]:
    """The seed the model's weights were first drawn from, and whether a run drew them.

    A run folder: its ``config.json``'s seed (else the ``training`` recipe in ``model.npz``,
    which a run also writes); another file: a ``seed`` in its metadata, if any.
    """
    from mitbadak.core.errors import MitbadakError

    def whole(v: Any) -> int | None:
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    if entry.kind == "run":
        from mitbadak.training.run_folder import read_run_config

        try:
            return read_run_config(entry.path.parent).seed, True
        except MitbadakError:
            pass
    training = meta.get("training")
    if isinstance(training, dict) and whole(training.get("seed")) is not None:
        return training["seed"], True
    config = meta.get("config")
    seed = whole(meta.get("seed"))
    if seed is None and isinstance(config, dict):
        seed = whole(config.get("seed"))
    return seed, False


def filters_view(entry) -> dict[str, Any]:
    """The first convolution's filters: ``initial`` and ``final`` (FN, C, FH, FW).

    ``source``: ``"seed"`` when the model records the seed it was drawn from (a run folder's
    config: the run's own initial weights, drawn as training drew them), else ``"recipe"`` (the
    book's weights, a file without one): a fresh draw of the same recipe from seed 0.
    """
    from mitbadak.training.runs import initial_weights_rng
    from mitbadak.views import convolution_steps as cs

    net = entry.network()
    meta = getattr(net, "metadata", None)
    seed, by_run = _recorded_seed(entry, meta if isinstance(meta, dict) else {})
    source = "recipe" if seed is None else "seed"
    draw = initial_weights_rng(seed) if by_run and seed is not None else (seed or 0)
    try:
        final = cs.first_filters(net)
        initial = cs.first_filters(cs.initial_network(net, draw))
    except cs.NotAConvNet as exc:
        raise BadInput(str(exc)) from None
    return _json({"model": entry.id, "source": source, "seed": seed or 0,
                  "initial": initial, "final": final}, 4)  # fmt: skip


def routes(ctx) -> list:
    """The Starlette routes of the convolution page and of model uploads."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    uploads = ctx.extra.setdefault("uploads", ModelUploads(ctx.registry))

    async def conv(request):
        try:
            obj = parse_object(
                await request.body(),
                {"model", "pixels", "image", "sample", "k", "pool_k", "channel"},
            )
            model = obj.get("model")
            if model is not None and not isinstance(model, str):
                raise BadInput(f"'model' must be a string id, got {type(model).__name__}")
            entry = ctx.registry.get(model)
            return JSONResponse(await run_in_threadpool(conv_view, entry, obj))
        except UnknownModel as exc:
            return json_error(404, str(exc))
        except BadRequest as exc:
            return json_error(400, str(exc))

    async def filters(request):
        try:
            entry = ctx.registry.get(request.query_params.get("model"))
            return JSONResponse(await run_in_threadpool(filters_view, entry))
        except UnknownModel as exc:
            return json_error(404, str(exc))
        except BadRequest as exc:
            return json_error(400, str(exc))

    async def upload(request):
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != UPLOAD_TYPE:
            return json_error(415, f"send the model file as the body with Content-Type "
                                   f"{UPLOAD_TYPE}, got {ctype or 'none'!r}")  # fmt: skip
        if uploads.full:  # a flood past the cap costs no reading of 16 MB bodies
            exc = uploads.refusal_when_full()
            return json_error(exc.status, str(exc))
        data = await request.body()  # the app's body limit for this path counts as it reads
        try:
            entry = await run_in_threadpool(uploads.add, data, request.query_params.get("name"))
        except UploadRefused as exc:
            return json_error(exc.status, str(exc))
        return JSONResponse({"model": entry.to_json()})

    return [
        Route("/api/conv", conv, methods=["POST"]),
        Route("/api/conv/filters", filters, methods=["GET"]),
        Route(UPLOAD_PATH, upload, methods=["POST"]),
    ]
