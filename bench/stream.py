"""Kafka clients and the stream engine, measured on this machine in one run (`make bench`).

1. Produce through the client seam (acks=all, idempotent), 608-byte records:
   a) 256 concurrent senders, each awaiting its own record's acknowledgement (the
      collector's shape), and b) batches of 1,000 awaited together (the engine's shape).
2. Consume through the seam: poll batches until every record is read.
3. The engine's ceiling: a passthrough processor (every record emitted unchanged) run by the
   engine as its own process, consume -> produce -> ack -> commit, with each client.
Reported: records/s and CPU microseconds per record (the process's user+system time,
librdkafka's threads included). Results: bench/results/<date>-stream.json and the
stream table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.collector import ROOT, machine_facts, publish
from bench.enricher import create_topics, delete_topics, fill
from cdp_common.kafka_access import KafkaAccess
from cdp_common.stream.client import ConsumerConfig, ProducerConfig, make_consumer, make_producer
from cdp_common.stream.types import Emit

BOOTSTRAP = "127.0.0.1:9092"
CLIENTS = ("confluent", "aiokafka")
VALUE = b"x" * 608


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def produce(client: str, topic: str, n: int, mode: str) -> dict[str, float]:
    p = make_producer(client, ProducerConfig(kafka=KafkaAccess(BOOTSTRAP), client_id="bench"))  # type: ignore[arg-type]
    await p.start()
    try:
        c0, t0 = cpu_s(), time.perf_counter()
        if mode == "concurrent":
            senders, each = 256, n // 256

            async def sender(i: int) -> None:
                for k in range(each):
                    await p.deliver([Emit(topic, f"k{i}-{k % 50}".encode(), VALUE)])

            await asyncio.gather(*(sender(i) for i in range(senders)))
            done = senders * each
        else:
            done = 0
            while done < n:
                await p.deliver([Emit(topic, f"k{(done + j) % 5000}".encode(), VALUE) for j in range(1000)])
                done += 1000
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    finally:
        await p.stop()
    return {"records": done, "per_s": round(done / wall), "cpu_us_per_record": round(cpu / done * 1e6, 1)}


async def consume(client: str, topic: str, n: int) -> dict[str, float]:
    c = make_consumer(
        client,  # type: ignore[arg-type]
        ConsumerConfig(
            kafka=KafkaAccess(BOOTSTRAP),
            group_id=f"bench-consume-{uuid.uuid4().hex[:6]}",
            client_id="bench",
            topics=(topic,),
        ),
    )
    await c.start(lambda tps: None, lambda tps: {})
    try:
        got, first, t0, c0 = 0, 0, 0.0, 0.0
        while got < n:
            batch = await c.poll(2000, 0.5)
            if batch and not t0:  # the clock starts when the first batch is in hand
                t0, c0, first = time.perf_counter(), cpu_s(), len(batch)
            got += len(batch)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    finally:
        await c.stop()
    timed = got - first
    return {"records": got, "per_s": round(timed / wall), "cpu_us_per_record": round(cpu / timed * 1e6, 1)}


async def passthrough(client: str, src: str, dst: str, n: int) -> dict[str, float]:
    """The engine with a do-nothing processor, as its own process: records/s from the first
    output record to the last, and the process's CPU per record."""
    from aiokafka import AIOKafkaConsumer

    env = {**os.environ, "CDP_KAFKA_CLIENT": client, "CDP_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "bench/engine_passthrough.py", src, dst, f"bench-epass-{uuid.uuid4().hex[:6]}"],
        env=env,
        cwd=ROOT,
    )
    reader = AIOKafkaConsumer(dst, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", group_id=None)
    await reader.start()
    try:
        got, t0, c0 = 0, 0.0, 0.0
        deadline = time.monotonic() + 300
        while got < n and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=200, max_records=10_000)).values():
                if not t0:
                    t0, c0 = time.perf_counter(), proc_cpu_s(proc.pid)
                got += len(records)
        wall, cpu = time.perf_counter() - t0, proc_cpu_s(proc.pid) - c0
    finally:
        await reader.stop()
        proc.terminate()
        proc.wait(30)
    return {"records": got, "per_s": round(got / wall), "cpu_us_per_record": round(cpu / got * 1e6, 1)}


async def run(n: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    results: dict[str, Any] = {}
    made: list[str] = []
    try:
        for client in CLIENTS:
            r: dict[str, Any] = {}
            for mode in ("concurrent", "batched"):
                t = f"cdp.bench.produce.{client}.{mode}.{tag}"
                await create_topics(t)
                made.append(t)
                print(f"{client}: produce ({mode})", flush=True)
                r[f"produce_{mode}"] = await produce(client, t, n, mode)
            print(f"{client}: consume", flush=True)
            r["consume"] = await consume(client, f"cdp.bench.produce.{client}.batched.{tag}", n)
            src, dst = f"cdp.bench.epass.in.{client}.{tag}", f"cdp.bench.epass.out.{client}.{tag}"
            await create_topics(src, dst)
            made += [src, dst]
            await fill(src, [(f"k{i % 5000}".encode(), VALUE) for i in range(n)])
            print(f"{client}: engine passthrough", flush=True)
            r["engine_passthrough"] = await passthrough(client, src, dst, n)
            results[client] = r
    finally:
        await delete_topics(*made)
    return {
        "benchmark": "stream",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "records": n,
        "value_bytes": len(VALUE),
        "clients": results,
    }


def table(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"Measured {r['date']} by `make bench` (`bench/stream.py`): {r['records']:,} records of {r['value_bytes']} bytes, "
        f"4 partitions, acks=all and idempotence on; {m['cpu']}, {m['cores']} cores. {m['note']}.",
        "",
        "| client | produce, 256 senders awaiting each record | produce, batches of 1,000 | consume | engine passthrough (own process) |",
        "|---|---|---|---|---|",
    ]
    for client, x in r["clients"].items():
        cells = [
            f"{x[k]['per_s']:,} rec/s, {x[k]['cpu_us_per_record']} µs CPU/rec"
            for k in ("produce_concurrent", "produce_batched", "consume", "engine_passthrough")
        ]
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    result = asyncio.run(run(args.records))
    publish("stream", result, table(result))


if __name__ == "__main__":
    main()
