"""Who is looking at a page, and whether an action may happen: a signed-in session (else a
redirect to the sign-in page), the admin scope for changes, and for every form post a
same-origin request carrying the session's CSRF token."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request

from cdp_console.web import session as sessions
from cdp_console.web.session import Session


class SignIn(Exception):  # not an error: the answer is a redirect
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def state(request: Request) -> Any:
    return request.app.state.console


async def viewer(request: Request) -> Session:
    s = await sessions.current(state(request).pool, request)
    if s is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignIn(quote(target, safe=""))
    request.state.session = s
    return s


async def admin(request: Request) -> Session:
    s = await viewer(request)
    if not s.admin:
        raise Refused(403, f"This needs the admin scope; you are signed in with {s.scope}.")
    return s


async def action(request: Request) -> tuple[Session, dict[str, str]]:
    """A form post that changes something: from the console's own page, with its CSRF
    token, by an admin. Returns the session and the form's fields."""
    if not sessions.same_origin(request):
        raise Refused(403, "Cross-site form posts are refused.")
    s = await admin(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not s.csrf_ok(form.get("csrf")):
        raise Refused(403, "The form has expired or did not come from this console; reload the page.")
    return s, form


Viewer = Annotated[Session, Depends(viewer)]
Admin = Annotated[Session, Depends(admin)]
Action = Annotated[tuple[Session, dict[str, str]], Depends(action)]
