"""ASGI plumbing shared by the collector's hand-dispatched routes: types, answers, CORS."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cdp_common.sources import Source

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], *, head: bool = False
) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def cors_headers(origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """The grant for an allowed origin: that origin (never ``*``), with credentials, since
    the SDKs send with ``credentials: include`` or ``withCredentials``."""
    if not origin:
        return []
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


def origin_allowed(source: Source, origin: str) -> bool:
    return origin in source.origins or "*" in source.origins


def basic_user(authorization: bytes | None) -> str | None:
    """The write key as the HTTP Basic username (Segment's and RudderStack's convention)."""
    if not authorization or authorization[:6].lower() != b"basic ":
        return None
    try:
        user, _, _ = base64.b64decode(authorization[6:].strip(), validate=True).partition(b":")
        return user.decode() or None
    except (binascii.Error, UnicodeDecodeError):
        return None
