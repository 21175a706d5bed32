"""Reading a JSON object from a request body, with one-line errors (shared by part 2's APIs)."""

from __future__ import annotations

import json
from typing import Any


class BadRequest(ValueError):
    """The request is malformed; the message is shown to the user (HTTP 400)."""


async def read_object(request, allowed: set[str]) -> dict[str, Any]:
    """The JSON object in ``request``'s body (empty body: ``{}``); unknown keys are refused."""
    raw = await request.body()
    return parse_object(raw, allowed) if raw.strip() else {}


def parse_object(raw: bytes, allowed: set[str]) -> dict[str, Any]:
    """``raw`` as a JSON object whose keys are all in ``allowed``, else :class:`BadRequest`."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {str(exc)[:120]}") from None
    if not isinstance(obj, dict):
        raise BadRequest(f"the JSON body must be an object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown}; expected some of {sorted(allowed)}")
    return obj
