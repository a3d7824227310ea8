"""Console benchmark (run by `make bench`).

The segmenter (aiokafka runner) first applies a realistic mix of enriched hits (default
1,000,000 over 100,000 visitors, bench/segmenter.py's generator) into an empty Postgres
schema with the demo definitions, which fills the campaign rollups and the Redis read
model. Then a console process on that data is measured:
- the campaign report (`GET /v1/reports/campaigns`, by campaign and by channel, 30 days):
  latency over 200 sequential requests;
- personalization (`GET /v1/personalize` for known visitors with one slot): wrk with 16
  connections for 10 s (requests/s, client p50/p99) and the server's own histogram.
Results: bench/results/<date>-console.json and the console table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.collector import WRK_DIR, machine_facts, publish
from bench.enricher import create_topics, delete_topics
from bench.segmenter import (
    BIN,
    REDIS_BASE,
    REDIS_DB,
    ROOT,
    _buckets,
    _percentile,
    drop_schema,
    fill,
    fresh_schema,
    make_hits,
    spawn,
    stop,
    throughput,
)

PORT = 18190


def _cdp(dsn: str, *args: str) -> str:
    return subprocess.run(
        [BIN / "cdp", *args], env={**os.environ, "CDP_PG_DSN": dsn}, check=True, capture_output=True, text=True
    ).stdout.strip()


async def run(events: int, visitors: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    topic = f"cdp.bench.console.{tag}"
    await create_topics(topic, f"{topic}.changes", f"{topic}.leads", f"{topic}.rejected")
    dsn = await fresh_schema(tag)
    console = None
    try:
        hits = make_hits(events, visitors)
        n = len(hits)
        await fill(topic, hits)
        del hits
        seg = spawn("confluent", dsn, topic, f"bench-console-{tag}", 19500)
        try:
            applied = await throughput([seg], [19500], n)
        finally:
            stop(seg)
        print(f"segmenter applied {n:,} events at {applied['per_s']:,.0f}/s", flush=True)
        token = _cdp(dsn, "tokens", "create", "--name", "bench", "--scope", "admin")
        console = subprocess.Popen(
            [BIN / "cdp-console"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={
                **os.environ,
                "CDP_PG_DSN": dsn,
                "CDP_REDIS_URL": f"{REDIS_BASE}/{REDIS_DB}",
                "CDP_CONSOLE_PORT": str(PORT),
                "CDP_CONSOLE_REFRESH_S": "5",
                # one load generator is one client: lift the per-client limit to measure the path
                "CDP_CONSOLE_PERSONALIZE_RATE": "1000000",
                "CDP_CONSOLE_PERSONALIZE_BURST": "1000000",
            },
        )
        url = f"http://127.0.0.1:{PORT}"
        auth = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as c:
            for _ in range(100):
                try:
                    if (await c.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            key = (await c.post("/v1/sources", json={"name": f"bench-{tag}"})).json()["writeKey"]
            await c.put(
                "/v1/personalization/slots/hero",
                json={
                    "rules": [
                        {"when": {"segment": "automotive-ceos"}, "variant": "fleet-roi"},
                        {"when": {"trait": {"name": "role", "value": "CFO"}}, "variant": "finance"},
                    ],
                    "default": "generic",
                },
            )
            reports = {}
            for by in ("campaign", "channel"):
                times, server = [], []
                for _ in range(200):
                    t0 = time.perf_counter()
                    r = await c.get("/v1/reports/campaigns", params={"by": by, "since": "2000-01-01"})
                    times.append((time.perf_counter() - t0) * 1000)
                    server.append(r.json()["tookMs"])
                rows = r.json()["rows"]
                times.sort()
                reports[by] = {
                    "rows": len(rows),
                    "visitors": sum(x["visitors"] for x in rows),
                    "p50_ms": round(statistics.median(times), 2),
                    "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
                    "server_p50_ms": round(statistics.median(server), 2),
                }
                print(f"report by {by}: p50 {reports[by]['p50_ms']} ms", flush=True)
        redis = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
        aids = [k.decode().split("aid:", 1)[1] async for k in redis.scan_iter(match="cdp:aid:*", count=1000)][:5000]
        await redis.aclose()
        await asyncio.sleep(5.5)  # the console's refresh picks up the source and slot
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(aids))

        def load(rate: float) -> dict[str, Any]:
            before = scrape_console(url)
            out = subprocess.run(
                ["wrk", "-t1", "-c16", "-d10s", "--timeout", "10s", "-s", str(WRK_DIR / "personalize.lua"), url],
                env={
                    **os.environ,
                    "CDP_BENCH_DIR": str(WRK_DIR),
                    "CDP_BENCH_AIDS_FILE": f.name,
                    "CDP_BENCH_KEY": key,
                    "CDP_BENCH_SLOT": "hero",
                    "CDP_BENCH_CONNS": "16",
                    "CDP_BENCH_RATE": str(rate),
                },
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            w = json.loads(next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON ")).removeprefix("WRK_JSON "))
            b = _buckets(scrape_console(url), before, "cdp_console_personalize_seconds")
            return {
                "rps": round(w["requests"] / (w["duration_us"] / 1e6), 1),
                "non2xx": w["non2xx"],
                "client_p50_ms": round(w["p50_us"] / 1000, 2),
                "client_p99_ms": round(w["p99_us"] / 1000, 2),
                "server_p50_ms": round(_percentile(b, 0.5) * 1000, 2),
                "server_p99_ms": round(_percentile(b, 0.99) * 1000, 2),
                "visitors": len(aids),
            }

        personalize = load(0)  # as fast as it goes
        personalize["paced"] = load(round(personalize["rps"] / 4))  # a quarter of that, paced
        print(f"personalize: {personalize}", flush=True)
    finally:
        if console:
            console.terminate()
            console.wait(20)
        await drop_schema(tag)
        await delete_topics(topic, f"{topic}.changes", f"{topic}.leads", f"{topic}.rejected")
    return {
        "machine": machine_facts(),
        "events": n,
        "visitors": visitors,
        "segmenter": applied,
        "reports": reports,
        "personalize": personalize,
    }


def scrape_console(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Console on the data of {r['events']:,} events over {r['visitors']:,} visitors (`make bench`; same 2 cores):",
        "",
        "| measurement | figure |",
        "|---|---|",
    ]
    for by, x in r["reports"].items():
        lines.append(
            f"| campaign report by {by} ({x['rows']} rows, {x['visitors']:,} visitors), 200 sequential requests | "
            f"p50 {x['p50_ms']} ms, p99 {x['p99_ms']} ms (query {x['server_p50_ms']} ms) |"
        )
    p = r["personalize"]
    lines.append(
        f"| personalization, wrk 16 connections 10 s over {p['visitors']:,} known visitors | {p['rps']:,.0f} req/s, "
        f"client p50 {p['client_p50_ms']} ms / p99 {p['client_p99_ms']} ms, non-2xx {p['non2xx']} |"
    )
    lines.append(
        f"| personalization at the server (cdp_console_personalize_seconds) | p50 {p['server_p50_ms']} ms, p99 {p['server_p99_ms']} ms |"
    )
    q = p["paced"]
    lines.append(
        f"| personalization paced at a quarter of that ({q['rps']:,.0f} req/s) | client p50 {q['client_p50_ms']} ms / "
        f"p99 {q['client_p99_ms']} ms; server p50 {q['server_p50_ms']} ms / p99 {q['server_p99_ms']} ms |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--visitors", type=int, default=100_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.visitors))
    publish("console", result, table(result))


if __name__ == "__main__":
    main()
