"""Fuzz every operation of the collector's OpenAPI schema (schemathesis strategies driven by
hypothesis): no 5xx, the service stays up."""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration


def test_no_server_errors_on_any_operation(collector) -> None:  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{collector.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    basic = httpx.BasicAuth(collector.source.write_key, "")._auth_header
    seen: dict[int, int] = {}

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
        # half the cases carry the real write key, so fuzzing reaches validation and Kafka
        headers = {"Authorization": basic} if data.draw(st.booleans()) else {}
        response = case.call(headers=headers, timeout=10)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, (operation.label, response.status_code, response.text[:300])

    fuzz()
    assert 200 in seen and 400 in seen  # it reached both acceptance and validation


def test_the_service_is_still_up_after_fuzzing(collector) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(f"{collector.url}/readyz").status_code == 200
    assert collector.process.proc.poll() is None
