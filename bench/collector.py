"""Collector benchmark (run by `make bench`).

Measures, at 1 and 2 uvicorn workers, with wrk as the load generator (1 thread, 32
connections) against real Kafka and Postgres on this machine:
  - single-event POST /v1/track: requests/s, p50/p99
  - batched POST /v1/batch (50 events a request): events/s
  - pixel GET /pixel/v1/track: requests/s
  - single-event p50/p99 at half the maximum rate (wrk paced with its delay() hook)
and, in the same run and worker count, the ceilings: a bare ASGI app answering 204, and a
raw aiokafka producer loop (one per worker). Results go to bench/results/<date>-collector.json
and the collector table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
WRK_DIR = ROOT / "bench" / "wrk"
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
BENCH_KEY = "bench-write-key-0123456789"
BENCH_TOPICS = ("cdp.bench.collector.raw", "cdp.bench.collector.rejected")
CONNS = 32


def machine_facts() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": "4.1.1 (native, KRaft, same machine)",
        "note": "Kafka, Postgres, Redis, the service and wrk all share the same 2 cores",
    }


def wrk(script: str, url: str, *, seconds: int, rate: float = 0, latency_ms: float = 0) -> dict[str, Any]:
    env = {
        **os.environ,
        "CDP_BENCH_DIR": str(WRK_DIR),
        "CDP_BENCH_AUTH": base64.b64encode(f"{BENCH_KEY}:".encode()).decode(),
        "CDP_BENCH_KEY": BENCH_KEY,
        "CDP_BENCH_RATE": str(rate),
        "CDP_BENCH_CONNS": str(CONNS),
        "CDP_BENCH_LATENCY_MS": str(latency_ms),
    }
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(WRK_DIR / script), url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRK_JSON "))
    data = json.loads(line.removeprefix("WRK_JSON "))
    secs = data["duration_us"] / 1e6
    return {
        "rps": round(data["requests"] / secs, 1),
        "p50_ms": round(data["p50_us"] / 1000, 2),
        "p90_ms": round(data["p90_us"] / 1000, 2),
        "p99_ms": round(data["p99_us"] / 1000, 2),
        "requests": data["requests"],
        "non2xx": data["non2xx"],
        "socket_errors": data["socket_errors"],
    }


def wait_ready(url: str, proc: subprocess.Popen[bytes], status: int = 200) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == status:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


def serve(kind: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CDP_LOG_LEVEL": "WARNING"}
    if kind == "bare":
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_asgi:app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        health = f"http://127.0.0.1:{port}/"
        ok = 204
    else:
        env.update(
            CDP_COLLECTOR_PORT=str(port),
            CDP_COLLECTOR_WORKERS=str(workers),
            # the bench's own topics: a running `make up` must not process the bench's hits
            CDP_COLLECTOR_RAW_TOPIC=BENCH_TOPICS[0],
            CDP_COLLECTOR_REJECTED_TOPIC=BENCH_TOPICS[1],
        )
        argv = [sys.executable, "-m", "cdp_collector.main"]
        health = f"http://127.0.0.1:{port}/readyz"
        ok = 200
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(health, proc, ok)
        if workers > 1:
            time.sleep(2)  # every worker up and connected, not just the first
    except Exception:
        proc.kill()
        raise
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _raw_producer_proc(n: int, payload: bytes, out: Any) -> None:
    async def run() -> float:
        from cdp_common.kafka import make_producer
        from cdp_common.settings import CommonSettings

        producer = make_producer(CommonSettings(), client_id="bench-raw", linger_ms=5)
        await producer.start()
        try:
            for i in range(2000):  # warm-up
                await producer.send("cdp.bench.raw", payload, key=str(i).encode())
            await producer.flush()
            t0 = time.perf_counter()
            for i in range(n):
                await producer.send("cdp.bench.raw", payload, key=f"bench-{i % 50000}".encode())
            await producer.flush()
            return n / (time.perf_counter() - t0)
        finally:
            await producer.stop()

    out.put(asyncio.run(run()))


def raw_producer(processes: int, n: int = 200_000) -> float:
    """Messages/s of `processes` raw aiokafka producer loops (send without awaiting each
    delivery, acks=all, linger 5 ms), each sending n records the size of a RawHit."""
    payload = (
        b'{"event":{"type":"track","event":"Video Progress","anonymousId":"bench-1","messageId":'
        b'"5d2f1c3e-1111-2222-3333-444455556666","properties":{"percent":50,"title":"Product tour"},'
        b'"context":{"page":{"url":"https://www.example.com/tour?utm_source=linkedin&utm_medium='
        b'paid_social&utm_campaign=ceo-automotive-q4"}}},"receivedAt":"2026-11-29T12:00:00.000000Z",'
        b'"sourceId":"src_0123456789abcdef","clientIp":"127.0.0.1","userAgent":"wrk",'
        b'"timestamp":"2026-11-29T12:00:00.000000Z"}'
    )
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_raw_producer_proc, args=(n, payload, q)) for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join()
    return round(sum(rates), 1)


async def prepare() -> None:
    from cdp_common.kafka import ensure_topics, make_admin
    from cdp_common.pg import create_pool
    from cdp_common.settings import CommonSettings
    from cdp_common.sources import SourceStore
    from cdp_common.topics import TopicSpec

    settings = CommonSettings()
    pool = await create_pool(settings)
    try:
        await SourceStore(pool).ensure("bench", write_key=BENCH_KEY)
    finally:
        await pool.close()
    admin = make_admin(settings)
    await admin.start()
    try:
        await ensure_topics(admin, [TopicSpec(t, 4, 3_600_000) for t in ("cdp.bench.raw", *BENCH_TOPICS)])
    finally:
        await admin.close()


def run(seconds: int, workers_list: list[int]) -> dict[str, Any]:
    asyncio.run(prepare())
    rows = []
    for workers in workers_list:
        port = 18080
        print(f"-- {workers} worker(s): bare ASGI ceiling", flush=True)
        bare_proc = serve("bare", workers, port)
        try:
            wrk("bare.lua", f"http://127.0.0.1:{port}/v1/track", seconds=2)
            bare = wrk("bare.lua", f"http://127.0.0.1:{port}/v1/track", seconds=seconds)
        finally:
            stop(bare_proc)
        print(f"-- {workers} worker(s): raw aiokafka producer ceiling", flush=True)
        raw = raw_producer(workers)
        print(f"-- {workers} worker(s): collector", flush=True)
        proc = serve("collector", workers, port)
        base = f"http://127.0.0.1:{port}"
        try:
            wrk("single.lua", f"{base}/v1/track", seconds=2)
            single = wrk("single.lua", f"{base}/v1/track", seconds=seconds)
            batch = wrk("batch.lua", f"{base}/v1/batch", seconds=seconds)
            pixel = wrk("pixel.lua", f"{base}/pixel/v1/track", seconds=seconds)
            half = wrk(
                "single.lua",
                f"{base}/v1/track",
                seconds=seconds,
                rate=single["rps"] / 2,
                latency_ms=single["p50_ms"] / 2,
            )
        finally:
            stop(proc)
        row = {
            "workers": workers,
            "bare_asgi": bare,
            "raw_producer_msgs_per_s": raw,
            "single": {**single, "ratio_to_bare": round(single["rps"] / bare["rps"], 3)},
            "batch": {
                **batch,
                "events_per_s": round(batch["rps"] * 50, 1),
                "ratio_to_raw_producer": round(batch["rps"] * 50 / raw, 3),
            },
            "pixel": {**pixel, "ratio_to_bare": round(pixel["rps"] / bare["rps"], 3)},
            "single_at_half_rate": {**half, "target_rps": round(single["rps"] / 2, 1)},
        }
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    return {
        "benchmark": "collector",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "load": f"wrk 1 thread, {CONNS} connections, {seconds}s",
        "rows": rows,
    }


def _line(w: int, name: str, result: str, m: dict[str, Any] | None, ceiling: str = "-", ratio: str = "-") -> str:
    lat = f"{m['p50_ms']} ms | {m['p99_ms']} ms | {m['non2xx']}" if m else "- | - | -"
    return f"| {w} | {name} | {result} | {ceiling} | {ratio} | {lat} |"


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Measured {result['date']} by `make bench` ({result['load']}); {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Python {m['python']}, Kafka {m['kafka']}. {m['note']}.",
        "",
        "| workers | measure | result | ceiling | ratio | p50 | p99 | non-2xx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        w, b = r["workers"], r["bare_asgi"]
        s, bt, px, h = r["single"], r["batch"], r["pixel"], r["single_at_half_rate"]
        lines += [
            _line(w, "bare ASGI (204)", f"{b['rps']:,.0f} req/s", b),
            _line(w, "raw aiokafka producer", f"{r['raw_producer_msgs_per_s']:,.0f} msg/s", None),
            _line(w, "single-event POST", f"{s['rps']:,.0f} req/s", s, "bare ASGI", f"{s['ratio_to_bare']:.0%}"),
            _line(
                w,
                "batched POST (50/req)",
                f"{bt['events_per_s']:,.0f} events/s",
                bt,
                "raw producer",
                f"{bt['ratio_to_raw_producer']:.0%}",
            ),
            _line(w, "pixel GET", f"{px['rps']:,.0f} req/s", px, "bare ASGI", f"{px['ratio_to_bare']:.0%}"),
            _line(w, "single-event at half rate", f"{h['rps']:,.0f} req/s (target {h['target_rps']:,.0f})", h),
        ]
    return "\n".join(lines)


def write_doc(section: str, body: str) -> None:
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n{block}\n"
    DOC.write_text(text)


def publish(name: str, result: dict[str, Any], text: str) -> None:
    """Write bench/results/<date>-<name>.json and the <name> table in docs/performance.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    write_doc(name, text)
    print(text)
    print(f"\nwrote {path} and {DOC}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    result = run(args.seconds, args.workers)
    publish("collector", result, table(result))


if __name__ == "__main__":
    main()
