"""Shared integration fixtures: a real collector process on a free port, with its own source
in the real Postgres, and tails of the raw and rejected topics."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from cdp_common.sources import Source, SourceStore
from cdp_common.topics import Topic
from tests.helpers import ServiceProcess, TopicTail, free_port, python_module


@dataclass(frozen=True)
class Collector:
    url: str
    source: Source
    process: ServiceProcess

    def unavailable_answers(self) -> float:
        """How many 503s it has answered: a 503 can follow a write that did land (the
        broker acknowledged after the produce timeout), and the client's retry then
        stores a second copy with the same messageId, which the pipeline de-duplicates."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("cdp_collector_http_requests_total{") and 'status="503"' in line
        )


@pytest.fixture(scope="session")
async def collector_source(migrated_pool) -> Source:  # type: ignore[no-untyped-def]
    store = SourceStore(migrated_pool)
    return await store.add(
        f"test-{secrets.token_hex(4)}",
        origins=["https://www.example.com"],
        internal_domains=["example.com"],
    )


def start_collector(settings, **env: str) -> tuple[ServiceProcess, str]:  # type: ignore[no-untyped-def]
    port = free_port()
    proc = ServiceProcess(
        "collector",
        python_module("cdp_collector.main"),
        {
            "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
            "CDP_COLLECTOR_PORT": str(port),
            "CDP_COLLECTOR_SOURCES_REFRESH_S": "1",
            "CDP_COLLECTOR_PRODUCE_TIMEOUT_S": "2",
            **env,
        },
    )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def collector(settings, collector_source: Source) -> Iterator[Collector]:  # type: ignore[no-untyped-def]
    proc, url = start_collector(settings)
    try:
        proc.wait_http(f"{url}/readyz")
        yield Collector(url=url, source=collector_source, process=proc)
    finally:
        proc.stop()


async def _tail(bootstrap: str, topic: Topic) -> AsyncIterator[TopicTail]:
    tail = await TopicTail(bootstrap, topic).start()
    yield tail
    await tail.stop()


@pytest.fixture
async def raw(kafka_bootstrap: str) -> AsyncIterator[TopicTail]:
    async for tail in _tail(kafka_bootstrap, Topic.HITS_RAW):
        yield tail


@pytest.fixture
async def enriched(kafka_bootstrap: str) -> AsyncIterator[TopicTail]:
    async for tail in _tail(kafka_bootstrap, Topic.HITS_ENRICHED):
        yield tail


@pytest.fixture
async def rejected(kafka_bootstrap: str) -> AsyncIterator[TopicTail]:
    async for tail in _tail(kafka_bootstrap, Topic.HITS_REJECTED):
        yield tail
