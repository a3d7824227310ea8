"""Campaign insight: the report per campaign, source, medium or content over a date range."""

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter

from cdp_console import data
from cdp_console.api.auth import Reader, problem
from cdp_console.state import State


def router(st: State) -> APIRouter:
    r = APIRouter()

    @r.get("/v1/reports/campaigns", summary="Visitors, sessions, engagement, conversions and leads per campaign")
    async def campaigns(
        who: Reader,
        by: str = "campaign",
        since: date | None = None,
        until: date | None = None,
    ) -> dict[str, Any]:
        if by not in data.DIMENSIONS:
            raise problem(422, f"by: one of {sorted(data.DIMENSIONS)}")
        until = until or datetime.now(UTC).date()
        since = since or until - timedelta(days=30)
        if since > until:
            raise problem(422, "since is after until")
        t0 = time.perf_counter()
        rows = await data.campaign_report(st.db(), by, since, until)
        return {
            "by": by,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "rows": rows,
            "tookMs": round((time.perf_counter() - t0) * 1000, 2),
        }

    return r
