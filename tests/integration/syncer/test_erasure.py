"""Erasure reaches every destination: a lead delivered to HubSpot, Mautic and a webhook,
then the person erased in the console; the syncer deletes them at each destination
(HubSpot's GDPR delete, Mautic's contact delete, a signed contact.erased event), also when
a destination is down at first."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from tests.integration.console.test_console import Console
from tests.integration.syncer.conftest import Sandbox, Syncers, make_lead, send_leads, until

pytestmark = pytest.mark.integration


async def _profile(pool: Any, pid: str, email: str, aid: str) -> None:
    data = {"segments": [], "anonymousIds": [aid], "traits": {"email": {"value": email}}}
    await pool.execute(
        "INSERT INTO profiles (id, data, email) VALUES ($1, $2, $3)", pid, orjson.dumps(data).decode(), email
    )
    await pool.execute(
        "INSERT INTO identities (id, profile_id) VALUES ($1, $3), ($2, $3)", f"email:{email}", f"anon:{aid}", pid
    )


@pytest.mark.parametrize("down_first", [False, True])
async def test_an_erased_person_is_deleted_at_every_destination(
    settings: Any, sandbox: Sandbox, syncers: Syncers, producer: Any, migrated_pool: Any, down_first: bool
) -> None:
    run = uuid.uuid4().hex[:8]
    pid, email = f"p-erase-{run}", f"erase.{run}@autowerk.example"
    await _profile(migrated_pool, pid, email, f"aid-{run}")
    syncers.start()
    await send_leads(producer, syncers.topic, [make_lead(pid, email)])
    await until(lambda: all(email in sandbox.contacts(s) for s in ("hubspot", "mautic", "webhook")), within=90)

    if down_first:
        sandbox.faults(reject_status=503)  # every destination answers 503 for a while
    console = Console(settings)
    try:
        r = console.call("DELETE", "/v1/profiles", params={"email": email})
        assert r.status_code == 200, r.text
        if down_first:
            await until(lambda: sandbox.stats()["requests"].get("hubspot", {}).get("503", 0) > 0, within=60)
            assert email in sandbox.contacts("mautic")  # not yet: it is retried
            sandbox.faults(reject_status=0)

        def gone() -> bool:
            return not any(email in sandbox.contacts(s) for s in ("hubspot", "mautic", "webhook"))

        await until(gone, within=90)
        erased = sandbox.stats()["erased"]
        assert all(email in erased[s] for s in ("hubspot", "mautic", "webhook")), erased
        assert await migrated_pool.fetchval("SELECT count(*) FROM erasure_outbox WHERE $1 = ANY(emails)", email) == 0

        # the syncer's record of it keeps the outcome, not the emails
        async def recorded() -> list[Any]:
            return await migrated_pool.fetch(
                "SELECT destination, status, result, request FROM erasure_deliveries WHERE result LIKE 'deleted%' "
                "AND updated_at > now() - interval '5 minutes' AND request_id IN "
                "(SELECT request_id FROM erasure_deliveries GROUP BY request_id HAVING count(*) = 3) "
                "ORDER BY updated_at DESC LIMIT 3"
            )

        rows = await recorded()
        assert {r["destination"] for r in rows} == {"hubspot", "mautic", "webhook"}
        assert all(r["status"] == "done" and r["request"] is None for r in rows)
        # the lead topic's tombstone for the person is skipped (counted), never a reject
        await (await producer.send(syncers.topic, None, key=pid.encode()))
        other = f"next.{run}@autowerk.example"
        await send_leads(producer, syncers.topic, [make_lead(f"p-next-{run}", other)])
        await until(lambda: other in sandbox.contacts("hubspot"), within=60)
        assert email not in sandbox.contacts("hubspot")
    finally:
        console.proc.stop()
