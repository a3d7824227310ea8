"""Profiles: the filtered list (segment, stage, persona traits, campaign, recency, score),
search by email or any id, the profile card, and its export and erasure (admin)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from cdp_console import data
from cdp_console.web import reads
from cdp_console.web.deps import Action, Refused, Viewer, state
from cdp_console.web.render import link, page

router = APIRouter(include_in_schema=False)


def _number(text: str) -> float | None:
    """A number a form field holds; an empty (or unreadable) one is no filter."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) < 1e12 else None  # not NaN, not absurd


@router.get("/ui/profiles")
async def profile_list(
    request: Request,
    who: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    segment: Annotated[str, Query(max_length=100)] = "",
    stage: Annotated[str, Query(max_length=20)] = "",
    trait: Annotated[str, Query(max_length=200)] = "",
    trait2: Annotated[str, Query(max_length=200)] = "",
    campaign: Annotated[str, Query(max_length=200)] = "",
    seen_days: Annotated[str, Query(max_length=6)] = "",
    score_min: Annotated[str, Query(max_length=20)] = "",
    score_max: Annotated[str, Query(max_length=20)] = "",
    sort: Annotated[str, Query(max_length=20)] = "last_seen",
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    st = state(request)
    if q.strip():
        pid = await reads.find(st.pool, q)
        if pid:
            return RedirectResponse(f"/ui/profiles/{pid}", status_code=303)
    f = reads.ProfileFilter(
        q=q.strip(),
        segment=segment,
        stage=stage if stage in reads.STAGES else "",
        trait=trait,
        trait2=trait2,
        campaign=campaign,
        seen_days=min(3650, max(0, int(_number(seen_days) or 0))),
        score_min=_number(score_min),
        score_max=_number(score_max),
        sort=sort if sort in reads.SORTS else "last_seen",
        page=page_no,
    )
    items, total, more = (await reads.profiles(st.pool, f)) if not f.q else ([], 0, False)
    return page(
        request,
        "profiles.html",
        f=f,
        items=items,
        total=total,
        capped=total > reads.COUNT_CAP,
        cap=reads.COUNT_CAP,
        more=more,
        choices=await reads.choices(st.pool),
        not_found=f.q,
        prev_link=link("/ui/profiles", f.query() | {"page": f.page - 1}) if f.page > 1 else None,
        next_link=link("/ui/profiles", f.query() | {"page": f.page + 1}) if more else None,
    )


@router.get("/ui/profiles/{pid}")
async def profile_card(request: Request, pid: str, who: Viewer) -> Response:
    st = state(request)
    live = await reads.find(st.pool, pid)
    card = await data.card(st.pool, live) if live else None
    if card is None:
        raise Refused(404, "No such profile (it may have been erased).")
    return page(request, "profile.html", c=card)


@router.post("/ui/profiles/{pid}/export")
async def export(request: Request, pid: str, act: Action) -> Response:
    who, _form = act
    st = state(request)
    doc = await data.export(st.pool, pid)
    if doc is None:
        raise Refused(404, "No such profile.")
    await data.audit(st.pool, who.name, "export", pid, {"via": "console page"})
    return Response(
        orjson.dumps(doc, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="profile-{pid}.json"'},
    )


@router.post("/ui/profiles/{pid}/erase")
async def erase(request: Request, pid: str, act: Action) -> Response:
    who, form = act
    if form.get("confirm", "").strip().lower() != "erase":
        raise Refused(400, 'Type "erase" to confirm: erasure cannot be undone.')
    st = state(request)
    gone = await st.erase(pid, who.name, "console page")
    if gone is None:
        raise Refused(404, "No such profile (it may have been erased already).")
    return page(request, "erased.html", pid=pid, gone=gone)
