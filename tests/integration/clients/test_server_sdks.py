"""Server SDKs, unmodified, against the real collector: a few hundred events of every call
type in their own batches; every one arrives once, with the SDK's messageId."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import ROOT, TopicTail
from tests.integration.clients.conftest import from_source

pytestmark = pytest.mark.integration
N = 300


def _send_with_analytics_node(modules: Path, url: str, key: str, run: str) -> None:
    done = subprocess.run(
        ["node", str(ROOT / "tests/clients/send_with_analytics_node.js"), str(modules), url, key, run, str(N)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert orjson.loads(done.stdout.strip().splitlines()[-1]) == {"errors": []}


def _send_with_python_sdk(client: Any, run: str) -> None:
    """The same calls through a Segment-style Python client (the SDK's own background
    thread batches them to /v1/batch)."""
    for i in range(N):
        aid, uid, mid = f"{run}-anon-{i % 25}", f"{run}-user-{i % 25}", f"{run}-msg-{i}"
        match i % 6:
            case 0:
                client.page(anonymous_id=aid, name="Pricing", properties={"i": i}, message_id=mid)
            case 1:
                client.track(anonymous_id=aid, event="Calculator Completed", properties={"i": i}, message_id=mid)
            case 2:
                client.identify(user_id=uid, anonymous_id=aid, traits={"email": f"{uid}@example.org"}, message_id=mid)
            case 3:
                client.group(user_id=uid, group_id=f"{run}-acme", traits={"i": i}, message_id=mid)
            case 4:
                client.screen(user_id=uid, name="Home", properties={"i": i}, message_id=mid)
            case 5:
                client.alias(previous_id=aid, user_id=uid, message_id=mid)
    client.flush()
    client.join()


def _analytics_python(url: str, key: str, run: str) -> None:
    from segment.analytics import Client

    errors: list[object] = []
    client = Client(key, host=url, on_error=lambda e, batch: errors.append(e), max_retries=3, upload_size=50)
    _send_with_python_sdk(client, run)
    assert errors == []


def _rudder_sdk_python(url: str, key: str, run: str) -> None:
    from rudderstack.analytics.client import Client

    errors: list[object] = []
    client = Client(key, host=url, on_error=lambda e, batch: errors.append(e), max_retries=3, upload_size=50)
    _send_with_python_sdk(client, run)
    assert errors == []


@pytest.mark.parametrize("sdk", ["analytics-node", "analytics-python", "rudder-sdk-python"])
async def test_a_server_sdk_batch_arrives_whole_and_once(
    sdk: str, collector: Any, raw: TopicTail, sdk_modules: Path
) -> None:
    run = f"{sdk}-{uuid.uuid4().hex[:8]}"
    url, key = collector.url, collector.source.write_key
    unavailable = collector.unavailable_answers()
    if sdk == "analytics-node":
        await asyncio.to_thread(_send_with_analytics_node, sdk_modules, url, key, run)
    elif sdk == "analytics-python":
        await asyncio.to_thread(_analytics_python, url, key, run)
    else:
        await asyncio.to_thread(_rudder_sdk_python, url, key, run)

    def ours(ev: dict[str, Any]) -> bool:
        return str(ev.get("messageId", "")).startswith(f"{run}-msg-")

    got = await raw.collect(from_source(collector.source.id, ours), want=N, within=30)
    ids = Counter(r["event"]["messageId"] for r in got)
    assert len(ids) == N, f"{len(ids)} distinct of {N}"
    if collector.unavailable_answers() == unavailable:  # no 503 answered: no retry, so no copy
        assert max(ids.values()) == 1, f"repeated: {ids.most_common(3)}"
    got = list({r["event"]["messageId"]: r for r in got}.values())
    assert Counter(r["event"]["type"] for r in got) == {
        t: N // 6 for t in ("page", "track", "identify", "group", "screen", "alias")
    }
    identify = next(r["event"] for r in got if r["event"]["type"] == "identify")
    assert identify["traits"]["email"].endswith("@example.org") and identify["userId"].startswith(f"{run}-user-")
