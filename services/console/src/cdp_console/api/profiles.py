"""Profiles: find one by any id, the card, the export and erasure (admin, audited), the audit
log."""

from typing import Annotated, Any

from fastapi import APIRouter, Query

from cdp_console import data, tokens
from cdp_console.api.auth import Admin, Reader, problem
from cdp_console.state import State


def router(st: State) -> APIRouter:
    r = APIRouter()

    async def _find(pid: str | None, anonymous_id: str | None, user_id: str | None, email: str | None) -> str:
        for kind, value in (("id", pid), ("anonymousId", anonymous_id), ("userId", user_id), ("email", email)):
            if value:
                found = await data.resolve(st.db(), kind, value)
                if found is None:
                    raise problem(404, f"no profile for {kind} {value!r}")
                return found
        raise problem(400, "give a profile id, anonymousId, userId or email")

    @r.get("/v1/profiles", summary="Find a profile by anonymousId, userId or email")
    async def find_profile(
        who: Reader,
        anonymous_id: Annotated[str | None, Query(alias="anonymousId")] = None,
        user_id: Annotated[str | None, Query(alias="userId")] = None,
        email: str | None = None,
    ) -> dict[str, Any]:
        pid = await _find(None, anonymous_id, user_id, email)
        c = await data.card(st.db(), pid)
        if c is None:
            raise problem(404, "profile not found")
        return c

    @r.get("/v1/profiles/{pid}", summary="The profile card")
    async def get_profile(pid: str, who: Reader) -> dict[str, Any]:
        found = await _find(pid, None, None, None)
        c = await data.card(st.db(), found)
        if c is None:
            raise problem(404, "profile not found")
        return c

    @r.get("/v1/profiles/{pid}/export", summary="Everything held about the person (audited)")
    async def export_profile(pid: str, who: Admin) -> dict[str, Any]:
        found = await _find(pid, None, None, None)
        doc = await data.export(st.db(), found)
        if doc is None:
            raise problem(404, "profile not found")
        await data.audit(st.db(), who.name, "export", found, {})
        return doc

    async def _erase(pid: str, who: tokens.Principal, via: str) -> dict[str, Any]:
        gone = await st.erase(pid, who.name, via)
        if gone is None:
            raise problem(404, "profile not found")
        return gone

    @r.delete("/v1/profiles/{pid}", summary="Erase a profile (right to be forgotten; audited)")
    async def erase_profile(pid: str, who: Admin) -> dict[str, Any]:
        return await _erase(await _find(pid, None, None, None), who, "id")

    @r.delete("/v1/profiles", summary="Erase the profile of an email (audited)")
    async def erase_by_email(email: str, who: Admin) -> dict[str, Any]:
        return await _erase(await _find(None, None, None, email), who, "email")

    @r.get("/v1/audit", summary="Who erased or exported what")
    async def audit_log(who: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        rows = await st.db().fetch("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1", limit)
        return [
            {
                "at": r["at"].isoformat(),
                "actor": r["actor"],
                "action": r["action"],
                "subject": r["subject"],
                "detail": r["detail"],
            }
            for r in rows
        ]

    return r
