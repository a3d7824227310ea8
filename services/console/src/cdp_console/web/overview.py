"""The overview: the period's events, visitors, known profiles, leads and deliveries, the
top campaigns, and whether the pipeline keeps up (each stage's lag, the last event)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdp_common.settings import EnricherSettings, SegmenterSettings, SyncerSettings
from cdp_console import data
from cdp_console.web import reads, stream_reads
from cdp_console.web.deps import Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)
PERIODS = {1: "last 24 hours", 7: "last 7 days", 30: "last 30 days"}


def stage_groups() -> dict[str, str]:
    """Each stage's consumer group and input topic (``group@topic``), from its settings."""
    out = {}
    for stage, s in (
        ("enricher", EnricherSettings()),
        ("segmenter", SegmenterSettings()),
        ("syncer", SyncerSettings()),
    ):
        out[stage] = f"{s.group_id}@{s.input_topic}"
    return out


@router.get("/ui")
async def overview(request: Request, who: Viewer, days: int = 7) -> Response:
    st = state(request)
    days = days if days in PERIODS else 7
    now = datetime.now(UTC)
    since = now - timedelta(days=days)
    figures = await reads.overview(st.pool, since)
    top = (await data.campaign_report(st.pool, "campaign", since.date(), now.date()))[:5]
    lag, lag_age = await stream_reads.recent_lag(st.common.kafka_access(), stage_groups())
    return page(
        request,
        "overview.html",
        days=days,
        periods=PERIODS,
        f=figures,
        top=top,
        lag=lag,
        lag_age=lag_age,
        now=now,
        since_day=since.date().isoformat(),
        since_hour=since.strftime("%Y-%m-%d %H:00"),
    )
