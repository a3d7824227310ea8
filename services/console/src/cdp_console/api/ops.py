"""Health, readiness and metrics (no token)."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cdp_console.state import State


def router(st: State) -> APIRouter:
    r = APIRouter()

    @r.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @r.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        try:
            await st.db().fetchval("SELECT 1")
            await st.redis.ping()
        except Exception as e:
            return JSONResponse({"status": "unavailable", "error": str(e)}, 503)
        return JSONResponse({"status": "ready"})

    @r.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return PlainTextResponse(generate_latest(st.registry), media_type=CONTENT_TYPE_LATEST)

    return r
