"""Lead deliveries as the command line and the console see them (the public face of the
syncer's ``delivery_queue`` and ``lead_deliveries`` tables).

Nothing here talks to a destination: a lead is put back in a destination's queue and the
running syncer delivers it with that destination's own settings, rate limit and breaker,
so a retry needs no credentials in the shell that asks for it.

- ``enqueue``: a row per lead and destination (a lead already queued adds nothing).
- ``failed``: what a destination refused for good, with its reason.
- ``requeue_failed``: failed deliveries back in their queues (one by one or in bulk).
- ``enqueue_replay``: leads sent again to one destination even if it has that version
  already (``cdp leads replay``); never when it has a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

QueuedLead = tuple[Mapping[str, Any], float]  # (cdp.lead/v1 document, written at: epoch s)


async def enqueue(
    pool: asyncpg.Pool,
    owner: str,
    leads: Sequence[QueuedLead],
    destinations: Sequence[str],
    replay: str | None = None,
) -> int:
    """Rows in ``owner``'s queues (``owner`` is the syncer's consumer group), one per lead
    and destination; returns how many were new (a lead already queued adds nothing)."""
    rows = [(d, lead, written) for lead, written in leads for d in destinations]
    if not rows:
        return 0
    got = await pool.fetch(
        "INSERT INTO delivery_queue (owner, destination, lead_event_id, profile_id, email, version, lead, "
        "written_at, replay) SELECT $1, d, e, p, m, v, l::jsonb, w, $9 FROM unnest($2::text[], $3::text[], "
        "$4::text[], $5::text[], $6::int[], $7::text[], $8::timestamptz[]) AS t(d, e, p, m, v, l, w) "
        "ON CONFLICT (owner, destination, lead_event_id) DO NOTHING RETURNING 1",
        owner,
        [d for d, _, _ in rows],
        [lead["eventId"] for _, lead, _ in rows],
        [lead["profileId"] for _, lead, _ in rows],
        [str(lead["contact"]["email"]).strip().lower() for _, lead, _ in rows],
        [int(lead["version"]) for _, lead, _ in rows],
        [orjson.dumps(lead).decode() for _, lead, _ in rows],
        [datetime.fromtimestamp(w, UTC) for _, _, w in rows],
        replay,
    )
    return len(got)


async def failed(
    pool: asyncpg.Pool, destination: str | None = None, lead_ids: Sequence[str] | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Deliveries a destination refused for good (oldest first), with its reason."""
    rows = await pool.fetch(
        "SELECT lead_event_id, destination, profile_id, version, attempts, last_error, payload::text, updated_at "
        "FROM lead_deliveries WHERE status = 'failed' AND ($1::text IS NULL OR destination = $1) "
        "AND ($2::text[] IS NULL OR lead_event_id = ANY($2::text[])) ORDER BY updated_at, lead_event_id LIMIT $3",
        destination,
        list(lead_ids) if lead_ids is not None else None,
        limit,
    )
    return [{**dict(r), "payload": orjson.loads(r["payload"])} for r in rows]


async def requeue_failed(
    pool: asyncpg.Pool, owner: str, destination: str | None = None, lead_ids: Sequence[str] | None = None
) -> dict[str, int]:
    """Failed deliveries (all, one destination's, or the named leads) back in their
    destination's queue, in one transaction: a lead is either listed as failed or queued,
    never lost between. Its age starts again (it is not given up on at once). Returns how
    many went back per destination. A newer version delivered meanwhile still wins: the
    older one is then recorded as superseded, not sent."""
    rows = await pool.fetch(
        "WITH moved AS (DELETE FROM lead_deliveries WHERE status = 'failed' "
        "  AND ($2::text IS NULL OR destination = $2) AND ($3::text[] IS NULL OR lead_event_id = ANY($3::text[])) "
        "  RETURNING lead_event_id, destination, profile_id, version, payload, last_error) "
        "INSERT INTO delivery_queue (owner, destination, lead_event_id, profile_id, email, version, lead, "
        "written_at, last_error) "
        "SELECT $1, destination, lead_event_id, profile_id, lower(trim(payload->'contact'->>'email')), version, "
        "payload, now(), 'retry after: ' || coalesce(last_error, '') FROM moved "
        "ON CONFLICT (owner, destination, lead_event_id) DO NOTHING RETURNING destination",
        owner,
        destination,
        list(lead_ids) if lead_ids is not None else None,
    )
    out: dict[str, int] = {}
    for r in rows:
        out[r["destination"]] = out.get(r["destination"], 0) + 1
    return out


async def enqueue_replay(
    pool: asyncpg.Pool, owner: str, destination: str, leads: Sequence[QueuedLead], replay_id: str
) -> int:
    """Leads sent again to ``destination`` (a replayed range): how many were queued."""
    return await enqueue(pool, owner, leads, [destination], replay=replay_id)
