"""The personalization decision on its own short path. Browsers call ``GET /v1/personalize``
on every page view, so it skips what the rest of the console needs (FastAPI's routing over
every page and API route, dependency solving, parameter models): profiled under load, those
took over half of each request's CPU. The answer is the same as the documented route's
(``personalize_answer``, which both use); the Guard around it still adds the security
headers and refuses NUL characters."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from cdp_common.hotkeys import RedisKeys
from cdp_console.personalize import choose

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
PATH = "/v1/personalize"
MAX_ID = 255


async def personalize_answer(
    st: Any,
    anonymous_id: str,
    write_key: str | None,
    slots: list[str] | None,
    origin: str | None,
    client: str | None,
) -> tuple[int, dict[str, str], bytes]:
    """Only the variants of the configured slots: nothing about the visitor (whether they
    are known, their segments, stage or traits) leaves with the answer."""
    source = st.write_keys.get(write_key) if write_key else None
    if source is None:
        return 401, {}, b'{"error":"unknown write key"}'
    source_id, allowed = source
    grant = {"access-control-allow-origin": origin, "vary": "Origin"} if origin else {}
    if origin and not (origin in allowed or "*" in allowed):
        return 403, {}, b'{"error":"origin not allowed for this source"}'
    wait = st.limiter.take((source_id, client))
    if wait:
        return 429, {**grant, "retry-after": str(max(1, round(wait)))}, b'{"error":"too many requests"}'
    raw = await st.summary_of(RedisKeys(st.settings.redis_prefix), anonymous_id)
    summary = orjson.loads(raw) if raw else None
    chosen = [s for s in st.slots if not slots or s.id in slots]
    return 200, {**grant, "cache-control": "no-store"}, orjson.dumps({"variants": choose(chosen, summary)})


def basic_user(header: str) -> str | None:
    """The user part of ``Authorization: Basic`` (a write key sent as Segment's SDKs do)."""
    import base64

    if not header.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(header[6:]).decode().split(":", 1)[0]
    except (ValueError, UnicodeDecodeError):
        return None


class PersonalizeEdge:
    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app = app
        self.st = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        anonymous_id = (query.get("anonymousId") or [""])[-1]
        if not anonymous_id or len(anonymous_id) > MAX_ID:
            # as the documented route's validation answers: FastAPI's error shape
            detail = [{"type": "string_too_long" if anonymous_id else "missing", "loc": ["query", "anonymousId"]}]
            return await _send(send, 422, {}, orjson.dumps({"detail": detail}))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        write_key = (query.get("writeKey") or [None])[-1] or basic_user(headers.get("authorization", ""))
        client = scope.get("client")
        status, extra, body = await personalize_answer(
            self.st, anonymous_id, write_key, query.get("slot"), headers.get("origin"), client[0] if client else None
        )
        await _send(send, status, extra, body)
        if status == 200:
            self.st.personalize_seconds.observe(time.perf_counter() - t0)


async def _send(send: Any, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
