"""Audiences: segments kept in step with lists at destinations (the public face of the
``audiences``, ``audience_members`` and ``audience_queue`` tables, for the command line,
the console and the syncer).

An audience names a segment, a destination (``hubspot``: a list; ``mautic``: a segment;
``webhook``: enter/exit events) and optionally a consent purpose. Its members at the
destination should be the segment's members who have an email and allow that purpose.
The syncer follows ``cdp.segments.changes`` (segment enter/leave and ``consent:<purpose>``)
and queues the people concerned here; a reconciliation queues every member and every
person the destination lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from cdp_common import consent

DESTINATIONS = ("hubspot", "mautic", "webhook")
_SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class AudienceError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Audience:
    id: str
    segment_id: str
    destination: str
    name: str
    purpose: str | None
    external_id: str | None
    reconcile_every_s: float

    @classmethod
    def of(cls, row: asyncpg.Record | dict[str, Any]) -> Audience:
        return cls(
            row["id"],
            row["segment_id"],
            row["destination"],
            row["name"],
            row["purpose"],
            row["external_id"],
            float(row["reconcile_every_s"]),
        )


def check(segment_id: str, destination: str, purpose: str | None, reconcile_every_s: float) -> None:
    if not _SEGMENT.match(segment_id):
        raise AudienceError(f"segment: {segment_id!r} is not a segment id")
    if destination not in DESTINATIONS:
        raise AudienceError(f"destination: one of {', '.join(DESTINATIONS)}")
    if purpose is not None and purpose not in consent.PURPOSES:
        raise AudienceError(f"purpose: one of {', '.join(consent.PURPOSES)} (or none)")
    if not 60 <= reconcile_every_s <= 7 * 86_400:
        raise AudienceError("reconcile every: between 60 s and 7 days")


async def add(
    pool: asyncpg.Pool,
    segment_id: str,
    destination: str,
    *,
    name: str | None = None,
    purpose: str | None = None,
    reconcile_every_s: float = 3600.0,
) -> Audience:
    """Mark a segment for sync to a destination (its current members are queued at once)."""
    check(segment_id, destination, purpose, reconcile_every_s)
    known = await pool.fetchval("SELECT 1 FROM segments WHERE id = $1", segment_id)
    if not known:
        raise AudienceError(f"no segment {segment_id!r} (cdp definitions apply)")
    audience_id = f"{segment_id}@{destination}"
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO audiences (id, segment_id, destination, name, purpose, reconcile_every_s) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, "
            "purpose = EXCLUDED.purpose, reconcile_every_s = EXCLUDED.reconcile_every_s RETURNING *",
            audience_id,
            segment_id,
            destination,
            name or f"CDP: {segment_id}",
            purpose,
            reconcile_every_s,
        )
        await _queue_everyone(conn, audience_id, segment_id)
    return Audience.of(row)


async def list_all(pool: asyncpg.Pool) -> list[tuple[Audience, int, int]]:
    """Every audience with its member count at the destination and the people queued."""
    rows = await pool.fetch(
        "SELECT a.*, (SELECT count(*) FROM audience_members m WHERE m.audience_id = a.id) AS members, "
        "(SELECT count(*) FROM audience_queue q WHERE q.audience_id = a.id) AS queued FROM audiences a ORDER BY a.id"
    )
    return [(Audience.of(r), r["members"], r["queued"]) for r in rows]


async def remove(pool: asyncpg.Pool, audience_id: str) -> bool:
    """Stop syncing (the list at the destination is left as it is)."""
    return bool(await pool.fetchval("DELETE FROM audiences WHERE id = $1 RETURNING 1", audience_id))


async def queue_changes(pool: asyncpg.Pool, changes: Sequence[tuple[str, str]]) -> int:
    """``(profile id, segment id)`` changes from ``cdp.segments.changes``: every audience
    of that segment, or (for ``consent:<purpose>``) with that purpose, looks at the person
    again. Returns the rows queued."""
    if not changes:
        return 0
    got = await pool.fetch(
        "INSERT INTO audience_queue (audience_id, profile_id) "
        "SELECT a.id, c.profile_id FROM unnest($1::text[], $2::text[]) AS c(profile_id, segment_id) "
        "JOIN audiences a ON a.segment_id = c.segment_id OR ('consent:' || a.purpose) = c.segment_id "
        "ON CONFLICT (audience_id, profile_id) DO UPDATE SET next_at = least(audience_queue.next_at, now()) "
        "RETURNING 1",
        [p for p, _ in changes],
        [s for _, s in changes],
    )
    return len(got)


async def queue_reconcile(pool: asyncpg.Pool, audience_id: str) -> int:
    """Everyone who is or should be a member looks again (a reconciliation's first step)."""
    async with pool.acquire() as conn, conn.transaction():
        segment_id = await conn.fetchval("SELECT segment_id FROM audiences WHERE id = $1", audience_id)
        if segment_id is None:
            raise AudienceError(f"no audience {audience_id!r}")
        n = await _queue_everyone(conn, audience_id, segment_id)
        await conn.execute("UPDATE audiences SET last_reconciled_at = now() WHERE id = $1", audience_id)
        return n


async def _queue_everyone(conn: asyncpg.Connection, audience_id: str, segment_id: str) -> int:
    got = await conn.fetch(
        "INSERT INTO audience_queue (audience_id, profile_id) "
        "SELECT $1, id FROM profiles WHERE data IS NOT NULL AND email IS NOT NULL "
        "AND (data->'segments') ? $2 "
        "UNION SELECT $1, profile_id FROM audience_members WHERE audience_id = $1 "
        "ON CONFLICT (audience_id, profile_id) DO UPDATE SET next_at = least(audience_queue.next_at, now()) "
        "RETURNING 1",
        audience_id,
        segment_id,
    )
    return len(got)


async def request_reconcile(pool: asyncpg.Pool, audience_id: str) -> bool:
    """The running syncer reconciles the audience on its next pass."""
    return bool(
        await pool.fetchval("UPDATE audiences SET last_reconciled_at = NULL WHERE id = $1 RETURNING 1", audience_id)
    )
