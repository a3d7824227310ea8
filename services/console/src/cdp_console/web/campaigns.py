"""Campaign insight: visitors, sessions, engagement, conversions and leads per campaign,
source, medium or content over a date range; the funnel (visit -> engaged -> converted ->
lead) and a chart drawn by the console's own copy of Chart.js."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cdp_console import data
from cdp_console.web.deps import Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/ui/campaigns")
async def campaigns(
    request: Request,
    who: Viewer,
    by: str = "campaign",
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
) -> Response:
    by = by if by in data.DIMENSIONS else "campaign"
    until = until or datetime.now(UTC).date()
    since = since or until - timedelta(days=30)
    if since > until:
        since, until = until, since
    rows = await data.campaign_report(state(request).pool, by, since, until)
    cols = data.DIMENSIONS[by]
    for r in rows:
        r["label"] = " / ".join(str(r[c] or "(none)") for c in cols)
    funnel = {k: sum(r[k] for r in rows) for k in ("visitors", "engaged", "conversions", "leads")}
    chart = {
        "labels": [r["label"] for r in rows[:12]],
        "series": {k: [r[k] for r in rows[:12]] for k in ("visitors", "engaged", "conversions", "leads")},
    }
    return page(
        request,
        "campaigns.html",
        by=by,
        dims=list(data.DIMENSIONS),
        since=since,
        until=until,
        rows=rows,
        funnel=funnel,
        chart=chart,
    )
