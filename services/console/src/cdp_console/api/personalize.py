"""Personalization for browsers (a source write key, from the source's origins): the CORS
preflight and the documented route (``PersonalizeEdge`` answers in front of the routing;
this route gives the same answer)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cdp_console.personalize_edge import basic_user, personalize_answer
from cdp_console.state import State


def router(st: State) -> APIRouter:
    r = APIRouter()

    def _grant(origin: str | None, allowed: frozenset[str], resp: Response) -> Response:
        if origin and (origin in allowed or "*" in allowed):
            resp.headers["access-control-allow-origin"] = origin
            resp.headers["vary"] = "Origin"
        return resp

    @r.options("/v1/personalize", include_in_schema=False)
    async def personalize_preflight(request: Request) -> Response:
        """A preflight carries no key: any source's origin passes it; the request itself is
        then checked against its own source."""
        resp = Response(status_code=204)
        resp.headers["access-control-allow-methods"] = "GET, OPTIONS"
        resp.headers["access-control-allow-headers"] = "authorization, content-type"
        resp.headers["access-control-max-age"] = "600"
        return _grant(request.headers.get("origin"), st.origins, resp)

    @r.get(
        "/v1/personalize",
        summary="The content variant per slot for a visitor (source write key; from the source's origins)",
        responses={401: {"description": "Unknown write key"}, 403: {"description": "Origin not allowed"}, 429: {}},
    )
    async def personalize(
        request: Request,
        anonymous_id: Annotated[str, Query(alias="anonymousId", max_length=255)],
        write_key: Annotated[str | None, Query(alias="writeKey")] = None,
        slot: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        """Only the variants of the configured slots: nothing about the visitor (whether
        they are known, their segments, stage or traits) leaves with the answer. (Served by
        ``PersonalizeEdge`` in front of the routes; this route documents it and answers the same.)"""
        key = write_key or basic_user(request.headers.get("authorization", ""))
        client = request.client.host if request.client else None
        status, headers, body = await personalize_answer(
            st, anonymous_id, key, slot, request.headers.get("origin"), client
        )
        return Response(body, status_code=status, media_type="application/json", headers=headers)

    return r
