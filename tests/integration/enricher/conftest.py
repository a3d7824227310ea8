"""Real enricher processes (faust workers) against the real broker and Postgres."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from cdp_common.topics import Topic
from tests.helpers import RUNNERS, ServiceProcess, TopicTail, free_port, python_module, runner_env

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def raw_hit(
    anonymous_id: str, *, url: str = "https://www.example.com/", source_id: str = "src_test", **event: object
) -> dict:
    now = datetime.now(UTC).isoformat()
    return {
        "event": {
            "type": "page",
            "anonymousId": anonymous_id,
            "messageId": str(uuid.uuid4()),
            "context": {"page": {"url": url}, "library": {"name": "cdp-tag"}},
            **event,
        },
        "receivedAt": now,
        "sourceId": source_id,
        "clientIp": "81.2.69.142",
        "userAgent": CHROME,
        "timestamp": now,
    }


class Enrichers:
    """Starts enricher workers in one consumer group and waits until they consume."""

    def __init__(self, settings, kafka_bootstrap: str, runner: str) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        self.runner = runner
        self.bootstrap = kafka_bootstrap
        self.group = f"test-enricher-{uuid.uuid4().hex[:8]}"
        self.procs: list[ServiceProcess] = []
        self.metrics_ports: list[int] = []

    def start(self, **env: str) -> ServiceProcess:
        port = free_port()
        proc = ServiceProcess(
            "enricher",
            python_module("cdp_enricher.main"),
            {
                "CDP_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
                "CDP_PG_DSN": self.settings.pg_dsn.get_secret_value(),
                "CDP_ENRICHER_GROUP_ID": self.group,
                "CDP_ENRICHER_AUTO_OFFSET_RESET": "latest",
                "CDP_ENRICHER_METRICS_PORT": str(port),
                "CDP_ENRICHER_BATCH_WITHIN_S": "0.02",
                **runner_env("CDP_ENRICHER", self.runner),
                **env,
            },
        )
        self.procs.append(proc)
        self.metrics_ports.append(port)
        return proc

    def metrics(self, index: int) -> str:
        return httpx.get(f"http://127.0.0.1:{self.metrics_ports[index]}/metrics", timeout=5).text

    async def wait_consuming(self, producer: AIOKafkaProducer, enriched: TopicTail, within: float = 90) -> None:
        """Probe every partition until each probe comes out enriched: the group is assigned
        and running, and (after one commit interval) has committed offsets on every
        partition, so a restarted member never falls back to ``latest`` and skips records."""
        marker = f"probe-{uuid.uuid4().hex[:8]}"
        partitions = sorted(await producer.partitions_for(Topic.HITS_RAW))
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.proc.poll() is not None:
                    raise RuntimeError(f"enricher exited with {p.proc.returncode}:\n{p.log_tail()}")
            probes: dict[int, int] = {}
            for part in partitions:
                hit = raw_hit(f"{marker}-{part}")
                meta = await producer.send_and_wait(Topic.HITS_RAW, orjson.dumps(hit), key=b"probe", partition=part)
                probes[part] = meta.offset
            got = await enriched.collect(
                lambda r: str(r["event"].get("anonymousId", "")).startswith(marker),
                want=len(partitions),
                within=3,
                settle=0,
            )
            if {r["event"]["anonymousId"] for r in got} >= {f"{marker}-{p}" for p in partitions}:
                await self._wait_committed(probes, deadline)
                return
        raise TimeoutError("enrichers did not start consuming:\n" + "\n".join(p.log_tail() for p in self.procs))

    async def _wait_committed(self, probes: dict[int, int], deadline: float) -> None:
        """The group has committed past every probe (commits run about once a second)."""
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False)
        await consumer.start()
        try:
            while time.monotonic() < deadline:
                done = [
                    (await consumer.committed(TopicPartition(Topic.HITS_RAW, part)) or 0) > offset
                    for part, offset in probes.items()
                ]
                if all(done):
                    return
                await asyncio.sleep(0.2)
        finally:
            await consumer.stop()
        raise TimeoutError(f"group {self.group} did not commit past the probes {probes}")

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


async def send(producer: AIOKafkaProducer, hits: list[dict], topic: str = Topic.HITS_RAW) -> None:
    futures = [await producer.send(topic, orjson.dumps(h), key=h["event"]["anonymousId"].encode()) for h in hits]
    await asyncio.gather(*futures)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(params=RUNNERS)
def enrichers(request, settings, kafka_bootstrap: str, migrated_pool) -> AsyncIterator[Enrichers]:  # type: ignore[no-untyped-def]
    """Every enricher test runs on the engine with each client and under faust: the wiring is
    swappable, the guarantees are not."""
    e = Enrichers(settings, kafka_bootstrap, request.param)
    yield e
    e.stop()


def by_anon(prefix: str) -> Callable[[dict], bool]:
    return lambda r: str(r["event"].get("anonymousId", "")).startswith(prefix)
