"""Real segmenter processes against the real broker, Postgres and Redis.

Each test gets its own input topic (so nothing else writes into it) filled with hits that
went through the real enrichment code with the demo campaign rules; the outputs are the
real ``cdp.segments.changes`` and ``cdp.leads.qualified`` topics, filtered by the test's
own profile ids."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.asyncio import Redis

from cdp_common.definitions.campaign_rules import compile_rules
from cdp_common.definitions.rule_store import parse_rule_file
from cdp_common.topics import Topic
from cdp_enricher.pipeline import Emitted, Enricher, Rules
from tests.helpers import ROOT, RUNNERS, ServiceProcess, TopicTail, free_port, python_module, runner_env

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
SITE = "https://www.example.com"
DEMO_DEFINITIONS = ROOT / "deploy/demo/segments.yaml"

_RULES = Rules(
    rules=compile_rules(parse_rule_file(yaml.safe_load((ROOT / "deploy/demo/rules.yaml").read_text()))),
    internal_domains={"src_test": ("example.com",)},
)
_ENRICHER = Enricher(lambda ip: "NL")


class Journey:
    """Builds one visitor's hits (as the tag would send them) and enriches them for real."""

    def __init__(self, anonymous_id: str, start: datetime, *, ua: str = CHROME) -> None:
        self.anonymous_id = anonymous_id
        self.t = start
        self.ua = ua
        self.hits: list[bytes] = []
        self.referrer: str | None = None

    def at(self, t: datetime) -> Journey:
        self.t = t
        return self

    def wait(self, **delta: float) -> Journey:
        self.t += timedelta(**delta)
        return self

    def _hit(self, event: dict[str, Any], url: str) -> dict[str, Any]:
        self.t += timedelta(seconds=5)
        ts = self.t.isoformat()
        page = {"url": url, "path": httpx.URL(url).path, "referrer": self.referrer or ""}
        return {
            "event": {
                "anonymousId": self.anonymous_id,
                "messageId": str(uuid.uuid4()),
                "timestamp": ts,
                "context": {"page": page, "library": {"name": "cdp-tag"}},
                **event,
            },
            "receivedAt": ts,
            "sourceId": "src_test",
            "clientIp": "81.2.69.142",
            "userAgent": self.ua,
            "timestamp": ts,
        }

    def add(self, event: dict[str, Any], url: str) -> dict[str, Any]:
        raw = self._hit(event, url)
        out = _ENRICHER.enrich(orjson.dumps(raw), _RULES)
        assert isinstance(out, Emitted), out
        self.hits.append(out.value)
        return raw

    def page(self, path: str, query: str = "", **ctx: Any) -> Journey:
        self.add({"type": "page", "properties": {"path": path}, **ctx}, f"{SITE}{path}{query}")
        self.referrer = f"{SITE}{path}"
        return self

    def track(self, name: str, on: str = "/", **props: Any) -> Journey:
        self.add({"type": "track", "event": name, "properties": props}, f"{SITE}{on}")
        return self

    def identify(self, user_id: str | None = None, **traits: Any) -> Journey:
        ev: dict[str, Any] = {"type": "identify", "traits": traits}
        if user_id:
            ev["userId"] = user_id
        self.add(ev, f"{SITE}/")
        return self


class Segmenters:
    """Segmenter workers in one consumer group on a private input topic."""

    def __init__(self, settings: Any, runner: str, topic: str) -> None:
        self.settings = settings
        self.runner = runner
        self.topic = topic
        self.group = f"test-segmenter-{uuid.uuid4().hex[:8]}"
        self.procs: list[ServiceProcess] = []
        self.ports: list[int] = []

    def start(self, **env: str) -> ServiceProcess:
        port = free_port()
        proc = ServiceProcess(
            "segmenter",
            python_module("cdp_segmenter.main"),
            {
                "CDP_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
                "CDP_PG_DSN": self.settings.pg_dsn.get_secret_value(),
                "CDP_REDIS_URL": self.settings.redis_url,
                "CDP_SEGMENTER_GROUP_ID": self.group,
                "CDP_SEGMENTER_INPUT_TOPIC": self.topic,
                "CDP_SEGMENTER_METRICS_PORT": str(port),
                "CDP_SEGMENTER_BATCH_WITHIN_S": "0.02",
                "CDP_SEGMENTER_DEFINITIONS_REFRESH_S": "1",
                **runner_env("CDP_SEGMENTER", self.runner),
                **env,
            },
        )
        self.procs.append(proc)
        self.ports.append(port)
        return proc

    def metrics(self, index: int = 0) -> str:
        return httpx.get(f"http://127.0.0.1:{self.ports[index]}/metrics", timeout=5).text

    def counter(self, name: str, index: int = 0, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        total = 0.0
        for line in self.metrics(index).splitlines():
            if line.startswith(f"{name}{{{want}}}" if want else f"{name} "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    async def wait_counter(self, want: float, name: str, index: int = 0, within: float = 30, **labels: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            self.alive()
            try:
                if self.counter(name, index, **labels) >= want:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"{name}{labels} did not reach {want} within {within}s")

    async def wait_all_consuming(self, producer: AIOKafkaProducer, within: float = 90) -> None:
        """Probe every partition until every instance has applied a probe: all joined."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            self.alive()
            for part in range(4):
                probe = Journey(f"probe-{uuid.uuid4().hex[:8]}", datetime.now(UTC)).page("/probe")
                await send(producer, self.topic, probe.hits, partition=part)
            await asyncio.sleep(1.0)
            try:
                if all(
                    self.counter("cdp_segmenter_records_total", i, outcome="applied", reason="ok") > 0
                    for i in range(len(self.procs))
                ):
                    return
            except httpx.HTTPError:
                pass
        raise TimeoutError("segmenters did not all start consuming:\n" + "\n".join(p.log_tail() for p in self.procs))

    def alive(self) -> None:
        for p in self.procs:
            if p.proc.poll() is not None:
                raise RuntimeError(f"segmenter exited with {p.proc.returncode}:\n{p.log_tail()}")

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


@pytest.fixture
async def input_topic(kafka_bootstrap: str) -> AsyncIterator[str]:
    name = f"test.enriched.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])
        yield name
        await admin.delete_topics([name])
    finally:
        await admin.close()


@pytest.fixture(params=RUNNERS)
def runner(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def segmenters(settings: Any, input_topic: str, definitions: None, runner: str) -> Iterator[Segmenters]:
    s = Segmenters(settings, runner, input_topic)
    yield s
    s.stop()


def cdp(*args: str, settings: Any) -> subprocess.CompletedProcess[str]:
    env = {
        "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
        "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )


def apply_definitions(settings: Any, path: Path) -> None:
    done = cdp("segments", "apply", "--prune", "-f", str(path), settings=settings)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def definitions(settings: Any, migrated_pool: Any) -> None:
    """The demo definitions, exactly (other tests may have changed them)."""
    apply_definitions(settings, DEMO_DEFINITIONS)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await p.start()
    yield p
    await p.stop()


async def send(producer: AIOKafkaProducer, topic: str, hits: list[bytes], *, partition: int | None = None) -> None:
    futures = []
    for h in hits:
        key = orjson.loads(h)["event"].get("anonymousId") or "none"
        futures.append(await producer.send(topic, h, key=str(key).encode(), partition=partition))
    await asyncio.gather(*futures)


@pytest.fixture
async def pg(settings: Any, migrated_pool: Any) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(settings.pg_dsn.get_secret_value())
    yield conn
    await conn.close()


@pytest.fixture
async def redis(settings: Any) -> AsyncIterator[Redis]:
    r = Redis.from_url(settings.redis_url)
    yield r
    await r.aclose()


@pytest.fixture
async def changes(kafka_bootstrap: str) -> AsyncIterator[TopicTail]:
    tail = await TopicTail(kafka_bootstrap, Topic.SEGMENT_CHANGES).start()
    yield tail
    await tail.stop()


@pytest.fixture
async def rejected_tail(kafka_bootstrap: str) -> AsyncIterator[TopicTail]:
    tail = await TopicTail(kafka_bootstrap, Topic.HITS_REJECTED).start()
    yield tail
    await tail.stop()


@pytest.fixture
async def leads(kafka_bootstrap: str) -> AsyncIterator[TopicTail]:
    tail = await TopicTail(kafka_bootstrap, Topic.LEADS_QUALIFIED).start()
    yield tail
    await tail.stop()


async def profile_of(pg: asyncpg.Connection, identity: str, *, within: float = 30, until: Any = None) -> dict[str, Any]:
    """The live profile holding ``identity`` once ``until(profile)`` holds (polling)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last = None
    while loop.time() < deadline:
        row = await pg.fetchrow(
            "SELECT p.data FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.id = $1", identity
        )
        if row and row["data"]:
            last = orjson.loads(row["data"])
            if until is None or until(last):
                return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"no profile for {identity} meeting the condition within {within}s; last: {last}")
