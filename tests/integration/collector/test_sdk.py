"""The official Segment Python SDK, pointed at our collector, works unmodified."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from segment.analytics import Client

from tests.helpers import TopicTail

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("gzip", [True, False])
async def test_segment_analytics_python_sdk(collector, raw: TopicTail, gzip: bool) -> None:  # type: ignore[no-untyped-def]
    run = f"sdk-{uuid.uuid4().hex[:8]}"
    errors: list[object] = []
    client = Client(
        collector.source.write_key,
        host=collector.url,
        gzip=gzip,
        sync_mode=False,  # the SDK's normal mode: a background thread posting /v1/batch
        on_error=lambda e, batch: errors.append(e),
        max_retries=2,
    )
    uid = f"{run}-user"
    aid = f"{run}-anon"

    def use_the_sdk() -> None:
        client.page(
            anonymous_id=aid, category="Docs", name="Case study", properties={"url": "https://www.example.com/case"}
        )
        client.track(anonymous_id=aid, event="Video Completed", properties={"video": "tour", "percent": 100})
        client.identify(user_id=uid, anonymous_id=aid, traits={"email": "ceo@example.com", "role": "CEO"})
        client.alias(previous_id=aid, user_id=uid)
        client.group(user_id=uid, group_id="acme", traits={"industry": "automotive"})
        client.screen(user_id=uid, name="Home")
        client.flush()
        client.join()

    unavailable = collector.unavailable_answers()
    await asyncio.to_thread(use_the_sdk)
    assert errors == []

    def ours(rec: dict) -> bool:  # type: ignore[type-arg]
        ev = rec["event"]
        return rec["sourceId"] == collector.source.id and run in f"{ev.get('anonymousId')}{ev.get('userId')}"

    got = await raw.collect(ours, want=6)
    if collector.unavailable_answers() > unavailable:  # a retried 503 may have stored a copy
        got = list({r["event"]["messageId"]: r for r in got}.values())
    assert sorted(r["event"]["type"] for r in got) == ["alias", "group", "identify", "page", "screen", "track"]
    by_type = {r["event"]["type"]: r for r in got}
    assert by_type["track"]["event"]["event"] == "Video Completed"
    assert by_type["identify"]["event"]["traits"]["email"] == "ceo@example.com"
    assert by_type["alias"]["event"]["previousId"] == aid
    assert by_type["page"]["event"]["context"]["library"]["name"] == "analytics-python"
    assert all(r["event"]["messageId"] for r in got)  # the SDK's own ids are kept
    assert len({r["event"]["messageId"] for r in got}) == 6
