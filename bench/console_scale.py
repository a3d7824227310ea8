"""Console pages at scale (run by `make bench`): 1,000,000 profiles and the campaign rollups
of 10,000,000 events, loaded straight into an empty schema with SQL (the segmenter would
take most of an hour to apply 10M events on two cores; the pages read only what it writes:
the profile rows and ``campaign_stats``). Then a console on that data, signed in as a
marketer, is timed on the pages they use most: the profile list unfiltered, by segment,
by persona and campaign (the seed's automotive CEOs from LinkedIn), sorted by score, deep
in the pages; the campaign report over 30 and 180 days; the overview.
Results: bench/results/<date>-console-scale.json and the table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.collector import machine_facts, publish
from bench.segmenter import BIN, REDIS_BASE, REDIS_DB, ROOT, drop_schema, fresh_schema

PORT = 18191

# One synthetic profile per row, shaped as the segmenter writes them (the parts the list
# reads and filters on): a persona from a campaign rule for the ad audiences, segments,
# touchpoints, a third known by email, a few percent leads.
PROFILES_SQL = """
INSERT INTO profiles (id, data, email, stage, score, first_seen, last_seen)
SELECT
  'p' || i,
  jsonb_build_object(
    'id', 'p' || i,
    'segments', CASE
      WHEN i % 20 = 0 THEN '["automotive-ceos", "engaged"]'::jsonb
      WHEN i % 7 = 0 THEN '["engaged"]'::jsonb
      WHEN i % 11 = 0 THEN '["pricing-interest"]'::jsonb
      ELSE '[]'::jsonb END,
    'traits', CASE
      WHEN i % 20 = 0 THEN jsonb_build_object(
        'role', jsonb_build_object('value', 'CEO', 'source', 'implicit', 'ruleId', 'linkedin-ceo-automotive'),
        'industry', jsonb_build_object('value', 'automotive', 'source', 'implicit', 'ruleId', 'linkedin-ceo-automotive'))
      WHEN i % 20 = 1 THEN jsonb_build_object(
        'role', jsonb_build_object('value', 'CFO', 'source', 'implicit', 'ruleId', 'linkedin-cfo-finance'),
        'industry', jsonb_build_object('value', 'finance', 'source', 'implicit', 'ruleId', 'linkedin-cfo-finance'))
      ELSE '{}'::jsonb END
      || CASE WHEN i % 3 = 0 THEN jsonb_build_object(
        'email', jsonb_build_object('value', 'v' || i || '@example.org', 'source', 'explicit'),
        'company', jsonb_build_object('value', 'Company ' || (i % 5000), 'source', 'explicit'))
         ELSE '{}'::jsonb END,
    'touchpoints', jsonb_build_array(jsonb_build_object(
      'at', extract(epoch FROM now()) - (i % 90) * 86400,
      'channel', CASE WHEN i % 20 IN (0, 1) THEN 'Paid Social' WHEN i % 5 = 2 THEN 'Paid Search' ELSE 'Direct' END,
      'source', CASE WHEN i % 20 IN (0, 1) THEN 'linkedin' WHEN i % 5 = 2 THEN 'google' ELSE NULL END,
      'medium', CASE WHEN i % 20 IN (0, 1) THEN 'paid_social' WHEN i % 5 = 2 THEN 'cpc' ELSE NULL END,
      'campaign', CASE WHEN i % 20 = 0 THEN 'ceo-automotive-q4' WHEN i % 20 = 1 THEN 'cfo-finance-q4'
                       WHEN i % 5 = 2 THEN 'fleet-calculator' ELSE NULL END))
  ),
  CASE WHEN i % 3 = 0 THEN 'v' || i || '@example.org' END,
  CASE WHEN i % 3 = 0 AND i % 40 = 0 THEN 'mql' WHEN i % 3 = 0 THEN 'known' ELSE 'anonymous' END,
  (i::bigint * 7919) % 100,
  now() - ((i % 90) || ' days')::interval - ((i % 1440) || ' minutes')::interval,
  now() - ((i % 60) || ' days')::interval - ((i % 1440) || ' minutes')::interval
FROM generate_series($1::int, $2::int) AS i
"""

# the hourly visitor counts the segmenter keeps as it writes profiles (cdp_common.activity)
VISITOR_HOURS_SQL = """
INSERT INTO visitor_hours (hour, visitors, known)
SELECT date_trunc('hour', last_seen AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*), count(email)
FROM profiles WHERE merged_into IS NULL AND data IS NOT NULL AND last_seen IS NOT NULL GROUP BY 1
"""

# 10,000,000 events' worth of rollups: 60 campaigns x 3 contents x 365 days
STATS_SQL = """
INSERT INTO campaign_stats (day, channel, source, medium, campaign, content, visitors, sessions, engaged,
                            conversions, leads, personas, events)
SELECT current_date - d, 'Paid Social', 'src' || (c % 6), 'medium' || (c % 3), 'campaign-' || c, 'content-' || k,
       v, v + v / 3, v / 3, v / 20, v / 40, v / 10, $1::bigint / (365 * 60 * 3)
FROM generate_series(0, 364) d, generate_series(1, 60) c, generate_series(1, 3) k,
     LATERAL (SELECT ($1::bigint / (365 * 60 * 3 * 2))::bigint AS v) per
"""

PAGES = {
    "profile list, no filter": "/ui/profiles",
    "profile list, by segment": "/ui/profiles?segment=automotive-ceos",
    "profile list, automotive CEOs from the LinkedIn campaign who are leads": (
        "/ui/profiles?trait=role%3DCEO&trait2=industry%3Dautomotive&campaign=ceo-automotive-q4&stage=mql"
    ),
    "profile list, engaged and known (broad)": "/ui/profiles?segment=engaged&stage=known",
    "profile list, search-ads campaign seen in the last 7 days (none of the most recent)": (
        "/ui/profiles?campaign=fleet-calculator&seen_days=7"
    ),
    "profile list, sorted by score": "/ui/profiles?sort=score",
    "profile list, page 40": "/ui/profiles?page=40",
    "campaign report, 30 days by campaign": "/ui/campaigns?by=campaign",
    "campaign report, 180 days by content": "/ui/campaigns?by=content&since={since180}",
    "overview, 7 days": "/ui?days=7",
    "overview, 30 days": "/ui?days=30",
}


async def load(dsn: str, profiles: int, events: int) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    took = {}
    try:
        t0 = time.perf_counter()
        step = 100_000
        for start in range(1, profiles + 1, step):
            await conn.execute(PROFILES_SQL, start, min(profiles, start + step - 1))
        await conn.execute(VISITOR_HOURS_SQL)
        took["profiles_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        await conn.execute(STATS_SQL, events)
        took["rollups_s"] = round(time.perf_counter() - t0, 1)
        await conn.execute("ANALYZE")
        took["rollup_rows"] = await conn.fetchval("SELECT count(*) FROM campaign_stats")
        took["sessions_in_rollups"] = int(await conn.fetchval("SELECT sum(sessions) FROM campaign_stats"))
        took["events_in_rollups"] = int(await conn.fetchval("SELECT sum(events) FROM campaign_stats"))
    finally:
        await conn.close()
    return took


def measure(url: str, token: str, requests: int) -> dict[str, dict[str, Any]]:
    """Sign in as a marketer would, then time each page (sequential requests)."""
    with httpx.Client(base_url=url, timeout=60) as c:
        for _ in range(150):
            try:
                if c.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert c.post("/ui/login", data={"token": token}).status_code == 303
        since180 = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 180 * 86400))
        pages = {}
        for name, path in PAGES.items():
            pages[name] = _time(c, path.format(since180=since180), requests)
            print(f"{name}: {pages[name]}", flush=True)
        return pages


def _time(c: httpx.Client, path: str, n: int) -> dict[str, Any]:
    c.get(path)  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(n * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


async def run(profiles: int, events: int, requests: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    dsn = await fresh_schema(tag)
    console = None
    try:
        loaded = await load(dsn, profiles, events)
        print(f"loaded {profiles:,} profiles and rollups of {events:,} events: {loaded}", flush=True)
        env = {**os.environ, "CDP_PG_DSN": dsn, "CDP_REDIS_URL": f"{REDIS_BASE}/{REDIS_DB}"}
        token = subprocess.run(
            [BIN / "cdp", "tokens", "create", "--name", "bench", "--scope", "read"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        console = subprocess.Popen(
            [BIN / "cdp-console"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**env, "CDP_CONSOLE_PORT": str(PORT)},
        )
        pages = await asyncio.to_thread(measure, f"http://127.0.0.1:{PORT}", token, requests)
    finally:
        if console:
            console.terminate()
            console.wait(20)
        await drop_schema(tag)
    return {
        "machine": machine_facts(),
        "profiles": profiles,
        "events": events,
        "loaded": loaded,
        "requests": requests,
        "pages": pages,
    }


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Console pages over {r['profiles']:,} profiles and the rollups of {r['events']:,} events "
        f"({r['loaded']['rollup_rows']:,} rollup rows), {r['requests']} sequential requests each, signed in "
        "(`python bench/console_scale.py`; same 2 cores):",
        "",
        "| page | p50 | p95 | max |",
        "|---|---|---|---|",
    ]
    for name, x in r["pages"].items():
        lines.append(f"| {name} | {x['p50_ms']} ms | {x['p95_ms']} ms | {x['max_ms']} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(run(args.profiles, args.events, args.requests))
    publish("console-scale", result, table(result))


if __name__ == "__main__":
    main()
