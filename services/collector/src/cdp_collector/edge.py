"""The ingestion hot path as a plain ASGI app: read, validate, stamp, publish, answer.

FastAPI's routing costs most of the request budget on small requests, so the ingestion
routes are dispatched here directly; everything else (health, metrics, OpenAPI) falls
through to the FastAPI app. The routes are documented in the OpenAPI schema by ``api.py``.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson

from cdp_collector.logic import errors
from cdp_collector.logic.clientip import Network, client_ip
from cdp_collector.logic.errors import Refusal
from cdp_collector.logic.ingest import (
    Hit,
    Limits,
    Stamp,
    build_hits,
    decode_body,
    events_of,
    parse_payload,
    write_key_of,
)
from cdp_collector.logic.pixel import pixel_event
from cdp_collector.logic.sdk_config import allowed_request_headers
from cdp_collector.metrics import CollectorMetrics
from cdp_collector.publisher import Publisher, PublishError
from cdp_collector.sdk_routes import SdkConfigRoutes, route_of
from cdp_collector.sources import SourceCache
from cdp_collector.web import ASGIApp, Receive, Scope, Send, answer, basic_user, cors_headers, origin_allowed
from cdp_common.jsonio import dump_model
from cdp_common.records import Rejected
from cdp_common.sources import Source
from cdp_common.topics import Topic

logger = logging.getLogger(__name__)

_KINDS = ("batch", "track", "page", "identify", "alias", "screen", "group")
# Segment's long paths; analytics-next's one-letter ones (/v1/t, /v1/p, ..., /v1/b);
# RudderStack's beacon path (write key in the query: sendBeacon sets no headers)
EVENT_ROUTES = {
    **{f"/v1/{k}": k for k in _KINDS},
    **{f"/v1/{k[0]}": k for k in _KINDS},
    "/beacon/v1/batch": "batch",
}
PIXEL_ROUTES = {"/pixel/v1/page": "page", "/pixel/v1/track": "track"}

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
COOKIE = "cdp_aid"
COOKIE_MAX_AGE = 365 * 24 * 3600
RETRY_AFTER_S = "2"

_JSON = (b"content-type", b"application/json")
_OK = orjson.dumps({"success": True})
_NO_CACHE = [
    (b"cache-control", b"no-cache, no-store, must-revalidate, private, max-age=0"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
]


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    limits: Limits
    trusted_proxies: tuple[Network, ...]
    cookie_secure: bool = False
    cookie_domain: str | None = None
    raw_topic: str = Topic.HITS_RAW.value
    rejected_topic: str = Topic.HITS_REJECTED.value


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope["headers"])


def _cookie(header: bytes | None, name: str) -> str | None:
    if not header:
        return None
    for part in header.decode("latin-1").split(";"):
        k, _, v = part.strip().partition("=")
        if k == name and v:
            return v
    return None


def _query_write_key(scope: Scope) -> str | None:
    query: bytes = scope.get("query_string", b"")
    if b"writeKey=" not in query:
        return None
    for k, v in parse_qsl(query.decode("latin-1")):
        if k == "writeKey" and v:
            return v
    return None


class Edge:
    def __init__(
        self,
        *,
        config: EdgeConfig,
        sources: SourceCache,
        publisher: Publisher,
        metrics: CollectorMetrics,
        fallback: ASGIApp,
        sdk_config: SdkConfigRoutes | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.config = config
        self.sources = sources
        self.publisher = publisher
        self.metrics = metrics
        self.fallback = fallback
        self.sdk_config = sdk_config
        self.clock = clock
        self.new_id = new_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.fallback(scope, receive, send)
        path: str = scope["path"]
        method: str = scope["method"]
        kind = EVENT_ROUTES.get(path)
        if kind is not None:
            if method == "POST":
                return await self._post(kind, scope, receive, send)
            if method == "OPTIONS":
                return await self._preflight(path, scope, send)
            return await self._not_allowed(path, "POST, OPTIONS", send)
        kind = PIXEL_ROUTES.get(path)
        if kind is not None:
            if method == "GET":
                return await self._pixel(kind, scope, send)
            return await self._not_allowed(path, "GET", send)
        sdk_route = route_of(path) if self.sdk_config is not None else None
        if sdk_route is not None and self.sdk_config is not None:
            return await self.sdk_config(sdk_route, scope, send, receive)
        return await self.fallback(scope, receive, send)

    # ---- answers ------------------------------------------------------------------------

    async def _answer(self, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        await answer(send, status, body, headers)

    async def _refuse(self, route: str, refusal: Refusal, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        self.metrics.request(route, refusal.status)
        self.metrics.reject(refusal.code)
        await self._answer(send, refusal.status, orjson.dumps(refusal.body()), [_JSON, *cors])

    async def _unavailable(self, route: str, cause: str, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        self.metrics.request(route, 503)
        self.metrics.produce_failures.labels(cause).inc()
        body = orjson.dumps({"error": "unavailable", "message": f"events could not be stored ({cause}); retry later"})
        await self._answer(send, 503, body, [_JSON, (b"retry-after", RETRY_AFTER_S.encode()), *cors])

    async def _not_allowed(self, route: str, allow: str, send: Send) -> None:
        self.metrics.request(route, 405)
        body = orjson.dumps({"error": "method_not_allowed", "message": f"use {allow}"})
        await self._answer(send, 405, body, [_JSON, (b"allow", allow.encode())])

    async def _preflight(self, route: str, scope: Scope, send: Send) -> None:
        """A preflight carries no write key, so any source's allowed origin passes it; the
        real request is then checked against its own source."""
        headers = _headers(scope)
        origin = headers.get(b"origin")
        if not origin or not self.sources.origin_known(origin.decode("latin-1")):
            self.metrics.request(route, 403)
            body = orjson.dumps({"error": "origin_not_allowed", "message": "this origin is not allowed"})
            return await self._answer(send, 403, body, [_JSON])
        self.metrics.request(route, 204)
        requested = headers.get(b"access-control-request-headers", b"")
        grant = [
            *cors_headers(origin),
            (b"access-control-allow-methods", b"POST, GET, OPTIONS"),
            (b"access-control-allow-headers", allowed_request_headers(requested.decode("latin-1")).encode()),
            (b"access-control-max-age", b"86400"),
        ]
        await self._answer(send, 204, b"", grant)

    # ---- POST /v1/* ---------------------------------------------------------------------

    async def _read_body(self, receive: Receive, cap: int) -> bytes | None:
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _post(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope["path"]
        headers = _headers(scope)
        origin = headers.get(b"origin")
        limits = self.config.limits
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_request_bytes:
            return await self._refuse(
                route, errors.too_large(f"requests are limited to {limits.max_request_bytes} bytes"), send, []
            )
        if not self.sources.loaded:
            return await self._unavailable(route, "sources_not_loaded", send, [])

        header_key = basic_user(headers.get(b"authorization")) or _query_write_key(scope)
        source = self.sources.by_write_key(header_key) if header_key else None
        if header_key and source is None:
            return await self._refuse(route, errors.unauthorized("unknown write key"), send, [])

        body = await self._read_body(receive, limits.max_request_bytes)
        if body is None:
            return await self._refuse(
                route, errors.too_large(f"requests are limited to {limits.max_request_bytes} bytes"), send, []
            )
        raw = decode_body(body, headers.get(b"content-encoding", b"").decode("latin-1"), limits)
        if isinstance(raw, Refusal):
            return await self._refuse(route, raw, send, [])
        if kind != "batch" and len(raw) > limits.max_event_bytes:
            return await self._refuse(
                route, errors.too_large(f"an event is limited to {limits.max_event_bytes} bytes"), send, []
            )
        payload = parse_payload(raw)
        if isinstance(payload, Refusal):
            return await self._refuse(route, payload, send, [])

        if source is None:
            body_key = write_key_of(payload)
            if body_key is None:
                refusal = errors.unauthorized("a write key is required: HTTP Basic username or 'writeKey' in the body")
                return await self._refuse(route, refusal, send, [])
            source = self.sources.by_write_key(body_key)
            if source is None:
                return await self._refuse(route, errors.unauthorized("unknown write key"), send, [])
        if isinstance(payload, dict):
            payload.pop("writeKey", None)

        cors: list[tuple[bytes, bytes]] = []
        if origin:
            if not origin_allowed(source, origin.decode("latin-1")):
                return await self._refuse(route, errors.forbidden_origin(origin.decode("latin-1")), send, [])
            cors = cors_headers(origin)

        events = events_of(payload, kind)
        if isinstance(events, Refusal):
            return await self._refuse(route, events, send, cors)
        stamp = self._stamp(scope, headers, source)
        hits = build_hits(events, stamp=stamp, limits=limits, new_id=self.new_id, single=kind != "batch")
        if isinstance(hits, Refusal):
            return await self._refuse(route, hits, send, cors)
        try:
            took = await self.publisher.publish(self.config.raw_topic, hits)
        except PublishError as e:
            return await self._unavailable(route, e.cause, send, cors)
        self._count(hits, took)
        self.metrics.request(route, 200)
        await self._answer(send, 200, _OK, [_JSON, *cors])

    def _stamp(self, scope: Scope, headers: dict[bytes, bytes], source: Source) -> Stamp:
        peer = scope.get("client")
        forwarded = headers.get(b"x-forwarded-for")
        ip = client_ip(
            peer[0] if peer else None,
            forwarded.decode("latin-1") if forwarded else None,
            self.config.trusted_proxies,
        )
        ua = headers.get(b"user-agent")
        return Stamp(
            received_at=self.clock(),
            source_id=source.id,
            client_ip=ip,
            user_agent=ua.decode("latin-1") if ua else None,
        )

    def _count(self, hits: list[Hit], took: float) -> None:
        self.metrics.produce_latency.observe(took)
        if len(hits) == 1:
            self.metrics.accept(hits[0].type)
            return
        by_type: dict[str, int] = {}
        for h in hits:
            by_type[h.type] = by_type.get(h.type, 0) + 1
        for t, n in by_type.items():
            self.metrics.accept(t, n)

    # ---- GET /pixel/v1/* ----------------------------------------------------------------

    async def _pixel(self, kind: str, scope: Scope, send: Send) -> None:
        """Always a 1x1 GIF. A valid hit goes to the raw topic; an invalid one to the
        rejected topic with its reason. 503 (still a GIF) only when Kafka did not ack."""
        route = scope["path"]
        headers = _headers(scope)
        query: bytes = scope.get("query_string", b"")
        params = parse_qsl(query.decode("latin-1"), keep_blank_values=False)
        event, write_key = pixel_event(kind, params)
        extra_headers: list[tuple[bytes, bytes]] = []
        if "anonymousId" not in event:
            aid = _cookie(headers.get(b"cookie"), COOKIE)
            if aid is None:
                aid = self.new_id()
                extra_headers.append((b"set-cookie", self._set_cookie(aid)))
            event["anonymousId"] = aid

        if not self.sources.loaded:
            return await self._gif(route, 503, send, extra_headers)
        source = self.sources.by_write_key(write_key) if write_key else None
        refusal: Refusal | None = None
        if source is None:
            refusal = errors.unauthorized("unknown write key" if write_key else "the writeKey parameter is required")
            hits: list[Hit] | Refusal = refusal
        else:
            hits = build_hits(
                [event],
                stamp=self._stamp(scope, headers, source),
                limits=self.config.limits,
                new_id=self.new_id,
                single=True,
            )
        try:
            if isinstance(hits, Refusal):
                refusal = hits
                await self._publish_rejected(refusal, query, source)
            else:
                took = await self.publisher.publish(self.config.raw_topic, hits)
                self._count(hits, took)
        except PublishError as e:
            self.metrics.produce_failures.labels(e.cause).inc()
            return await self._gif(route, 503, send, [*extra_headers, (b"retry-after", RETRY_AFTER_S.encode())])
        if refusal is not None:
            self.metrics.reject(refusal.code)
        await self._gif(route, 200, send, extra_headers)

    async def _publish_rejected(self, refusal: Refusal, original: bytes, source: Source | None) -> None:
        record = Rejected(
            reason=refusal.code,
            message=refusal.message
            if not refusal.details
            else f"{refusal.message} {orjson.dumps(refusal.details).decode()}",
            stage="collector",
            original=Rejected.encode(original),
            source_id=source.id if source else None,
            rejected_at=self.clock(),
        )
        hit = Hit(key=refusal.code.encode(), value=dump_model(record), message_id="", type="rejected")
        await self.publisher.publish(self.config.rejected_topic, [hit])

    def _set_cookie(self, aid: str) -> bytes:
        parts = [f"{COOKIE}={aid}", f"Max-Age={COOKIE_MAX_AGE}", "Path=/", "SameSite=Lax"]
        if self.config.cookie_domain:
            parts.append(f"Domain={self.config.cookie_domain}")
        if self.config.cookie_secure:
            parts.append("Secure")
        return "; ".join(parts).encode()

    async def _gif(self, route: str, status: int, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        self.metrics.request(route, status)
        await self._answer(send, status, GIF, [(b"content-type", b"image/gif"), *_NO_CACHE, *extra])
