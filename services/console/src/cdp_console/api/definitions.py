"""Definitions: segments, the scoring plan and lead policy, campaign rules, personalization
slots, sources and their tracking plans. Changes need the admin scope and are audited."""

from typing import Any

import orjson
from fastapi import APIRouter

from cdp_common.definitions.plans import PlanError
from cdp_common.definitions.rule_store import PlanStore, RuleStore
from cdp_common.definitions.segments import DefinitionError, parse_segment
from cdp_common.definitions.store import DefinitionStore
from cdp_common.sources import SourceStore
from cdp_console import changes, data
from cdp_console.api.auth import Admin, Reader, problem
from cdp_console.state import State


def router(st: State) -> APIRouter:
    r = APIRouter()

    @r.get("/v1/segments")
    async def list_segments(who: Reader) -> dict[str, Any]:
        d = await DefinitionStore(st.db()).load()
        return {
            "segments": [
                {"id": s.id, "name": s.name, "description": s.description, "condition": s.condition} for s in d.segments
            ],
            "scoring": {
                "threshold": d.policy.threshold,
                "rules": [{"id": r.id, "points": r.points, "condition": r.condition} for r in d.plan],
                "qualifying": d.policy.qualifying_json(),
                "updateIntervalS": d.policy.update_interval_s,
            },
        }

    @r.put("/v1/segments/{sid}")
    async def put_segment(sid: str, body: dict[str, Any], who: Admin) -> dict[str, Any]:
        try:
            seg = parse_segment({**body, "id": sid}, "segment")
        except DefinitionError as e:
            raise problem(422, str(e)) from e
        result = await DefinitionStore(st.db()).put_segment(seg)
        await data.audit(st.db(), who.name, f"segment.{result}", sid, {"condition": dict(seg.condition)})
        return {"segment": sid, "result": "created" if result == "created" else "updated"}

    @r.delete("/v1/segments/{sid}")
    async def delete_segment(sid: str, who: Admin) -> dict[str, str]:
        if not await DefinitionStore(st.db()).delete_segment(sid):
            raise problem(404, f"no segment {sid!r}")
        await data.audit(st.db(), who.name, "segment.delete", sid, {})
        return {"deleted": sid}

    @r.put("/v1/scoring", summary="Replace the scoring plan and lead policy")
    async def put_scoring(body: dict[str, Any], who: Admin) -> dict[str, str]:
        try:
            await changes.put_scoring(st.db(), body)
        except changes.Invalid as e:
            raise problem(422, str(e)) from e
        await data.audit(st.db(), who.name, "scoring.apply", "scoring", body)
        return {"scoring": "applied"}

    @r.get("/v1/rules")
    async def list_rules(who: Reader) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json", by_alias=True) for r in await RuleStore(st.plain).list_all()]

    @r.put("/v1/rules/{rid}")
    async def put_rule(rid: str, body: dict[str, Any], who: Admin) -> dict[str, str]:
        try:
            result = await changes.put_rule(st.plain, rid, body)
        except changes.Invalid as e:
            raise problem(422, str(e)) from e
        await data.audit(st.db(), who.name, f"rule.{result}", rid, body)
        return {"rule": rid, "result": "applied"}

    @r.delete("/v1/rules/{rid}")
    async def delete_rule(rid: str, who: Admin) -> dict[str, str]:
        if not await changes.delete_rule(st.plain, rid):
            raise problem(404, f"no rule {rid!r}")
        await data.audit(st.db(), who.name, "rule.delete", rid, {})
        return {"deleted": rid}

    @r.get("/v1/personalization/slots")
    async def list_slots(who: Reader) -> list[dict[str, Any]]:
        rows = await st.db().fetch("SELECT id, rules, default_variant FROM personalization_slots ORDER BY id")
        return [{"id": r["id"], "rules": r["rules"], "default": r["default_variant"]} for r in rows]

    @r.put("/v1/personalization/slots/{slot_id}")
    async def put_slot(slot_id: str, body: dict[str, Any], who: Admin) -> dict[str, str]:
        try:
            await changes.put_slot(st.db(), slot_id, body.get("rules"), body.get("default", "default"))
        except changes.Invalid as e:
            raise problem(422, str(e)) from e
        await data.audit(st.db(), who.name, "slot.put", slot_id, body)
        await st.refresh()
        return {"slot": slot_id, "result": "applied"}

    @r.delete("/v1/personalization/slots/{slot_id}")
    async def delete_slot(slot_id: str, who: Admin) -> dict[str, str]:
        if not await changes.delete_slot(st.db(), slot_id):
            raise problem(404, f"no slot {slot_id!r}")
        await data.audit(st.db(), who.name, "slot.delete", slot_id, {})
        await st.refresh()
        return {"deleted": slot_id}

    @r.get("/v1/sources")
    async def list_sources(who: Admin) -> list[dict[str, Any]]:
        return [
            {"id": s.id, "name": s.name, "writeKey": s.write_key, "origins": list(s.origins), "enabled": s.enabled}
            for s in await SourceStore(st.plain).list_all()
        ]

    @r.post("/v1/sources", status_code=201)
    async def add_source(body: dict[str, Any], who: Admin) -> dict[str, Any]:
        try:
            s = await SourceStore(st.plain).add(
                str(body.get("name") or ""),
                origins=list(body.get("origins") or []),
                internal_domains=list(body.get("internalDomains") or []),
            )
        except ValueError as e:
            raise problem(422, str(e)) from e
        return {"id": s.id, "name": s.name, "writeKey": s.write_key, "origins": list(s.origins)}

    @r.get("/v1/sources/{name}/plan", summary="A source's tracking plan in force, with its version history")
    async def get_plan(name: str, who: Reader) -> dict[str, Any]:
        rows = await PlanStore(st.plain).versions(name)
        if not rows:
            raise problem(404, f"no tracking plan for {name!r}")
        newest = rows[-1]
        return {
            "source": name,
            "version": newest["version"],
            "plan": orjson.loads(newest["document"]),
            "versions": [{"version": r["version"], "createdAt": r["created_at"].isoformat()} for r in rows],
        }

    @r.put("/v1/sources/{name}/plan", summary="Apply a tracking plan (a new version when it changed)")
    async def put_plan(name: str, body: dict[str, Any], who: Admin) -> dict[str, Any]:
        if body.get("source", name) != name:
            raise problem(422, f"source: the plan is for {body.get('source')!r}, the path names {name!r}")
        try:
            _, version, changed = await PlanStore(st.plain).apply({**body, "source": name})
        except PlanError as e:
            raise problem(422, str(e)) from e
        return {"source": name, "version": version, "result": "applied" if changed else "unchanged"}

    return r
