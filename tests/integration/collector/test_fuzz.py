"""Fuzz every operation of the collector's OpenAPI schema (schemathesis strategies driven by
hypothesis): no 5xx, every answer as documented (status, content type, body and headers),
every event in a request answered 200 arrives in cdp.hits.raw, the service stays up."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cdp_common.records import Rejected
from tests.helpers import TopicTail

pytestmark = pytest.mark.integration


CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _mark(case: Any) -> list[str]:
    """Give every event the case sends a messageId of ours (a valid value whatever the rest
    of the case is), so the events of a request answered 200 can be found downstream."""
    ids: list[str] = []
    path = case.operation.path
    if path.startswith("/pixel/"):
        case.query = {**(case.query or {}), "messageId": f"fz-{uuid.uuid4()}"}
        ids.append(case.query["messageId"])
    elif isinstance(case.body, dict):
        events = case.body.get("batch") if isinstance(case.body.get("batch"), list) else [case.body]
        for ev in events:
            if isinstance(ev, dict):
                ev["messageId"] = f"fz-{uuid.uuid4()}"
                ids.append(ev["messageId"])
    return ids


async def test_every_operation_answers_as_documented_and_accepted_events_arrive(
    collector, raw: TopicTail, rejected: TopicTail
) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{collector.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    basic = httpx.BasicAuth(collector.source.write_key, "")._auth_header
    seen: dict[int, int] = {}
    accepted: set[str] = set()
    answered_gif: set[str] = set()

    @given(data=st.data())
    # derandomized: CI runs the same examples every time; CDP_FUZZ_EXPLORE=1 explores new ones
    @settings(
        max_examples=int(os.environ.get("CDP_FUZZ_EXAMPLES", "300")),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=os.environ.get("CDP_FUZZ_EXPLORE") != "1",
    )
    def fuzz(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(operations))
        case = data.draw(operation.as_strategy())
        ids = _mark(case)
        # half the cases carry the real write key, so fuzzing reaches validation and Kafka
        keyed = data.draw(st.booleans())
        headers = {"Authorization": basic} if keyed else {}
        if keyed and operation.path.startswith("/pixel/"):
            case.query["writeKey"] = collector.source.write_key
        response = case.call(headers=headers, timeout=10)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (operation.label, response.status_code, response.text[:300])
        case.validate_response(response, checks=CONFORMANCE)
        if response.status_code == 200:  # a pixel always answers its GIF: stored, or refused with a reason
            (answered_gif if operation.path.startswith("/pixel/") else accepted).update(ids)

    await asyncio.to_thread(fuzz)
    assert 200 in seen and 400 in seen  # it reached both acceptance and validation
    assert accepted, "some events were accepted"
    # every event answered 200 is in the raw topic; every pixel hit is there too, or in the
    # rejected topic with its original query string (a pixel answers its GIF either way)
    ours = accepted | answered_gif
    in_raw: set[str] = set()
    refused: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while loop.time() < deadline and not (accepted <= in_raw and answered_gif <= in_raw | refused):
        got = await raw.collect(lambda r: r["event"].get("messageId") in ours, want=10**6, within=0.5, settle=0)
        in_raw |= {r["event"]["messageId"] for r in got}
        rej = await rejected.collect(lambda r: r.get("stage") == "collector", want=10**6, within=0.5, settle=0)
        originals = b" ".join(Rejected.model_validate(r).original_bytes() for r in rej)
        refused |= {i for i in answered_gif if i.encode() in originals}
    assert accepted - in_raw == set()
    assert answered_gif - in_raw - refused == set()
    assert not in_raw & refused
    assert answered_gif & in_raw and refused, "pixel hits were both stored and refused"


def test_the_service_is_still_up_after_fuzzing(collector) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(f"{collector.url}/readyz").status_code == 200
    assert collector.process.proc.poll() is None
