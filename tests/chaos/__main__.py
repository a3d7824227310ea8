"""``make chaos``: the real platform under steady traffic, faults one after another, then
the invariants checked exactly. Prints a table of faults and one of invariants; exits 1 on
any violation.

    python -m tests.chaos --short     # each fault once, short outages (CI, about 4 minutes)
    python -m tests.chaos             # the long form: every fault 3 times, longer outages

Faults, in turn: kill -9 of the collector, enricher, segmenter and syncer (each restarted at
once, as a supervisor would); the Kafka broker, Postgres and Redis each stopped and started
again; the marketing-automation sandbox answering 50% 5xx, then 429 with Retry-After, then
with 2 s latency, then recovering. After each fault the run waits (explicitly, with a
deadline) until a fresh event reaches its profile, or for sandbox faults a fresh lead
reaches every destination, and reports how long that took.

    python -m tests.chaos --short --brokers 3 --only broker-loss

runs on a cluster of three KRaft brokers (topics with three replicas, min.insync.replicas
2) and kills a broker with -9 during traffic (the short form the first of the bootstrap
list, the long form each in turn): the platform must go on while it is down (a fresh event
reaches its profile before the broker is back), and nothing may be lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from cdp_common.kafka_access import KafkaAccess
from cdp_common.rejects import partitions_of
from tests.chaos.checks import DESTINATIONS, FaultRow, Held, check_table, evaluate, fault_table, metric
from tests.chaos.platform import WRITE_KEY, Platform
from tests.chaos.traffic import CHROME, Traffic
from tests.integration.faults.infra import PrivateKafka


@dataclass(frozen=True)
class Form:
    cycles: int
    outage_s: float  # how long Kafka, Postgres, Redis stay down
    destination_fault_s: float  # how long each sandbox fault lasts
    settle_s: float  # traffic between faults
    people: int
    rate: float  # batches per second
    converge_s: float  # the most the end may take to drain
    spread_s: float  # leads are made over about this long (the faults' duration)


FAULTS = ("kill", "kafka", "postgres", "redis", "destinations", "broker-loss")
SHORT = Form(cycles=1, outage_s=8, destination_fault_s=8, settle_s=3, people=80, rate=25, converge_s=240, spread_s=120)
LONG = Form(
    cycles=3, outage_s=20, destination_fault_s=30, settle_s=10, people=400, rate=40, converge_s=600, spread_s=800
)


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        try:
            if await check():
                return time.monotonic() - t0
        except (OSError, asyncpg.PostgresError, httpx.HTTPError):
            pass
        await asyncio.sleep(0.25)
    return None


class Run:
    def __init__(self, platform: Platform, form: Form, only: tuple[str, ...] = FAULTS) -> None:
        self.p = platform
        self.form = form
        self.only = only
        self.run = uuid.uuid4().hex[:6]
        self.traffic = Traffic(platform.collector_url, WRITE_KEY, self.run, form.people, form.rate, form.spread_s)
        self.rows: list[FaultRow] = []
        self.t0 = time.monotonic()
        self.probes = 0

    # ---- probes: the pipeline flows again --------------------------------------------------

    async def _post(self, events: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(timeout=10, headers={"user-agent": CHROME}) as http:
            while True:
                try:
                    r = await http.post(
                        f"{self.p.collector_url}/v1/batch", auth=(WRITE_KEY, ""), json={"batch": events}
                    )
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)

    async def probe_profile(self, within: float) -> float | None:
        self.probes += 1
        aid = f"probe-{self.run}-{self.probes}"
        t0 = time.monotonic()
        await self._post([{"type": "page", "anonymousId": aid, "properties": {"path": "/probe"}}])

        async def arrived() -> bool:
            conn = await asyncpg.connect(self.p.postgres.dsn, timeout=3)
            try:
                return bool(await conn.fetchval("SELECT 1 FROM identities WHERE id = $1", f"anon:{aid}"))
            finally:
                await conn.close()

        took = await _until(arrived, within)
        return None if took is None else time.monotonic() - t0

    async def probe_lead(self, within: float) -> float | None:
        self.probes += 1
        aid, email = f"probe-{self.run}-{self.probes}", f"probe.{self.run}.{self.probes}@example.org"
        t0 = time.monotonic()
        form = {"form": "contact", "values": {"email": email}}
        await self._post(
            [
                {"type": "track", "anonymousId": aid, "event": "Form Submitted", "properties": form},
                {"type": "identify", "anonymousId": aid, "traits": {"email": email}},
            ]
        )

        async def everywhere() -> bool:
            return all(email in self.p.sandbox(f"contacts/{d}") for d in DESTINATIONS)

        took = await _until(everywhere, within)
        return None if took is None else time.monotonic() - t0

    # ---- faults ----------------------------------------------------------------------------

    async def fault(self, name: str, do: Callable[[], Awaitable[None]], probe: str = "profile") -> None:
        self.traffic.new_window()
        at = time.monotonic() - self.t0
        t0 = time.monotonic()
        before = self._delivered()
        await do()
        lasted = time.monotonic() - t0
        after = self._delivered()
        delivered = {d: after[d] - before[d] for d in DESTINATIONS}
        within = self.form.converge_s
        recovered = await (self.probe_lead(within) if probe == "lead" else self.probe_profile(within))
        window = self.traffic.new_window()
        self.rows.append(
            FaultRow(name, at, lasted, window["events"], window["retries"], recovered, window["leads"], delivered)
        )
        print(
            f"  {name}: lasted {lasted:.1f} s, recovered in {recovered if recovered is None else round(recovered, 1)} s",
            flush=True,
        )
        await asyncio.sleep(self.form.settle_s)  # steady traffic between faults

    def _delivered(self) -> dict[str, int]:
        """Contacts at each destination (the run's leads and probes)."""
        try:
            return {d: len(self.p.sandbox(f"contacts/{d}")) for d in DESTINATIONS}
        except httpx.HTTPError:
            return dict.fromkeys(DESTINATIONS, 0)

    def kill9(self, service: str) -> Callable[[], Awaitable[None]]:
        async def do() -> None:
            s = self.p.services[service]
            await asyncio.to_thread(s.kill9)
            await asyncio.to_thread(s.start)

        return do

    def outage(self, part: Any) -> Callable[[], Awaitable[None]]:
        async def do() -> None:
            await asyncio.to_thread(part.stop)
            await asyncio.sleep(self.form.outage_s)
            await asyncio.to_thread(part.start)

        return do

    def broker_loss(self, node: int) -> Callable[[], Awaitable[None]]:
        """kill -9 of one broker of three; the pipeline must flow while it is gone."""

        async def do() -> None:
            await asyncio.to_thread(self.p.kafka.kill, node)
            took = await self.probe_profile(self.form.converge_s)
            if took is None:
                raise RuntimeError(f"with broker {node + 1} of 3 down, a fresh event never reached its profile")
            print(f"    broker {node + 1} down: a fresh event reached its profile in {took:.1f} s", flush=True)
            await asyncio.sleep(self.form.outage_s)
            await asyncio.to_thread(self.p.kafka.start, node)

        return do

    def destination(self, **faults: Any) -> Callable[[], Awaitable[None]]:
        async def do() -> None:
            self.p.faults(**faults)
            await asyncio.sleep(self.form.destination_fault_s)
            self.p.faults(error_rate=0.0, latency_s=0.0, throttle_next=0)

        return do

    async def all_faults(self) -> None:
        for cycle in range(self.form.cycles):
            print(f"cycle {cycle + 1} of {self.form.cycles}", flush=True)
            if "kill" in self.only:
                for service in ("collector", "enricher", "segmenter", "syncer"):
                    await self.fault(f"kill -9 {service}", self.kill9(service))
            if "kafka" in self.only:
                name = "Kafka broker stopped" if self.p.kafka.nodes == 1 else "every Kafka broker stopped"
                await self.fault(name, self.outage(self.p.kafka))
            if "broker-loss" in self.only and self.p.kafka.nodes >= 3:
                # the short form loses the first broker of the bootstrap list; the long, each
                for node in range(1 if self.form.cycles == 1 else self.p.kafka.nodes):
                    await self.fault(f"kill -9 broker {node + 1} of {self.p.kafka.nodes}", self.broker_loss(node))
            if "postgres" in self.only:
                await self.fault("Postgres stopped", self.outage(self.p.postgres))
            if "redis" in self.only:
                await self.fault("Redis stopped", self.outage(self.p.redis))
            if "destinations" in self.only:
                await self.fault("destinations 50% 5xx", self.destination(error_rate=0.5), probe="lead")
                await self.fault(
                    "destinations 429 + Retry-After 2 s",
                    self.destination(throttle_next=30, retry_after_s=2),
                    probe="lead",
                )
                await self.fault("destinations 2 s latency", self.destination(latency_s=2.0), probe="lead")

    # ---- the end ---------------------------------------------------------------------------

    async def converge(self) -> float | None:
        people = self.traffic.people

        async def drained() -> bool:
            if not all((await self.p.caught_up()).values()):
                return False
            leads = {p.email for p in people if p.email and p.converted}
            return all(leads <= set(self.p.sandbox(f"contacts/{d}")) for d in DESTINATIONS)

        return await _until(drained, self.form.converge_s)

    async def held(self) -> Held:
        bootstrap = self.p.kafka.bootstrap
        raw = await _read_topic(bootstrap, "cdp.hits.raw")
        raw_ids = set()
        for value in raw:
            doc = orjson.loads(value)
            raw_ids.add(doc["event"]["messageId"])
        marker = f"chaos-{self.run}".encode()
        rejected_ours = sum(marker in v for v in await _read_topic(bootstrap, "cdp.hits.rejected"))
        conn = await asyncpg.connect(self.p.postgres.dsn)
        try:
            rows = await conn.fetch(
                "SELECT i.id, p.data FROM identities i JOIN profiles p ON p.id = i.profile_id "
                "WHERE i.id = ANY($1::text[])",
                [f"anon:{p.anonymous_id}" for p in self.traffic.people],
            )
            profiles: dict[str, dict[str, Any] | None] = {
                r["id"].removeprefix("anon:"): orjson.loads(r["data"]) for r in rows
            }
            leads = await conn.fetch("SELECT email, version, pending FROM leads")
        finally:
            await conn.close()
        stats = self.p.sandbox("stats")
        drops = metric(self.p.metrics("segmenter"), "cdp_segmenter_records_total", outcome="dropped")
        return Held(
            raw_ids=raw_ids,
            profiles=profiles,
            contacts={d: self.p.sandbox(f"contacts/{d}") for d in DESTINATIONS},
            lead_versions={r["email"]: r["version"] for r in leads},
            pending={r["email"] for r in leads if r["pending"]},
            caught_up=await self.p.caught_up(),
            rejected_ours=rejected_ours,
            regressions=int(stats.get("regressions", 0)),
            drops=drops,
        )


async def _read_topic(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(KafkaAccess(bootstrap), topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[bytes] = []
        todo = {tp for tp in tps if ends[tp] > 0}
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=2000, max_records=5000)
            out.extend(r.value for records in batches.values() for r in records if r.value is not None)
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()


async def main(form: Form, brokers: int = 1, only: tuple[str, ...] = FAULTS) -> int:
    platform = Platform(kafka=PrivateKafka(nodes=brokers))
    started = datetime.now(UTC)
    me = asyncio.current_task()
    assert me is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, me.cancel)  # stop = tear the platform down
    print(f"chaos: starting a private platform ({started:%Y-%m-%d %H:%M} UTC)", flush=True)
    try:
        await asyncio.to_thread(platform.up)
        run = Run(platform, form, only)
        first = await run.probe_profile(120)
        if first is None:
            print("chaos: the platform never processed a first event", file=sys.stderr)
            return 2
        run.traffic.start()
        await asyncio.sleep(form.settle_s)
        await run.all_faults()
        await run.traffic.stop()
        drained = await run.converge()
        held = await run.held()
        checks = evaluate(run.traffic.sent.accepted, run.traffic.sent.refused, run.traffic.people, held)
        sent = run.traffic.sent
        print()
        print(fault_table(run.rows))
        print()
        print(check_table(checks))
        print()
        restarts = {n: s.restarts for n, s in platform.services.items() if s.restarts}
        print(
            f"{len(sent.accepted):,} events in {sent.ok:,} batches answered 200 after {sent.requests:,} requests "
            f"({sent.unavailable:,} answered 503, {sent.errors:,} other errors, all retried); "
            f"{sum(1 for p in run.traffic.people if p.converted)} leads; restarts {restarts}; "
            f"drained {f'in {drained:.1f} s' if drained is not None else f'NOT within {form.converge_s:g} s'}; "
            f"run took {(datetime.now(UTC) - started).total_seconds():.0f} s"
        )
        bad = [c for c in checks if not c.ok] + [r for r in run.rows if r.recovered_s is None]  # type: ignore[misc]
        return 1 if bad else 0
    finally:
        await asyncio.to_thread(platform.down)


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="each fault once, short outages (CI)")
    parser.add_argument("--brokers", type=int, choices=[1, 3], default=1, help="Kafka nodes (3: a replicated cluster)")
    parser.add_argument("--only", default=",".join(FAULTS), help=f"comma list of fault kinds: {', '.join(FAULTS)}")
    args = parser.parse_args()
    only = tuple(f.strip() for f in args.only.split(",") if f.strip())
    unknown = set(only) - set(FAULTS)
    if unknown:
        parser.error(f"unknown fault kind(s) {sorted(unknown)}")
    return asyncio.run(main(SHORT if args.short else LONG, args.brokers, only))


if __name__ == "__main__":
    sys.exit(cli())
