"""The descent page's API: contour grids and descent paths from mitbadak.views.descent.

GET  /api/descent/surfaces
POST /api/descent/contour ``{"name", "resolution", "xlim"?, "ylim"?}`` (the limits: the page's
visible axes, so the contour lines fill the plot; default: the surface's own square)
POST /api/descent/path ``{"name", "start": [x0, x1], "lr", "steps", "optimizer", "gradient"}``
(``gradient``: ``"numerical"``, chapter 4's and the default, or ``"analytic"``, the chapter-6
comparison's: the page's compare mode, whose paths on ``elongated`` from (-7, 2) are
``optimizer_paths()``'s)
"""

from __future__ import annotations

from mitbadak.web.api._json import TOO_LARGE, BadRequest, read_object
from mitbadak.web.hardening import json_error


def routes(ctx) -> list:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from mitbadak.nn.optimizers import REGISTRY
    from mitbadak.views import descent

    async def surfaces(request):
        return JSONResponse(
            {
                "surfaces": [s.to_dict() for s in descent.FUNCTIONS.values()],
                # every registered optimizer, with the lr of the chapter-6 comparison
                "optimizers": [
                    {"name": name, "label": e.cls.__name__, "compare_lr": e.cls.compare_lr}
                    for name, e in REGISTRY.items()
                ],
                "gradients": list(descent.GRADIENTS),
                "lr_range": [descent.LR_MIN, descent.LR_MAX],
                "max_steps": descent.MAX_STEPS,
            }
        )

    async def contour(request):
        try:
            body = await read_object(request, {"name", "resolution", "xlim", "ylim"})
            name = body.get("name", "bowl")
            resolution = body.get("resolution", 80)
            limits = {k: body[k] for k in ("xlim", "ylim") if body.get(k) is not None}
            result = await run_in_threadpool(
                lambda: descent.contour_grid(name, resolution, **limits)
            )
        except (BadRequest, ValueError, TypeError) as exc:
            return json_error(400, str(exc))
        except OverflowError:  # an integer too large for a float
            return json_error(400, TOO_LARGE)
        return JSONResponse(result)

    async def path(request):
        try:
            body = await read_object(
                request, {"name", "start", "lr", "steps", "optimizer", "gradient"}
            )
            args = (
                body.get("name", "bowl"),
                body.get("start"),
                body.get("lr", 0.1),
                body.get("steps", 100),
                body.get("optimizer", "sgd"),
                body.get("gradient", "numerical"),
            )
            result = await run_in_threadpool(descent.descent_path, *args)
        except (BadRequest, ValueError, TypeError) as exc:
            return json_error(400, str(exc))
        except OverflowError:  # an integer too large for a float
            return json_error(400, TOO_LARGE)
        return JSONResponse(result)

    return [
        Route("/api/descent/surfaces", surfaces, methods=["GET"]),
        Route("/api/descent/contour", contour, methods=["POST"]),
        Route("/api/descent/path", path, methods=["POST"]),
    ]
