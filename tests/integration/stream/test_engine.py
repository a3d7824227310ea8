"""The stream engine against the real broker, with each Kafka client: commit order and
timing, rebalance, poison records, transient failures and health, background publishing.
The processors here are tiny and live in the test; the services' own processors are
tested through their processes (tests/integration/<service>/)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Sequence

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from cdp_common.kafka import ensure_topics, make_admin, make_producer
from cdp_common.stream import Emit, Output, Publish, Record, Reject
from cdp_common.stream.client import ConsumerConfig, ProducerConfig
from cdp_common.stream.engine import Engine, EngineConfig
from cdp_common.topics import TopicSpec
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.integration


class Upper:
    """Emits each value upper-cased to ``out``; rejects values starting with ``bad``; drops
    ``skip``; fails (as a store outage would) while ``failing`` is set."""

    stage = "enricher"  # a stage the rejected-record schema knows

    def __init__(self, out: str, rejected: str) -> None:
        self.out = out
        self.rejected_topic = rejected
        self.failing = False
        self.calls = 0
        self.seen: list[Record] = []
        self.durable: list[int] = []
        self.publish: Publish | None = None

    async def start(self, publish: Publish) -> None:
        self.publish = publish

    async def process(self, batch: Sequence[Record]) -> Output:
        self.calls += 1
        if self.failing:
            raise ConnectionRefusedError("store is down")
        out = Output()
        for r in batch:
            if r.value is None or r.value.startswith(b"bad"):
                out.rejects.append(Reject(r, "malformed", "not what we take"))
            elif r.value == b"skip":
                out.drop("skipped")
            else:
                out.emits.append(Emit(self.out, r.key, r.value.upper()))
        self.seen.extend(batch)
        n = len(batch)

        async def done() -> None:
            self.durable.append(n)

        out.after_durable = done
        return out

    async def stop(self) -> None:
        pass


@pytest.fixture(params=["confluent", "aiokafka"])
def client(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def topics(settings, n: int = 3, partitions: int = 2) -> list[str]:  # type: ignore[no-untyped-def]
    names = [f"test.stream.{uuid.uuid4().hex[:8]}" for _ in range(n)]
    admin = make_admin(settings)
    await admin.start()
    try:
        await ensure_topics(admin, [TopicSpec(x, partitions, 3_600_000) for x in names])
    finally:
        await admin.close()
    return names


def config(settings, client: str, source: str, group: str, **over) -> EngineConfig:  # type: ignore[no-untyped-def]
    return EngineConfig(
        consumer=ConsumerConfig(
            kafka=settings.kafka_access(), group_id=group, client_id="test", topics=(source,), session_timeout_s=6
        ),
        producer=ProducerConfig(kafka=settings.kafka_access(), client_id="test"),
        client=client,  # type: ignore[arg-type]
        batch_size=100,
        batch_within_s=0.05,
        **over,
    )


async def produce(settings, topic: str, values: list[bytes | None], partition: int | None = None) -> None:  # type: ignore[no-untyped-def]
    p = make_producer(settings, client_id="test-feed")
    await p.start()
    try:
        for i, v in enumerate(values):
            await p.send_and_wait(topic, v, key=f"k{i % 7}".encode(), partition=partition)
    finally:
        await p.stop()


async def read_all(settings, topic: str, want: int, within: float = 20) -> list[tuple[int, bytes | None, bytes | None]]:  # type: ignore[no-untyped-def]
    c = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest", group_id=None)
    await c.start()
    got: list[tuple[int, bytes | None, bytes | None]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline and len(got) < want:
            for records in (await c.getmany(timeout_ms=200)).values():
                got.extend((r.partition, r.key, r.value) for r in records)
        # a little longer, so that a duplicate would be seen
        for records in (await c.getmany(timeout_ms=500)).values():
            got.extend((r.partition, r.key, r.value) for r in records)
    finally:
        await c.stop()
    return got


async def committed(settings, group: str, topic: str, partitions: int = 2) -> list[int | None]:  # type: ignore[no-untyped-def]
    c = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        return [await c.committed(TopicPartition(topic, p)) for p in range(partitions)]
    finally:
        await c.stop()


@pytest.fixture
async def running() -> AsyncIterator[list[tuple[Engine, asyncio.Task[int]]]]:
    started: list[tuple[Engine, asyncio.Task[int]]] = []
    yield started
    for engine, _ in started:
        engine.stop()
    for _, task in started:
        await asyncio.wait_for(task, 40)


def start(running, processor, cfg: EngineConfig) -> Engine:  # type: ignore[no-untyped-def]
    engine = Engine(processor, cfg, registry=CollectorRegistry())
    running.append((engine, asyncio.create_task(engine.run())))
    return engine


async def test_every_record_has_one_outcome_and_rejects_keep_their_origin(settings, client: str, running) -> None:  # type: ignore[no-untyped-def]
    source, out, rejected = await topics(settings)
    values: list[bytes | None] = [b"a", b"bad-1", None, b"skip", b"b", b"\xff\xfe"]
    await produce(settings, source, values, partition=0)
    proc = Upper(out, rejected)
    engine = start(running, proc, config(settings, client, source, f"g-{uuid.uuid4().hex[:6]}"))

    emitted = await read_all(settings, out, want=3)
    assert sorted(v for _, _, v in emitted) == [b"A", b"B", b"\xff\xfe"]
    refused = [orjson.loads(v) for _, _, v in await read_all(settings, rejected, want=2) if v]
    assert sorted(r["sourceOffset"] for r in refused) == [1, 2]
    for r in refused:
        assert r["stage"] == "enricher" and r["reason"] == "malformed" and r["sourceTopic"] == source
        assert r["sourcePartition"] == 0
        assert base64.b64decode(r["original"]) == (values[r["sourceOffset"]] or b"")
    await wait_for(lambda: _true(sum(proc.durable) == len(values)), what="after_durable for every record")
    assert engine.health.status == "ok"


async def _true(x: bool) -> bool:
    return x


async def test_offsets_wait_for_the_interval_then_move_on_revoke_and_idle(settings, client: str, running) -> None:  # type: ignore[no-untyped-def]
    """Nothing is committed inside the interval; a second member joining makes the first
    commit what it has done before it lets go, so the newcomer re-reads nothing."""
    source, out, rejected = await topics(settings)
    group = f"g-{uuid.uuid4().hex[:6]}"
    await produce(settings, source, [f"m{i}".encode() for i in range(20)])
    first = Upper(out, rejected)
    start(running, first, config(settings, client, source, group, commit_interval_s=3600))
    await wait_for(lambda: _true(len(first.seen) == 20), what="first member read all")
    await wait_for(lambda: _true(sum(first.durable) == 20), what="first member finished all")
    assert await committed(settings, group, source) == [None, None]

    second = Upper(out, rejected)
    joined = start(running, second, config(settings, client, source, group, commit_interval_s=3600))

    async def both_committed() -> bool:
        return sum(x or 0 for x in await committed(settings, group, source)) == 20

    await wait_for(both_committed, within=40, what="commit on revoke")
    await wait_for(lambda: _true(bool(joined.consumer.assignment())), what="the newcomer owns a partition")
    for partition in (0, 1):  # both members get some
        await produce(settings, source, [b"after"] * 2, partition=partition)
    await wait_for(lambda: _true(len(first.seen) + len(second.seen) == 24), what="new records read")
    assert second.seen and all(r.value == b"after" for r in second.seen)  # nothing re-read

    # an idle member commits what it applied within the interval
    source2, out2, _ = await topics(settings)
    group2 = f"g-{uuid.uuid4().hex[:6]}"
    idle = Upper(out2, rejected)
    start(running, idle, config(settings, client, source2, group2, commit_interval_s=0.5))
    await produce(settings, source2, [f"n{i}".encode() for i in range(10)])

    async def idle_committed() -> bool:
        return sum(x or 0 for x in await committed(settings, group2, source2)) == 10

    await wait_for(idle_committed, what="idle member committed")


async def test_a_store_outage_retries_the_batch_reports_degraded_and_commits_nothing_meanwhile(  # type: ignore[no-untyped-def]
    settings, client: str, running
) -> None:
    source, out, rejected = await topics(settings)
    group = f"g-{uuid.uuid4().hex[:6]}"
    port = free_port()
    proc = Upper(out, rejected)
    proc.failing = True
    engine = start(running, proc, config(settings, client, source, group, commit_interval_s=0.2, metrics_port=port))
    await produce(settings, source, [f"m{i}".encode() for i in range(10)], partition=1)

    async def health() -> tuple[int, dict]:  # type: ignore[type-arg]
        async with httpx.AsyncClient() as h:
            r = await h.get(f"http://127.0.0.1:{port}/health", timeout=5)
            return r.status_code, r.json()

    async def degraded() -> bool:
        return proc.calls >= 3 and (await health())[0] == 503

    await wait_for(degraded, what="health 503 while failing")
    _, doc = await health()
    assert doc["status"] == "degraded" and "store is down" in doc["detail"]
    async with httpx.AsyncClient() as h:
        assert (await h.get(f"http://127.0.0.1:{port}/health/live", timeout=5)).status_code == 200
        metrics = (await h.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    assert 'cdp_stream_degraded{stage="enricher"} 1.0' in metrics
    assert await committed(settings, group, source) == [None, None]

    proc.failing = False

    async def recovered() -> bool:
        return (await health())[0] == 200 and sum(proc.durable) == 10

    await wait_for(recovered, what="recovery")
    emitted = await read_all(settings, out, want=10)
    assert sorted(v for _, _, v in emitted) == sorted(f"M{i}".encode() for i in range(10))  # each exactly once
    await wait_for(lambda: _committed_is(settings, group, source, [None, 10]), what="commit after recovery")
    assert engine.health.status == "ok"


async def _committed_is(settings, group: str, topic: str, want: list[int | None]) -> bool:  # type: ignore[no-untyped-def]
    return await committed(settings, group, topic) == want


async def test_background_publishing_and_lag_metrics(settings, client: str, running) -> None:  # type: ignore[no-untyped-def]
    source, out, rejected = await topics(settings)
    port = free_port()
    proc = Upper(out, rejected)
    start(running, proc, config(settings, client, source, f"g-{uuid.uuid4().hex[:6]}", metrics_port=port))
    await wait_for(lambda: _true(proc.publish is not None), what="processor started")
    assert proc.publish is not None
    await proc.publish([Emit(out, b"k", b"background")])
    await produce(settings, source, [b"x"] * 5, partition=0)
    got = await read_all(settings, out, want=6)
    assert sorted(v for _, _, v in got) == [b"X"] * 5 + [b"background"]

    async def lag_zero() -> bool:
        async with httpx.AsyncClient() as h:
            text = (await h.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
        line = f'cdp_stream_consumer_lag{{partition="0",stage="enricher",topic="{source}"}} 0.0'
        return line in text and 'cdp_stream_records_in_total{stage="enricher"} 5.0' in text

    await wait_for(lag_zero, what="lag 0 and 5 records in")


async def test_members_joining_and_leaving_during_traffic_lose_nothing_double_nothing_and_keep_key_order(  # type: ignore[no-untyped-def]
    settings, client: str, running
) -> None:
    """Traffic flows while a second member joins and the first then leaves (SIGTERM-like
    stop): every record comes out exactly once, and per key in the order it went in."""
    source, out, rejected = await topics(settings, partitions=4)
    group = f"g-{uuid.uuid4().hex[:6]}"
    keys = [f"user-{i}" for i in range(40)]
    total = 3000
    first = Upper(out, rejected)
    first_engine = start(running, first, config(settings, client, source, group, commit_interval_s=0.5))
    second = Upper(out, rejected)
    joined: Engine | None = None
    p = make_producer(settings, client_id="test-traffic")
    await p.start()
    try:
        for n in range(total):
            key = keys[n % len(keys)]
            await p.send(source, f"{key}:{n:06d}".encode(), key=key.encode())
            if n % 100 == 99:
                await p.flush()
                await asyncio.sleep(0.05)  # 3,000 records over a few seconds
            if n == total // 3:
                joined = start(running, second, config(settings, client, source, group, commit_interval_s=0.5))
            if n == 2 * total // 3:
                assert joined is not None
                await wait_for(lambda m=joined: _true(bool(m.consumer.assignment())), what="the second member joined")
                first_engine.stop()  # leaves the group: its partitions move to the second
        await p.flush()
    finally:
        await p.stop()

    got = await read_all(settings, out, want=total, within=60)
    values = [v.decode() for _, _, v in got if v]
    assert len(values) == total, f"{len(values)} out for {total} in ({len(values) - len(set(values))} duplicates)"
    assert len(set(values)) == total
    assert second.seen, "the second member never took part"
    by_key: dict[str, list[int]] = {}
    for _, _, v in got:  # read per partition in offset order: a key's records stay in order
        k, n = (v or b"").decode().rsplit(":", 1)
        by_key.setdefault(k.lower(), []).append(int(n))
    assert all(ns == sorted(ns) for ns in by_key.values())
