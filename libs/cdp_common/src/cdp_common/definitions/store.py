"""Segment, scoring and lead-policy definitions in Postgres: what ``cdp segments apply``
and the console write, and what the segmenter reloads."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from cdp_common.definitions.scoring import ScoreRule, parse_plan
from cdp_common.definitions.segments import Definitions, LeadPolicy, SegmentDef, parse_qualifying
from cdp_common.pg import create_pool, jsonb_as_python
from cdp_common.settings import CommonSettings


async def open_pool(common: CommonSettings, size: int) -> asyncpg.Pool:
    """A pool whose jsonb values are Python values (what the definition stores expect)."""
    return await create_pool(common, min_size=1, max_size=size, init=jsonb_as_python)


class DefinitionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self) -> Definitions:
        async with self._pool.acquire() as conn:
            segs = await conn.fetch("SELECT id, name, description, condition FROM segments ORDER BY id")
            row = await conn.fetchrow("SELECT * FROM scoring WHERE id = 1")
        plan: list[ScoreRule] = parse_plan(row["rules"]) if row else []
        policy = (
            LeadPolicy(row["threshold"], parse_qualifying(row["qualifying"]), row["update_interval_s"])
            if row
            else LeadPolicy()
        )
        segments = tuple(SegmentDef(r["id"], r["name"], r["condition"], r["description"]) for r in segs)
        return Definitions(segments, tuple(plan), policy)

    async def apply(
        self,
        segments: Sequence[SegmentDef],
        plan: Sequence[ScoreRule] | None,
        policy: LeadPolicy | None,
        *,
        prune: bool = False,
    ) -> dict[str, list[str]]:
        """Upsert in one transaction (running segmenters see all of it or none)."""
        report: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": [], "deleted": []}
        async with self._pool.acquire() as conn, conn.transaction():
            current = {r["id"]: r for r in await conn.fetch("SELECT * FROM segments FOR UPDATE")}
            for s in segments:
                old = current.get(s.id)
                if old is not None and (old["name"], old["description"], old["condition"]) == (
                    s.name,
                    s.description,
                    s.condition,
                ):
                    report["unchanged"].append(f"segment {s.id}")
                    continue
                report["created" if old is None else "updated"].append(f"segment {s.id}")
                await conn.execute(
                    "INSERT INTO segments (id, name, description, condition) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (id) DO UPDATE SET name = $2, description = $3, condition = $4, updated_at = now()",
                    s.id,
                    s.name,
                    s.description,
                    dict(s.condition),
                )
            if prune:
                stale = sorted(set(current) - {s.id for s in segments})
                if stale:
                    await conn.execute("DELETE FROM segments WHERE id = ANY($1::text[])", stale)
                report["deleted"] = [f"segment {s}" for s in stale]
            if plan is not None and policy is not None:
                rules = [{"id": r.id, "points": r.points, "condition": r.condition} for r in plan]
                old = await conn.fetchrow("SELECT * FROM scoring WHERE id = 1 FOR UPDATE")
                new = (rules, policy.threshold, policy.qualifying_json(), policy.update_interval_s)
                current_plan = (
                    (old["rules"], old["threshold"], old["qualifying"], old["update_interval_s"]) if old else None
                )
                if current_plan == new:
                    report["unchanged"].append("scoring")
                else:
                    report["created" if old is None else "updated"].append("scoring")
                    await conn.execute(
                        "INSERT INTO scoring (id, rules, threshold, qualifying, update_interval_s) "
                        "VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET rules = $1, threshold = $2, "
                        "qualifying = $3, update_interval_s = $4, updated_at = now()",
                        *new,
                    )
        return report

    async def put_segment(self, segment: SegmentDef) -> str:
        """Create or replace one segment: ``created``, ``updated`` or ``unchanged``."""
        report = await self.apply([segment], None, None)
        return next(k for k in ("created", "updated", "unchanged") if report[k])

    async def delete_segment(self, segment_id: str) -> bool:
        result: str = await self._pool.execute("DELETE FROM segments WHERE id = $1", segment_id)
        return result.endswith(" 1")


async def open_definitions(common: CommonSettings) -> tuple[asyncpg.Pool, DefinitionStore]:
    pool = await open_pool(common, 2)
    return pool, DefinitionStore(pool)
