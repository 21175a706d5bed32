"""The graph page's API: chapter 5's shopping graphs and the tiny network, from
mitbadak.views.computational_graphs.

POST /api/graph/shopping ``{"kind": "apple"|"apple_orange", "apple", "apple_num", ...}``
GET  /api/graph/choices (the registered activations)
POST /api/graph/network ``{"activation", "hidden", "seed", "dtype", "h", "x", "t"}``
"""

from __future__ import annotations

from mitbadak.web.api._json import TOO_LARGE, BadRequest, read_object
from mitbadak.web.hardening import json_error

SHOPPING_INPUTS = {
    "apple": ("apple", "apple_num", "tax"),
    "apple_orange": ("apple", "apple_num", "orange", "orange_num", "tax"),
}


def routes(ctx) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mitbadak.views import computational_graphs as graphs

    async def shopping(request):
        try:
            body = await read_object(request, {"kind", *SHOPPING_INPUTS["apple_orange"]})
            kind = body.pop("kind", "apple_orange")
            if kind not in SHOPPING_INPUTS:
                raise BadRequest(f"kind must be 'apple' or 'apple_orange', got {kind!r}")
            extra = sorted(set(body) - set(SHOPPING_INPUTS[kind]))
            if extra:
                raise BadRequest(f"the {kind} graph has no input(s) {extra}")
            fn = graphs.apple_graph if kind == "apple" else graphs.apple_orange_graph
            result = fn(**body)
        except (BadRequest, ValueError, TypeError) as exc:
            return json_error(400, str(exc))
        except OverflowError:  # an integer too large for a float
            return json_error(400, TOO_LARGE)
        return JSONResponse({"kind": kind, **result})

    async def network(request):
        try:
            body = await read_object(
                request, {"x", "t", "hidden", "activation", "seed", "h", "dtype"}
            )
            seed = body.get("seed", 0)
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
                raise BadRequest(f"seed must be a whole number 0 to 2**32-1, got {seed!r}")
            result = await run_in_threadpool(lambda: graphs.network_graph(**body))
        except (BadRequest, ValueError, TypeError) as exc:
            return json_error(400, str(exc))
        except OverflowError:  # an integer too large for a float
            return json_error(400, TOO_LARGE)
        return JSONResponse(result)

    async def choices(request):
        """The page's choice lists, from the registries (a new activation appears by itself)."""
        return JSONResponse({"activations": list(graphs.ACTIVATIONS)})

    return [
        Route("/api/graph/choices", choices, methods=["GET"]),
        Route("/api/graph/shopping", shopping, methods=["POST"]),
        Route("/api/graph/network", network, methods=["POST"]),
    ]
