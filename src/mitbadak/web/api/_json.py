"""Reading a JSON object from a request body, with one-line errors (shared by every page's API).

The nesting depth is checked before parsing (:data:`MAX_DEPTH` levels of ``[ ]`` and ``{ }``): a
body nested 100,000 deep is a 400 like any other malformed body, never a RecursionError.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["BadRequest", "MAX_DEPTH", "TOO_LARGE", "check_depth", "parse_object", "read_object"]

#: Deepest nesting a request body may have; the pages send at most 3 (``{"points": [[x, y, k]]}``).
MAX_DEPTH = 20

#: The 400 for a number no float can hold (an OverflowError while reading a field).
TOO_LARGE = "a number in the request is too large (more than about 1.8e308 in size)"

# A JSON string (its brackets do not count).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


class BadRequest(ValueError):
    """The request is malformed; the message is shown to the user (HTTP 400)."""


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """:class:`BadRequest` when the JSON text ``raw`` nests deeper than ``limit`` levels.

    Counts brackets outside strings; malformed text is left for the parser to describe.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    import numpy as np

    text = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.isin(text, (0x5B, 0x7B)).astype(np.int32) - np.isin(text, (0x5D, 0x7D))
    if step.size and int(np.cumsum(step).max()) > limit:
        raise BadRequest(f"JSON too deeply nested: more than {limit} levels of [ ] or {{ }}")


async def read_object(request, allowed: set[str]) -> dict[str, Any]:
    """The JSON object in ``request``'s body (empty body: ``{}``); unknown keys are refused."""
    raw = await request.body()
    return parse_object(raw, allowed) if raw.strip() else {}


def parse_object(raw: bytes, allowed: set[str]) -> dict[str, Any]:
    """``raw`` as a JSON object whose keys are all in ``allowed``, else :class:`BadRequest`."""
    check_depth(raw)
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {str(exc)[:120]}") from None
    except RecursionError:  # not reached after check_depth; kept as a last guard
        raise BadRequest(f"JSON too deeply nested: more than {MAX_DEPTH} levels") from None
    if not isinstance(obj, dict):
        raise BadRequest(f"the JSON body must be an object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {unknown}; expected some of {sorted(allowed)}")
    return obj
