"""Tracking plans and rejected records through the console API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cdp_common.sources import SourceStore
from tests.integration.console.test_console import Console

pytestmark = pytest.mark.integration

PLAN = {
    "violations": "omit",
    "events": {"Calculator Completed": {"properties": {"type": "object", "required": ["yearlySavings"]}}},
}


@pytest.fixture(scope="module")
def console(settings: Any, migrated_pool: Any) -> Iterator[Console]:
    c = Console(settings)
    yield c
    c.proc.stop()


async def test_a_plan_is_applied_versioned_and_read_back(console: Console, migrated_pool: Any) -> None:
    name = f"plan-api-{uuid.uuid4().hex[:8]}"
    await SourceStore(migrated_pool).add(name)
    assert console.get(f"/v1/sources/{name}/plan").status_code == 404
    first = console.call("PUT", f"/v1/sources/{name}/plan", json=PLAN)
    assert first.status_code == 200 and first.json() == {"source": name, "version": 1, "result": "applied"}
    same = console.call("PUT", f"/v1/sources/{name}/plan", json=PLAN)
    assert same.json()["result"] == "unchanged" and same.json()["version"] == 1
    second = console.call("PUT", f"/v1/sources/{name}/plan", json={**PLAN, "violations": "block"})
    assert second.json()["version"] == 2
    got = console.get(f"/v1/sources/{name}/plan").json()
    assert got["version"] == 2 and got["plan"]["violations"] == "block" and len(got["versions"]) == 2
    bad = console.call("PUT", f"/v1/sources/{name}/plan", json={**PLAN, "violations": "ignore"})
    assert bad.status_code == 422 and "violations" in bad.text
    other = console.call("PUT", f"/v1/sources/{name}/plan", json={**PLAN, "source": "someone-else"})
    assert other.status_code == 422
    assert console.call("PUT", f"/v1/sources/{name}/plan", json=PLAN, token="read").status_code == 403


def test_rejects_are_listed_with_their_originals_for_admins(console: Console) -> None:
    r = console.get("/v1/rejects", token="admin", params={"hours": 168, "limit": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"rejects", "counts"} and len(body["rejects"]) <= 5
    for x in body["rejects"]:
        assert {"at", "where", "stage", "reason", "message", "original", "sourceId"} <= set(x)
    assert console.get("/v1/rejects").status_code == 403  # the read scope may not see payloads
    assert console.get("/v1/rejects", token="admin", params={"stage": "nobody"}).status_code == 422


def test_the_topic_schemas_and_the_asyncapi_document_are_served(console: Console) -> None:
    listed = console.get("/v1/schemas").json()
    files = {s["file"] for s in listed["schemas"]}
    assert "cdp.lead.v1.schema.json" in files and listed["asyncapi"] == "asyncapi.json"
    lead = console.get("/v1/schemas/cdp.lead.v1.schema.json")
    assert lead.status_code == 200 and lead.json()["properties"]["schema"]["const"] == "cdp.lead/v1"
    doc = console.get("/v1/schemas/asyncapi.json").json()
    assert (
        doc["asyncapi"].startswith("3.") and doc["channels"]["cdp-leads-qualified"]["address"] == "cdp.leads.qualified"
    )
    assert "syncer-receives-cdp-privacy-erasures" in doc["operations"]
    for message in doc["components"]["messages"].values():  # every payload names a served schema
        assert message["payload"]["$ref"].removeprefix("./") in files
    assert console.get("/v1/schemas/nope.json").status_code == 404
