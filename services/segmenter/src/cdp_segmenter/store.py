"""Postgres: definitions, and the statements one batch transaction runs. Every function
that changes profiles takes the transaction's connection; nothing here commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cdp_common.pg import create_pool, jsonb_as_python
from cdp_common.settings import CommonSettings
from cdp_segmenter.logic.rollup import COLUMNS


async def open_pool(common: CommonSettings, size: int) -> asyncpg.Pool:
    return await create_pool(common, min_size=1, max_size=size, init=jsonb_as_python)


def _dt(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


# ---- one batch's transaction ---------------------------------------------------------------


async def claim_messages(conn: asyncpg.Connection, message_ids: list[str]) -> set[str]:
    """Record the batch's messageIds; returns those not applied before. A concurrent
    transaction claiming the same id makes this wait for it, then skip the id."""
    rows = await conn.fetch(
        "INSERT INTO processed_messages (message_id) SELECT unnest($1::text[]) "
        "ON CONFLICT DO NOTHING RETURNING message_id",
        message_ids,
    )
    return {r["message_id"] for r in rows}


async def owners_of(conn: asyncpg.Connection, ids: Iterable[str]) -> dict[str, str]:
    rows = await conn.fetch("SELECT id, profile_id FROM identities WHERE id = ANY($1::text[])", list(ids))
    return {r["id"]: r["profile_id"] for r in rows}


async def lock_profiles(conn: asyncpg.Connection, pids: Iterable[str]) -> dict[str, tuple[Any, str | None]]:
    """Lock the profiles (in id order, so two writers never wait on each other in a
    cycle) and return id -> (data, merged_into), seeing the latest committed rows."""
    rows = await conn.fetch(
        "SELECT id, data, merged_into FROM profiles WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        sorted(set(pids)),
    )
    return {r["id"]: (r["data"], r["merged_into"]) for r in rows}


async def known_ids(conn: asyncpg.Connection, pids: Iterable[str]) -> dict[str, list[str]]:
    rows = await conn.fetch(
        "SELECT profile_id, id FROM identities WHERE profile_id = ANY($1::text[]) AND id NOT LIKE 'anon:%'",
        list(pids),
    )
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["profile_id"], []).append(r["id"])
    return out


async def write_profiles(conn: asyncpg.Connection, profiles: Sequence[Mapping[str, Any]]) -> None:
    if not profiles:
        return
    email = [(p["traits"].get("email") or {}).get("value") for p in profiles]
    await conn.execute(
        "INSERT INTO profiles (id, data, email, stage, score, first_seen, last_seen) "
        "SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[], $5::float8[], "
        "$6::timestamptz[], $7::timestamptz[]) "
        "ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, email = EXCLUDED.email, stage = EXCLUDED.stage, "
        "score = EXCLUDED.score, first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, "
        "updated_at = now()",
        [p["id"] for p in profiles],
        list(profiles),
        [e if isinstance(e, str) else None for e in email],
        [p.get("stage", "anonymous") for p in profiles],
        [float(p.get("score", 0)) for p in profiles],
        [_dt(p["firstSeen"]) for p in profiles],
        [_dt(p["lastSeen"]) for p in profiles],
    )


async def link_ids(conn: asyncpg.Connection, links: Sequence[tuple[str, str]]) -> None:
    """New identities. No ON CONFLICT: an id another writer linked meanwhile raises
    ``UniqueViolationError`` and the batch is retried with the graph as it is now."""
    if links:
        await conn.execute(
            "INSERT INTO identities (id, profile_id) SELECT * FROM unnest($1::text[], $2::text[])",
            [a for a, _ in links],
            [b for _, b in links],
        )


async def record_merges(conn: asyncpg.Connection, merges: Sequence[tuple[str, str, str | None]]) -> None:
    """(from, into, messageId): tombstone the merged profile, move its ids, note the merge."""
    for src, dst, mid in merges:
        await conn.execute("UPDATE identities SET profile_id = $2 WHERE profile_id = $1", src, dst)
        await conn.execute("UPDATE profiles SET merged_into = $2 WHERE merged_into = $1", src, dst)
        await conn.execute("DELETE FROM leads WHERE profile_id = $1", src)
        await conn.execute(
            "UPDATE profiles SET data = NULL, merged_into = $2, updated_at = now() WHERE id = $1", src, dst
        )
        await conn.execute(
            "INSERT INTO profile_merges (from_profile, into_profile, message_id) VALUES ($1, $2, $3)", src, dst, mid
        )


Conflict = tuple[str, str, str, str, str | None]


async def record_conflicts(conn: asyncpg.Connection, conflicts: Sequence[Conflict]) -> None:
    """(profile a, profile b, identity, reason, messageId)."""
    if conflicts:
        await conn.executemany(
            "INSERT INTO identity_conflicts (profile_a, profile_b, identity, reason, message_id) "
            "VALUES ($1, $2, $3, $4, $5)",
            conflicts,
        )


async def write_leads(conn: asyncpg.Connection, profiles: Sequence[Mapping[str, Any]]) -> None:
    rows = [p for p in profiles if p.get("lead")]
    if not rows:
        return
    await conn.execute(
        "INSERT INTO leads (profile_id, email, version, qualified_by, qualified_at, last_emitted_at, pending) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], "
        "$6::timestamptz[], $7::bool[]) "
        "ON CONFLICT (profile_id) DO UPDATE SET email = EXCLUDED.email, version = EXCLUDED.version, "
        "last_emitted_at = EXCLUDED.last_emitted_at, pending = EXCLUDED.pending",
        [p["id"] for p in rows],
        [p["traits"]["email"]["value"] for p in rows],
        [p["lead"]["version"] for p in rows],
        [p["lead"]["qualifiedBy"] for p in rows],
        [_dt(p["lead"]["qualifiedAt"]) for p in rows],
        [_dt(p["lead"]["lastEmittedAt"]) for p in rows],
        [bool(p["lead"]["pending"]) for p in rows],
    )


async def add_outbox(conn: asyncpg.Connection, messages: Sequence[tuple[str, bytes, bytes]]) -> list[int]:
    if not messages:
        return []
    rows = await conn.fetch(
        "INSERT INTO outbox (topic, key, value) SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) "
        "RETURNING id",
        [m[0] for m in messages],
        [m[1] for m in messages],
        [m[2] for m in messages],
    )
    return [r["id"] for r in rows]


async def delete_outbox(pool: asyncpg.Pool, ids: list[int]) -> None:
    if ids:
        await pool.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", ids)


async def pending_leads(pool: asyncpg.Pool, interval_s: float, limit: int) -> list[str]:
    rows = await pool.fetch(
        "SELECT profile_id FROM leads WHERE pending AND last_emitted_at <= now() - make_interval(secs => $1) "
        "ORDER BY last_emitted_at LIMIT $2",
        interval_s,
        limit,
    )
    return [r["profile_id"] for r in rows]


async def live_profile_ids(pool: asyncpg.Pool, after: str, limit: int) -> list[str]:
    rows = await pool.fetch(
        "SELECT id FROM profiles WHERE id > $1 AND merged_into IS NULL ORDER BY id LIMIT $2", after, limit
    )
    return [r["id"] for r in rows]


async def prune_processed(pool: asyncpg.Pool, window_hours: float) -> int:
    result: str = await pool.execute(
        "DELETE FROM processed_messages WHERE processed_at < now() - make_interval(secs => $1)",
        window_hours * 3600,
    )
    return int(result.split()[-1])


async def evaluated_fingerprint(pool: asyncpg.Pool) -> str | None:
    value: str | None = await pool.fetchval("SELECT fingerprint FROM evaluation_state WHERE id = 1")
    return value


async def set_evaluated_fingerprint(pool: asyncpg.Pool, fingerprint: str) -> None:
    await pool.execute(
        "INSERT INTO evaluation_state (id, fingerprint) VALUES (1, $1) "
        "ON CONFLICT (id) DO UPDATE SET fingerprint = $1, completed_at = now()",
        fingerprint,
    )


async def old_outbox(conn: asyncpg.Connection, grace_s: float, limit: int) -> list[asyncpg.Record]:
    """Outbox rows a crashed writer left behind; locked so two relays do not both send them."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, topic, key, value FROM outbox WHERE created_at < now() - make_interval(secs => $1) "
        "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
        grace_s,
        limit,
    )
    return rows


async def add_campaign_stats(conn: asyncpg.Connection, rows: Mapping[tuple[Any, ...], Mapping[str, int]]) -> None:
    if not rows:
        return
    keys = sorted(rows)  # a fixed order: two writers never wait on each other in a cycle
    arrays = ", ".join(f"${i}::bigint[]" for i in range(7, 7 + len(COLUMNS)))
    await conn.execute(
        "INSERT INTO campaign_stats (day, channel, source, medium, campaign, content, "
        + ", ".join(COLUMNS)
        + ") SELECT * FROM unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
        + arrays
        + ") ON CONFLICT (day, channel, source, medium, campaign, content) DO UPDATE SET "
        + ", ".join(f"{c} = campaign_stats.{c} + EXCLUDED.{c}" for c in COLUMNS),
        *[[k[i] for k in keys] for i in range(6)],
        *[[rows[k][c] for k in keys] for c in COLUMNS],
    )


async def record_segment_sizes(pool: asyncpg.Pool, sizes: Mapping[str, int]) -> None:
    """Each segment's size now, into the row of the current hour (any instance may write
    it: the last count in an hour stands)."""
    if not sizes:
        return
    ids = sorted(sizes)
    await pool.execute(
        "INSERT INTO segment_sizes (segment_id, hour, size) "
        "SELECT s, date_trunc('hour', now()), n FROM unnest($1::text[], $2::bigint[]) AS t(s, n) "
        "ON CONFLICT (segment_id, hour) DO UPDATE SET size = EXCLUDED.size",
        ids,
        [sizes[i] for i in ids],
    )
