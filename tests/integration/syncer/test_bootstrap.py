"""HubSpot and Mautic bootstrap against the sandbox, which refuses an upsert naming a
property the portal lacks (as HubSpot does) and drops values of fields Mautic lacks (as
Mautic does): `cdp destinations bootstrap hubspot|mautic` creates exactly the missing
properties (fields), is a no-op the second time, and leads then arrive whole."""

from __future__ import annotations

import uuid

import httpx
import pytest

from cdp_common.topics import Topic
from cdp_syncer.logic import hubspot_properties as hp
from cdp_syncer.logic import mautic_fields as mf
from cdp_syncer.logic.mapping import HUBSPOT_DEFAULT, MAUTIC_DEFAULT
from tests.helpers import TopicTail
from tests.integration.syncer.conftest import Sandbox, Syncers, make_lead, send_leads, until

pytestmark = pytest.mark.integration
CUSTOM = sorted(p for p in HUBSPOT_DEFAULT.values() if p.startswith("cdp_"))


def _portal(sandbox: Sandbox) -> dict[str, dict]:
    r = httpx.get(
        f"{sandbox.url}/crm/v3/properties/contacts", headers={"authorization": "Bearer sandbox-hubspot-token"}
    )
    return {p["name"]: p for p in r.json()["results"]}


async def test_bootstrap_creates_what_the_portal_lacks_once_and_the_refused_lead_then_arrives(
    syncers: Syncers, sandbox: Sandbox, producer, kafka_bootstrap
) -> None:
    assert not set(CUSTOM) & set(_portal(sandbox))
    tag = uuid.uuid4().hex[:6]
    failed = await TopicTail(kafka_bootstrap, Topic.LEADS_FAILED).start()
    try:
        syncers.start(CDP_SYNC_DESTINATIONS="hubspot", CDP_HUBSPOT_BOOTSTRAP="false")
        await send_leads(producer, syncers.topic, [make_lead(f"{tag}-a", f"{tag}@example.org")])
        [got] = await failed.collect(lambda r: r.get("profileId") == f"{tag}-a", want=1, within=30)
    finally:
        await failed.stop()
    assert "PROPERTY_DOESNT_EXIST" in got["error"] and sandbox.contacts("hubspot") == {}

    first = syncers.cli("destinations", "bootstrap", "hubspot")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(CUSTOM)} created, 0 already there, 0 in conflict" in first.stdout
    portal = _portal(sandbox)
    assert set(CUSTOM) <= set(portal)
    assert portal["cdp_score"]["type"] == "number" and portal["cdp_behaviour_summary"]["fieldType"] == "textarea"
    assert {portal[p]["groupName"] for p in CUSTOM} == {hp.GROUP}
    second = syncers.cli("destinations", "bootstrap", "hubspot")
    assert f"0 created, {len(CUSTOM)} already there" in second.stdout, second.stdout + second.stderr

    retried = syncers.cli("leads", "retry", "--destination", "hubspot")
    assert retried.returncode == 0 and "1 for hubspot" in retried.stdout, retried.stdout + retried.stderr
    await until(lambda: set(sandbox.contacts("hubspot")) == {f"{tag}@example.org"}, within=30, every=0.1)


async def test_a_property_of_another_type_is_reported_and_left_alone(syncers: Syncers, sandbox: Sandbox) -> None:
    auth = {"authorization": "Bearer sandbox-hubspot-token"}
    httpx.post(f"{sandbox.url}/crm/v3/properties/contacts/groups", headers=auth, json={"name": "mine", "label": "Mine"})
    made = httpx.post(
        f"{sandbox.url}/crm/v3/properties/contacts/batch/create",
        headers=auth,
        json={
            "inputs": [
                {"name": "cdp_score", "label": "Score", "type": "string", "fieldType": "text", "groupName": "mine"}
            ]
        },
    )
    assert made.status_code == 201, made.text
    done = syncers.cli("destinations", "bootstrap", "hubspot")
    assert done.returncode == 1
    assert "conflict: cdp_score: the portal has type string, the CDP sends number" in done.stdout
    assert f"{len(CUSTOM) - 1} created" in done.stdout
    assert _portal(sandbox)["cdp_score"]["type"] == "string"  # left as it was


async def test_the_syncer_bootstraps_on_start_before_its_first_lead(
    syncers: Syncers, sandbox: Sandbox, producer
) -> None:
    tag = uuid.uuid4().hex[:6]
    syncers.start(CDP_SYNC_DESTINATIONS="hubspot")
    await send_leads(producer, syncers.topic, [make_lead(f"{tag}-a", f"{tag}@example.org")])
    await until(lambda: sandbox.contacts("hubspot"), within=30, every=0.2)
    contact = sandbox.contacts("hubspot")[f"{tag}@example.org"]
    assert contact["properties"]["cdp_score"] and set(CUSTOM) <= set(_portal(sandbox))


MAUTIC_CUSTOM = sorted(f for f in MAUTIC_DEFAULT.values() if f not in mf.BUILT_IN)


def _mautic_fields(sandbox: Sandbox) -> dict[str, dict]:
    r = httpx.get(f"{sandbox.url}/api/fields/contact", params={"limit": 500}, auth=("sandbox", "sandbox"))
    return {f["alias"]: f for f in r.json()["fields"]}


async def test_mautic_fields_are_created_once_and_values_stop_vanishing(
    syncers: Syncers, sandbox: Sandbox, producer
) -> None:
    """Mautic drops a value whose field it lacks without a word (the sandbox too): without
    the bootstrap the CDP's values vanish; `cdp destinations bootstrap mautic` creates
    exactly the missing fields (paging through Mautic's list), once; the next lead keeps them."""
    assert not set(MAUTIC_CUSTOM) & set(_mautic_fields(sandbox))
    tag = uuid.uuid4().hex[:6]
    email = f"{tag}@example.org"
    syncers.start(CDP_SYNC_DESTINATIONS="mautic", CDP_MAUTIC_BOOTSTRAP="false")
    await send_leads(producer, syncers.topic, [make_lead(f"{tag}-a", email)])
    await until(lambda: email in sandbox.contacts("mautic"), within=30, every=0.1)
    lost = sandbox.contacts("mautic")[email]["properties"]
    assert lost["firstname"] == "Ada" and "cdp_score" not in lost  # silently gone

    first = syncers.cli("destinations", "bootstrap", "mautic")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"{len(MAUTIC_CUSTOM)} created, 0 already there, 0 in conflict" in first.stdout
    fields = _mautic_fields(sandbox)
    assert fields["cdp_score"]["type"] == "number" and fields["cdp_behaviour_summary"]["type"] == "textarea"
    assert fields["cdp_industry"]["type"] == "text" and fields["cdp_industry"]["group"] == mf.GROUP
    second = syncers.cli("destinations", "bootstrap", "mautic")
    assert f"0 created, {len(MAUTIC_CUSTOM)} already there" in second.stdout, second.stdout + second.stderr

    await send_leads(producer, syncers.topic, [make_lead(f"{tag}-a", email, version=2)])
    await until(lambda: sandbox.contacts("mautic")[email]["properties"].get("cdp_lead_version") in (2, "2"), within=30)
    kept = sandbox.contacts("mautic")[email]["properties"]
    assert str(kept["cdp_score"]) == "62" and kept["cdp_profile_id"] == f"{tag}-a"


async def test_the_syncer_creates_mautic_fields_before_its_first_lead(
    syncers: Syncers, sandbox: Sandbox, producer
) -> None:
    tag = uuid.uuid4().hex[:6]
    syncers.start(CDP_SYNC_DESTINATIONS="mautic")
    await send_leads(producer, syncers.topic, [make_lead(f"{tag}-a", f"{tag}@example.org")])
    await until(lambda: sandbox.contacts("mautic"), within=30, every=0.2)
    assert sandbox.contacts("mautic")[f"{tag}@example.org"]["properties"]["cdp_score"] == "61"
