"""Settings: sources and their write keys, campaign rules, scoring and the lead policy,
personalization slots, and console tokens (revoke: admin)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cdp_common.sources import SourceStore
from cdp_console import data, tokens
from cdp_console.web.deps import Action, Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)


def _json(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, (str, bytes)) else v


@router.get("/ui/settings")
async def settings(request: Request, who: Viewer) -> Response:
    st = state(request)
    sources = await SourceStore(st.plain).list_all()
    rules = await st.pool.fetch(
        "SELECT id, description, conditions, traits, enabled FROM campaign_rules ORDER BY position, id"
    )
    scoring = await st.pool.fetchrow("SELECT rules, threshold, qualifying, update_interval_s FROM scoring WHERE id = 1")
    slots = await st.pool.fetch("SELECT id, rules, default_variant FROM personalization_slots ORDER BY id")
    toks = await st.pool.fetch("SELECT id, name, scope, created_at, revoked_at FROM api_tokens ORDER BY created_at")
    return page(
        request,
        "settings.html",
        sources=sources,
        rules=[
            {
                "id": r["id"],
                "description": r["description"],
                "conditions": _json(r["conditions"]),
                "traits": _json(r["traits"]),
                "enabled": r["enabled"],
            }
            for r in rules
        ],
        scoring=None
        if scoring is None
        else {
            "rules": _json(scoring["rules"]),
            "threshold": scoring["threshold"],
            "qualifying": _json(scoring["qualifying"]),
            "interval": scoring["update_interval_s"],
        },
        slots=[{"id": s["id"], "rules": _json(s["rules"]), "default": s["default_variant"]} for s in slots],
        tokens=toks,
    )


@router.post("/ui/settings/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: str, act: Action) -> Response:
    who, _form = act
    st = state(request)
    if await tokens.revoke(st.pool, token_id):
        await data.audit(st.pool, who.name, "token.revoke", token_id, {})
    return RedirectResponse("/ui/settings#tokens", status_code=303)
