"""The playground's Starlette application: pages, static files, plotly.js and the JSON APIs.

Every page is ``static/shell.html`` (the ``<head>``, the top bar with the nav and the language
button, the status line) around the page's own fragment ``static/NAME.html``; :func:`compose_page`
joins them once, when the app is made. To add a page: write ``static/NAME.html`` (+ ``NAME.js``,
``NAME.css``) and ``api/NAME.py`` (its JSON routes: ``routes(ctx)``), add a :class:`Page` to
``PAGES`` and the ``nav.NAME`` strings (English and Korean) to ``static/common.js``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
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
from mitbadak.web.uploads import MAX_UPLOAD_BYTES, UPLOAD_PATH

__all__ = [
    "create_app",
    "compose_page",
    "AppContext",
    "Page",
    "PAGES",
    "HOME_PAGE",
    "API_MODULES",
    "STATIC_DIR",
    "plotly_js_path",
]

STATIC_DIR = Path(__file__).with_name("static")


@dataclass(frozen=True)
class Page:
    """One playground page, served at ``/NAME``.

    ``static/NAME.html`` is its fragment (what the shell does not hold), ``NAME.css`` and
    ``NAME.js`` its style and script; the nav links it under common.js's ``nav.NAME`` string.
    """

    name: str
    #: the ``<title>`` after "mitbadak — "
    title: str
    #: whether the page loads plotly.js (before its own script)
    plotly: bool = False
    #: the ``<body data-state>`` the page starts in, if its script reads one before setting it
    state: str | None = None


#: The pages, in nav order.
PAGES: tuple[Page, ...] = (
    Page("draw", "draw a digit", plotly=True),
    Page("train", "train a network", plotly=True, state="idle"),
    Page("graph", "computational graph"),
    Page("descent", "gradient descent", plotly=True),
    Page("conv", "convolution step by step"),
)
#: The page served at ``/``.
HOME_PAGE = "draw"
_SHELL = "shell.html"
_SLOT = re.compile(r"^([ \t]*)\{\{(\w+)\}\}\n|\{\{(\w+)\}\}", re.MULTILINE)
_TOPBAR = re.compile(
    r"^[ \t]*<!-- topbar -->\n(.*?)^[ \t]*<!-- /topbar -->\n", re.DOTALL | re.MULTILINE
)
_COMMENT_LINES = re.compile(r"^[ \t]*<!--.*?-->[ \t]*\n", re.DOTALL | re.MULTILINE)
_SHELL_PARTS = re.compile(r"<(html|head|body|header|nav|script)\b|\{\{", re.IGNORECASE)


def compose_page(page: Page, static_dir: Path = STATIC_DIR, pages: tuple[Page, ...] = PAGES) -> str:
    """The HTML of ``page``: the shell's slots filled from ``page`` and its fragment.

    Raises ``ValueError`` naming the file when the fragment holds what only the shell may (a
    ``<head>``, ``<header>``, ``<nav>``, ``<script>``, ...) or when a slot has no value.
    """
    shell = (static_dir / _SHELL).read_text(encoding="utf-8")
    fragment_path = static_dir / f"{page.name}.html"
    fragment = fragment_path.read_text(encoding="utf-8")
    topbar = ""
    found = _TOPBAR.search(fragment)
    if found:
        topbar = found.group(1)
        fragment = fragment[: found.start()] + fragment[found.end() :]
    shell, fragment = _COMMENT_LINES.sub("", shell), _COMMENT_LINES.sub("", fragment)
    shell_part = _SHELL_PARTS.search(topbar + fragment)
    if shell_part:
        raise ValueError(
            f"{fragment_path}: holds {shell_part.group(0)!r}; a page fragment holds only its own "
            f"part, the shell ({_SHELL}) holds the rest"
        )
    nav = "".join(
        f'<a href="/{p.name}" data-i18n="nav.{p.name}"'
        + (' class="active"' if p.name == page.name else "")
        + "></a>"
        for p in pages
    )
    values = {
        "name": page.name,
        "title": page.title,
        "plotly": '<script src="/vendor/plotly.min.js" defer></script>' if page.plotly else "",
        "body_attrs": f' data-state="{page.state}"' if page.state else "",
        "nav": nav,
        "topbar": topbar.strip(),
        "body": fragment.strip(),
    }

    def fill(match: re.Match) -> str:
        slot = match.group(2) or match.group(3)
        if slot not in values:
            raise ValueError(f"{static_dir / _SHELL}: no value for the slot {{{{{slot}}}}}")
        if match.group(2) is None:  # inside a line
            return values[slot]
        value = values[slot]  # a line of its own: dropped when empty
        return f"{match.group(1)}{value}\n" if value else ""

    return _SLOT.sub(fill, shell)


#: Modules under ``mitbadak.web.api`` whose ``routes(ctx)`` the app mounts: one per page.
API_MODULES = [page.name for page in PAGES]
#: POST routes that take more than JSON (images, forms); every other ``/api/`` POST takes JSON
#: only (``Content-Type: application/json``, else 415).
NON_JSON_POSTS = frozenset({"/api/predict", UPLOAD_PATH})


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
    max_upload_bytes: int | None = None,
):
    """The ASGI app serving ``registry``'s models.

    The guards of :mod:`mitbadak.web.hardening`, outermost first: security headers; the Host
    header must name this server (loopback names or ``host``, the address bound; the server's
    port), which keeps a page elsewhere from reaching it through DNS rebinding; state-changing
    requests from other sites' pages are refused (403) and JSON routes need
    ``Content-Type: application/json`` (415); bodies over ``max_body_bytes`` are 413 (model
    uploads: over ``max_upload_bytes``, default ``MAX_UPLOAD_BYTES``).
    """
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, HTMLResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    ctx = AppContext(registry=registry, runs_dir=Path(runs_dir) if runs_dir else None)
    plotly_path = plotly_js_path()

    def page(html: str):
        async def endpoint(request):
            return HTMLResponse(html)

        return endpoint

    async def plotly_js(request):
        return FileResponse(
            plotly_path,
            media_type="text/javascript; charset=utf-8",
            headers={"cache-control": "public, max-age=86400"},
        )

    async def favicon(request):
        return Response(status_code=204)

    routes: list = []
    for spec in PAGES:
        endpoint = page(compose_page(spec))
        routes.append(Route(f"/{spec.name}", endpoint, methods=["GET"]))
        if spec.name == HOME_PAGE:
            routes.append(Route("/", endpoint, methods=["GET"]))
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
        Middleware(
            BodyLimitMiddleware,
            max_bytes=max_body_bytes,
            path_limits={UPLOAD_PATH: max_upload_bytes or MAX_UPLOAD_BYTES},
        ),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.ctx = ctx
    return app
