"""The collector's ASGI app: the ingestion edge in front of a small FastAPI app for ops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cdp_collector.edge import Edge, EdgeConfig
from cdp_collector.logic.clientip import parse_trusted
from cdp_collector.logic.ingest import Limits
from cdp_collector.logic.sdk_config import PublicUrl
from cdp_collector.metrics import CollectorMetrics
from cdp_collector.openapi import ingestion_openapi
from cdp_collector.publisher import Publisher
from cdp_collector.sdk_routes import SdkConfigRoutes
from cdp_collector.sources import SourceCache
from cdp_collector.tag import TagAsset
from cdp_common.pg import create_pool
from cdp_common.settings import CollectorSettings, CommonSettings
from cdp_common.sources import SourceStore
from cdp_common.stream.client import ProducerConfig, make_producer


def create_app(common: CommonSettings, settings: CollectorSettings) -> Edge:
    metrics = CollectorMetrics()
    state: dict[str, Any] = {}

    async def load_sources() -> list[Any]:
        if "pool" not in state:
            state["pool"] = await create_pool(common, min_size=1, max_size=2)
        return await SourceStore(state["pool"]).list_all()

    sources = SourceCache(load_sources, refresh_s=settings.sources_refresh_s)
    producer = make_producer(
        common.kafka_client,
        ProducerConfig(kafka=common.kafka_access(), client_id="cdp-collector", linger_ms=settings.linger_ms),
    )
    publisher = Publisher(producer, timeout_s=settings.produce_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        publisher.start()
        sources.start()
        try:
            yield
        finally:
            await sources.stop()
            await publisher.stop()
            if "pool" in state:
                await state["pool"].close()

    app = FastAPI(
        title="CDP collector",
        version="0.1.0",
        description="Segment-compatible ingestion: validate, stamp, publish to Kafka, answer.",
        lifespan=lifespan,
    )

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Ready: producer connected and sources loaded",
        responses={503: {"description": "Not ready yet"}},
    )
    async def readyz(response: Response) -> dict[str, bool]:
        ready = {"producer": publisher.ready, "sources": sources.loaded}
        if not all(ready.values()):
            response.status_code = 503
        return ready

    tag = TagAsset.load()

    @app.get(
        "/v1/tag.js",
        summary="The JS tag (first-party tracking; see docs/tag.md)",
        response_class=Response,
        responses={200: {"content": {"application/javascript": {}}}, 304: {"description": "Not modified"}},
    )
    async def tag_js(request: Request) -> Response:
        return tag.response(request.headers.get("if-none-match"), request.headers.get("accept-encoding", ""))

    @app.get(
        "/analytics.js/v1/{write_key}/analytics.min.js",
        summary="The JS tag where Segment's snippet loads analytics.js: a site switches by pointing "
        "the snippet's CDN host here (docs/clients.md)",
        response_class=Response,
        responses={200: {"content": {"application/javascript": {}}}, 304: {"description": "Not modified"}},
    )
    async def tag_for_segment_snippet(write_key: str, request: Request) -> Response:
        return await tag_js(request)

    @app.get(
        "/v3/{distribution}/rsa.min.js",
        summary="The JS tag where RudderStack's v3 snippet loads its SDK (sdkBaseUrl pointed here)",
        response_class=Response,
        responses={200: {"content": {"application/javascript": {}}}, 304: {"description": "Not modified"}},
    )
    async def tag_for_rudderstack_snippet(distribution: str, request: Request) -> Response:
        return await tag_js(request)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            paths, components = ingestion_openapi()
            schema["paths"] = {**paths, **schema.get("paths", {})}
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            schema["components"]["securitySchemes"] = {
                "writeKey": {"type": "http", "scheme": "basic", "description": "write key as the username"}
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    trusted = parse_trusted(settings.trusted_proxies)
    sdk_config = SdkConfigRoutes(
        sources=sources,
        metrics=metrics,
        public_url=PublicUrl.parse(settings.public_url) if settings.public_url else None,
        trusted_proxies=trusted,
    )
    config = EdgeConfig(
        limits=Limits(max_event_bytes=settings.max_event_bytes, max_request_bytes=settings.max_request_bytes),
        trusted_proxies=trusted,
        cookie_secure=settings.cookie_secure,
        cookie_domain=settings.cookie_domain,
        raw_topic=settings.raw_topic,
        rejected_topic=settings.rejected_topic,
    )
    return Edge(
        config=config, sources=sources, publisher=publisher, metrics=metrics, fallback=app, sdk_config=sdk_config
    )
