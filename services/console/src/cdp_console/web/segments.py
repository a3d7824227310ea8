"""Segments: each definition with its live size, and its members."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdp_common.hotkeys import RedisKeys
from cdp_console.web import reads
from cdp_console.web.deps import Refused, Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)


@router.get("/ui/segments")
async def segment_list(request: Request, who: Viewer) -> Response:
    st = state(request)
    found = await reads.segments(st.pool, st.redis, RedisKeys(st.settings.redis_prefix))
    return page(request, "segments.html", segments=found)


@router.get("/ui/segments/{sid}")
async def segment(request: Request, sid: str, who: Viewer) -> Response:
    st = state(request)
    found = [s for s in await reads.segments(st.pool, st.redis, RedisKeys(st.settings.redis_prefix)) if s["id"] == sid]
    if not found:
        raise Refused(404, "No such segment.")
    members, _total, more = await reads.profiles(st.pool, reads.ProfileFilter(segment=sid))
    history = await reads.segment_history(st.pool, sid)
    return page(request, "segment.html", s=found[0], members=members, more=more, history=history)
