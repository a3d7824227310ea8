"""Visitors per hour, kept as counts so the overview never counts profile rows: each live
profile is counted once, in the hour (UTC) it was last seen, and among the known if it has
an email. A writer that changes profiles (the segmenter's batches, an erasure) adds the
difference between the profiles' places before and after (``visitor_hours``); the sum
over the hours since T is the number of live profiles seen since T's hour. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Place = tuple[datetime, bool]  # (hour last seen, known)


def place(p: Mapping[str, Any] | None) -> Place | None:
    """Where a profile document counts (None: nowhere, as it was never seen)."""
    if not p or p.get("lastSeen") is None:
        return None
    hour = datetime.fromtimestamp(float(p["lastSeen"]), UTC).replace(minute=0, second=0, microsecond=0)
    email = (p.get("traits") or {}).get("email") or {}
    return hour, isinstance(email.get("value"), str)


def deltas(moves: list[tuple[Place | None, Place | None]]) -> dict[datetime, list[int]]:
    """(before, after) places -> per hour, the change of [visitors, known]; hours that do
    not change are left out."""
    out: dict[datetime, list[int]] = {}
    for before, after in moves:
        if before == after:
            continue
        for where, sign in ((before, -1), (after, 1)):
            if where is not None:
                row = out.setdefault(where[0], [0, 0])
                row[0] += sign
                row[1] += sign if where[1] else 0
    return {h: v for h, v in out.items() if v != [0, 0]}


async def add(conn: Any, changes: Mapping[datetime, list[int]]) -> None:
    """Add the changes in the caller's transaction (hours in order: two writers never wait
    on each other in a cycle)."""
    if not changes:
        return
    hours = sorted(changes)
    await conn.execute(
        "INSERT INTO visitor_hours (hour, visitors, known) "
        "SELECT * FROM unnest($1::timestamptz[], $2::bigint[], $3::bigint[]) "
        "ON CONFLICT (hour) DO UPDATE SET visitors = visitor_hours.visitors + EXCLUDED.visitors, "
        "known = visitor_hours.known + EXCLUDED.known",
        hours,
        [changes[h][0] for h in hours],
        [changes[h][1] for h in hours],
    )
