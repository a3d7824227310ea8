"""Live events: the newest enriched events as they arrive (a debugger, as Segment's and
RudderStack's), filterable by source and event name, each with what enrichment found."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cdp_common.settings import EnricherSettings
from cdp_console.web import stream_reads
from cdp_console.web.deps import Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)
SHOWN = 100


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    event = r.get("event") or {}
    enr = r.get("enrichment") or {}
    camp = enr.get("campaign") or {}
    device = enr.get("device") or {}
    bot = enr.get("bot") or {}
    return {
        "at": event.get("timestamp") or r.get("timestamp"),
        "source": r.get("sourceId") or r.get("source_id"),
        "type": event.get("type"),
        "name": event.get("event") or event.get("name") or (event.get("properties") or {}).get("path"),
        "anonymousId": event.get("anonymousId"),
        "userId": event.get("userId"),
        "channel": enr.get("channel"),
        "campaign": " / ".join(str(camp.get(k)) for k in ("source", "medium", "name") if camp.get(k)),
        "device": " ".join(str(device.get(k)) for k in ("browser", "os", "type") if device.get(k)),
        "bot": bool(bot.get("isBot") or bot.get("is_bot")),
        "traits": [f"{t.get('name')}={t.get('value')}" for t in enr.get("traits") or []],
        "violations": len(enr.get("violations") or []),
        "where": f"{r['partition']}:{r['offset']}",
    }


@router.get("/ui/events")
async def live(
    request: Request,
    who: Viewer,
    source: Annotated[str, Query(max_length=128)] = "",
    name: Annotated[str, Query(max_length=200)] = "",
    live: int = 1,
) -> Response:
    st = state(request)
    records = await stream_reads.newest(st.common.kafka_access(), EnricherSettings().output_topic)
    shown = [_summary(r) for r in records]
    sources = sorted({s["source"] for s in shown if s["source"]})
    if source:
        shown = [s for s in shown if s["source"] == source]
    if name:
        shown = [s for s in shown if name.lower() in str(s["name"] or "").lower()]
    return page(
        request, "events.html", events=shown[:SHOWN], sources=sources, source=source, name=name, live=bool(live)
    )
