"""The configuration endpoints third-party SDKs fetch (see ``logic/sdk_config.py``):

- ``GET /v1/projects/{writeKey}/settings``: Segment analytics-next's settings (``cdnURL``);
- ``GET /sourceConfig/?writeKey=...``: RudderStack JS SDK v3's source config (``configUrl``).

Both are answered from the in-memory source view, with CORS granted only to the source's
own allowed origins (a preflight, which carries no key, to any source's origin).
"""

from __future__ import annotations

from urllib.parse import parse_qs

import orjson

from cdp_collector.logic.clientip import Network, is_trusted
from cdp_collector.logic.sdk_config import (
    PublicUrl,
    allowed_request_headers,
    rudderstack_source_config,
    segment_settings,
)
from cdp_collector.metrics import CollectorMetrics
from cdp_collector.sources import SourceCache
from cdp_collector.web import Receive, Scope, Send, answer, basic_user, cors_headers, origin_allowed

SEGMENT_ROUTE = "/v1/projects/{writeKey}/settings"
RUDDER_ROUTE = "/sourceConfig"
_JSON = (b"content-type", b"application/json")
_CACHE = (b"cache-control", b"public, max-age=60")


def route_of(path: str) -> str | None:
    if path.startswith("/v1/projects/") and path.endswith("/settings") and path.count("/") == 4:
        return SEGMENT_ROUTE
    if path in ("/sourceConfig", "/sourceConfig/"):
        return RUDDER_ROUTE
    return None


class SdkConfigRoutes:
    def __init__(
        self,
        *,
        sources: SourceCache,
        metrics: CollectorMetrics,
        public_url: PublicUrl | None,
        trusted_proxies: tuple[Network, ...],
    ) -> None:
        self.sources = sources
        self.metrics = metrics
        self.public_url = public_url
        self.trusted_proxies = trusted_proxies

    async def __call__(self, route: str, scope: Scope, send: Send, _receive: Receive) -> None:
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        method = scope["method"]
        if method == "OPTIONS":
            return await self._preflight(route, origin, headers, send)
        if method not in ("GET", "HEAD"):
            self.metrics.request(route, 405)
            body = orjson.dumps({"error": "method_not_allowed", "message": "use GET"})
            return await answer(send, 405, body, [_JSON, (b"allow", b"GET, OPTIONS")])
        if not self.sources.loaded:
            self.metrics.request(route, 503)
            body = orjson.dumps({"error": "unavailable", "message": "sources are not loaded yet; retry"})
            return await answer(send, 503, body, [_JSON, (b"retry-after", b"2")])

        if route == SEGMENT_ROUTE:
            write_key: str | None = scope["path"].split("/")[3]
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            write_key = (query.get("writeKey") or [None])[0] or basic_user(headers.get(b"authorization"))
        source = self.sources.by_write_key(write_key) if write_key else None
        if source is None:
            self.metrics.request(route, 404)
            body = orjson.dumps({"error": "not_found", "message": "unknown write key"})
            return await answer(send, 404, body, [_JSON])
        cors: list[tuple[bytes, bytes]] = []
        if origin:
            if not origin_allowed(source, origin.decode("latin-1")):
                self.metrics.request(route, 403)
                body = orjson.dumps(
                    {"error": "origin_not_allowed", "message": "this origin is not allowed for this source"}
                )
                return await answer(send, 403, body, [_JSON])
            cors = cors_headers(origin)
        if route == SEGMENT_ROUTE:
            doc = segment_settings(source, self.public_url or self._public_from(scope, headers))
        else:
            doc = rudderstack_source_config(source)
        self.metrics.request(route, 200)
        await answer(send, 200, orjson.dumps(doc), [_JSON, _CACHE, *cors], head=method == "HEAD")

    async def _preflight(self, route: str, origin: bytes | None, headers: dict[bytes, bytes], send: Send) -> None:
        if not origin or not self.sources.origin_known(origin.decode("latin-1")):
            self.metrics.request(route, 403)
            body = orjson.dumps({"error": "origin_not_allowed", "message": "this origin is not allowed"})
            return await answer(send, 403, body, [_JSON])
        self.metrics.request(route, 204)
        requested = headers.get(b"access-control-request-headers")
        allow = allowed_request_headers(requested.decode("latin-1") if requested else None)
        await answer(
            send,
            204,
            b"",
            [
                *cors_headers(origin),
                (b"access-control-allow-methods", b"GET, OPTIONS"),
                (b"access-control-allow-headers", allow.encode()),
                (b"access-control-max-age", b"86400"),
            ],
        )

    def _public_from(self, scope: Scope, headers: dict[bytes, bytes]) -> PublicUrl:
        """Where the SDK reached us: the Host header and scheme, or a trusted proxy's
        X-Forwarded-Proto and X-Forwarded-Host."""
        scheme = scope.get("scheme", "http")
        host = (headers.get(b"host") or b"").decode("latin-1")
        peer = scope.get("client")
        if peer and is_trusted(peer[0], self.trusted_proxies):
            proto = headers.get(b"x-forwarded-proto")
            fwd_host = headers.get(b"x-forwarded-host")
            if proto in (b"http", b"https"):
                scheme = proto.decode()
            if fwd_host:
                host = fwd_host.decode("latin-1").split(",")[0].strip()
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return PublicUrl(scheme, host)
