"""Segmenter benchmark (run by `make bench`).

A realistic mix of enriched hits (default 1,000,000 over 100,000 visitors): 1-3 sessions
each over a month, page views with scroll depth, videos, the benefit calculator, 4% who
fill in the contact form and identify (a quarter of them again from a second device),
LinkedIn/Google/newsletter/organic/direct arrivals with the enricher's trait hints. Hits
are ordered by time across visitors and keyed by anonymousId, as the enricher writes them.

Each run gets an empty Postgres schema (same server, ``search_path``) with the demo
definitions and an empty Redis database, so runs do not see each other or your data.
Measured: events/s from the first applied record to the last, for one process per runner
and for two processes, next to a raw aiokafka consume passthrough of the same topic; p50/p99
from the enriched record's Kafka timestamp to its profile in Redis at half the measured
rate; Redis and Postgres bytes per profile.
Results: bench/results/<date>-segmenter.json and the segmenter table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.collector import ROOT, machine_facts, publish
from bench.enricher import create_topics, delete_topics
from bench.runners import RUNNERS, runner_env

BOOTSTRAP = os.environ.get("CDP_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
PG = os.environ.get("CDP_PG_DSN", "postgresql://cdp:cdp@127.0.0.1:5432/cdp")
REDIS_BASE = os.environ.get("CDP_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
REDIS_DB = 14  # the bench's own database, flushed before each run
BIN = ROOT / ".venv" / "bin"

DEVICES = [
    ({"type": "desktop", "os": "Windows", "browser": "Chrome"}, 0.45),
    ({"type": "desktop", "os": "Mac OS X", "browser": "Safari"}, 0.15),
    ({"type": "mobile", "os": "iOS", "browser": "Mobile Safari"}, 0.25),
    ({"type": "mobile", "os": "Android", "browser": "Chrome Mobile"}, 0.15),
]
ARRIVALS = [  # (weight, channel, campaign, click network, trait hints)
    (
        0.10,
        "Paid Social",
        ("linkedin", "paid_social", "ceo-automotive-q4"),
        "LinkedIn",
        [("role", "CEO", "linkedin-ceo-automotive"), ("industry", "automotive", "linkedin-ceo-automotive")],
    ),
    (
        0.05,
        "Paid Social",
        ("linkedin", "paid_social", "cfo-finance-q4"),
        "LinkedIn",
        [("role", "CFO", "linkedin-cfo-finance"), ("industry", "finance", "linkedin-cfo-finance")],
    ),
    (
        0.10,
        "Paid Search",
        ("google", "cpc", "fleet-calculator"),
        "Google",
        [("intent", "roi-calculator", "google-calculator-intent")],
    ),
    (0.10, "Email", ("newsletter", "email", "november-digest"), None, []),
    (0.25, "Organic Search", (None, None, None), None, []),
    (0.40, "Direct", (None, None, None), None, []),
]
PAGES = [
    "/",
    "/case-studies/automotive",
    "/case-studies/logistics",
    "/pricing",
    "/blog/ev-fleets",
    "/blog/tco",
    "/benefit-calculator",
    "/about",
    "/docs/api",
    "/contact",
]


def _pick(rng: random.Random, weighted: list[Any]) -> Any:
    r, acc = rng.random(), 0.0
    for item in weighted:
        acc += item[0] if isinstance(item[0], float) else item[1]
        if r < acc:
            return item
    return weighted[-1]


def _hit(aid: str, t: float, event: dict[str, Any], device: dict[str, Any], arrival: Any, landing: bool) -> bytes:
    _, channel, (src, med, camp), network, hints = arrival
    ts = datetime.fromtimestamp(t, UTC).isoformat()
    en: dict[str, Any] = {
        "campaign": {"source": src, "medium": med, "campaign": camp} if (landing and src) else {},
        "click": {"id": uuid.uuid4().hex[:12], "network": network} if (landing and network) else None,
        "channel": channel if landing else "Internal",
        "referrer": {},
        "device": device,
        "bot": {"isBot": False},
        "geo": {"country": "NL", "ip": "81.2.69.0"},
        "traits": [{"name": n, "value": v, "ruleId": r} for n, v, r in hints] if landing else [],
    }
    ev = {"anonymousId": aid, "messageId": str(uuid.uuid4()), "timestamp": ts, **event}
    return orjson.dumps({"event": ev, "receivedAt": ts, "sourceId": "src_bench", "timestamp": ts, "enrichment": en})


def visitor(rng: random.Random, i: int, budget: int, start: float) -> list[tuple[float, bytes, bytes]]:
    """One visitor's hits (time, key, value); ``budget`` hits, give or take the form."""
    aid = f"v{i}-{uuid.uuid4().hex[:8]}"
    device = _pick(rng, DEVICES)[0]
    out: list[tuple[float, bytes, bytes]] = []
    t = start + rng.random() * 30 * 86_400
    sessions = 1 + (budget > 6) + (budget > 14)
    per = max(1, budget // sessions)
    identify = rng.random() < 0.04
    email = f"visitor{i}@example{rng.randrange(500)}.com"
    for _ in range(sessions):
        arrival = _pick(rng, ARRIVALS)
        for k in range(per):
            t += 20 + rng.random() * 100
            path = PAGES[rng.randrange(len(PAGES))] if k else PAGES[rng.randrange(3)]
            r = rng.random()
            if k == 0 or r < 0.55:
                ev: dict[str, Any] = {"type": "page", "properties": {"path": path}, "context": {"page": {"path": path}}}
            elif r < 0.80:
                ev = {
                    "type": "track",
                    "event": "Scroll Depth",
                    "properties": {"percent": rng.choice([25, 50, 75, 90, 100]), "path": path},
                }
            elif r < 0.88:
                ev = {
                    "type": "track",
                    "event": rng.choice(["Video Started", "Video Completed"]),
                    "properties": {"title": "Fleet savings"},
                }
            elif r < 0.93:
                ev = {
                    "type": "track",
                    "event": "Form Submitted",
                    "properties": {"form": "benefit-calculator", "values": {"vehicles": rng.randrange(5, 500)}},
                }
            else:
                ev = {"type": "track", "event": "CTA Clicked", "properties": {"label": "demo"}}
            out.append((t, aid.encode(), _hit(aid, t, ev, device, arrival, landing=k == 0)))
        t += 86_400 * (1 + rng.random() * 5)
    if identify:
        t += 60
        form = {
            "type": "track",
            "event": "Form Submitted",
            "properties": {"form": "contact", "values": {"email": email, "company": f"Co {i}"}},
        }
        out.append((t, aid.encode(), _hit(aid, t, form, device, ARRIVALS[-1], False)))
        out.append(
            (
                t + 1,
                aid.encode(),
                _hit(aid, t + 1, {"type": "identify", "traits": {"email": email}}, device, ARRIVALS[-1], False),
            )
        )
        if rng.random() < 0.25:  # the same person on a second device later
            aid2 = f"v{i}b-{uuid.uuid4().hex[:8]}"
            phone = DEVICES[2][0]
            t2 = t + 86_400
            out.append(
                (
                    t2,
                    aid2.encode(),
                    _hit(aid2, t2, {"type": "page", "properties": {"path": "/pricing"}}, phone, ARRIVALS[-1], True),
                )
            )
            out.append(
                (
                    t2 + 5,
                    aid2.encode(),
                    _hit(aid2, t2 + 5, {"type": "identify", "traits": {"email": email}}, phone, ARRIVALS[-1], False),
                )
            )
    return out


def make_hits(events: int, visitors: int, seed: int = 11) -> list[tuple[bytes, bytes]]:
    """About ``events`` hits over ``visitors`` visitors, ordered by event time."""
    rng = random.Random(seed)
    start = time.time() - 35 * 86_400
    mean = events / visitors
    streams = []
    total = 0
    for i in range(visitors):
        budget = max(1, min(int(rng.expovariate(1 / mean)) + 1, 200))
        v = visitor(rng, i, budget, start)
        total += len(v)
        streams.append(v)
    hits = [(k, val) for _, k, val in heapq.merge(*streams, key=lambda x: x[0])]
    # trim or top up to the asked size with more page views of existing visitors
    if len(hits) > events:
        hits = hits[:events]
    return hits


async def fill(topic: str, hits: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=10, max_batch_size=512 * 1024)
    await producer.start()
    t0 = time.monotonic()
    try:
        for key, value in hits:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    return time.monotonic() - t0


async def passthrough(topic: str, n: int) -> dict[str, float]:
    """A raw aiokafka consumer reading the same topic: the ceiling for any consumer here."""
    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=f"bench-pass-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
    )
    await c.start()
    try:
        got, t_first = 0, None
        while got < n:
            batches = await c.getmany(timeout_ms=500, max_records=5000)
            for rs in batches.values():
                if t_first is None:
                    t_first = time.monotonic()
                got += sum(1 for r in rs if r.value)
        secs = time.monotonic() - (t_first or time.monotonic())
        return {"records": got, "seconds": round(secs, 2), "per_s": round(got / secs, 1)}
    finally:
        await c.stop()


async def fresh_schema(tag: str) -> str:
    schema = f"bench_{tag}"
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    dsn = f"{PG}{'&' if '?' in PG else '?'}search_path={schema}"
    env = {**os.environ, "CDP_PG_DSN": dsn}
    for args in (["migrate"], ["segments", "apply", "-f", str(ROOT / "deploy/demo/segments.yaml")]):
        proc = await asyncio.create_subprocess_exec(BIN / "cdp", *args, env=env, stdout=subprocess.DEVNULL)
        if await proc.wait():
            raise RuntimeError(f"cdp {' '.join(args)} failed")
    redis = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
    await redis.flushdb()
    await redis.aclose()
    return dsn


async def drop_schema(tag: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS bench_{tag} CASCADE")
    finally:
        await conn.close()


def spawn(runner: str, dsn: str, topic: str, group: str, port: int, **extra: str) -> subprocess.Popen[bytes]:
    log = open(ROOT / ".data" / "logs" / "bench-segmenter.log", "ab")  # noqa: SIM115
    env = {
        **os.environ,
        "CDP_PG_DSN": dsn,
        "CDP_REDIS_URL": f"{REDIS_BASE}/{REDIS_DB}",
        **runner_env("CDP_SEGMENTER", runner),
        "CDP_SEGMENTER_INPUT_TOPIC": topic,
        "CDP_SEGMENTER_GROUP_ID": group,
        "CDP_SEGMENTER_METRICS_PORT": str(port),
        "CDP_SEGMENTER_CHANGES_TOPIC": f"{topic}.changes",
        "CDP_SEGMENTER_LEADS_TOPIC": f"{topic}.leads",
        "CDP_SEGMENTER_REJECTED_TOPIC": f"{topic}.rejected",
        **extra,
    }
    return subprocess.Popen([BIN / "cdp-segmenter"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def scrape(port: int) -> dict[str, float]:
    """Sum of every sample line by name + labels."""
    out: dict[str, float] = {}
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return out
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _records(m: dict[str, float]) -> float:
    return sum(v for k, v in m.items() if k.startswith("cdp_segmenter_records_total{"))


async def throughput(
    procs: list[subprocess.Popen[bytes]], ports: list[int], n: int, timeout_s: float = 1800
) -> dict[str, Any]:
    t_first = c_first = None
    deadline = time.monotonic() + timeout_s
    c = 0.0
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"segmenter exited with {p.returncode} (see .data/logs/bench-segmenter.log)")
        ms = [scrape(port) for port in ports]
        c = sum(_records(m) for m in ms)
        now = time.monotonic()
        if t_first is None and c > 0:
            t_first, c_first = now, c
        if c >= n and t_first is not None and c_first is not None:
            secs = now - t_first
            retries = sum(v for m in ms for k, v in m.items() if k.startswith("cdp_segmenter_batch_retries_total{"))
            return {
                "records": int(c),
                "seconds": round(secs, 1),
                "per_s": round((c - c_first) / secs, 1),
                "retries": retries,
            }
        await asyncio.sleep(0.25)
    raise TimeoutError(f"only {c} of {n} records after {timeout_s}s")


async def sizes(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        profiles = await conn.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NULL")
        merged = await conn.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NOT NULL")
        leads = await conn.fetchval("SELECT count(*) FROM leads")
        rel = {
            t: await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", t)
            for t in ("profiles", "identities", "leads", "processed_messages")
        }
    finally:
        await conn.close()
    redis = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
    info = await redis.info("memory")
    keys = await redis.dbsize()
    await redis.aclose()
    state = rel["profiles"] + rel["identities"] + rel["leads"]
    return {
        "profiles": profiles,
        "merged": merged,
        "leads": leads,
        "pg_bytes_per_profile": round(state / max(profiles, 1)),
        "pg_dedup_bytes_per_event": rel["processed_messages"],
        "redis_used_memory": info["used_memory"],
        "redis_keys": keys,
    }


async def one_run(runner: str, processes: int, topic: str, n: int, tag: str) -> dict[str, Any]:
    dsn = await fresh_schema(tag)
    redis = Redis.from_url(f"{REDIS_BASE}/{REDIS_DB}")
    base = (await redis.info("memory"))["used_memory"]
    await redis.aclose()
    ports = [19300 + i + (hash(tag) % 500) for i in range(processes)]
    group = f"bench-seg-{tag}"
    procs = [spawn(runner, dsn, topic, group, port) for port in ports]
    try:
        result = await throughput(procs, ports, n)
    finally:
        for p in procs:
            stop(p)
    s = await sizes(dsn)
    s["redis_bytes_per_profile"] = round((s["redis_used_memory"] - base) / max(s["profiles"], 1))
    s["pg_dedup_bytes_per_event"] = round(s["pg_dedup_bytes_per_event"] / n)
    await drop_schema(tag)
    return {"runner": runner, "processes": processes, **result, **s}


def _buckets(m: dict[str, float], before: dict[str, float], name: str) -> list[tuple[float, float]]:
    out = []
    for k, v in m.items():
        if k.startswith(f"{name}_bucket{{"):
            le = k.split('le="', 1)[1].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), v - before.get(k, 0.0)))
    return sorted(out)


def _percentile(buckets: list[tuple[float, float]], q: float) -> float:
    """From cumulative histogram buckets [(le, count)], linear inside the bucket."""
    total = buckets[-1][1]
    want = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= want:
            if le == float("inf"):
                return prev_le
            frac = (want - prev_c) / (c - prev_c) if c > prev_c else 0
            return prev_le + frac * (le - prev_le)
        prev_le, prev_c = le, c
    return prev_le


async def latency(runner: str, rate: float, seconds: int, visitors: int) -> dict[str, Any]:
    """Paced input at ``rate`` events/s; the segmenter's own histogram of enriched-record
    Kafka timestamp -> profile written to Redis."""
    tag = uuid.uuid4().hex[:6]
    topic = f"cdp.bench.seglat.{tag}"
    await create_topics(topic, f"{topic}.changes", f"{topic}.leads", f"{topic}.rejected")
    hits = make_hits(int(rate * seconds), max(100, int(rate * seconds / 10)), seed=23)
    dsn = await fresh_schema(tag)
    port = 19900
    proc = spawn(runner, dsn, topic, f"bench-seglat-{tag}", port, CDP_SEGMENTER_AUTO_OFFSET_RESET="latest")
    try:
        producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=1)
        await producer.start()
        # warm up until the group is assigned and applying
        while _records(scrape(port)) < 1:
            if proc.poll() is not None:
                raise RuntimeError("segmenter exited during warm-up")
            await producer.send_and_wait(
                topic,
                hits[0][1].replace(b'"messageId":"', b'"messageId":"w' + uuid.uuid4().hex[:6].encode(), 1),
                key=hits[0][0],
            )
            await asyncio.sleep(0.5)
        warm = scrape(port)
        t0 = time.monotonic()
        for i, (k, v) in enumerate(hits):
            await producer.send(topic, v, key=k)
            ahead = t0 + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        await producer.flush()
        await producer.stop()
        sent_s = time.monotonic() - t0
        while _records(scrape(port)) - _records(warm) < len(hits):  # noqa: ASYNC110 (polling another process)
            await asyncio.sleep(0.25)
        m = scrape(port)
    finally:
        stop(proc)
        await drop_schema(tag)
        await delete_topics(topic, f"{topic}.changes", f"{topic}.leads", f"{topic}.rejected")
    buckets = _buckets(m, warm, "cdp_segmenter_visible_seconds")
    batch = _buckets(m, warm, "cdp_segmenter_batch_seconds")
    n_batches = batch[-1][1]
    return {
        "batches": n_batches,
        "events_per_batch": round(len(hits) / max(n_batches, 1), 1),
        "batch_p50_ms": round(_percentile(batch, 0.50) * 1000, 1),
        "batch_p99_ms": round(_percentile(batch, 0.99) * 1000, 1),
        "runner": runner,
        "target_rate": round(rate),
        "achieved_rate": round(len(hits) / sent_s),
        "events": len(hits),
        "p50_ms": round(_percentile(buckets, 0.50) * 1000, 1),
        "p99_ms": round(_percentile(buckets, 0.99) * 1000, 1),
        "note": "from histogram buckets (5, 10, 20, 30, 50, 75, 100, 150 ms ...), linear inside a bucket",
    }


async def run(events: int, visitors: int, runners: list[str], two: str, latency_s: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    topic = f"cdp.bench.segin.{tag}"
    t0 = time.monotonic()
    hits = make_hits(events, visitors)
    gen_s = time.monotonic() - t0
    n = len(hits)
    await create_topics(topic, f"{topic}.changes", f"{topic}.leads", f"{topic}.rejected")
    try:
        fill_s = await fill(topic, hits)
        print(
            f"generated {n:,} hits over {visitors:,} visitors in {gen_s:.0f} s; produced in {fill_s:.0f} s", flush=True
        )
        del hits
        pt = await passthrough(topic, n)
        print(f"raw consume passthrough: {pt['per_s']:,.0f}/s", flush=True)
        runs = []
        for runner in runners:
            r = await one_run(runner, 1, topic, n, f"{tag}{runner[:2]}1")
            print(f"{runner} x1: {r['per_s']:,.0f}/s", flush=True)
            runs.append(r)
        if two:
            r = await one_run(two, 2, topic, n, f"{tag}{two[:2]}2")
            print(f"{two} x2: {r['per_s']:,.0f}/s", flush=True)
            runs.append(r)
    finally:
        await delete_topics(topic, f"{topic}.changes", f"{topic}.leads", f"{topic}.rejected")
    lat = []
    for runner in runners:
        single = next(r for r in runs if r["runner"] == runner and r["processes"] == 1)
        lat.append(await latency(runner, single["per_s"] / 2, latency_s, visitors))
        print(f"{runner} latency at half load: p50 {lat[-1]['p50_ms']} ms, p99 {lat[-1]['p99_ms']} ms", flush=True)
    return {
        "machine": machine_facts(),
        "at": datetime.now(UTC).isoformat(),
        "events": n,
        "visitors": visitors,
        "passthrough": pt,
        "runs": runs,
        "latency": lat,
    }


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Segmenter, {r['events']:,} enriched events over {r['visitors']:,} visitors "
        f"(`make bench`, {r['at'][:10]}; Kafka, Postgres and Redis on the same 2 cores):",
        "",
        "| run | events/s | seconds | profiles | leads | Redis bytes/profile | Postgres bytes/profile | retries |",
        "|---|---|---|---|---|---|---|---|",
        f"| raw aiokafka consume passthrough | {r['passthrough']['per_s']:,.0f} | {r['passthrough']['seconds']} | | | | | |",
    ]
    for x in r["runs"]:
        lines.append(
            f"| {x['runner']} runner, {x['processes']} process{'es' if x['processes'] > 1 else ''} | {x['per_s']:,.0f} | "
            f"{x['seconds']} | {x['profiles']:,} (+{x['merged']:,} merged) | {x['leads']:,} | {x['redis_bytes_per_profile']:,} | "
            f"{x['pg_bytes_per_profile']:,} (+{x['pg_dedup_bytes_per_event']} per event for the dedup window) | {x['retries']:.0f} |"
        )
    lines += ["", "| latency at half load | rate (events/s) | p50 | p99 |", "|---|---|---|---|"]
    for x in r["latency"]:
        lines.append(
            f"| {x['runner']} runner, enriched record -> profile in Redis | {x['achieved_rate']:,} | {x['p50_ms']} ms | {x['p99_ms']} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--runners", nargs="+", default=list(RUNNERS))
    parser.add_argument("--two", default="confluent", help="runner for the two-process run ('' to skip)")
    parser.add_argument("--latency-seconds", type=int, default=30)
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.visitors, args.runners, args.two, args.latency_seconds))
    publish("segmenter", result, table(result))


if __name__ == "__main__":
    main()
