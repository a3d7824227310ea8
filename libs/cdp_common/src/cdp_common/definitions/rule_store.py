"""Rules and sources in Postgres: what the CLI writes and the enricher reloads."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from cdp_common.definitions.campaign_rules import RuleDef


def _rule(r: asyncpg.Record) -> RuleDef:
    return RuleDef.model_validate(
        {
            "id": r["id"],
            "description": r["description"],
            "when": json.loads(r["conditions"]),
            "set": json.loads(r["traits"]),
            "enabled": r["enabled"],
        }
    )


class RuleStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_all(self) -> list[RuleDef]:
        rows = await self._pool.fetch("SELECT * FROM campaign_rules ORDER BY position, id")
        return [_rule(r) for r in rows]

    async def apply(self, rules: list[RuleDef], *, prune: bool = False) -> dict[str, list[str]]:
        """Upsert the rules in file order (their position); with ``prune`` delete the others.
        One transaction: running enrichers see all of it or none."""
        report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "deleted": []}
        async with self._pool.acquire() as conn, conn.transaction():
            current = {r["id"]: r for r in await conn.fetch("SELECT * FROM campaign_rules FOR UPDATE")}
            for position, rule in enumerate(rules):
                conditions = json.dumps(rule.model_dump(mode="json", by_alias=True)["when"], sort_keys=True)
                traits = json.dumps(rule.set_, sort_keys=True)
                old = current.get(rule.id)
                if old is None:
                    report["created"].append(rule.id)
                elif (
                    old["position"] == position
                    and old["description"] == rule.description
                    and json.loads(old["conditions"]) == json.loads(conditions)
                    and json.loads(old["traits"]) == json.loads(traits)
                    and old["enabled"] == rule.enabled
                ):
                    report["unchanged"].append(rule.id)
                    continue
                else:
                    report["updated"].append(rule.id)
                await conn.execute(
                    "INSERT INTO campaign_rules (id, position, description, conditions, traits, enabled) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6) "
                    "ON CONFLICT (id) DO UPDATE SET position = $2, description = $3, conditions = $4::jsonb, "
                    "traits = $5::jsonb, enabled = $6, updated_at = now()",
                    rule.id,
                    position,
                    rule.description,
                    conditions,
                    traits,
                    rule.enabled,
                )
            if prune:
                stale = sorted(set(current) - {r.id for r in rules})
                if stale:
                    await conn.execute("DELETE FROM campaign_rules WHERE id = ANY($1::text[])", stale)
                report["deleted"] = stale
        return report

    async def delete(self, rule_id: str) -> bool:
        result: str = await self._pool.execute("DELETE FROM campaign_rules WHERE id = $1", rule_id)
        return result.endswith(" 1")


async def load_internal_domains(pool: asyncpg.Pool) -> dict[str, tuple[str, ...]]:
    rows = await pool.fetch("SELECT id, internal_domains FROM sources")
    return {r["id"]: tuple(r["internal_domains"]) for r in rows}


async def load_suppressions(pool: asyncpg.Pool) -> frozenset[str]:
    """Identities of erased people (the console's erase writes them)."""
    try:
        rows = await pool.fetch("SELECT identity FROM suppressions")
    except asyncpg.UndefinedTableError:  # a database migrated before the console existed
        return frozenset()
    return frozenset(r["identity"] for r in rows)


def parse_rule_file(data: Any) -> list[RuleDef]:
    """A parsed YAML document -> rules; raises ``pydantic.ValidationError`` naming what is wrong."""
    from cdp_common.definitions.campaign_rules import RuleFile

    if isinstance(data, list):
        data = {"rules": data}
    return RuleFile.model_validate(data).rules


class PlanStore:
    """Tracking plans per source, versioned (``cdp plans``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def apply(self, doc: dict[str, Any]) -> tuple[str, int, bool]:
        """Store the plan as its source's next version unless it equals the newest one;
        returns (source id, version in force, whether it changed). Raises ``PlanError``."""
        from cdp_common.definitions.plans import PlanError, parse_plan

        parse_plan(doc)  # refuse a bad plan before anything is written
        async with self._pool.acquire() as conn, conn.transaction():
            source_id = await conn.fetchval("SELECT id FROM sources WHERE name = $1", doc["source"])
            if source_id is None:
                raise PlanError(f"source: no source named {doc['source']!r} (cdp sources list)")
            row = await conn.fetchrow(
                "SELECT version, document FROM tracking_plans WHERE source_id = $1 "
                "ORDER BY version DESC LIMIT 1 FOR UPDATE",
                source_id,
            )
            if row is not None and json.loads(row["document"]) == doc:
                return source_id, row["version"], False
            version = (row["version"] if row else 0) + 1
            await conn.execute(
                "INSERT INTO tracking_plans (source_id, version, document) VALUES ($1, $2, $3::jsonb)",
                source_id,
                version,
                json.dumps(doc),
            )
            return source_id, version, True

    async def versions(self, source_name: str | None = None) -> list[asyncpg.Record]:
        return await self._pool.fetch(
            "SELECT s.name, p.source_id, p.version, p.document, p.created_at FROM tracking_plans p "
            "JOIN sources s ON s.id = p.source_id WHERE $1::text IS NULL OR s.name = $1 "
            "ORDER BY s.name, p.version",
            source_name,
        )


async def load_plans(pool: asyncpg.Pool) -> dict[str, Any]:
    """The plan in force per source id (its newest version), compiled."""
    from cdp_common.definitions.plans import parse_plan

    try:
        rows = await pool.fetch(
            "SELECT DISTINCT ON (source_id) source_id, version, document FROM tracking_plans "
            "ORDER BY source_id, version DESC"
        )
    except asyncpg.UndefinedTableError:  # a database migrated before plans existed
        return {}
    return {r["source_id"]: parse_plan(json.loads(r["document"]), r["version"]) for r in rows}
