"""Scale-out benchmark: does adding instances of a processor add throughput?

On a 2-core box, two unconstrained instances already fight over the same two cores, so
"N instances" cannot be told apart from "one instance with more CPU". Here every instance
runs in its own cgroup (v1 ``cpu`` controller) with a fixed CPU quota (default 0.2 of a
core), the way a Kubernetes pod with a CPU limit runs: N instances have N times the CPU, as
long as the box has it. For N in 1, 2, 4, 8 (a fresh consumer group from the start of the
topic, and for the segmenter a fresh Postgres schema and Redis database, each time) the
bench lets the instances process the first records (50,000), then times the next ones
(200,000): every N does the same work from the same state (a window of fixed length would
not: a faster run reaches later, costlier parts of the stream, where profiles have grown
and returning visitors merge). Reported per N: records/s, scaling
efficiency rate(N) / (N x rate(1)), CPU each instance used against its quota (an instance
below ~90% of its quota is not limited by its own CPU any more: the box, the broker or
Postgres are), the box's idle CPU, and for the segmenter identity merges and batch
retries (conflicts between instances) per 10,000 events.

The input topic (16 partitions) holds the realistic mixes of bench/enricher.py (raw hits)
and bench/segmenter.py (enriched hits, 4% identify, a quarter of those from a second device,
so merges happen across instances), 150,000 more than the warm-up and timed slice need.

Needs root (cgroup files) and the infrastructure: `make bench` runs it last; alone:
    .venv/bin/python bench/scaleout.py --stage segmenter --instances 1,2,4 --count 100000
Results: bench/results/<date>-scaleout.json and the scale-out table in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import enricher as enricher_bench
from bench import segmenter as segmenter_bench
from bench.collector import ROOT, machine_facts, publish

CGROUP = Path("/sys/fs/cgroup/cpu")
CPUACCT = Path("/sys/fs/cgroup/cpuacct")
PERIOD_US = 100_000
PARTITIONS = 16
BIN = ROOT / ".venv" / "bin"


@dataclass
class Slot:
    """One instance's cgroup (cpu quota) and, where mounted apart, its cpuacct twin."""

    name: str
    quota: float

    def create(self) -> None:
        for base in (CGROUP, CPUACCT):
            (base / self.name).mkdir(parents=True, exist_ok=True)
        (CGROUP / self.name / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (CGROUP / self.name / "cpu.cfs_quota_us").write_text(str(int(self.quota * PERIOD_US)))

    def enter(self, pid: int) -> None:
        for base in (CGROUP, CPUACCT):
            (base / self.name / "cgroup.procs").write_text(str(pid))

    def cpu_seconds(self) -> float:
        return int((CPUACCT / self.name / "cpuacct.usage").read_text()) / 1e9

    def throttled(self) -> int:
        stat = dict(line.split() for line in (CGROUP / self.name / "cpu.stat").read_text().splitlines())
        return int(stat.get("nr_throttled", 0))

    def remove(self) -> None:
        for base in (CGROUP, CPUACCT):
            path = base / self.name
            if path.exists():
                for pid in (path / "cgroup.procs").read_text().split():  # back to the root group
                    with contextlib.suppress(OSError):  # it has exited
                        (base / "cgroup.procs").write_text(pid)
                path.rmdir()


def check_cgroups() -> None:
    if not (CGROUP / "cpu.cfs_quota_us").exists() or not os.access(CGROUP, os.W_OK):
        raise SystemExit(
            f"{CGROUP} (cgroup v1 cpu controller) is not mounted or not writable: run as root on a cgroup v1 host"
        )
    for base in (CGROUP, CPUACCT):  # left by an interrupted run
        for stale in base.glob("cdp-bench-*"):
            if not (stale / "cgroup.procs").read_text().strip():
                stale.rmdir()


def box_idle() -> tuple[float, float]:
    """(idle jiffies, total jiffies) of the whole machine since boot."""
    parts = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return parts[3] + parts[4], sum(parts)


def _sum(m: dict[str, float], prefix: str, **labels: str) -> float:
    total = 0.0
    for k, v in m.items():
        if k.startswith(prefix + "{") and all(f'{lk}="{lv}"' in k for lk, lv in labels.items()):
            total += v
    return total


async def _wait_all_working(procs: list[subprocess.Popen[bytes]], ports: list[int], metric: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"an instance exited with {p.returncode} (.data/logs/bench-*.log)")
        counts = [_sum(segmenter_bench.scrape(port), metric) for port in ports]
        if all(c > 0 for c in counts):
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"not every instance started processing within 180 s: {counts}")


async def _until_total(
    procs: list[subprocess.Popen[bytes]], ports: list[int], metric: str, want: float
) -> list[dict[str, float]]:
    """Poll the instances' metrics until together they have processed ``want`` records."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"an instance exited with {p.returncode} (.data/logs/bench-*.log)")
        scraped = [segmenter_bench.scrape(port) for port in ports]
        if sum(_sum(m, metric) for m in scraped) >= want:
            return scraped
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{want:,.0f} records not processed within 900 s")


async def measure(
    stage: str, n: int, quota: float, warm: int, count: int, topic: str, tag: str, dsn: str | None
) -> dict[str, Any]:
    """N instances of ``stage``, each in its own cgroup, a fresh group from the start of the
    topic: after the first ``warm`` records (every N then holds the same state), the time
    they take together for the next ``count`` (every N does the same work)."""
    metric = "cdp_segmenter_records_total" if stage == "segmenter" else "cdp_stream_records_in_total"
    run = f"{tag}-{n}-{uuid.uuid4().hex[:4]}"  # a fresh group (from the start of the topic) each time
    group = f"bench-scale-{stage}-{run}"
    slots = [Slot(f"cdp-bench-{run}-{i}", quota) for i in range(n)]
    procs: list[subprocess.Popen[bytes]] = []
    ports = [19400 + i for i in range(n)]
    try:
        for slot, port in zip(slots, ports, strict=True):
            slot.create()
            if stage == "segmenter":
                assert dsn is not None
                proc = segmenter_bench.spawn("confluent", dsn, topic, group, port, CDP_LOG_LEVEL="WARNING")
            else:
                proc = enricher_bench.spawn(
                    [str(BIN / "cdp-enricher")],
                    {
                        "CDP_LOG_LEVEL": "WARNING",
                        "CDP_ENRICHER_INPUT_TOPIC": topic,
                        "CDP_ENRICHER_OUTPUT_TOPIC": f"{topic}.out",
                        "CDP_ENRICHER_REJECTED_TOPIC": f"{topic}.rejected",
                        "CDP_ENRICHER_GROUP_ID": group,
                        "CDP_ENRICHER_METRICS_PORT": str(port),
                    },
                )
            slot.enter(proc.pid)  # before it has started its threads: they are born inside
            procs.append(proc)
        await _wait_all_working(procs, ports, metric)
        before = await _until_total(procs, ports, metric, warm)
        cpu0 = [s.cpu_seconds() for s in slots]
        thr0 = [s.throttled() for s in slots]
        idle0, total0 = box_idle()
        t0 = time.monotonic()
        after = await _until_total(procs, ports, metric, sum(_sum(m, metric) for m in before) + count)
        secs = time.monotonic() - t0
        idle1, total1 = box_idle()
        cpu = [(s.cpu_seconds() - c) / secs for s, c in zip(slots, cpu0, strict=True)]
        throttled = sum(s.throttled() - t for s, t in zip(slots, thr0, strict=True))
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"an instance exited with {p.returncode} while timed")
        records = sum(_sum(a, metric) - _sum(b, metric) for a, b in zip(after, before, strict=True))
        out: dict[str, Any] = {
            "instances": n,
            "records": int(records),
            "seconds": round(secs, 1),
            "per_s": round(records / secs, 1),
            "cpu_per_instance": [round(c, 3) for c in cpu],
            "quota_used": round(sum(cpu) / (n * quota), 3),
            "throttled_periods": throttled,
            "box_idle": round((idle1 - idle0) / max(1.0, total1 - total0), 3),
        }
        if stage == "segmenter":

            def delta(name: str, **labels: str) -> float:
                return sum(
                    _sum(a, name, **labels) - _sum(b, name, **labels) for a, b in zip(after, before, strict=True)
                )

            per10k = 10_000 / max(1.0, records)
            out["batch_retries_per_10k"] = round(delta("cdp_segmenter_batch_retries_total") * per10k, 2)
            out["merges_per_10k"] = round(delta("cdp_segmenter_identity_total", change="merged") * per10k, 2)
        return out
    finally:
        for p in procs:
            segmenter_bench.stop(p)
        for s in slots:
            s.remove()


async def run_stage(stage: str, instances: list[int], quota: float, warm: int, count: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    topic = f"cdp.bench.scale.{stage}.{tag}"
    topics = [topic, f"{topic}.out", f"{topic}.rejected", f"{topic}.changes", f"{topic}.leads"]
    enricher_bench.PARTITIONS = PARTITIONS
    await enricher_bench.create_topics(*topics)
    filled, batches = 0, 0

    async def top_up(need: int) -> None:
        """Enough input that a fresh group never runs dry before the timed slice ends."""
        nonlocal filled, batches
        if filled >= need:
            return
        n = need - filled
        batches += 1
        print(f"  filling {topic} with {n:,} more records ({filled + n:,} in all)", flush=True)
        if stage == "segmenter":  # new visitors each time (another seed), the same mix
            hits = segmenter_bench.make_hits(n, max(1, n // 10), seed=11 + batches)
        else:
            hits = enricher_bench.make_hits(n, seed=7 + batches)
        await segmenter_bench.fill(topic, hits)
        filled += n

    try:
        rows: list[dict[str, Any]] = []
        # never dry: timing starts at the first look after `warm` (with 8 members still joining,
        # up to ~100,000 later), and the slice must end well before the topic does
        await top_up(warm + count + 150_000)
        for n in instances:
            dsn = await segmenter_bench.fresh_schema(f"{tag}{n}") if stage == "segmenter" else None
            try:
                row = await measure(stage, n, quota, warm, count, topic, tag, dsn)
            finally:
                if stage == "segmenter":
                    await segmenter_bench.drop_schema(f"{tag}{n}")
            row["efficiency"] = round(row["per_s"] / (n * rows[0]["per_s"]), 3) if rows else 1.0
            rows.append(row)
            print(f"  N={n}: {row}", flush=True)
        return {
            "stage": stage,
            "quota_cores": quota,
            "warm_records": warm,
            "timed_records": count,
            "input_records": filled,
            "rows": rows,
        }
    finally:
        await enricher_bench.delete_topics(*topics)


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        seg = r["stage"] == "segmenter"
        lines += [
            f"**{r['stage']}**, each instance in its own cgroup with {r['quota_cores']} of a core, "
            f"{PARTITIONS} partitions; the time to process the same {r['timed_records']:,} records after the "
            f"same first {r['warm_records']:,}:",
            "",
            "| instances | records/s | efficiency | CPU used / quota | box idle | throttled periods"
            + (" | merges /10k | batch retries /10k |" if seg else " |"),
            "|---|---|---|---|---|---" + ("|---|---|" if seg else "|"),
        ]
        for row in r["rows"]:
            line = (
                f"| {row['instances']} | {row['per_s']:,.0f} | {row['efficiency']:.2f} | {row['quota_used']:.0%} "
                f"| {row['box_idle']:.0%} | {row['throttled_periods']:,}"
            )
            if seg:
                line += f" | {row['merges_per_10k']} | {row['batch_retries_per_10k']}"
            lines.append(line + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["segmenter", "enricher", "both"], default="both")
    ap.add_argument("--instances", default="1,2,4,8")
    ap.add_argument("--quota", type=float, default=0.2, help="CPU cores per instance")
    ap.add_argument("--warm", type=int, default=50_000, help="records processed before timing starts")
    ap.add_argument("--count", type=int, default=200_000, help="records timed, the same for every N")
    args = ap.parse_args()
    check_cgroups()
    instances = [int(x) for x in args.instances.split(",")]
    stages = ["enricher", "segmenter"] if args.stage == "both" else [args.stage]
    results = []
    for stage in stages:
        results.append(asyncio.run(run_stage(stage, instances, args.quota, args.warm, args.count)))
    text = table(results)
    print(text)
    publish("scaleout", {"machine": machine_facts(), "results": results}, text)


if __name__ == "__main__":
    main()
