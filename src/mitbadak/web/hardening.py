"""Server-side limits shared by every page's API: body size, JSON errors, security headers.

:class:`BodyLimitMiddleware` is plain ASGI: it reads the whole request body before the app sees
it and answers 413 as soon as more than ``max_bytes`` have arrived (a Content-Length header
that announces more is refused before reading anything). Streaming responses are unaffected:
after the body has been handed over, ``receive`` passes through (for disconnect messages).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "BodyLimitMiddleware",
    "HostCheckMiddleware",
    "SecurityHeadersMiddleware",
    "json_error",
    "MAX_BODY_BYTES",
]

#: Largest accepted request body: 1 MB.
MAX_BODY_BYTES = 1_000_000

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


async def _send_json(send: Send, status: int, message: str) -> None:
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

    def __init__(self, app, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body over the limit of {self.max_bytes:,} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await _send_json(send, 400, "invalid Content-Length header")
                    return
                if announced > self.max_bytes:
                    await _send_json(send, 413, too_big)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_json(send, 413, too_big)
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


class HostCheckMiddleware:
    """Answer 400 (JSON) to requests whose Host header names another machine.

    A page on another site could otherwise reach a loopback server through DNS rebinding.
    """

    def __init__(self, app, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").lower()
                break
        name = host.rsplit("]", 1)[0] + "]" if host.startswith("[") else host.split(":", 1)[0]
        if name not in self.allowed:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _send_json(send, 400, f"requests must be addressed to this machine, not {host!r}")
            return
        await self.app(scope, receive, send)
