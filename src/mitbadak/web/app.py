"""The playground's Starlette application: pages, static files, plotly.js and the JSON APIs.

To add a page: put ``NAME.html`` (+ its ``.js``/``.css``) in ``static/``, add it to ``PAGES``
and to the nav list in ``static/common.js``, and write ``api/NAME.py`` with ``routes(ctx)``
listed in ``API_MODULES``.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitbadak.web.hardening import (
    MAX_BODY_BYTES,
    BodyLimitMiddleware,
    HostCheckMiddleware,
    SameOriginMiddleware,
    SecurityHeadersMiddleware,
    host_names,
    json_error,
)
from mitbadak.web.models import ModelRegistry

__all__ = ["create_app", "AppContext", "PAGES", "API_MODULES", "STATIC_DIR", "plotly_js_path"]

STATIC_DIR = Path(__file__).with_name("static")
#: URL path -> HTML file in ``static/``.
PAGES = {
    "/": "draw.html",
    "/draw": "draw.html",
    "/train": "train.html",
    "/graph": "graph.html",
    "/descent": "descent.html",
}
#: Modules under ``mitbadak.web.api`` whose ``routes(ctx)`` the app mounts.
API_MODULES = ["draw", "train", "graph", "descent"]
#: POST routes that take more than JSON (images, forms); every other ``/api/`` POST takes JSON
#: only (``Content-Type: application/json``, else 415).
NON_JSON_POSTS = frozenset({"/api/predict"})


def json_only(path: str) -> bool:
    """Whether a POST to ``path`` must carry ``Content-Type: application/json``."""
    return path.startswith("/api/") and path not in NON_JSON_POSTS


@dataclass
class AppContext:
    """What the API modules share: the models, and room for later pages' state."""

    registry: ModelRegistry
    runs_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Set when the server begins to shut down (Ctrl-C): event streams end, training stops.
    stopping: threading.Event = field(default_factory=threading.Event)


def plotly_js_path() -> Path:
    """plotly.min.js inside the installed ``plotly`` wheel (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed: pip install 'mitbadak[web]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: plotly's bundled JavaScript is missing")
    return path


def create_app(
    registry: ModelRegistry,
    *,
    runs_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    max_body_bytes: int = MAX_BODY_BYTES,
):
    """The ASGI app serving ``registry``'s models.

    The guards of :mod:`mitbadak.web.hardening`, outermost first: security headers; the Host
    header must name this server (loopback names or ``host``, the address bound; the server's
    port), which keeps a page elsewhere from reaching it through DNS rebinding; state-changing
    requests from other sites' pages are refused (403) and JSON routes need
    ``Content-Type: application/json`` (415); bodies over ``max_body_bytes`` are 413.
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    ctx = AppContext(registry=registry, runs_dir=Path(runs_dir) if runs_dir else None)
    plotly_path = plotly_js_path()

    def page(filename: str):
        async def endpoint(request):
            return FileResponse(STATIC_DIR / filename, media_type="text/html; charset=utf-8")

        return endpoint

    async def plotly_js(request):
        return FileResponse(
            plotly_path,
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "public, max-age=86400"},
        )

    async def favicon(request):
        return Response(status_code=204)

    routes: list = [Route(path, page(name), methods=["GET"]) for path, name in PAGES.items()]
    routes += [
        Route("/vendor/plotly.min.js", plotly_js, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    for name in API_MODULES:
        routes += importlib.import_module(f"mitbadak.web.api.{name}").routes(ctx)

    async def http_error(request, exc: HTTPException):
        messages = {404: "not found", 405: "method not allowed"}
        detail = exc.detail if isinstance(exc.detail, str) else None
        message = messages.get(exc.status_code) or detail or "request refused"
        return json_error(exc.status_code, message)

    async def server_error(request, exc: Exception):
        return json_error(500, f"internal error ({type(exc).__name__}); the server keeps running")

    names, any_ip = host_names(host)
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(HostCheckMiddleware, names=names, any_ip=any_ip),
        Middleware(SameOriginMiddleware, json_only=json_only),
        Middleware(BodyLimitMiddleware, max_bytes=max_body_bytes),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.ctx = ctx
    return app
