"""Syncer benchmark (run by `make bench`).

Leads (default 20,000, one per profile, as the segmenter writes them) in a private topic,
delivered by a fresh syncer group to the sandbox (`cdp sandbox-ma`, no faults) over real
HTTP: HubSpot batch upsert with 100 leads per request, next to the same API with one lead
per request, and the webhook (one signed request per lead, 20 in flight), in the same run.
Rate limits are lifted for the measurement (the sandbox has none); leads/s counts from the
first delivered lead to the last. Each run gets its own Postgres schema.
Results: bench/results/<date>-syncer.json and the syncer table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.collector import ROOT, machine_facts, publish
from bench.enricher import create_topics, delete_topics
from bench.segmenter import BIN, BOOTSTRAP, PG

SANDBOX_PORT = 18090
SECRET = "whsec_c2FuZGJveC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5"


def leads(n: int, tag: str) -> list[bytes]:
    from cdp_common.records import QualifiedLead

    now = time.time()
    out = []
    for i in range(n):
        doc = {
            "schema": "cdp.lead/v1",
            "eventType": "lead.qualified",
            "eventId": f"{tag}-{i}-v1",
            "version": 1,
            "profileId": f"{tag}-{i}",
            "occurredAt": now,
            "qualifiedBy": "score",
            "lifecycleStage": "mql",
            "contact": {"email": f"lead{i}-{tag}@example.org", "firstName": "Ada", "company": f"Co {i}"},
            "traits": {
                "role": {"value": "CEO", "source": "implicit", "ruleId": "linkedin-ceo-automotive"},
                "industry": {"value": "automotive", "source": "implicit", "ruleId": "linkedin-ceo-automotive"},
            },
            "score": 70,
            "scoreBreakdown": [{"rule": "pricing-view", "points": 20}, {"rule": "video-completed", "points": 15}],
            "segments": ["automotive-ceos", "engaged"],
            "behaviour": {
                "pageViews": 9,
                "sessions": 3,
                "interactions": 12,
                "topPages": {"/pricing": 3, "/": 2},
                "calculators": [{"name": "benefit-calculator", "at": now, "values": {"vehicles": 120}}],
            },
            "firstTouch": {
                "at": now,
                "channel": "Paid Social",
                "source": "linkedin",
                "medium": "paid_social",
                "campaign": "ceo-automotive-q4",
            },
            "lastTouch": {"at": now, "channel": "Direct"},
            "firstSeen": now,
            "lastSeen": now,
        }
        out.append(orjson.dumps(QualifiedLead.model_validate(doc).model_dump(mode="json", by_alias=True)))
    return out


async def fill(topic: str, values: list[bytes]) -> None:
    p = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=10)
    await p.start()
    try:
        for v in values:
            await p.send(topic, v, key=orjson.loads(v)["profileId"].encode())
        await p.flush()
    finally:
        await p.stop()


async def fresh_schema(tag: str) -> str:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS bench_{tag} CASCADE; CREATE SCHEMA bench_{tag}")
    finally:
        await conn.close()
    dsn = f"{PG}{'&' if '?' in PG else '?'}search_path=bench_{tag}"
    proc = await asyncio.create_subprocess_exec(
        BIN / "cdp",
        "migrate",
        env={**os.environ, "CDP_PG_DSN": dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if await proc.wait():
        raise RuntimeError("cdp migrate failed")
    return dsn


async def drop_schema(tag: str) -> None:
    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS bench_{tag} CASCADE")
    finally:
        await conn.close()


def sandbox_count(system: str) -> int:
    return len(httpx.get(f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/contacts/{system}", timeout=30).json())


async def one_run(name: str, topic: str, n: int, destination: str, **env: str) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    dsn = await fresh_schema(tag)
    httpx.post(f"http://127.0.0.1:{SANDBOX_PORT}/_sandbox/reset", timeout=10)
    sandbox = f"http://127.0.0.1:{SANDBOX_PORT}"
    log = open(ROOT / ".data" / "logs" / "bench-syncer.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [BIN / "cdp-syncer"],
        env={
            **os.environ,
            "CDP_PG_DSN": dsn,
            "CDP_SYNC_DESTINATIONS": destination,
            "CDP_SYNC_INPUT_TOPIC": topic,
            "CDP_SYNC_GROUP_ID": f"bench-sync-{tag}",
            "CDP_SYNC_METRICS_PORT": "0",
            "CDP_SYNC_RATE_LIMITS": '{"hubspot": [100000, 1], "webhook": [100000, 1], "mautic": [100000, 1]}',
            "CDP_HUBSPOT_BASE_URL": sandbox,
            "CDP_HUBSPOT_TOKEN": "sandbox-hubspot-token",
            "CDP_WEBHOOK_URL": f"{sandbox}/webhook",
            "CDP_WEBHOOK_SECRET": SECRET,
            **env,
        },
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        t_first = c_first = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"syncer exited with {proc.returncode} (.data/logs/bench-syncer.log)")
            c = sandbox_count(destination)
            now = time.monotonic()
            if t_first is None and c > 0:
                t_first, c_first = now, c
            if c >= n and t_first is not None and c_first is not None:
                secs = now - t_first
                stats = httpx.get(f"{sandbox}/_sandbox/stats", timeout=10).json()["requests"].get(destination, {})
                return {
                    "name": name,
                    "leads": n,
                    "seconds": round(secs, 2),
                    "per_s": round((c - c_first) / secs, 1) if secs else 0.0,
                    "requests": sum(stats.values()),
                }
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{name}: only {c} of {n} leads delivered")
    finally:
        proc.terminate()
        proc.wait(20)
        await drop_schema(tag)


async def run(n: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    topic = f"cdp.bench.leads.{tag}"
    await create_topics(topic)
    sandbox = subprocess.Popen(
        [BIN / "cdp", "sandbox-ma", "--port", str(SANDBOX_PORT)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{SANDBOX_PORT}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        await fill(topic, leads(n, tag))
        runs = [
            await one_run("HubSpot batch upsert, 100 leads per request", topic, n, "hubspot"),
            await one_run("HubSpot batch upsert, 1 lead per request", topic, n, "hubspot", CDP_HUBSPOT_BATCH_SIZE="1"),
            await one_run("webhook, 1 signed request per lead (20 in flight)", topic, n, "webhook"),
        ]
    finally:
        sandbox.terminate()
        sandbox.wait(10)
        await delete_topics(topic)
    return {"machine": machine_facts(), "leads": n, "runs": runs}


def table(r: dict[str, Any]) -> str:
    lines = [
        f"Syncer, {r['leads']:,} leads to the local sandbox over HTTP (`make bench`; same 2 cores):",
        "",
        "| run | leads/s | seconds | requests |",
        "|---|---|---|---|",
    ]
    for x in r["runs"]:
        lines.append(f"| {x['name']} | {x['per_s']:,.0f} | {x['seconds']} | {x['requests']:,} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=20_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.leads))
    publish("syncer", result, table(result))


if __name__ == "__main__":
    main()
