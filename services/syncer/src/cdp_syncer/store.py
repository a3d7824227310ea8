"""Postgres: final delivery states (``lead_deliveries``), the newest delivered version per
profile and destination, and the failed leads `cdp leads retry` re-sends."""

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
    status: str  # delivered, failed, superseded
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
    await pool.executemany(
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


async def failed(pool: asyncpg.Pool, destination: str | None = None, limit: int = 1000) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT lead_event_id, destination, profile_id, version, attempts, last_error, payload, updated_at "
        "FROM lead_deliveries WHERE status = 'failed' AND ($1::text IS NULL OR destination = $1) "
        "ORDER BY updated_at LIMIT $2",
        destination,
        limit,
    )
    return rows


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
