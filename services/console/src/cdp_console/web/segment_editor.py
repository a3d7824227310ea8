"""Creating and editing a segment: the condition in YAML (or JSON), checked as the
segmenter checks it, and a preview of how many profiles match before anything is saved."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cdp_common.definitions.segments import DefinitionError, SegmentDef, parse_segment
from cdp_common.definitions.store import DefinitionStore
from cdp_console import data
from cdp_console.web import reads
from cdp_console.web.deps import Action, Admin, Refused, state
from cdp_console.web.render import page

router = APIRouter(include_in_schema=False)
EXAMPLE = "all:\n  - trait: {name: role, value: CEO}\n  - counter: {name: pageViews, op: gte, value: 3}\n"


def _parse(form: dict[str, str]) -> tuple[SegmentDef | None, str | None]:
    try:
        condition = yaml.safe_load(form.get("condition") or "")
    except yaml.YAMLError as e:
        return None, f"condition: not YAML or JSON ({str(e).splitlines()[0]})"
    raw: dict[str, Any] = {
        "id": (form.get("id") or "").strip(),
        "name": (form.get("name") or "").strip(),
        "description": (form.get("description") or "").strip(),
        "condition": condition,
    }
    try:
        return parse_segment(raw, "segment"), None
    except DefinitionError as e:
        return None, str(e)


def _form(request: Request, values: dict[str, str], **extra: Any) -> Response:
    return page(request, "segment_edit.html", v=values, example=EXAMPLE, **extra)


@router.get("/ui/segments/new")
async def new(request: Request, who: Admin) -> Response:
    return _form(request, {"id": "", "name": "", "description": "", "condition": EXAMPLE}, editing=False)


@router.get("/ui/segments/{sid}/edit")
async def edit(request: Request, sid: str, who: Admin) -> Response:
    defs = await DefinitionStore(state(request).pool).load()
    found = next((s for s in defs.segments if s.id == sid), None)
    if found is None:
        raise Refused(404, "No such segment.")
    values = {
        "id": found.id,
        "name": found.name,
        "description": found.description,
        "condition": yaml.safe_dump(dict(found.condition), sort_keys=False),
    }
    return _form(request, values, editing=True)


@router.post("/ui/segments/preview")
async def preview(request: Request, act: Action) -> Response:
    _who, form = act
    seg, error = _parse(form)
    result = await reads.preview(state(request).pool, dict(seg.condition)) if seg else None
    return _form(request, form, editing=form.get("editing") == "1", error=error, preview=result)


@router.post("/ui/segments/save")
async def save(request: Request, act: Action) -> Response:
    who, form = act
    seg, error = _parse(form)
    if seg is None:
        return _form(request, form, editing=form.get("editing") == "1", error=error, preview=None)
    st = state(request)
    result = await DefinitionStore(st.pool).put_segment(seg)
    await data.audit(st.pool, who.name, f"segment.{result}", seg.id, {"condition": dict(seg.condition)})
    return RedirectResponse(f"/ui/segments/{seg.id}", status_code=303)
