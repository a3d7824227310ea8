"""Definition changes the API and the settings pages both make: the scoring plan with the
lead policy, a campaign rule, a personalization slot. Each is checked as the service using
it checks it, then stored; a refusal is an ``Invalid`` naming what is wrong."""

from __future__ import annotations

from typing import Any

import asyncpg

from cdp_common.definitions.rule_store import RuleStore, parse_rule_file
from cdp_common.definitions.segments import DefinitionError, parse_file
from cdp_common.definitions.store import DefinitionStore
from cdp_console.personalize import SlotError, parse_slot


class Invalid(ValueError):
    pass


async def put_scoring(pool: asyncpg.Pool, doc: Any) -> None:
    """Replace the scoring plan and lead policy, always as a whole: a document lacking the
    plan must not replace it with defaults."""
    if not isinstance(doc, dict):
        raise Invalid("send a mapping with scoring (threshold and rules) and leads")
    unknown = sorted(set(doc) - {"scoring", "leads"})
    if unknown:
        raise Invalid(f"unknown field(s) {unknown}; send scoring (with threshold and rules) and leads")
    scoring = doc.get("scoring")
    if not isinstance(scoring, dict) or "rules" not in scoring or "threshold" not in scoring:
        raise Invalid("scoring with its threshold and rules is required: the plan is replaced as a whole")
    try:
        _, plan, policy = parse_file({"scoring": scoring, "leads": doc.get("leads") or {}})
    except DefinitionError as e:
        raise Invalid(str(e)) from e
    store = DefinitionStore(pool)
    current = await store.load()
    await store.apply(list(current.segments), plan, policy)


async def scoring_document(pool: asyncpg.Pool) -> dict[str, Any]:
    """The plan and policy in force, in the shape ``put_scoring`` takes."""
    defs = await DefinitionStore(pool).load()
    return {
        "scoring": {
            "threshold": defs.policy.threshold,
            "rules": [{"id": r.id, "points": r.points, "condition": dict(r.condition)} for r in defs.plan],
        },
        "leads": {"qualifying": defs.policy.qualifying_json(), "update_interval_s": defs.policy.update_interval_s},
    }


async def put_rule(plain: asyncpg.Pool, rid: str, doc: Any) -> str:
    """Create or replace one campaign rule, keeping its place among the others (rules are
    tried in order). Returns "created" or "updated"."""
    if not isinstance(doc, dict):
        raise Invalid("a rule is a mapping with when, set and optionally description and enabled")
    try:
        [rule] = parse_rule_file({"rules": [{**doc, "id": rid}]})
    except ValueError as e:  # pydantic's ValidationError is a ValueError
        raise Invalid(str(e)) from e
    store = RuleStore(plain)
    rules = await store.list_all()
    if any(r.id == rid for r in rules):
        await store.apply([rule if r.id == rid else r for r in rules])
        return "updated"
    await store.apply([*rules, rule])
    return "created"


async def delete_rule(plain: asyncpg.Pool, rid: str) -> bool:
    return bool(await RuleStore(plain).delete(rid))


async def put_slot(pool: asyncpg.Pool, slot_id: str, rules: Any, default: Any) -> None:
    try:
        parse_slot(slot_id, rules, default)
    except SlotError as e:
        raise Invalid(str(e)) from e
    await pool.execute(
        "INSERT INTO personalization_slots (id, rules, default_variant) VALUES ($1, $2::jsonb, $3) "
        "ON CONFLICT (id) DO UPDATE SET rules = $2::jsonb, default_variant = $3, updated_at = now()",
        slot_id,
        rules,
        default,
    )


async def delete_slot(pool: asyncpg.Pool, slot_id: str) -> bool:
    result = await pool.execute("DELETE FROM personalization_slots WHERE id = $1", slot_id)
    return bool(result.endswith(" 1"))
