"""Signing in and out of the pages: the token goes in a form field once, never in a URL."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cdp_console.web import session as sessions
from cdp_console.web.deps import Refused, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a console page: never another site (an open redirect)."""
    if target and target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui"


@router.get("/ui/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return page(request, "signin.html", next=_safe_next(next), error=None)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    if not sessions.same_origin(request):
        raise Refused(403, "Cross-site sign-in is refused.")
    form = await request.form()
    token, target = str(form.get("token") or ""), _safe_next(str(form.get("next") or ""))
    session_id = await sessions.start(state(request).pool, token) if token else None
    if session_id is None:
        return page(request, "signin.html", code=401, next=target, error="Unknown or revoked token.")
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(
        sessions.COOKIE,
        session_id,
        max_age=int(sessions.LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=sessions.secure_request(request),
        path="/",
    )
    return resp


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    if not sessions.same_origin(request):
        raise Refused(403, "Cross-site form posts are refused.")
    await sessions.end(state(request).pool, request)
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(sessions.COOKIE, path="/")
    return resp
