"""Server-side guards shared by every page's API: who may ask, how much, in what form.

Plain ASGI middleware, outermost first:

* :class:`SecurityHeadersMiddleware`: nosniff, no-referrer and a same-origin-only CSP on every
  response.
* :class:`HostCheckMiddleware`: the Host header must name this server (a loopback name, the
  ``--host`` given) and, when it has a port, the port the server answers on. A page elsewhere
  that rebinds its own DNS name to 127.0.0.1 sends its own name and is refused (400).
* :class:`SameOriginMiddleware`: a state-changing request (POST/PUT/PATCH/DELETE) from a browser
  must come from a page of this server: ``Origin`` equal to ``http://<Host>``, or, without
  Origin, ``Sec-Fetch-Site: same-origin|none``, or a same-origin ``Referer`` (403 otherwise). A
  request with none of the three is not a browser's (curl, scripts, the tests) and passes. JSON
  endpoints also require ``Content-Type: application/json`` (415), which a cross-site page cannot
  send without a CORS preflight this server never grants.
* :class:`BodyLimitMiddleware`: the whole request body is read before the app sees it; more than
  ``max_bytes`` is a 413, counted as bytes arrive (an announced Content-Length over the limit is
  refused before reading).

Every refusal is a JSON ``{"error": ...}`` with ``Connection: close``. Before a refusal, a body
the client is sending anyway (no ``Expect: 100-continue``) is read and dropped, up to
:data:`DRAIN_BYTES`: closing a socket with unread data makes the kernel reset the connection, and
a client that is still sending (Python's urllib, a browser's fetch) would see "connection reset"
instead of the answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "BodyLimitMiddleware",
    "HostCheckMiddleware",
    "SameOriginMiddleware",
    "SecurityHeadersMiddleware",
    "json_error",
    "refuse",
    "split_host",
    "DRAIN_BYTES",
    "LOOPBACK_NAMES",
    "MAX_BODY_BYTES",
]

#: Largest accepted request body: 1 MB.
MAX_BODY_BYTES = 1_000_000
#: A refused body up to this size is read and dropped before answering (see the module notes),
#: for at most DRAIN_SECONDS in all and DRAIN_IDLE_SECONDS without data (a client that stops
#: sending gets its answer then).
DRAIN_BYTES = 10_000_000
DRAIN_SECONDS = 3.0
DRAIN_IDLE_SECONDS = 0.5
#: The names of this machine a loopback server answers to (IPv6 without brackets).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: ``--host`` values that bind every address of the machine.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
#: Methods that may change the server's state.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def json_error(status: int, message: str):
    """A Starlette JSONResponse ``{"error": message}`` with the given status."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status)


def _header(scope: Scope, name: bytes) -> str | None:
    """The first ``name`` header of the request (lower-case name), decoded as Latin-1."""
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def split_host(value: str) -> tuple[str, int | None]:
    """A Host header ``name[:port]`` or ``[v6][:port]`` -> (lower-case name, brackets removed;
    port or None). Raises ``ValueError`` for anything else (``[::1].evil.example`` included)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            raise ValueError(value)
        name, rest = value[1:end], value[end + 1 :]
        ipaddress.IPv6Address(name)  # brackets hold an IPv6 address and nothing else
        if rest and not rest.startswith(":"):
            raise ValueError(value)
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text = value.partition(":")
        if not colon:
            port_text = None
        if ":" in (port_text or ""):
            raise ValueError(value)
    if not name:
        raise ValueError(value)
    if port_text is None:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(value)
    return name, int(port_text)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _server_port(scope: Scope) -> int | None:
    server = scope.get("server")
    return int(server[1]) if server and server[1] is not None else None


async def _drain(scope: Scope, receive: Receive, already: int = 0) -> None:
    """Read and drop the rest of the request body, up to :data:`DRAIN_BYTES` in all, for at
    most :data:`DRAIN_SECONDS` (and :data:`DRAIN_IDLE_SECONDS` without data).

    Nothing is read from a client that waits for ``100 Continue`` (asking for the body would
    only make it send what is refused) or that announced more than the cap.
    """
    if (_header(scope, b"expect") or "").strip().lower() == "100-continue" and not already:
        return
    length = _header(scope, b"content-length")
    if length is not None:
        try:
            if int(length) > DRAIN_BYTES or int(length) == 0:
                return
        except ValueError:
            return
    elif _header(scope, b"transfer-encoding") is None:
        return  # no body at all

    async def read_rest() -> None:
        size = already
        while size <= DRAIN_BYTES:
            message = await asyncio.wait_for(receive(), DRAIN_IDLE_SECONDS)
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    try:
        await asyncio.wait_for(read_rest(), DRAIN_SECONDS)
    except asyncio.TimeoutError:
        pass


async def refuse(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, *, read: int = 0
) -> None:
    """Answer ``{"error": message}`` with ``status`` and close, after draining the body
    (``read``: bytes of it already taken)."""
    if scope["type"] == "http":
        await _drain(scope, receive, read)
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, counting bytes as they arrive."""

    def __init__(
        self, app, max_bytes: int = MAX_BODY_BYTES, path_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)
        #: routes that take larger bodies (model uploads): path -> their own limit
        self.path_limits = {str(k): int(v) for k, v in (path_limits or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        too_big = f"request body over the limit of {max_bytes:,} bytes"
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                await refuse(scope, receive, send, 400, "invalid Content-Length header")
                return
            if announced > max_bytes:
                await refuse(scope, receive, send, 413, too_big)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                if message.get("more_body", False):
                    await refuse(scope, receive, send, 413, too_big, read=size)
                else:
                    await refuse(scope, _no_more_body, send, 413, too_big, read=size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _no_more_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class SecurityHeadersMiddleware:
    """Add nosniff, no-referrer and a same-origin-only Content-Security-Policy to responses.

    The policy also proves the page is offline: a script or stylesheet from anywhere but this
    server would be refused by the browser.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def host_names(bound: str) -> tuple[frozenset[str], bool]:
    """(the names a server bound to ``bound`` answers to, whether any IP literal is also fine).

    Loopback names always; the ``--host`` given; for a wildcard bind (``0.0.0.0``, ``::``) also
    this machine's host name and any IP address written as such (an address is not a DNS name,
    so it cannot be rebound).
    """
    names = set(LOOPBACK_NAMES)
    bound = bound.strip().lower().strip("[]")
    wildcard = bound in WILDCARD_HOSTS
    if wildcard:
        names.add(socket.gethostname().lower())
    elif bound:
        names.add(bound)
    return frozenset(names), wildcard


class HostCheckMiddleware:
    """Answer 400 (JSON) to requests whose Host header names another machine or port.

    A page on another site could otherwise reach a loopback server through DNS rebinding: its
    requests carry the page's own name (``evil.example``, ``[::1].evil.example``) in Host.
    ``names``: accepted names (IPv6 without brackets); the name the server itself answers on
    (the ASGI scope's ``server``) is accepted too. A port, when given, must be the server's.
    """

    def __init__(self, app, names: Iterable[str], any_ip: bool = False) -> None:
        self.app = app
        self.names = {n.lower().strip("[]") for n in names}
        self.any_ip = any_ip

    def allowed(self, scope: Scope, host: str) -> bool:
        try:
            name, port = split_host(host)
        except ValueError:
            return False
        server = scope.get("server")
        known = name in self.names or (server is not None and name == str(server[0]).lower())
        if not known and not (self.any_ip and _is_ip(name)):
            return False
        expected = _server_port(scope)
        return port is None or expected is None or port == expected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if not self.allowed(scope, host):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            shown = host[:100]
            await refuse(
                scope, receive, send, 400,
                f"requests must be addressed to this machine (Host 127.0.0.1, localhost or [::1] "
                f"with the server's port), not {shown!r}",
            )
            return
        await self.app(scope, receive, send)


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host without brackets, port) of an absolute http(s) URL, else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def own_origin(scope: Scope) -> tuple[str, str, int] | None:
    """The origin a page of this server has: the request's scheme and its (checked) Host."""
    scheme = scope.get("scheme", "http")
    try:
        name, port = split_host(_header(scope, b"host") or "")
    except ValueError:
        return None
    return scheme, name, port or (443 if scheme == "https" else 80)


def cross_site_reason(scope: Scope) -> str | None:
    """Why the request is from another site's page (for the 403), or None if it is not.

    ``Origin`` decides when present; else ``Sec-Fetch-Site``; else ``Referer``; a request with
    none of them is not a browser's and passes.
    """
    origin = _header(scope, b"origin")
    if origin is not None:
        if _origin_of(origin) is None or _origin_of(origin) != own_origin(scope):
            return f"Origin {origin[:100]!r}"
        return None
    site = _header(scope, b"sec-fetch-site")
    if site is not None:
        if site.strip().lower() not in ("same-origin", "none"):
            return f"Sec-Fetch-Site {site[:30]!r}"
        return None
    referer = _header(scope, b"referer")
    if referer is not None and _origin_of(referer) != own_origin(scope):
        return "Referer from another site"
    return None


class SameOriginMiddleware:
    """Refuse (403) state-changing requests from other sites' pages, and (415) JSON endpoints'
    requests without ``Content-Type: application/json``.

    ``json_only(path)``: whether the route at ``path`` takes JSON bodies only. GET requests to
    ``/api/`` that a browser marks as cross-site are refused too (they make the server work).
    """

    def __init__(self, app, json_only: Callable[[str], bool]) -> None:
        self.app = app
        self.json_only = json_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET").upper()
        path = scope.get("path", "")
        if method in UNSAFE_METHODS:
            reason = cross_site_reason(scope)
            if reason:
                await refuse(
                    scope, receive, send, 403,
                    f"refused: only this server's own pages may {method} to {path} "
                    f"(the request came from another site: {reason})",
                )
                return
            if self.json_only(path):
                ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
                if ctype != "application/json":
                    await refuse(
                        scope, receive, send, 415,
                        f"{path} takes a JSON body: send Content-Type: application/json "
                        f"(got {ctype[:60] or 'none'!r})",
                    )
                    return
        elif path.startswith("/api/"):
            site = (_header(scope, b"sec-fetch-site") or "").strip().lower()
            if site in ("cross-site", "same-site"):
                await refuse(
                    scope, receive, send, 403,
                    f"refused: {path} answers this server's own pages only "
                    f"(Sec-Fetch-Site {site!r})",
                )
                return
        await self.app(scope, receive, send)
