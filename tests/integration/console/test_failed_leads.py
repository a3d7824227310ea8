"""Failed lead deliveries through the console API: listed with the destination's reason
for readers, put back in their destination's queue by admins (audited)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.integration.console.test_console import Console

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console(settings: Any, migrated_pool: Any) -> Iterator[Console]:
    c = Console(settings)
    yield c
    c.proc.stop()


async def _fail(pool: Any, lead_id: str, destination: str, email: str, error: str) -> None:
    lead = {"eventId": lead_id, "profileId": f"p-{lead_id}", "version": 1, "contact": {"email": email}}
    await pool.execute(
        "INSERT INTO lead_deliveries (lead_event_id, destination, profile_id, version, status, attempts, last_error, "
        "payload) VALUES ($1, $2, $3, 1, 'failed', 1, $4, $5::jsonb)",
        lead_id,
        destination,
        lead["profileId"],
        error,
        orjson.dumps(lead).decode(),
    )


async def test_failed_leads_are_listed_and_requeued_one_by_one(console: Console, migrated_pool: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    a, b = f"{tag}-a-v1", f"{tag}-b-v1"
    await _fail(migrated_pool, a, "hubspot", f"{tag}-a@example.org", "VALIDATION_ERROR: Property values were not valid")
    await _fail(migrated_pool, b, "hubspot", f"{tag}-b@example.org", "HTTP 400: bad email")
    try:
        listed = console.get("/v1/leads/failed", params={"destination": "hubspot", "limit": 1000})
        assert listed.status_code == 200, listed.text
        mine = {x["leadEventId"]: x for x in listed.json()["failed"] if x["leadEventId"].startswith(tag)}
        assert set(mine) == {a, b}
        assert mine[a]["error"].startswith("VALIDATION_ERROR") and mine[a]["email"] == f"{tag}-a@example.org"
        assert mine[a]["destination"] == "hubspot" and mine[a]["attempts"] == 1
        assert (
            console.call("POST", "/v1/leads/failed/retry", json={"leadEventIds": [a]}, token="read").status_code == 403
        )
        anonymous = httpx.post(f"{console.url}/v1/leads/failed/retry", json={"leadEventIds": [a]}, timeout=10)
        assert anonymous.status_code == 401
        bad = console.call("POST", "/v1/leads/failed/retry", json={"leadIds": [a]}, token="admin")
        assert bad.status_code == 422  # unknown fields are refused, not read as "retry everything"
        done = console.call("POST", "/v1/leads/failed/retry", json={"leadEventIds": [a]}, token="admin")
        assert done.status_code == 200 and done.json() == {"queued": {"hubspot": 1}}, done.text
        queued = await migrated_pool.fetchrow(
            "SELECT owner, destination, email, last_error FROM delivery_queue WHERE lead_event_id = $1", a
        )
        assert queued["destination"] == "hubspot" and queued["email"] == f"{tag}-a@example.org"
        assert queued["owner"] == "cdp-syncer" and "VALIDATION_ERROR" in queued["last_error"]
        left = {x["leadEventId"] for x in console.get("/v1/leads/failed").json()["failed"]}
        assert b in left and a not in left  # only the one named went back
        again = console.call("POST", "/v1/leads/failed/retry", json={"leadEventIds": [a]}, token="admin")
        assert again.json() == {"queued": {}}
        audit = console.get("/v1/audit", token="admin").json()
        assert any(x["action"] == "leads.retry" and a in str(x["detail"]) for x in audit)
    finally:
        await migrated_pool.execute("DELETE FROM delivery_queue WHERE lead_event_id = ANY($1::text[])", [a, b])
        await migrated_pool.execute("DELETE FROM lead_deliveries WHERE lead_event_id = ANY($1::text[])", [a, b])
