"""With the broker unreachable the collector answers 503 with Retry-After, never 200."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import free_port
from tests.integration.conftest import start_collector

pytestmark = pytest.mark.integration


def test_broker_unreachable_gives_503_and_never_200(settings, collector_source) -> None:  # type: ignore[no-untyped-def]
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here
    proc, url = start_collector(settings, CDP_KAFKA_BOOTSTRAP=dead)
    try:
        proc.wait_http(f"{url}/healthz")  # up ...
        proc.wait_http(f"{url}/readyz", status=503)  # ... but not ready
        auth = (collector_source.write_key, "")
        statuses = set()
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(3):
                r = http.post("/v1/track", auth=auth, json={"event": "X", "anonymousId": "a"})
                statuses.add(r.status_code)
                assert r.status_code == 503, r.text
                assert int(r.headers["retry-after"]) > 0
                assert r.json()["error"] == "unavailable"
            b = http.post("/v1/batch", auth=auth, json={"batch": [{"type": "page", "anonymousId": "a"}]})
            statuses.add(b.status_code)
            p = http.get("/pixel/v1/page", params={"writeKey": collector_source.write_key, "anonymousId": "a"})
            statuses.add(p.status_code)
            assert p.headers["content-type"] == "image/gif"
            metrics = http.get("/metrics").text
        assert statuses == {503}
        assert 'cdp_collector_produce_failures_total{cause="not_connected"}' in metrics
        assert proc.proc.poll() is None  # still running
    finally:
        proc.stop()
