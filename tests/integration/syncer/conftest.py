"""A real sandbox marketing-automation server and real syncer processes, over real HTTP,
Kafka and Postgres."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cdp_common.records import QualifiedLead
from cdp_syncer.sandbox import DEFAULT_SECRET, DEFAULT_TOKEN
from tests.helpers import ROOT, ServiceProcess, free_port, python_module


def make_lead(profile: str, email: str, version: int = 1, score: float = 60) -> dict[str, Any]:
    doc = {
        "schema": "cdp.lead/v1",
        "eventType": "lead.qualified" if version == 1 else "lead.updated",
        "eventId": f"{profile}-v{version}",
        "version": version,
        "profileId": profile,
        "occurredAt": datetime.now(UTC),
        "qualifiedBy": "score",
        "lifecycleStage": "mql",
        "contact": {"email": email, "firstName": "Ada", "company": "Autowerk BV"},
        "traits": {"role": {"value": "CEO", "source": "implicit", "ruleId": "linkedin-ceo-automotive"}},
        "score": score + version,
        "scoreBreakdown": [{"rule": "pricing-view", "points": 20}],
        "segments": ["automotive-ceos"],
        "behaviour": {"pageViews": 3 + version, "sessions": 2},
        "firstTouch": {
            "at": datetime.now(UTC),
            "channel": "Paid Social",
            "source": "linkedin",
            "campaign": "ceo-automotive-q4",
        },
        "firstSeen": datetime.now(UTC),
        "lastSeen": datetime.now(UTC),
    }
    return QualifiedLead.model_validate(doc).model_dump(mode="json", by_alias=True)


class Sandbox:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = ServiceProcess(
            "sandbox-ma", [sys.executable, "-m", "cdp_common.cli", "sandbox-ma", "--port", str(self.port)], {}
        )
        self.proc.wait_http(f"{self.url}/healthz")

    def faults(self, **f: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=f, timeout=5).raise_for_status()

    def contacts(self, system: str) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sandbox/contacts/{system}", timeout=5).json()

    def post_webhook(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}/webhook", content=body, headers=headers, timeout=5)

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=5).json()

    def properties(self) -> dict[str, dict[str, Any]]:
        """The HubSpot portal's contact properties by name (the syncer creates the CDP's on start)."""
        r = httpx.get(f"{self.url}/crm/v3/properties/contacts", headers={"authorization": f"Bearer {DEFAULT_TOKEN}"})
        return {p["name"]: p for p in r.json()["results"]}

    async def bootstrapped(self) -> None:
        """Until the syncer has created the CDP's HubSpot properties (before a test's faults)."""
        await until(lambda: "cdp_lead_version" in self.properties(), within=60, every=0.1)

    def requests(self, system: str) -> list[dict[str, Any]]:
        """Every answer the sandbox gave ``system``'s callers, with its time, oldest first."""
        return httpx.get(f"{self.url}/_sandbox/requests", params={"system": system}, timeout=5).json()


class Syncers:
    def __init__(self, settings: Any, sandbox: Sandbox, topic: str) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.topic = topic
        self.group = f"test-syncer-{uuid.uuid4().hex[:8]}"
        self.procs: list[ServiceProcess] = []

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "CDP_KAFKA_BOOTSTRAP": self.settings.kafka_bootstrap,
            "CDP_PG_DSN": self.settings.pg_dsn.get_secret_value(),
            "CDP_SYNC_DESTINATIONS": "hubspot,mautic,webhook",
            "CDP_SYNC_GROUP_ID": self.group,
            "CDP_SYNC_INPUT_TOPIC": self.topic,
            "CDP_SYNC_SEGMENTS_TOPIC": f"{self.topic}.segments",
            "CDP_SYNC_METRICS_PORT": str(free_port()),
            "CDP_SYNC_BACKOFF_BASE_S": "0.05",
            "CDP_SYNC_BACKOFF_CAP_S": "1",
            "CDP_SYNC_BREAKER_COOLDOWN_S": "1",
            "CDP_SYNC_BATCH_WITHIN_S": "0.05",
            "CDP_HUBSPOT_BASE_URL": self.sandbox.url,
            "CDP_HUBSPOT_TOKEN": "sandbox-hubspot-token",
            "CDP_MAUTIC_BASE_URL": self.sandbox.url,
            "CDP_MAUTIC_USER": "sandbox",
            "CDP_MAUTIC_PASSWORD": "sandbox",
            "CDP_WEBHOOK_URL": f"{self.sandbox.url}/webhook",
            "CDP_WEBHOOK_SECRET": DEFAULT_SECRET,
            **extra,
        }

    def start(self, **extra: str) -> ServiceProcess:
        proc = ServiceProcess("syncer", python_module("cdp_syncer.main"), self.env(**extra))
        self.procs.append(proc)
        return proc

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cdp_common.cli", *args],
            env={**self.env(), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            cwd=ROOT,
        )

    def cli_env(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """``cdp`` with exactly ``env`` (e.g. no destination settings at all)."""
        return subprocess.run(
            [sys.executable, "-m", "cdp_common.cli", *args], env=env, capture_output=True, text=True, cwd=ROOT
        )

    def stop(self) -> None:
        for p in self.procs:
            p.stop()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    s = Sandbox()
    yield s
    s.proc.stop()


@pytest.fixture
async def leads_topic(kafka_bootstrap: str) -> AsyncIterator[str]:
    name = f"test.leads.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        # the leads and, beside them, this test's own segment changes (audiences follow them)
        await admin.create_topics(
            [NewTopic(t, num_partitions=4, replication_factor=1) for t in (name, f"{name}.segments")]
        )
        yield name
        await admin.delete_topics([name, f"{name}.segments"])
    finally:
        await admin.close()


@pytest.fixture
def syncers(settings: Any, sandbox: Sandbox, leads_topic: str, migrated_pool: Any) -> Iterator[Syncers]:
    s = Syncers(settings, sandbox, leads_topic)
    yield s
    s.stop()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    await p.start()
    yield p
    await p.stop()


async def send_leads(producer: AIOKafkaProducer, topic: str, leads: list[dict[str, Any]]) -> None:
    futures = [await producer.send(topic, orjson.dumps(x), key=x["profileId"].encode()) for x in leads]
    await asyncio.gather(*futures)


async def until(check: Any, within: float = 60, every: float = 0.5) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last = None
    while loop.time() < deadline:
        last = check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"not reached within {within}s (last: {last!r})")
