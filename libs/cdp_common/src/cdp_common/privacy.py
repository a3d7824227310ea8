"""A person's data across the CDP's stores, for the right of access and the right to be
forgotten: what is held about a profile, and its erasure. The tables are the segmenter's
(profiles, identities, merges, leads), the syncer's (deliveries, queues, audience
members) and the console's (audit log); this is the one place that reads or deletes them
for a person, so the console (and anything else answering a privacy request) goes through
it rather than through those services' internals."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

from cdp_common import activity
from cdp_common.identity import EMAIL, USER, namespace_of
from cdp_common.records import Erasure


def _rows(rs: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [{k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in dict(r).items()} for r in rs]


async def held_about(pool: asyncpg.Pool, pid: str) -> dict[str, Any]:
    """Every row held about the profile ``pid`` (merges followed): the profile document,
    its identities, the profiles merged into it, merges and refused merges, its lead and
    deliveries (with what was sent), queued deliveries, audience memberships, and the audit
    entries about it."""
    raw = await pool.fetchval("SELECT data::text FROM profiles WHERE id = $1", pid)
    merged = [r["id"] for r in await pool.fetch("SELECT id FROM profiles WHERE merged_into = $1", pid)]
    every = [pid, *merged]
    return {
        "profile": orjson.loads(raw) if raw else None,
        "identities": [
            r["id"] for r in await pool.fetch("SELECT id FROM identities WHERE profile_id = ANY($1::text[])", every)
        ],
        "mergedProfiles": merged,
        "merges": _rows(await pool.fetch("SELECT * FROM profile_merges WHERE into_profile = $1", pid)),
        "identityConflicts": _rows(
            await pool.fetch("SELECT * FROM identity_conflicts WHERE profile_a = $1 OR profile_b = $1", pid)
        ),
        "lead": _rows(await pool.fetch("SELECT * FROM leads WHERE profile_id = ANY($1::text[])", every)),
        "leadDeliveries": _rows(
            await pool.fetch(
                "SELECT lead_event_id, destination, version, status, attempts, last_error, payload::text AS payload, "
                "updated_at FROM lead_deliveries WHERE profile_id = ANY($1::text[])",
                every,
            )
        ),
        "queuedDeliveries": _rows(
            await pool.fetch(
                "SELECT destination, lead_event_id, version, attempts, last_error, enqueued_at FROM delivery_queue "
                "WHERE profile_id = ANY($1::text[])",
                every,
            )
        ),
        "audiences": _rows(
            await pool.fetch(
                "SELECT audience_id, email, external_contact_id, added_at FROM audience_members "
                "WHERE profile_id = ANY($1::text[])",
                every,
            )
        ),
        "audit": _rows(
            await pool.fetch(
                "SELECT at, actor, action, detail::text AS detail FROM audit_log WHERE subject = ANY($1::text[]) "
                "ORDER BY at",
                every,
            )
        ),
    }


async def erase(pool: asyncpg.Pool, pid: str) -> dict[str, Any] | None:
    """Delete the profile, its merged tombstones, identities, lead rows and deliveries;
    suppress its known and anonymous ids (never a profile again); record the request in
    the erasure outbox (the destinations are told from there). Returns what Redis and Kafka
    must forget, or None when there is no such live profile."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT data FROM profiles WHERE id = $1 AND merged_into IS NULL FOR UPDATE", pid)
        if row is None:
            return None
        data = row["data"]
        p = orjson.loads(data) if isinstance(data, (str, bytes)) else (data or {})
        gone = [pid] + [r["id"] for r in await conn.fetch("SELECT id FROM profiles WHERE merged_into = $1", pid)]
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM identities WHERE profile_id = ANY($1::text[])", gone)]
        await conn.execute("INSERT INTO suppressions (identity) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", ids)
        await conn.execute(
            "INSERT INTO erasure_outbox (request_id, profile_ids, emails, user_ids) VALUES ($1, $2, $3, $4)",
            "era_" + secrets.token_hex(8),
            gone,
            sorted(i.split(":", 1)[1] for i in ids if namespace_of(i) == EMAIL),
            sorted(i.split(":", 1)[1] for i in ids if namespace_of(i) == USER),
        )
        await conn.execute("DELETE FROM identities WHERE profile_id = ANY($1::text[])", gone)
        await conn.execute("DELETE FROM lead_deliveries WHERE profile_id = ANY($1::text[])", gone)
        await conn.execute("DELETE FROM leads WHERE profile_id = ANY($1::text[])", gone)
        await conn.execute(
            "DELETE FROM profile_merges WHERE into_profile = ANY($1::text[]) OR from_profile = ANY($1::text[])", gone
        )
        await conn.execute(
            "DELETE FROM identity_conflicts WHERE profile_a = ANY($1::text[]) OR profile_b = ANY($1::text[])", gone
        )
        await conn.execute("UPDATE profiles SET merged_into = NULL WHERE id = ANY($1::text[])", gone)
        await conn.execute("DELETE FROM profiles WHERE id = ANY($1::text[])", gone)
        await activity.add(conn, activity.deltas([(activity.place(p), None)]))  # no longer a visitor
    return {
        "profiles": gone,
        "identities": ids,
        "segments": p.get("segments", []),
        "anonymousIds": p.get("anonymousIds", []),
    }


async def pending_erasures(pool: asyncpg.Pool) -> list[Erasure]:
    """Erasures recorded but not yet announced to the destinations (oldest first)."""
    rows = await pool.fetch("SELECT * FROM erasure_outbox ORDER BY requested_at")
    return [
        Erasure(
            request_id=r["request_id"],
            profile_ids=list(r["profile_ids"]),
            emails=list(r["emails"]),
            user_ids=list(r["user_ids"]),
            requested_at=r["requested_at"],
        )
        for r in rows
    ]


async def erasure_published(pool: asyncpg.Pool, request_id: str) -> None:
    await pool.execute("DELETE FROM erasure_outbox WHERE request_id = $1", request_id)
