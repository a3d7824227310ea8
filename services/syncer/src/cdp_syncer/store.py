"""Postgres: each destination's delivery queue (``delivery_queue``), final delivery states
(``lead_deliveries``), the newest delivered version per profile and destination, and the
erasure queue. Filling the queues (and re-queuing failed leads) is ``cdp_common.deliveries``,
the tables' public face."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from cdp_common.pg import create_pool, jsonb_as_python
from cdp_common.settings import CommonSettings


async def open_pool(common: CommonSettings, size: int = 4) -> asyncpg.Pool:
    return await create_pool(common, min_size=1, max_size=size, init=jsonb_as_python)


@dataclass(frozen=True, slots=True)
class Final:
    lead: Mapping[str, Any]
    destination: str
    status: str  # delivered, failed, superseded, skipped
    attempts: int
    error: str | None = None


async def delivered_versions(pool: asyncpg.Pool, destination: str, profiles: Iterable[str]) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT profile_id, max(version) AS v FROM lead_deliveries "
        "WHERE destination = $1 AND status = 'delivered' AND profile_id = ANY($2::text[]) GROUP BY profile_id",
        destination,
        list(profiles),
    )
    return {r["profile_id"]: r["v"] for r in rows}


async def record(pool: asyncpg.Pool, finals: Sequence[Final]) -> None:
    if not finals:
        return
    async with pool.acquire() as conn:
        await _record(conn, finals)


async def _record(conn: asyncpg.Connection, finals: Sequence[Final]) -> None:
    await conn.executemany(
        "INSERT INTO lead_deliveries (lead_event_id, destination, profile_id, version, status, attempts, last_error, "
        "payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (lead_event_id, destination) DO UPDATE SET "
        "status = EXCLUDED.status, attempts = lead_deliveries.attempts + EXCLUDED.attempts, "
        "last_error = EXCLUDED.last_error, payload = EXCLUDED.payload, updated_at = now()",
        [
            (
                f.lead["eventId"],
                f.destination,
                f.lead["profileId"],
                f.lead["version"],
                f.status,
                f.attempts,
                f.error,
                dict(f.lead),
            )
            for f in finals
        ],
    )


async def queue_erasures(
    pool: asyncpg.Pool, erasures: Sequence[Mapping[str, Any]], destinations: Sequence[str]
) -> None:
    """One pending row per erasure and destination (a redelivered request adds nothing)."""
    rows = [(e["requestId"], d, dict(e)) for e in erasures for d in destinations]
    if rows:
        await pool.executemany(
            "INSERT INTO erasure_deliveries (request_id, destination, request) VALUES ($1, $2, $3) "
            "ON CONFLICT (request_id, destination) DO NOTHING",
            rows,
        )


async def due_erasures(pool: asyncpg.Pool, limit: int = 50) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT request_id, destination, request, attempts FROM erasure_deliveries "
        "WHERE status = 'pending' AND next_at <= now() ORDER BY next_at LIMIT $1",
        limit,
    )


async def erasure_done(pool: asyncpg.Pool, request_id: str, destination: str, status: str, result: str) -> None:
    """Done or failed for good: the emails leave the table (only the outcome stays)."""
    await pool.execute(
        "UPDATE erasure_deliveries SET status = $3, result = $4, request = NULL, attempts = attempts + 1, "
        "updated_at = now() WHERE request_id = $1 AND destination = $2",
        request_id,
        destination,
        status,
        result,
    )


async def erasure_retry(pool: asyncpg.Pool, request_id: str, destination: str, delay_s: float, error: str) -> None:
    await pool.execute(
        "UPDATE erasure_deliveries SET attempts = attempts + 1, result = $4, "
        "next_at = now() + make_interval(secs => $3), updated_at = now() WHERE request_id = $1 AND destination = $2",
        request_id,
        destination,
        delay_s,
        error,
    )


# ---- each destination's delivery queue (delivery_queue) -----------------------------------


async def claim(pool: asyncpg.Pool, owner: str, destination: str, limit: int, lease_s: float) -> list[asyncpg.Record]:
    """Due rows of ``destination``, leased to the caller for ``lease_s``. Claims of one
    destination take turns (a transaction-scoped advisory lock), and a profile with a row
    leased elsewhere is left out, so two workers never send two versions of one person
    at once (an older one could then overwrite a newer one)."""
    async with pool.acquire() as conn, conn.transaction():
        lock = f"delivery_queue:{owner}:{destination}"
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock)
        rows: list[asyncpg.Record] = await conn.fetch(
            "UPDATE delivery_queue q SET leased_until = now() + make_interval(secs => $4) "
            "FROM (SELECT d.id FROM delivery_queue d WHERE d.owner = $1 AND d.destination = $2 "
            "      AND d.next_at <= now() AND (d.leased_until IS NULL OR d.leased_until < now()) "
            "      AND NOT EXISTS (SELECT 1 FROM delivery_queue o WHERE o.owner = d.owner "
            "                      AND o.destination = d.destination AND o.profile_id = d.profile_id "
            "                      AND o.leased_until >= now() AND o.id <> d.id) "
            "      ORDER BY d.next_at, d.id LIMIT $3) due "
            "WHERE q.id = due.id RETURNING q.id, q.lead, q.attempts, q.written_at, q.replay",
            owner,
            destination,
            limit,
            lease_s,
        )
    return rows


async def settle(pool: asyncpg.Pool, finals: Sequence[Final], queue_ids: Sequence[int]) -> None:
    """Final states recorded and their rows out of the queue, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        if finals:
            await _record(conn, finals)
        if queue_ids:
            await conn.execute("DELETE FROM delivery_queue WHERE id = ANY($1::bigint[])", list(queue_ids))


async def reschedule(pool: asyncpg.Pool, retries: Sequence[tuple[int, int, float, str]]) -> None:
    """``(queue id, attempts made now, delay s, error)``: the row is due again after the delay."""
    if retries:
        await pool.executemany(
            "UPDATE delivery_queue SET attempts = attempts + $2, next_at = now() + make_interval(secs => $3), "
            "leased_until = NULL, last_error = $4 WHERE id = $1",
            list(retries),
        )


async def queue_state(pool: asyncpg.Pool, owner: str) -> list[asyncpg.Record]:
    """Per destination of ``owner``: rows due now, rows waiting for a retry, the oldest row's age."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT destination, count(*) FILTER (WHERE next_at <= now()) AS due, "
        "count(*) FILTER (WHERE next_at > now()) AS waiting, "
        "coalesce(extract(epoch FROM now() - min(written_at)), 0)::float8 AS oldest "
        "FROM delivery_queue WHERE owner = $1 GROUP BY destination",
        owner,
    )
    return rows


async def forget_queued(pool: asyncpg.Pool, emails: Sequence[str]) -> int:
    """An erased person's leads leave every queue (nothing of them is sent any more)."""
    result: str = await pool.execute(
        "DELETE FROM delivery_queue WHERE email = ANY($1::text[])", [e.strip().lower() for e in emails]
    )
    return int(result.split()[-1])


async def newest_queued(pool: asyncpg.Pool, owner: str, destination: str, profiles: Iterable[str]) -> dict[str, int]:
    """The newest version still queued per profile (a claimed older one is superseded)."""
    rows = await pool.fetch(
        "SELECT profile_id, max(version) AS v FROM delivery_queue WHERE owner = $1 AND destination = $2 "
        "AND profile_id = ANY($3::text[]) GROUP BY profile_id",
        owner,
        destination,
        list(profiles),
    )
    return {r["profile_id"]: r["v"] for r in rows}
