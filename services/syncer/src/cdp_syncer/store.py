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
