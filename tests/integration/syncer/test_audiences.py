"""Audiences against the sandbox: a segment kept in step with a HubSpot list (Lists API v3)
and a consent-gated webhook audience, following segment and consent changes on Kafka;
a reconciliation after a forced drift restores the list. Profiles are written to Postgres
as the segmenter writes them, and their changes produced as it announces them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cdp_syncer.sandbox import DEFAULT_TOKEN
from tests.integration.syncer.conftest import Sandbox, Syncers, until

pytestmark = pytest.mark.integration


class People:
    """Profiles in Postgres and the segment changes that announce them."""

    def __init__(self, pool: Any, producer: AIOKafkaProducer, topic: str, segment: str) -> None:
        self.pool, self.producer, self.topic, self.segment = pool, producer, topic, segment

    async def put(self, pid: str, email: str, member: bool, ads: bool | None = None) -> None:
        data: dict[str, Any] = {"id": pid, "segments": [self.segment] if member else []}
        if ads is not None:
            data["consent"] = {"ads": {"granted": ads, "at": datetime.now(UTC).timestamp()}}
        await self.pool.execute(
            "INSERT INTO profiles (id, data, email, stage) VALUES ($1, $2::jsonb, $3, 'known') "
            "ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, email = EXCLUDED.email",
            pid,
            orjson.dumps(data).decode(),
            email,
        )

    async def announce(self, pid: str, segment: str, change: str) -> None:
        doc = {"profileId": pid, "segmentId": segment, "change": change, "at": datetime.now(UTC).isoformat()}
        await (await self.producer.send(self.topic, orjson.dumps(doc), key=pid.encode()))


def lists(sandbox: Sandbox, system: str) -> dict[str, list[str]]:
    return httpx.get(f"{sandbox.url}/_sandbox/lists/{system}", timeout=5).json()


async def test_a_segment_follows_into_a_hubspot_list_and_drift_is_repaired(
    syncers: Syncers, sandbox: Sandbox, producer, migrated_pool
) -> None:
    tag = uuid.uuid4().hex[:6]
    seg = f"aud-{tag}"
    await migrated_pool.execute(
        "INSERT INTO segments (id, name, condition) VALUES ($1, $1, $2::jsonb)", seg, '{"channel": "Paid Social"}'
    )
    people = People(migrated_pool, producer, f"{syncers.topic}.segments", seg)
    email = {k: f"{tag}-{k}@example.org" for k in "abcde"}
    for k in "abc":
        await people.put(f"{tag}-{k}", email[k], member=True)
    await people.put(f"{tag}-d", email["d"], member=False)
    added = syncers.cli("audiences", "add", "--segment", seg, "--destination", "hubspot")
    assert added.returncode == 0, added.stdout + added.stderr
    name = f"CDP: {seg}"
    syncers.start(CDP_SYNC_DESTINATIONS="hubspot")

    def members() -> list[str]:
        return lists(sandbox, "hubspot").get(name, [])

    await until(lambda: members() == sorted(email[k] for k in "abc"), within=30, every=0.2)

    # traffic: d enters the segment, b leaves it
    await people.put(f"{tag}-d", email["d"], member=True)
    await people.announce(f"{tag}-d", seg, "entered")
    await people.put(f"{tag}-b", email["b"], member=False)
    await people.announce(f"{tag}-b", seg, "left")
    await until(lambda: members() == sorted(email[k] for k in "acd"), within=30, every=0.2)

    # drift, by hand in HubSpot: c taken out, a stranger (e) put in
    auth = {"authorization": f"Bearer {DEFAULT_TOKEN}"}
    list_id = await migrated_pool.fetchval("SELECT external_id FROM audiences WHERE id = $1", f"{seg}@hubspot")

    def contact_id(who: str) -> str:
        body = {"inputs": [{"id": email[who], "idProperty": "email", "properties": {"email": email[who]}}]}
        r = httpx.post(f"{sandbox.url}/crm/v3/objects/contacts/batch/upsert", headers=auth, json=body)
        return str(r.json()["results"][0]["id"])

    lists_url = f"{sandbox.url}/crm/v3/lists/{list_id}/memberships"
    assert httpx.put(f"{lists_url}/remove", headers=auth, json=[contact_id("c")]).status_code == 200
    assert httpx.put(f"{lists_url}/add", headers=auth, json=[contact_id("e")]).status_code == 200
    assert members() == sorted(email[k] for k in "ade")

    asked = syncers.cli("audiences", "reconcile", f"{seg}@hubspot")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    await until(lambda: members() == sorted(email[k] for k in "acd"), within=30, every=0.2)
    listed = syncers.cli("audiences", "list")
    assert f"{seg}@hubspot" in listed.stdout and "3 member(s)" in listed.stdout


async def test_a_consent_gated_webhook_audience_drops_who_withdraws(
    syncers: Syncers, sandbox: Sandbox, producer, migrated_pool
) -> None:
    tag = uuid.uuid4().hex[:6]
    seg = f"adsaud-{tag}"
    await migrated_pool.execute(
        "INSERT INTO segments (id, name, condition) VALUES ($1, $1, $2::jsonb)", seg, '{"channel": "Paid Social"}'
    )
    people = People(migrated_pool, producer, f"{syncers.topic}.segments", seg)
    yes, no, unasked = f"{tag}-yes@example.org", f"{tag}-no@example.org", f"{tag}-unasked@example.org"
    await people.put(f"{tag}-yes", yes, member=True, ads=True)
    await people.put(f"{tag}-no", no, member=True, ads=False)
    await people.put(f"{tag}-unasked", unasked, member=True)
    added = syncers.cli("audiences", "add", "--segment", seg, "--destination", "webhook", "--purpose", "ads")
    assert added.returncode == 0, added.stdout + added.stderr
    syncers.start(CDP_SYNC_DESTINATIONS="webhook")
    name = f"CDP: {seg}"
    await until(lambda: lists(sandbox, "webhook").get(name) == [yes], within=30, every=0.2)

    # the person allows ads no more: out of the audience
    await people.put(f"{tag}-yes", yes, member=True, ads=False)
    await people.announce(f"{tag}-yes", "consent:ads", "left")
    # the one who refused now allows: in
    await people.put(f"{tag}-no", no, member=True, ads=True)
    await people.announce(f"{tag}-no", "consent:ads", "entered")
    await until(lambda: lists(sandbox, "webhook").get(name) == [no], within=30, every=0.2)


async def test_a_segment_follows_into_a_mautic_segment(
    syncers: Syncers, sandbox: Sandbox, producer, migrated_pool
) -> None:
    tag = uuid.uuid4().hex[:6]
    seg = f"maud-{tag}"
    await migrated_pool.execute(
        "INSERT INTO segments (id, name, condition) VALUES ($1, $1, $2::jsonb)", seg, '{"channel": "Paid Social"}'
    )
    people = People(migrated_pool, producer, f"{syncers.topic}.segments", seg)
    email = {k: f"{tag}-{k}@example.org" for k in "ab"}
    for k in "ab":
        await people.put(f"{tag}-{k}", email[k], member=True)
    added = syncers.cli("audiences", "add", "--segment", seg, "--destination", "mautic", "--name", f"Leads {tag}")
    assert added.returncode == 0, added.stdout + added.stderr
    syncers.start(CDP_SYNC_DESTINATIONS="mautic")
    await until(lambda: lists(sandbox, "mautic").get(f"Leads {tag}") == sorted(email.values()), within=30, every=0.2)
    await people.put(f"{tag}-a", email["a"], member=False)
    await people.announce(f"{tag}-a", seg, "left")
    await until(lambda: lists(sandbox, "mautic").get(f"Leads {tag}") == [email["b"]], within=30, every=0.2)
    asked = syncers.cli("audiences", "reconcile", f"{seg}@mautic")  # reads the segment back: nothing to repair
    assert asked.returncode == 0
    await until(lambda: "1 member(s), 0 queued" in syncers.cli("audiences", "list").stdout, within=30, every=0.5)
    assert lists(sandbox, "mautic").get(f"Leads {tag}") == [email["b"]]
