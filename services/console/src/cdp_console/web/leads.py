"""Leads: every qualified lead with where it stands at each destination (delivered, queued,
retrying with the last error, failed with the destination's reason) and a retry of the
failed ones (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from cdp_common import deliveries
from cdp_common.settings import SyncerSettings
from cdp_console import data
from cdp_console.web import reads
from cdp_console.web.deps import Action, Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)
STATUSES = ("delivered", "queued", "retrying", "failed", "superseded")


@router.get("/ui/leads")
async def lead_list(
    request: Request, who: Viewer, status: Annotated[str, Query(max_length=20)] = "", retried: int | None = None
) -> Response:
    st = state(request)
    status = status if status in STATUSES else ""
    found = await reads.leads(st.pool, status)
    destinations = sorted({d for x in found for d in x["deliveries"]})
    return page(
        request, "leads.html", leads=found, status=status, statuses=STATUSES, destinations=destinations, retried=retried
    )


@router.post("/ui/leads/retry")
async def retry(request: Request, act: Action) -> Response:
    who, form = act
    st = state(request)
    destination = form.get("destination") or None
    lead = form.get("lead") or None
    queued = await deliveries.requeue_failed(st.plain, SyncerSettings().group_id, destination, [lead] if lead else None)
    await data.audit(st.pool, who.name, "leads.retry", destination or "all", {"leads": [lead] if lead else None})
    return RedirectResponse(f"/ui/leads?retried={queued}", status_code=303)
