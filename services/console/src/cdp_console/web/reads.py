"""What the pages show, read from Postgres and Redis: the overview's figures, the profile
list with its filters, leads with their deliveries, segment sizes. Queries only; the
routes decide what to render."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from cdp_console import data

PAGE = 50
# a filtered count stops here: beyond it the page shows the planner's estimate ("about
# 51,700"), as counting every match of a broad filter over 1M profiles costs more than the page
COUNT_CAP = 1_000
STAGES = ("anonymous", "known", "mql")  # mql: qualified as a lead
SORTS = {
    "last_seen": "last_seen DESC NULLS LAST, id",
    "score": "score DESC, id",
    "first_seen": "first_seen DESC NULLS LAST, id",
}


@dataclass(frozen=True, slots=True)
class ProfileFilter:
    q: str = ""  # an email, userId, anonymousId or profile id
    segment: str = ""
    stage: str = ""
    trait: str = ""  # name=value, e.g. role=CEO
    trait2: str = ""  # a second one, e.g. industry=automotive
    campaign: str = ""
    seen_days: int = 0  # seen in the last N days (0: any time)
    score_min: float | None = None
    score_max: float | None = None
    sort: str = "last_seen"
    page: int = 1

    def active(self) -> dict[str, Any]:
        return {k: v for k, v in self.query().items() if k not in ("sort", "page")}

    def query(self) -> dict[str, Any]:
        """The filter as URL parameters (what a link to this list carries)."""
        out: dict[str, Any] = {}
        for name in ("q", "segment", "stage", "trait", "trait2", "campaign"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        if self.seen_days:
            out["seen_days"] = self.seen_days
        if self.score_min is not None:
            out["score_min"] = self.score_min
        if self.score_max is not None:
            out["score_max"] = self.score_max
        if self.sort != "last_seen":
            out["sort"] = self.sort
        if self.page > 1:
            out["page"] = self.page
        return out


@dataclass(slots=True)
class Where:
    clauses: list[str] = field(default_factory=lambda: ["merged_into IS NULL", "data IS NOT NULL"])
    args: list[Any] = field(default_factory=list)

    def add(self, clause: str, *values: Any) -> None:
        for v in values:
            self.args.append(v)
            clause = clause.replace("%s", f"${len(self.args)}", 1)
        self.clauses.append(clause)

    def sql(self) -> str:
        return " AND ".join(self.clauses)


# facet values are cut at these lengths in the index (migration 0015): a longer value is
# looked up by its cut facet and then compared whole
FACET_VALUE = 200
FACET_NAME = 100


def _trait(where: Where, facets: list[str], spec: str) -> None:
    name, _, value = spec.partition("=")
    name, value = name.strip(), value.strip()
    if not name:
        return
    if value:
        facets.append(f"trait:{name[:FACET_NAME]}={value[:FACET_VALUE]}")
        if len(name) > FACET_NAME or len(value) > FACET_VALUE:
            where.add("(data #>> ARRAY['traits', %s, 'value']) = %s", name, value)
    else:
        facets.append(f"trait:{name[:FACET_NAME]}")
        if len(name) > FACET_NAME:
            where.add("(data -> 'traits') ? %s", name)


def profile_where(f: ProfileFilter, now: datetime | None = None) -> Where:
    """The segment, stage, trait and campaign filters as one containment in the profile's
    facets (one GIN lookup intersects them all: migration 0015); last seen and score as
    ranges (B-tree)."""
    w = Where()
    facets: list[str] = []
    if f.segment:
        facets.append(f"segment:{f.segment[:FACET_VALUE]}")
        if len(f.segment) > FACET_VALUE:
            w.add("(data -> 'segments') @> %s::jsonb", [f.segment])
    if f.stage:
        facets.append(f"stage:{f.stage}")
    for spec in (f.trait, f.trait2):
        if spec:
            _trait(w, facets, spec)
    if f.campaign:
        facets.append(f"campaign:{f.campaign[:FACET_VALUE]}")
        if len(f.campaign) > FACET_VALUE:
            w.add("(data -> 'touchpoints') @> %s::jsonb", [{"campaign": f.campaign}])
    if facets:
        w.add("profile_facets(data, stage) @> %s::text[]", facets)
    if f.seen_days:
        w.add("last_seen >= %s", (now or datetime.now(UTC)) - timedelta(days=f.seen_days))
    if f.score_min is not None:
        w.add("score >= %s", f.score_min)
    if f.score_max is not None:
        w.add("score <= %s", f.score_max)
    return w


async def find(pool: asyncpg.Pool, q: str) -> str | None:
    """The live profile an email, userId, anonymousId or profile id names (merges followed,
    as the API's lookups: ``data.resolve``)."""
    q = q.strip()
    for kind in ("email",) if "@" in q else ("anonymousId", "userId", "id"):
        pid = await data.resolve(pool, kind, q)
        if pid:
            return pid
    return None


# For a filter on facets sorted by recency, the page is looked for among the profiles seen
# in the last day first, then the last week, month, year, and only then all of them: the
# planner would otherwise walk the recency index testing each profile's facets, which is
# fast when matches are spread evenly and slow when they are not (a campaign whose visitors
# all came weeks ago: 33,333 profiles tested to fill a page, 630 ms at 1M profiles).
WINDOWS = (timedelta(days=1), timedelta(days=7), timedelta(days=30), timedelta(days=365), None)
WINDOWED = {"last_seen": "last_seen", "first_seen": "first_seen"}
COLUMNS = (
    "id, email, stage, score, first_seen, last_seen, data -> 'segments' AS segments, "
    "data #>> '{traits,role,value}' AS role, data #>> '{traits,industry,value}' AS industry, "
    "data #>> '{traits,company,value}' AS company, (data -> 'touchpoints' -> -1) AS last_touch"
)


async def profiles(pool: asyncpg.Pool, f: ProfileFilter) -> tuple[list[dict[str, Any]], int, bool]:
    """One page of the list, the number matching (exact up to COUNT_CAP, else the planner's
    estimate, or COUNT_CAP + 1 when even that is lower) and whether there are more."""
    w = profile_where(f)
    offset = (max(1, f.page) - 1) * PAGE
    count_sql = f"SELECT count(*) FROM (SELECT 1 FROM profiles WHERE {w.sql()} LIMIT {COUNT_CAP + 1}) capped"
    # the page and the count at once, on two connections: a narrow filter costs both a scan
    async with pool.acquire() as a, pool.acquire() as b:
        rows, total = await asyncio.gather(_page(a, f, w, offset), b.fetchval(count_sql, *w.args))
    if total > COUNT_CAP:
        plan = _json(await pool.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM profiles WHERE {w.sql()}", *w.args))
        total = max(int(plan[0]["Plan"]["Plan Rows"]), COUNT_CAP + 1)
    items = [_row(r) for r in rows[:PAGE]]
    return items, int(total), len(rows) > PAGE


async def _page(conn: asyncpg.Connection, f: ProfileFilter, w: Where, offset: int) -> list[asyncpg.Record]:
    order = SORTS.get(f.sort, SORTS["last_seen"])
    column = WINDOWED.get(f.sort)
    if column is None or not any("profile_facets" in c for c in w.clauses):
        sql = f"SELECT {COLUMNS} FROM profiles WHERE {w.sql()} ORDER BY {order} LIMIT {PAGE + 1} OFFSET {offset}"
        return await conn.fetch(sql, *w.args)
    now = datetime.now(UTC)
    for window in WINDOWS:
        ww = Where(list(w.clauses), list(w.args))
        if window is not None:
            ww.add(f"{column} >= %s", now - window)
        # "+ interval '0'": sorted after the lookup, never by walking the recency index
        sql = (
            f"SELECT {COLUMNS} FROM profiles WHERE {ww.sql()} "
            f"ORDER BY {column} + interval '0' DESC NULLS LAST, id LIMIT {PAGE + 1} OFFSET {offset}"
        )
        rows = await conn.fetch(sql, *ww.args)
        if len(rows) > PAGE or window is None:
            return rows
    raise AssertionError("unreachable: the last window has no bound")


def _json(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, (str, bytes)) else v


def _row(r: asyncpg.Record) -> dict[str, Any]:
    touch = _json(r["last_touch"]) or {}
    return {
        "id": r["id"],
        "email": r["email"],
        "stage": r["stage"],
        "score": r["score"],
        "firstSeen": r["first_seen"],
        "lastSeen": r["last_seen"],
        "segments": _json(r["segments"]) or [],
        "role": r["role"],
        "industry": r["industry"],
        "company": r["company"],
        "campaign": touch.get("campaign"),
        "channel": touch.get("channel"),
    }


async def choices(pool: asyncpg.Pool) -> dict[str, list[str]]:
    """What the filters offer: defined segments, campaigns seen, persona traits rules give."""
    segs = [r["id"] for r in await pool.fetch("SELECT id FROM segments ORDER BY id")]
    camps = [
        r["campaign"]
        for r in await pool.fetch(
            "SELECT campaign FROM campaign_stats WHERE campaign <> '' AND day >= current_date - 90 "
            "GROUP BY campaign ORDER BY sum(visitors) DESC LIMIT 100"
        )
    ]
    return {"segments": segs, "campaigns": camps, "stages": list(STAGES)}


async def overview(pool: asyncpg.Pool, since: datetime) -> dict[str, Any]:
    """The period's figures, from counts kept as the data changes (a few rows per day or
    hour whatever the volume): events from the daily rollup (whole UTC days from the
    period's first day), visitors and known visitors from the hourly one (live profiles
    last seen since the period's first hour: cdp_common.activity)."""
    row = await pool.fetchrow(
        """
        SELECT
          (SELECT coalesce(sum(events), 0)::bigint FROM campaign_stats WHERE day >= $1::timestamptz::date) AS events,
          seen.visitors, seen.known,
          (SELECT count(*) FROM leads WHERE qualified_at >= $1) AS leads,
          (SELECT max(last_seen) FROM profiles) AS last_event
        FROM (SELECT coalesce(sum(visitors), 0)::bigint AS visitors, coalesce(sum(known), 0)::bigint AS known
              FROM visitor_hours WHERE hour >= $2) seen
        """,
        since,
        since.astimezone(UTC).replace(minute=0, second=0, microsecond=0),
    )
    deliveries = {
        (r["destination"], r["status"]): r["n"]
        for r in await pool.fetch(
            "SELECT destination, status, count(*) AS n FROM lead_deliveries WHERE updated_at >= $1 "
            "GROUP BY destination, status",
            since,
        )
    }
    queued = {
        r["destination"]: r["n"]
        for r in await pool.fetch("SELECT destination, count(*) AS n FROM delivery_queue GROUP BY destination")
    }
    destinations = sorted({d for d, _ in deliveries} | set(queued))
    return {
        "events": row["events"],
        "visitors": row["visitors"],
        "known": row["known"],
        "leads": row["leads"],
        "lastEvent": row["last_event"],
        "deliveries": [
            {
                "destination": d,
                "delivered": deliveries.get((d, "delivered"), 0),
                "failed": deliveries.get((d, "failed"), 0),
                "queued": queued.get(d, 0),
            }
            for d in destinations
        ],
    }


async def leads(pool: asyncpg.Pool, status: str = "", limit: int = 100) -> list[dict[str, Any]]:
    """The newest qualified leads, each with where it stands at every destination: the
    final state (delivered, failed with the destination's reason, superseded) or still in
    the queue (retrying, with the last error)."""
    rows = await pool.fetch(
        "SELECT profile_id, email, version, qualified_by, qualified_at FROM leads ORDER BY qualified_at DESC LIMIT $1",
        limit,
    )
    ids = [r["profile_id"] for r in rows]
    final = await pool.fetch(
        "SELECT DISTINCT ON (profile_id, destination) profile_id, destination, status, version, attempts, "
        "last_error, updated_at, lead_event_id FROM lead_deliveries WHERE profile_id = ANY($1::text[]) "
        "ORDER BY profile_id, destination, version DESC, updated_at DESC",
        ids,
    )
    queued = await pool.fetch(
        "SELECT DISTINCT ON (profile_id, destination) profile_id, destination, version, attempts, last_error, "
        "next_at FROM delivery_queue WHERE profile_id = ANY($1::text[]) ORDER BY profile_id, destination, version DESC",
        ids,
    )
    per: dict[str, dict[str, dict[str, Any]]] = {pid: {} for pid in ids}
    for d in final:
        per[d["profile_id"]][d["destination"]] = {
            "status": d["status"],
            "version": d["version"],
            "attempts": d["attempts"],
            "error": d["last_error"],
            "at": d["updated_at"],
            "leadEventId": d["lead_event_id"],
        }
    for q in queued:
        have = per[q["profile_id"]].get(q["destination"])
        if have is None or have["version"] <= q["version"]:
            per[q["profile_id"]][q["destination"]] = {
                "status": "retrying" if q["attempts"] else "queued",
                "version": q["version"],
                "attempts": q["attempts"],
                "error": q["last_error"],
                "at": q["next_at"],
                "leadEventId": None,
            }
    out = [
        {
            "profileId": r["profile_id"],
            "email": r["email"],
            "version": r["version"],
            "qualifiedBy": r["qualified_by"],
            "qualifiedAt": r["qualified_at"],
            "deliveries": dict(sorted(per[r["profile_id"]].items())),
        }
        for r in rows
    ]
    if status:
        out = [x for x in out if any(d["status"] == status for d in x["deliveries"].values())]
    return out


async def segments(pool: asyncpg.Pool, redis: Any, keys: Any) -> list[dict[str, Any]]:
    """Defined segments with their live size (the segmenter's hot member sets)."""
    rows = await pool.fetch("SELECT id, name, description, condition, updated_at FROM segments ORDER BY id")
    out = []
    for r in rows:
        size = await redis.scard(keys.segment(r["id"]))
        out.append(
            {
                "id": r["id"],
                "name": r["name"],
                "description": r["description"],
                "condition": _json(r["condition"]),
                "size": int(size),
                "updatedAt": r["updated_at"],
            }
        )
    return out


async def segment_history(pool: asyncpg.Pool, sid: str, days: int = 30) -> dict[str, list[Any]]:
    """A segment's size per hour over the last ``days`` (the segmenter records it:
    segment_sizes), as a chart's labels and values."""
    rows = await pool.fetch(
        "SELECT hour, size FROM segment_sizes WHERE segment_id = $1 AND hour >= now() - make_interval(days => $2) "
        "ORDER BY hour",
        sid,
        days,
    )
    return {
        "labels": [r["hour"].astimezone(UTC).strftime("%Y-%m-%d %H:00") for r in rows],
        "sizes": [int(r["size"]) for r in rows],
    }


PREVIEW_SCAN = 20_000


async def preview(pool: asyncpg.Pool, condition: dict[str, Any], scan: int = PREVIEW_SCAN) -> dict[str, Any]:
    """How many profiles a condition matches before it is saved: evaluated on the most
    recently seen ``scan`` live profiles (the segmenter's own evaluation, in Python); with
    more profiles than that, an estimate for all of them from the share that matched."""
    from cdp_common.definitions.conditions import evaluate

    total = int(await pool.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NULL AND data IS NOT NULL"))
    now = datetime.now(UTC).timestamp()
    matched = scanned = unreadable = 0
    examples: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        async for r in conn.cursor(
            "SELECT id, email, data FROM profiles WHERE merged_into IS NULL AND data IS NOT NULL "
            "ORDER BY last_seen DESC NULLS LAST LIMIT $1",
            scan,
        ):
            scanned += 1
            try:
                hit = evaluate(condition, _json(r["data"]), now)
            except (KeyError, TypeError, ValueError):  # a document the condition cannot read
                unreadable += 1
                continue
            if hit:
                matched += 1
                if len(examples) < 10:
                    examples.append(r["email"] or r["id"])
    estimate = round(matched * total / scanned) if scanned and total > scanned else matched
    return {
        "matched": matched,
        "scanned": scanned,
        "total": total,
        "estimate": estimate,
        "unreadable": unreadable,
        "examples": examples,
    }
