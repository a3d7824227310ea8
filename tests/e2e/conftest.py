"""Fixtures shared with the integration suites (infrastructure, a collector process with
its own source, topic tails, Postgres, the syncer's sandbox), and the whole pipeline behind
the collector: enricher, segmenter and syncer processes on the real topics."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cdp_syncer.sandbox import DEFAULT_SECRET
from tests.helpers import ROOT, ServiceProcess, TopicTail, free_port, python_module
from tests.integration.conftest import collector, collector_source, enriched  # noqa: F401
from tests.integration.enricher.conftest import Enrichers
from tests.integration.segmenter.conftest import definitions, pg  # noqa: F401
from tests.integration.syncer.conftest import make_lead, sandbox  # noqa: F401

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
SITE = "https://www.example.com"


class Pipeline:
    """The processes behind the collector, and the consumer groups they run in."""

    def __init__(self, run: str, enrichers: Enrichers) -> None:
        self.run = run
        self.enrichers = enrichers
        self.segmenter_group = f"e2e-seg-{run}"
        self.segmenter_metrics_port = free_port()

    def segmenter_metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.segmenter_metrics_port}/metrics", timeout=5).text


def cdp(settings: Any, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args],
        env={
            "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
            "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Visitor:
    """Builds the events a tag would send, with event timestamps, for one device."""

    def __init__(self, anonymous_id: str, at: datetime, ua: str) -> None:
        self.aid, self.t, self.ua, self.events = anonymous_id, at, ua, []

    def _ev(self, ev: dict[str, Any], path: str, query: str = "") -> None:
        self.t += timedelta(seconds=20)
        self.events.append(
            {
                "anonymousId": self.aid,
                "messageId": str(uuid.uuid4()),
                "timestamp": self.t.isoformat(),
                "context": {"page": {"url": f"{SITE}{path}{query}", "path": path}, "userAgent": self.ua},
                **ev,
            }
        )

    def page(self, path: str, query: str = "") -> Visitor:
        self._ev({"type": "page", "properties": {"path": path}}, path, query)
        return self

    def track(self, name: str, on: str, **props: Any) -> Visitor:
        self._ev({"type": "track", "event": name, "properties": props}, on)
        return self

    def identify(self, **traits: Any) -> Visitor:
        self._ev({"type": "identify", "traits": traits}, "/")
        return self


async def post(collector: Any, v: Visitor) -> None:  # noqa: F811 (the fixture's value)
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(
            f"{collector.url}/v1/batch",
            auth=(collector.source.write_key, ""),
            headers={"user-agent": v.ua},
            json={"batch": v.events},
        )
    assert r.status_code == 200, r.text
    v.events = []


async def until(check: Any, within: float = 60, every: float = 0.5) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"not reached within {within}s (last: {last!r})")


@pytest.fixture
async def pipeline(collector, sandbox, settings, kafka_bootstrap, enriched: TopicTail, pg, definitions) -> Any:  # type: ignore[no-untyped-def]  # noqa: F811
    """Enricher, segmenter and syncer processes behind the session's collector, each shown
    to consume (a probe visitor reaches Postgres, a probe lead reaches the sandbox)."""
    cdp(settings, "rules", "apply", "-f", str(ROOT / "deploy/demo/rules.yaml"))
    common = {
        "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
        "CDP_REDIS_URL": settings.redis_url,
    }
    run = uuid.uuid4().hex[:8]
    enrichers = Enrichers(settings, kafka_bootstrap, "confluent")  # the defaults
    pipeline = Pipeline(run, enrichers)
    procs: list[ServiceProcess] = []
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        enrichers.start(CDP_ENRICHER_RULES_REFRESH_S="1")
        await enrichers.wait_consuming(producer, enriched)
        procs.append(
            ServiceProcess(
                "segmenter",
                python_module("cdp_segmenter.main"),
                {
                    **common,
                    "CDP_SEGMENTER_GROUP_ID": pipeline.segmenter_group,
                    "CDP_SEGMENTER_AUTO_OFFSET_RESET": "latest",
                    "CDP_SEGMENTER_METRICS_PORT": str(pipeline.segmenter_metrics_port),
                    "CDP_SEGMENTER_DEFINITIONS_REFRESH_S": "1",
                    "CDP_SEGMENTER_SEGMENT_SIZES_S": "1",
                },
            )
        )
        procs.append(
            ServiceProcess(
                "syncer",
                python_module("cdp_syncer.main"),
                {
                    **common,
                    "CDP_SYNC_GROUP_ID": f"e2e-sync-{run}",
                    "CDP_SYNC_AUTO_OFFSET_RESET": "latest",
                    "CDP_SYNC_DESTINATIONS": "hubspot,webhook",
                    "CDP_SYNC_METRICS_PORT": str(free_port()),
                    "CDP_HUBSPOT_BASE_URL": sandbox.url,
                    "CDP_HUBSPOT_TOKEN": "sandbox-hubspot-token",
                    "CDP_WEBHOOK_URL": f"{sandbox.url}/webhook",
                    "CDP_WEBHOOK_SECRET": DEFAULT_SECRET,
                },
            )
        )

        # both consume: a probe visitor reaches Postgres, a probe lead reaches the sandbox
        async def segmenter_ready() -> bool:
            probe = Visitor(f"probe-{uuid.uuid4().hex[:6]}", datetime.now(UTC), CHROME).page("/probe")
            await post(collector, probe)
            await asyncio.sleep(1.0)
            return bool(await pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"anon:{probe.aid}"))

        await until(segmenter_ready, within=90, every=0.1)

        async def syncer_ready() -> bool:
            lead = make_lead(f"probe-{uuid.uuid4().hex[:6]}", f"probe-{uuid.uuid4().hex[:6]}@example.org")
            await producer.send_and_wait("cdp.leads.qualified", orjson.dumps(lead), key=lead["profileId"].encode())
            await asyncio.sleep(1.0)
            return lead["contact"]["email"] in sandbox.contacts("hubspot")

        await until(syncer_ready, within=90, every=0.1)

        yield pipeline
    finally:
        await producer.stop()
        enrichers.stop()
        for proc in procs:
            proc.stop()
