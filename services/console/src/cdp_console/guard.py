"""An ASGI layer in front of the console: refuses NUL characters anywhere in a request
(Postgres text and jsonb cannot hold them, so they would end as 500s) and adds security
headers to every answer (no framing, no sniffing, a strict CSP for the pages)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 1024 * 1024
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def has_nul(raw: bytes) -> bool:
    """A NUL as a byte, percent-encoded, or as a JSON escape."""
    lowered = raw.lower()
    return b"\x00" in raw or b"%00" in raw or b"\\u0000" in lowered


def _headers_with_security(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = {k.lower() for k, _ in headers}
    out = list(headers)
    out.extend(h for h in SECURITY_HEADERS if h[0] not in names)
    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if ctype.startswith(b"text/html") and b"content-security-policy" not in names:
        out.append((b"content-security-policy", CSP.encode()))
    return out


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _headers_with_security(list(message.get("headers", [])))
            await send(message)

        target = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        if has_nul(target) or has_nul(scope.get("query_string", b"")):
            return await _refuse(secured)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, secured)

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                return await _refuse(secured, 413, "the body is limited to 1 MB")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if has_nul(body):
            return await _refuse(secured)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, secured)


async def _refuse(send: Send, status: int = 400, detail: str = "NUL characters are not allowed") -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
