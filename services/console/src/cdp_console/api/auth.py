"""Who calls the API: a bearer token (``cdp tokens create --scope read|admin``) with enough
scope for the route, and the errors every route answers with."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from cdp_console import tokens


def problem(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


async def _principal(request: Request, scope: str) -> tokens.Principal:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not token:
        raise problem(401, "a bearer token is required (cdp tokens create --scope read|admin)")
    who = await tokens.lookup(request.app.state.console.db(), token)
    if who is None:
        raise problem(401, "unknown or revoked token")
    if not who.can(scope):
        raise problem(403, f"this token has the {who.scope} scope; {scope} is required")
    return who


async def reader(request: Request) -> tokens.Principal:
    return await _principal(request, "read")


async def admin(request: Request) -> tokens.Principal:
    return await _principal(request, "admin")


Reader = Annotated[tokens.Principal, Depends(reader)]
Admin = Annotated[tokens.Principal, Depends(admin)]
