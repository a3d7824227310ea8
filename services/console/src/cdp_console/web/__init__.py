"""The marketer's workspace: server-rendered pages under ``/ui`` (sign-in, overview,
profiles, profile card, segments, campaigns, leads, live events, settings), each area in
its own module, all behind a session (web.session) and a strict Content-Security-Policy."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cdp_console.web import (
    campaigns,
    definitions_editor,
    events,
    leads,
    overview,
    profiles,
    segment_editor,
    segments,
    settings_page,
    signin,
)
from cdp_console.web.deps import Refused, SignIn
from cdp_console.web.render import STATIC, page


def mount(app: FastAPI) -> None:
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignIn)
    async def sign_in(request: Request, exc: SignIn) -> Response:
        return RedirectResponse(f"/ui/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return page(request, "refused.html", code=exc.status, message=exc.message)

    # the editor before segments: /ui/segments/new is not a segment named "new"
    # and the definitions editor before settings' own posts
    areas = (signin, overview, profiles, segment_editor, segments, campaigns, leads, events, definitions_editor)
    for area in (*areas, settings_page):
        app.include_router(area.router)
