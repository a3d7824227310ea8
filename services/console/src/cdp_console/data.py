"""Postgres reads behind the console: profile lookup, the profile card, the export (what
the stores hold comes from ``cdp_common.privacy``, which also erases), the campaign report
and the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson

from cdp_common import privacy
from cdp_common.definitions.conditions import sessions
from cdp_common.identity import anon_id, email_id, user_id

TOP = 10


def identity_for(kind: str, value: str) -> str | None:
    """A lookup key (``id``, ``anonymousId``, ``userId``, ``email``) as a graph id."""
    if kind == "anonymousId":
        return anon_id(value)
    if kind == "userId":
        return user_id(value)
    if kind == "email":
        return email_id(value)
    return None


async def resolve(pool: asyncpg.Pool, kind: str, value: str) -> str | None:
    """The live profile id for a lookup, following merges."""
    if kind == "id":
        pid: str | None = value
    else:
        ident = identity_for(kind, value)
        if ident is None:
            return None
        pid = await pool.fetchval("SELECT profile_id FROM identities WHERE id = $1", ident)
    for _ in range(20):
        if pid is None:
            return None
        row = await pool.fetchrow("SELECT merged_into, data IS NULL AS gone FROM profiles WHERE id = $1", pid)
        if row is None:
            return None
        if row["merged_into"] is None:
            return pid
        pid = row["merged_into"]
    return None


def _iso(t: Any) -> str | None:
    return None if t is None else datetime.fromtimestamp(float(t), UTC).isoformat().replace("+00:00", "Z")


async def card(pool: asyncpg.Pool, pid: str) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT data FROM profiles WHERE id = $1 AND merged_into IS NULL", pid)
    if row is None or row["data"] is None:
        return None
    p = orjson.loads(row["data"]) if isinstance(row["data"], (str, bytes)) else row["data"]
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM identities WHERE profile_id = $1 ORDER BY id", pid)]
    lead = await pool.fetchrow("SELECT * FROM leads WHERE profile_id = $1", pid)
    merges = await pool.fetch(
        "SELECT from_profile, merged_at FROM profile_merges WHERE into_profile = $1 ORDER BY merged_at", pid
    )
    refused = await pool.fetch(
        "SELECT profile_a, profile_b, identity, reason, recorded_at FROM identity_conflicts "
        "WHERE profile_a = $1 OR profile_b = $1 ORDER BY recorded_at DESC LIMIT 20",
        pid,
    )
    deliveries = await pool.fetch(
        "SELECT DISTINCT ON (destination) destination, status, version, attempts, last_error, updated_at "
        "FROM lead_deliveries WHERE profile_id = $1 ORDER BY destination, version DESC, updated_at DESC",
        pid,
    )
    traits = {
        k: {
            "value": v["value"],
            "source": v["source"],
            "ruleId": v.get("ruleId"),
            "firstSeen": _iso(v.get("firstSeen")),
            "lastSeen": _iso(v.get("lastSeen")),
        }
        for k, v in sorted(p["traits"].items())
    }
    touch = [dict(t, at=_iso(t["at"])) for t in p["touchpoints"]]
    return {
        "id": pid,
        "identities": ids,
        "stage": p.get("stage", "anonymous"),
        "score": p.get("score", 0),
        "scoreBreakdown": p.get("scoreBreakdown", []),
        "segments": p.get("segments", []),
        # when it entered each (absent for a segment it was in before entry times were kept)
        "segmentsSince": {k: _iso(v) for k, v in (p.get("segmentsSince") or {}).items()},
        "explicitTraits": {k: v for k, v in traits.items() if v["source"] == "explicit"},
        "implicitTraits": {k: v for k, v in traits.items() if v["source"] == "implicit"},
        "counters": {
            "pageViews": p["pageViews"],
            "sessions": sessions(p),
            "interactions": p["interactions"],
            "events": p["events"],
        },
        "topPages": dict(sorted(p["pages"].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]),
        "maxScroll": p["maxScroll"],
        "videos": {"started": p["videosStarted"], "completed": p["videosCompleted"]},
        "forms": [dict(f, at=_iso(f["at"])) for f in p["forms"]],
        "calculators": [dict(f, at=_iso(f["at"])) for f in p["calculators"]],
        "channels": p["channels"],
        "touchpoints": touch,
        "firstTouch": dict(p["firstTouch"], at=_iso(p["firstTouch"]["at"])) if p.get("firstTouch") else None,
        "lastTouch": touch[-1] if touch else None,
        "conversions": [dict(c, at=_iso(c["at"])) for c in p["conversions"]],
        "lead": None
        if lead is None
        else {
            "version": lead["version"],
            "qualifiedBy": lead["qualified_by"],
            "qualifiedAt": lead["qualified_at"].isoformat(),
            "pendingUpdate": lead["pending"],
            "deliveries": {
                d["destination"]: {
                    "status": d["status"],
                    "version": d["version"],
                    "attempts": d["attempts"],
                    "lastError": d["last_error"],
                    "at": d["updated_at"].isoformat(),
                }
                for d in deliveries
            },
        },
        "anonymousIds": p["anonymousIds"],
        "devices": p["devices"],
        # the profiles merged into this one (same person on another device or visit), and
        # merges refused because both sides were known as different people
        "merges": [{"from": r["from_profile"], "at": r["merged_at"].isoformat()} for r in merges],
        "refusedMerges": [
            {
                "with": r["profile_b"] if r["profile_a"] == pid else r["profile_a"],
                "identity": r["identity"] or None,
                "reason": r["reason"],
                "at": r["recorded_at"].isoformat(),
            }
            for r in refused
        ],
        "firstSeen": _iso(p["firstSeen"]),
        "lastSeen": _iso(p["lastSeen"]),
        "timeline": [dict(e, at=_iso(e["at"])) for e in reversed(p.get("recent", []))],
    }


async def export(pool: asyncpg.Pool, pid: str) -> dict[str, Any] | None:
    """Everything held about the person: the card as the console shows it, and the rows
    every store holds (``cdp_common.privacy.held_about``)."""
    c = await card(pool, pid)
    if c is None:
        return None
    held = await privacy.held_about(pool, pid)
    return {"exportedAt": datetime.now(UTC).isoformat(), "card": c, **held}


async def audit(pool: asyncpg.Pool, actor: str, action: str, subject: str, detail: Mapping[str, Any]) -> None:
    await pool.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4)",
        actor,
        action,
        subject,
        dict(detail),
    )


DIMENSIONS = {
    "channel": ("channel",),
    "source": ("source",),
    "campaign": ("source", "medium", "campaign"),
    "content": ("source", "medium", "campaign", "content"),
}


COUNTERS = ("visitors", "sessions", "engaged", "conversions", "leads", "personas", "events")


async def campaign_report(pool: asyncpg.Pool, by: str, since: date, until: date) -> list[dict[str, Any]]:
    cols = DIMENSIONS[by]
    group = ", ".join(cols)
    rows = await pool.fetch(
        f"SELECT {group}, sum(visitors) AS visitors, sum(sessions) AS sessions, sum(engaged) AS engaged, "
        "sum(conversions) AS conversions, sum(leads) AS leads, sum(personas) AS personas, sum(events) AS events "
        f"FROM campaign_stats WHERE day BETWEEN $1 AND $2 GROUP BY {group} ORDER BY sum(visitors) DESC, {group}",
        since,
        until,
    )
    out = []
    for r in rows:
        v = int(r["visitors"])
        item: dict[str, Any] = {c: r[c] or None for c in cols}
        item |= {k: int(r[k]) for k in COUNTERS}
        item["conversionRate"] = round(item["conversions"] / v, 4) if v else None
        item["leadRate"] = round(item["leads"] / v, 4) if v else None
        item["personaShare"] = round(item["personas"] / v, 4) if v else None
        out.append(item)
    return out
