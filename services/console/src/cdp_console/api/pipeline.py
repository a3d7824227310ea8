"""The pipeline as the API shows it: the public topics' schemas, what the stages refused,
failed lead deliveries and their retry."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from cdp_common import deliveries, rejects, schemas
from cdp_common.settings import SyncerSettings
from cdp_console import data
from cdp_console.api.auth import Admin, Reader, problem
from cdp_console.state import State


class RetryFailed(BaseModel):
    """Which failed deliveries go back in their queue: all, one destination's, or named leads."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    destination: str | None = Field(default=None, max_length=32)
    lead_event_ids: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, alias="leadEventIds", max_length=1000
    )


def router(st: State) -> APIRouter:
    r = APIRouter()

    @r.get("/v1/schemas", summary="The public topics' JSON Schemas and the AsyncAPI document (names)")
    async def list_schemas(who: Reader) -> dict[str, Any]:
        return {
            "schemas": [{"topic": t.value, "file": name} for t, (name, _) in sorted(schemas.PUBLIC_SCHEMAS.items())],
            "asyncapi": schemas.ASYNCAPI_FILE,
        }

    @r.get("/v1/schemas/{file}", summary="One topic's JSON Schema, or the AsyncAPI document (asyncapi.json)")
    async def get_schema(file: str, who: Reader) -> Response:
        if file == schemas.ASYNCAPI_FILE:
            return Response(schemas.render_asyncapi(), media_type="application/json")
        for topic, (name, _) in schemas.PUBLIC_SCHEMAS.items():
            if name == file:
                return Response(schemas.render(topic), media_type="application/schema+json")
        raise problem(404, f"no schema {file!r} (GET /v1/schemas lists them)")

    @r.get("/v1/rejects", summary="What the stages refused (cdp.hits.rejected), newest window first")
    async def list_rejects(
        who: Admin,
        stage: Annotated[Literal["collector", "enricher", "segmenter", "syncer"] | None, Query()] = None,
        reason: Annotated[str | None, Query(max_length=64)] = None,
        source: Annotated[str | None, Query(max_length=128, description="a source id")] = None,
        hours: Annotated[float, Query(gt=0, le=24 * 7)] = 24,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        found = await rejects.read(
            st.common.kafka_access(),
            since=now - timedelta(hours=hours),
            until=now,
            filters=rejects.Filters(stage=stage, reason=reason, source_id=source),
            limit=limit,
        )
        return {
            "rejects": [
                {
                    "at": f.record.rejected_at.isoformat(),
                    "where": f.coordinates,
                    "stage": f.record.stage,
                    "reason": f.record.reason,
                    "sourceId": f.record.source_id,
                    "message": f.record.message,
                    "original": f.record.original_bytes().decode("utf-8", "replace"),
                }
                for f in found
            ],
            "counts": [
                {"stage": stage_, "reason": reason_, "count": n}
                for (stage_, reason_), n in sorted(rejects.summary(found).items())
            ],
        }

    @r.get("/v1/leads/failed", summary="Lead deliveries a destination refused for good, with its reason")
    async def failed_leads(
        who: Reader,
        destination: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        rows = await deliveries.failed(st.plain, destination, limit=limit)
        return {
            "failed": [
                {
                    "leadEventId": r["lead_event_id"],
                    "destination": r["destination"],
                    "profileId": r["profile_id"],
                    "email": r["payload"]["contact"].get("email"),
                    "version": r["version"],
                    "attempts": r["attempts"],
                    "error": r["last_error"],
                    "failedAt": r["updated_at"].isoformat(),
                }
                for r in rows
            ]
        }

    @r.post("/v1/leads/failed/retry", summary="Put failed deliveries back in their destination's queue (audited)")
    async def retry_failed_leads(body: RetryFailed, who: Admin) -> dict[str, Any]:
        queued = await deliveries.requeue_failed(
            st.plain, SyncerSettings().group_id, body.destination, body.lead_event_ids
        )
        await data.audit(
            st.db(),
            who.name,
            "leads.retry",
            body.destination or "all",
            {"leads": body.lead_event_ids, "queued": queued},
        )
        return {"queued": queued}

    return r
