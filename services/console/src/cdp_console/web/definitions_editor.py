"""Editing the definitions settings shows: the scoring plan with the lead policy, campaign
rules and personalization slots, each as a YAML (or JSON) document checked as the service
using it checks it (``cdp_console.changes``), audited, and applied on save (the enricher,
segmenter and personalization pick it up on their next refresh)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cdp_console import changes, data
from cdp_console.web.deps import Action, Admin, Refused, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Kind:
    title: str
    anchor: str  # where settings lists them
    help: str
    example: str
    has_id: bool = True


KINDS = {
    "scoring": Kind(
        "Scoring and lead policy",
        "scoring",
        "scoring: threshold and rules (id, points, condition); leads: qualifying (id, condition) and "
        "update_interval_s. The plan is replaced as a whole. Conditions: docs/segmenter.md.",
        "",
        has_id=False,
    ),
    "rules": Kind(
        "Campaign rule",
        "rules",
        "when: the touch's fields (source, medium, campaign, content, term, click_network, channel; a value "
        "or {regex: ...}); set: the traits it gives; description; enabled. Rules are tried in order; "
        "docs/enricher.md.",
        "description: LinkedIn ad aimed at CEOs in automotive\nwhen:\n  source: linkedin\n"
        "  campaign: {regex: '^ceo-automotive'}\nset:\n  role: CEO\n  industry: automotive\n",
    ),
    "slots": Kind(
        "Personalization slot",
        "slots",
        "rules: a list of {when, variant}, the first that holds gives the variant (when: {segment: id}, "
        "{trait: {name, op, value}} or {stage: mql}); default: the variant otherwise. docs/console.md.",
        "rules:\n  - when: {segment: automotive-ceos}\n    variant: fleet-case-study\ndefault: generic\n",
    ),
}


def _kind(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise Refused(404, "No such settings.")
    return kind


def _form(request: Request, kind: str, ident: str, document: str, editing: bool, error: str = "") -> Response:
    return page(
        request,
        "definition_edit.html",
        kind=kind,
        k=_kind(kind),
        ident=ident,
        document=document,
        editing=editing,
        error=error,
    )


async def _current(request: Request, kind: str, ident: str) -> dict[str, Any] | None:
    st = state(request)
    if kind == "scoring":
        return await changes.scoring_document(st.pool)
    if kind == "rules":
        rows = await st.pool.fetch("SELECT id, description, conditions, traits, enabled FROM campaign_rules")
        for r in rows:
            if r["id"] == ident:
                return {
                    "description": r["description"],
                    "when": r["conditions"],
                    "set": r["traits"],
                    "enabled": r["enabled"],
                }
        return None
    row = await st.pool.fetchrow("SELECT rules, default_variant FROM personalization_slots WHERE id = $1", ident)
    return None if row is None else {"rules": row["rules"], "default": row["default_variant"]}


@router.get("/ui/settings/{kind}/new")
async def new(request: Request, kind: str, who: Admin) -> Response:
    if not _kind(kind).has_id:
        raise Refused(404, "No such settings.")
    return _form(request, kind, "", _kind(kind).example, editing=False)


@router.get("/ui/settings/scoring/edit")
async def edit_scoring(request: Request, who: Admin) -> Response:
    doc = await _current(request, "scoring", "")
    return _form(request, "scoring", "", yaml.safe_dump(doc, sort_keys=False), editing=True)


@router.get("/ui/settings/{kind}/{ident}/edit")
async def edit(request: Request, kind: str, ident: str, who: Admin) -> Response:
    _kind(kind)
    doc = await _current(request, kind, ident)
    if doc is None:
        raise Refused(404, "Not found: it may have been deleted.")
    return _form(request, kind, ident, yaml.safe_dump(doc, sort_keys=False), editing=True)


@router.post("/ui/settings/{kind}/save")
async def save(request: Request, kind: str, act: Action) -> Response:
    who, form = act
    k = _kind(kind)
    st = state(request)
    ident = (form.get("id") or "").strip() if k.has_id else "scoring"
    document = form.get("document") or ""
    editing = form.get("editing") == "1"
    try:
        doc = yaml.safe_load(document)
    except yaml.YAMLError as e:
        return _form(request, kind, ident, document, editing, f"not YAML or JSON ({str(e).splitlines()[0]})")
    try:
        if kind == "scoring":
            await changes.put_scoring(st.pool, doc)
            action = "scoring.apply"
        elif kind == "rules":
            action = f"rule.{await changes.put_rule(st.plain, ident, doc)}"
        else:
            if not isinstance(doc, dict):
                raise changes.Invalid("a slot is a mapping with rules and default")
            await changes.put_slot(st.pool, ident, doc.get("rules"), doc.get("default", "default"))
            action = "slot.put"
            await st.refresh()
    except changes.Invalid as e:
        return _form(request, kind, ident, document, editing, str(e))
    await data.audit(st.pool, who.name, action, ident, doc if isinstance(doc, dict) else {})
    return RedirectResponse(f"/ui/settings#{k.anchor}", status_code=303)


@router.post("/ui/settings/{kind}/{ident}/delete")
async def delete(request: Request, kind: str, ident: str, act: Action) -> Response:
    who, _form_values = act
    k = _kind(kind)
    st = state(request)
    if kind == "rules":
        gone = await changes.delete_rule(st.plain, ident)
    elif kind == "slots":
        gone = await changes.delete_slot(st.pool, ident)
        await st.refresh()
    else:
        raise Refused(404, "No such settings.")
    if gone:
        await data.audit(st.pool, who.name, f"{kind[:-1]}.delete", ident, {})
    return RedirectResponse(f"/ui/settings#{k.anchor}", status_code=303)
