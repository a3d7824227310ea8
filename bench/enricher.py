"""Enricher benchmark (run by `make bench`).

Produces a realistic mix of raw hits (varied browsers and devices, 5% bots, LinkedIn and
Google ads with click ids, newsletters, organic search and social referrers, direct and
internal navigation, public IPv4 and IPv6 addresses, 0.2% broken records) into a fresh
topic, then measures records/s from the first output to the last for one enricher process,
next to two ceilings in the same run on the same records: a raw aiokafka
consume-and-produce passthrough, and a faust passthrough with the enricher's own wiring.
Results: bench/results/<date>-enricher.json and the enricher table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.collector import ROOT, machine_facts, publish
from bench.runners import RUNNERS, runner_env

BOOTSTRAP = "127.0.0.1:9092"
PARTITIONS = 4

BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 16_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.{m} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.2478.51",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
    "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "python-requests/2.31.0",
]
ARRIVALS = [
    (
        "https://www.example.com/case-study?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q{q}&li_fat_id={id}",
        "https://www.linkedin.com/",
    ),
    (
        "https://www.example.com/pricing?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=cdp&gclid={id}",
        "https://www.google.com/",
    ),
    ("https://www.example.com/blog/post-{q}?utm_source=newsletter&utm_medium=email&utm_campaign=november", None),
    ("https://www.example.com/blog/post-{q}", "https://www.google.de/"),
    ("https://www.example.com/", None),
    ("https://www.example.com/features", "https://www.example.com/"),
    ("https://www.example.com/calculator?fbclid={id}", "https://l.facebook.com/"),
    ("https://www.example.com/pricing", "https://news.ycombinator.com/"),
    (
        "https://www.example.com/case-study?utm_content=role:cfo|industry:finance&utm_source=xing&utm_medium=social",
        "https://www.xing.com/",
    ),
]


def make_hits(n: int, seed: int = 7) -> list[tuple[bytes, bytes]]:
    rnd = random.Random(seed)
    visitors = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(20_000)]
    now = datetime.now(UTC).isoformat()
    out = []
    for _ in range(n):
        if rnd.random() < 0.002:
            out.append((b"broken", b'{"event": {"type": "page"'))
            continue
        aid = rnd.choice(visitors)
        if rnd.random() < 0.05:
            ua = rnd.choice(BOTS)
        else:
            # versions spread like real traffic: most hits from a few current versions
            v = rnd.choice([122, 123, 124, 124, 124, 125, 125]) if rnd.random() < 0.97 else rnd.randint(60, 121)
            ua = rnd.choice(BROWSERS).format(v=v, m=rnd.randint(0, 6))
        url, ref = rnd.choice(ARRIVALS)
        url = url.format(q=rnd.randint(1, 4), id=uuid.UUID(int=rnd.getrandbits(128)).hex)
        ip = (
            f"{rnd.randint(1, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            if rnd.random() < 0.9
            else f"2a02:{rnd.randint(0, 65535):x}:{rnd.randint(0, 65535):x}::{rnd.randint(1, 65535):x}"
        )
        event: dict[str, Any] = {
            "type": "page" if rnd.random() < 0.7 else "track",
            "anonymousId": aid,
            "messageId": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "context": {"page": {"url": url, **({"referrer": ref} if ref else {})}, "library": {"name": "cdp-tag"}},
        }
        if event["type"] == "track":
            event["event"] = rnd.choice(["Scroll Depth", "Video Progress", "Calculator Completed", "Form Submitted"])
            event["properties"] = {"percent": rnd.choice([25, 50, 75, 100])}
        hit = {
            "event": event,
            "receivedAt": now,
            "sourceId": "src_bench",
            "clientIp": ip,
            "userAgent": ua,
            "timestamp": now,
        }
        out.append((aid.encode(), orjson.dumps(hit)))
    return out


async def create_topics(*names: str) -> None:
    from cdp_common.kafka import ensure_topics, make_admin
    from cdp_common.settings import CommonSettings
    from cdp_common.topics import TopicSpec

    admin = make_admin(CommonSettings())
    await admin.start()
    try:
        await ensure_topics(admin, [TopicSpec(n, PARTITIONS, 3_600_000) for n in names])
    finally:
        await admin.close()


async def delete_topics(*names: str) -> None:
    from cdp_common.kafka import make_admin
    from cdp_common.settings import CommonSettings

    admin = make_admin(CommonSettings())
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


async def fill(topic: str, hits: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", linger_ms=10, max_batch_size=512 * 1024)
    await producer.start()
    try:
        for key, value in hits:
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def output_count(consumer: AIOKafkaConsumer, topics: list[str]) -> int:
    tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
    ends = await consumer.end_offsets(tps)
    return sum(ends.values())


async def measure(
    proc: subprocess.Popen[bytes], outputs: list[str], n: int, timeout_s: float = 600
) -> dict[str, float]:
    """Records/s from the first output record to the n-th (startup excluded)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)
    await consumer.start()
    try:
        t_first = c_first = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode}")
            c = await output_count(consumer, outputs)
            now = time.monotonic()
            if t_first is None and c > 0:
                t_first, c_first = now, c
            if c >= n and t_first is not None and c_first is not None:
                secs = now - t_first
                return {
                    "records": n,
                    "seconds": round(secs, 2),
                    "per_s": round((c - c_first) / secs, 1) if secs > 0 else 0.0,
                }
            await asyncio.sleep(0.05)
        raise TimeoutError(f"only {c} of {n} records after {timeout_s}s")
    finally:
        await consumer.stop()


def spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = open(ROOT / ".data" / "logs" / "bench-enricher.log", "ab")  # noqa: SIM115
    return subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


async def run(n: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    src = f"cdp.bench.raw.{tag}"
    outs = {k: f"cdp.bench.{k}.{tag}" for k in ("enriched", "rejected", "pass", "fpass")}
    await create_topics(src, *outs.values())
    extra_topics: list[str] = []
    try:
        print(f"producing {n:,} raw hits to {src}", flush=True)
        hits = make_hits(n)
        await fill(src, hits)

        print("raw aiokafka passthrough", flush=True)
        p = spawn([sys.executable, "bench/passthrough.py", src, outs["pass"], f"bench-pass-{tag}"], {})
        try:
            passthrough = await measure(p, [outs["pass"]], n)
        finally:
            stop(p)

        print("faust passthrough", flush=True)
        p = spawn(
            [sys.executable, "bench/faust_passthrough.py", "worker", "-l", "warn"],
            {"CDP_BENCH_IN": src, "CDP_BENCH_OUT": outs["fpass"], "CDP_BENCH_GROUP": f"bench-fpass-{tag}"},
        )
        try:
            faust_pass = await measure(p, [outs["fpass"]], n)
        finally:
            stop(p)

        runs: dict[str, Any] = {}
        for runner in RUNNERS:
            print(f"enricher ({runner} runner)", flush=True)
            metrics_port = 19101
            out_topic, rej_topic = f"{outs['enriched']}.{runner}", f"{outs['rejected']}.{runner}"
            await create_topics(out_topic, rej_topic)
            extra_topics.extend([out_topic, rej_topic])
            p = spawn(
                [sys.executable, "-m", "cdp_enricher.main"],
                {
                    "CDP_LOG_LEVEL": "WARNING",
                    **runner_env("CDP_ENRICHER", runner),
                    "CDP_ENRICHER_INPUT_TOPIC": src,
                    "CDP_ENRICHER_OUTPUT_TOPIC": out_topic,
                    "CDP_ENRICHER_REJECTED_TOPIC": rej_topic,
                    "CDP_ENRICHER_GROUP_ID": f"bench-enricher-{runner}-{tag}",
                    "CDP_ENRICHER_METRICS_PORT": str(metrics_port),
                },
            )
            try:
                rate = await measure(p, [out_topic, rej_topic], n)
                metrics = await asyncio.to_thread(
                    lambda port=metrics_port: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                )
            finally:
                stop(p)
            values = {
                ln.split()[0]: float(ln.split()[1]) for ln in metrics.splitlines() if ln and not ln.startswith("#")
            }
            hits_c = values.get('cdp_enricher_ua_cache{result="hit"}', 0.0)
            miss_c = values.get('cdp_enricher_ua_cache{result="miss"}', 0.0)
            runs[runner] = {
                **rate,
                "ratio_to_raw_passthrough": round(rate["per_s"] / passthrough["per_s"], 3),
                "ratio_to_faust_passthrough": round(rate["per_s"] / faust_pass["per_s"], 3),
                "ua_cache_hit_rate": round(hits_c / (hits_c + miss_c), 4) if hits_c + miss_c else None,
                "distinct_user_agents_parsed": int(miss_c),
                "bots_flagged": int(sum(v for k, v in values.items() if k.startswith("cdp_enricher_bot_hits_total{"))),
                "rejected": int(
                    sum(v for k, v in values.items() if k.startswith('cdp_enricher_records_total{outcome="rejected"'))
                ),
            }
    finally:
        await delete_topics(src, *outs.values(), *extra_topics)
    return {
        "benchmark": "enricher",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "records": n,
        "raw_passthrough": passthrough,
        "faust_passthrough": faust_pass,
        "enricher": runs,
    }


def table(r: dict[str, Any]) -> str:
    m = r["machine"]
    rp, fp, en = r["raw_passthrough"], r["faust_passthrough"], r["enricher"]
    lines = [
        f"Measured {r['date']} by `make bench`: {r['records']:,} raw hits (realistic mix), one process each, "
        f"4 partitions; {m['cpu']}, {m['cores']} cores. {m['note']}.",
        "",
        "| process | records/s | vs raw passthrough | vs faust passthrough | UA cache hit rate |",
        "|---|---|---|---|---|",
        f"| raw aiokafka consume-and-produce passthrough | {rp['per_s']:,.0f} | 100% | - | - |",
        f"| faust passthrough (take_events, send, await acks) | {fp['per_s']:,.0f} | {fp['per_s'] / rp['per_s']:.0%} | 100% | - |",
    ]
    for runner, x in en.items():
        lines.append(
            f"| enricher, {runner} runner | {x['per_s']:,.0f} | {x['ratio_to_raw_passthrough']:.0%} | "
            f"{x['ratio_to_faust_passthrough']:.0%} | {x['ua_cache_hit_rate']:.1%} |"
        )
    any_run = next(iter(en.values()))
    lines += [
        "",
        f"{any_run['distinct_user_agents_parsed']:,} distinct user agents parsed; {any_run['bots_flagged']:,} bot hits "
        f"flagged; {any_run['rejected']:,} broken records rejected (per run).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.records))
    publish("enricher", result, table(result))


if __name__ == "__main__":
    main()
