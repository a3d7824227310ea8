"""Settings: sources and their write keys, campaign rules, scoring and the lead policy,
personalization slots, and console tokens (revoke: admin)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cdp_common.sources import SourceStore
from cdp_console import data, tokens
from cdp_console.web.deps import Action, Refused, Viewer, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)


def _json(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, (str, bytes)) else v


@router.get("/ui/settings")
async def settings(request: Request, who: Viewer) -> Response:
    return await _settings(request)


async def _settings(request: Request, **notice: Any) -> Response:
    """The page; ``notice``: what just happened (a new secret is shown here once, in the
    answer to the post that made it, never in a URL)."""
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
        scopes=tokens.SCOPES,
        **notice,
    )


def _lines(text: str) -> list[str]:
    return [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]


@router.post("/ui/settings/sources")
async def add_source(request: Request, act: Action) -> Response:
    who, form = act
    st = state(request)
    try:
        src = await SourceStore(st.plain).add(
            form.get("name", "").strip(),
            origins=_lines(form.get("origins", "")),
            internal_domains=_lines(form.get("internal_domains", "")),
        )
    except ValueError as e:
        return await _settings(request, error=str(e))
    await data.audit(st.pool, who.name, "source.add", src.name, {"origins": list(src.origins)})
    return await _settings(request, revealed=(f"Write key of {src.name} (shown once)", src.write_key))


@router.post("/ui/settings/sources/{name}/{what}")
async def change_source(request: Request, name: str, what: str, act: Action) -> Response:
    who, form = act
    st = state(request)
    store = SourceStore(st.plain)
    try:
        if what == "rotate":
            src = await store.rotate(name)
        elif what == "origins":
            src = await store.set_origins(name, _lines(form.get("origins", "")))
        elif what in ("revoke", "restore"):
            src = await store.set_enabled(name, what == "restore")
        else:
            raise Refused(404, "No such change.")
    except (LookupError, ValueError) as e:
        return await _settings(request, error=str(e))
    await data.audit(st.pool, who.name, f"source.{what}", name, {"origins": list(src.origins)})
    if what == "rotate":  # the old key stops working when the collector next refreshes its sources
        return await _settings(request, revealed=(f"New write key of {name} (shown once)", src.write_key))
    return await _settings(request, done=f"Source {name}: {what} done.")


@router.post("/ui/settings/tokens")
async def create_token(request: Request, act: Action) -> Response:
    who, form = act
    st = state(request)
    name, scope = form.get("name", "").strip()[:100] or "console", form.get("scope", "read")
    if scope not in tokens.SCOPES:
        return await _settings(request, error=f"scope: one of {', '.join(tokens.SCOPES)}")
    token = await tokens.create(st.pool, name, scope)
    await data.audit(st.pool, who.name, "token.create", name, {"scope": scope})
    return await _settings(request, revealed=(f"Token {name} ({scope}), shown once", token))


@router.post("/ui/settings/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: str, act: Action) -> Response:
    who, _form = act
    st = state(request)
    if await tokens.revoke(st.pool, token_id):
        await data.audit(st.pool, who.name, "token.revoke", token_id, {})
    return RedirectResponse("/ui/settings#tokens", status_code=303)
