"""The collector against the real Kafka and Postgres, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import gzip
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from tests.helpers import TopicTail

pytestmark = pytest.mark.integration


def auth(key: str) -> tuple[str, str]:
    return (key, "")


def mine(source_id: str, run: str):  # type: ignore[no-untyped-def]
    """Records of this test: our source and our run marker in the anonymous id."""
    return lambda r: r.get("sourceId") == source_id and str(r["event"].get("anonymousId", "")).startswith(run)


async def test_n_events_single_batch_and_pixel_give_exactly_n_records(collector, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    key = collector.source.write_key
    sent_ids: list[str] = []
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        for i in range(5):
            mid = f"{run}-single-{i}"
            r = await http.post(
                "/v1/track",
                auth=auth(key),
                json={
                    "event": "Page Scrolled",
                    "anonymousId": f"{run}-a",
                    "messageId": mid,
                    "properties": {"depth": 25 * i},
                },
            )
            assert r.status_code == 200, r.text
            assert r.json() == {"success": True}
            sent_ids.append(mid)
        batch = [
            {"type": "page", "anonymousId": f"{run}-b{i % 3}", "messageId": f"{run}-batch-{i}", "name": "Pricing"}
            for i in range(50)
        ]
        r = await http.post("/v1/batch", auth=auth(key), json={"batch": batch})
        assert r.status_code == 200, r.text
        sent_ids += [e["messageId"] for e in batch]
        for i in range(3):
            mid = f"{run}-pixel-{i}"
            r = await http.get(
                "/pixel/v1/track",
                params={"writeKey": key, "anonymousId": f"{run}-p", "event": "Email Opened", "messageId": mid},
            )
            assert r.status_code == 200 and r.headers["content-type"] == "image/gif" and len(r.content) == 42
            sent_ids.append(mid)
        for kind, body in [
            ("identify", {"userId": f"{run}-user", "anonymousId": f"{run}-a", "traits": {"email": "x@example.com"}}),
            ("alias", {"previousId": f"{run}-a", "userId": f"{run}-user", "anonymousId": f"{run}-a"}),
            ("screen", {"anonymousId": f"{run}-a", "name": "Home"}),
            ("group", {"anonymousId": f"{run}-a", "groupId": "acme"}),
            ("page", {"anonymousId": f"{run}-a", "name": "Case study"}),
        ]:
            mid = f"{run}-{kind}"
            r = await http.post(f"/v1/{kind}", auth=auth(key), json={**body, "messageId": mid})
            assert r.status_code == 200, (kind, r.text)
            sent_ids.append(mid)

    got = await raw.collect(mine(collector.source.id, run), want=len(sent_ids))
    assert sorted(r["event"]["messageId"] for r in got) == sorted(sent_ids)
    by_id = {r["event"]["messageId"]: r for r in got}
    assert by_id[f"{run}-single-0"]["_key"] == f"{run}-a"  # key = anonymousId
    assert by_id[f"{run}-identify"]["event"]["traits"] == {"email": "x@example.com"}
    assert by_id[f"{run}-alias"]["event"]["previousId"] == f"{run}-a"
    assert by_id[f"{run}-pixel-0"]["event"]["event"] == "Email Opened"
    assert all(r["clientIp"] == "127.0.0.1" and r["receivedAt"] for r in got)


async def test_messageid_is_minted_where_missing_and_timestamps_are_corrected(collector, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    fast_clock = now + timedelta(hours=1)  # the device's clock is an hour fast
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post(
            "/v1/track",
            auth=auth(collector.source.write_key),
            headers={"User-Agent": "test-agent/1"},
            json={
                "event": "Calculator Completed",
                "anonymousId": f"{run}-a",
                "timestamp": (fast_clock - timedelta(seconds=30)).isoformat(),
                "sentAt": fast_clock.isoformat(),
            },
        )
        assert r.status_code == 200
    [rec] = await raw.collect(mine(collector.source.id, run), want=1)
    uuid.UUID(rec["event"]["messageId"])  # minted, a valid UUID
    received = datetime.fromisoformat(rec["receivedAt"])
    corrected = datetime.fromisoformat(rec["timestamp"])
    assert abs((received - corrected) - timedelta(seconds=30)) < timedelta(milliseconds=1)
    assert abs(received - now) < timedelta(seconds=10)
    assert rec["userAgent"] == "test-agent/1"


async def test_gzip_body_and_write_key_in_body(collector, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    body = orjson.dumps(
        {
            "writeKey": collector.source.write_key,
            "batch": [{"type": "page", "anonymousId": f"{run}-g", "messageId": f"{run}-1"}],
        }
    )
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post(
            "/v1/batch",
            content=gzip.compress(body),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
    got = await raw.collect(mine(collector.source.id, run), want=1)
    assert [g["event"]["messageId"] for g in got] == [f"{run}-1"]
    assert "writeKey" not in got[0]["event"]


async def test_x_forwarded_for_from_a_trusted_proxy(collector, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post(
            "/v1/page",
            auth=auth(collector.source.write_key),
            headers={"X-Forwarded-For": "203.0.113.77"},
            json={"anonymousId": f"{run}-x"},
        )
        assert r.status_code == 200
    [rec] = await raw.collect(mine(collector.source.id, run), want=1)
    assert rec["clientIp"] == "203.0.113.77"  # the test talks from 127.0.0.1, a trusted proxy by default


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "code"),
    [
        ("/v1/track", {"content": b'{"event": "X", "anonymousId": ', "auth": "KEY"}, 400, "malformed_json"),
        ("/v1/track", {"json": {"anonymousId": "a"}, "auth": "KEY"}, 400, "invalid_event"),
        ("/v1/track", {"json": {"event": "X"}, "auth": "KEY"}, 400, "invalid_event"),
        (
            "/v1/track",
            {"json": {"event": "X", "anonymousId": "a", "properties": {"x": "y" * 40_000}}, "auth": "KEY"},
            413,
            "payload_too_large",
        ),
        (
            "/v1/batch",
            {
                "json": {"batch": [{"type": "page", "anonymousId": "a", "properties": {"x": "y" * 20_000}}] * 30},
                "auth": "KEY",
            },
            413,
            "payload_too_large",
        ),
        ("/v1/track", {"json": {"event": "X", "anonymousId": "a"}}, 401, "unauthorized"),
        ("/v1/track", {"json": {"event": "X", "anonymousId": "a"}, "auth": "wrong-key-wrong-key"}, 401, "unauthorized"),
        (
            "/v1/track",
            {"json": {"event": "X", "anonymousId": "a", "writeKey": "nope-nope-nope-nope"}},
            401,
            "unauthorized",
        ),
        (
            "/v1/track",
            {"json": {"event": "X", "anonymousId": "a"}, "auth": "KEY", "headers": {"Origin": "https://evil.example"}},
            403,
            "origin_not_allowed",
        ),
        (
            "/v1/track",
            {"content": b"xx", "auth": "KEY", "headers": {"Content-Encoding": "br"}},
            415,
            "unsupported_encoding",
        ),
    ],
)
async def test_error_cases(collector, path: str, kwargs: dict, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    if kwargs.get("auth") == "KEY":
        kwargs = {**kwargs, "auth": auth(collector.source.write_key)}
    elif "auth" in kwargs:
        kwargs = {**kwargs, "auth": auth(kwargs["auth"])}
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post(path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code and body["message"]


async def test_invalid_event_error_names_the_field(collector) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post("/v1/alias", auth=auth(collector.source.write_key), json={"userId": "u1"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "previousId"


async def test_a_batch_with_a_bad_event_publishes_nothing(collector, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    batch = [{"type": "page", "anonymousId": f"{run}-{i}"} for i in range(5)]
    batch[3] = {"type": "track", "anonymousId": f"{run}-3"}  # no event name
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post("/v1/batch", auth=auth(collector.source.write_key), json={"batch": batch})
        assert r.status_code == 400
        assert [i["index"] for i in r.json()["invalid"]] == [3]
        # a marker after it, so we know the topic was read past the refused batch
        ok = await http.post("/v1/page", auth=auth(collector.source.write_key), json={"anonymousId": f"{run}-marker"})
        assert ok.status_code == 200
    got = await raw.collect(mine(collector.source.id, run), want=1, settle=1.5)
    assert [g["event"]["anonymousId"] for g in got] == [f"{run}-marker"]


async def test_cors_preflight_and_allowed_origin(collector) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        pre = await http.options(
            "/v1/batch", headers={"Origin": "https://www.example.com", "Access-Control-Request-Method": "POST"}
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-origin"] == "https://www.example.com"
        assert "POST" in pre.headers["access-control-allow-methods"]
        bad = await http.options(
            "/v1/batch", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
        )
        assert bad.status_code == 403
        r = await http.post(
            "/v1/page",
            auth=auth(collector.source.write_key),
            headers={"Origin": "https://www.example.com"},
            json={"anonymousId": "cors-test"},
        )
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://www.example.com"
        assert r.headers["access-control-allow-credentials"] == "true"


async def test_wrong_method_is_405(collector) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.get("/v1/track")
        assert r.status_code == 405 and "POST" in r.headers["allow"]
        assert r.json()["error"] == "method_not_allowed"
        r = await http.post("/pixel/v1/page")
        assert r.status_code == 405


async def test_pixel_mints_and_reuses_the_cookie(collector, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.get(
            "/pixel/v1/page",
            params={
                "writeKey": collector.source.write_key,
                "url": f"https://www.example.com/nl?utm_source=newsletter&run={run}",
            },
        )
        assert r.status_code == 200
        assert "no-cache" in r.headers["cache-control"]
        cookie = r.headers["set-cookie"]
        assert "cdp_aid=" in cookie and "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
        aid = cookie.split("cdp_aid=")[1].split(";")[0]
        r2 = await http.get(
            "/pixel/v1/page",
            params={"writeKey": collector.source.write_key, "url": f"https://www.example.com/again?run={run}"},
            headers={"Cookie": f"cdp_aid={aid}"},
        )
        assert r2.status_code == 200 and "set-cookie" not in r2.headers
    got = await raw.collect(
        lambda rec: run in str(rec["event"].get("context", {}).get("page", {}).get("url", "")), want=2
    )
    assert [g["event"]["anonymousId"] for g in got] == [aid, aid]
    assert got[0]["event"]["context"]["page"]["url"].startswith("https://www.example.com/nl?utm_source=newsletter")


async def test_an_invalid_pixel_hit_goes_to_the_rejected_topic(collector, rejected: TopicTail) -> None:  # type: ignore[no-untyped-def]
    run = f"run-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.get(
            "/pixel/v1/track", params={"writeKey": collector.source.write_key, "anonymousId": run}
        )  # no event
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
        r = await http.get("/pixel/v1/page", params={"writeKey": "not-a-key-not-a-key", "anonymousId": run})
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    got = await rejected.collect(lambda rec: run in base64.b64decode(rec["original"]).decode(), want=2)
    reasons = sorted(g["reason"] for g in got)
    assert reasons == ["invalid_event", "unauthorized"]
    assert all(g["stage"] == "collector" for g in got)
    inv = next(g for g in got if g["reason"] == "invalid_event")
    assert inv["sourceId"] == collector.source.id and "event" in inv["message"]


async def test_topics_can_be_moved_for_side_environments(settings, collector_source, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    """CDP_COLLECTOR_RAW_TOPIC / _REJECTED_TOPIC (the pipeline benchmark runs beside `make up`
    this way): accepted and refused hits go there, and nothing reaches the default topic."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from tests.integration.conftest import start_collector

    run = f"run-{uuid.uuid4().hex[:8]}"
    names = [f"test.raw.{run}", f"test.rejected.{run}"]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(n, num_partitions=2, replication_factor=1) for n in names])
    proc, url = start_collector(settings, CDP_COLLECTOR_RAW_TOPIC=names[0], CDP_COLLECTOR_REJECTED_TOPIC=names[1])
    try:
        await asyncio.to_thread(proc.wait_http, f"{url}/readyz")
        side_raw = await TopicTail(settings.kafka_bootstrap, names[0]).start()
        side_rejected = await TopicTail(settings.kafka_bootstrap, names[1]).start()
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            batch = [{"type": "page", "anonymousId": f"{run}-{i}", "name": "Pricing"} for i in range(3)]
            r = await http.post("/v1/batch", auth=auth(collector_source.write_key), json={"batch": batch})
            assert r.status_code == 200, r.text
            r = await http.get("/pixel/v1/track", params={"writeKey": collector_source.write_key, "anonymousId": run})
            assert r.status_code == 200  # no event name: refused, to the rejected topic
        got = await side_raw.collect(mine(collector_source.id, run), want=3)
        assert sorted(g["event"]["anonymousId"] for g in got) == [f"{run}-{i}" for i in range(3)]
        refused = await side_rejected.collect(lambda rec: run in base64.b64decode(rec["original"]).decode(), want=1)
        assert [g["reason"] for g in refused] == ["invalid_event"]
        assert await raw.collect(mine(collector_source.id, run), want=0, within=2) == []
        await side_raw.stop()
        await side_rejected.stop()
    finally:
        proc.stop()
        await admin.delete_topics(names)
        await admin.close()


async def test_ops_endpoints(collector) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).json() == {"producer": True, "sources": True}
        metrics = (await http.get("/metrics")).text
        assert "cdp_collector_events_accepted_total" in metrics
        assert "cdp_collector_produce_latency_seconds_bucket" in metrics
        spec = (await http.get("/openapi.json")).json()
        for p in [
            "/v1/batch",
            "/v1/track",
            "/v1/page",
            "/v1/identify",
            "/v1/alias",
            "/v1/screen",
            "/v1/group",
            "/pixel/v1/page",
            "/pixel/v1/track",
            "/healthz",
            "/readyz",
            "/metrics",
        ]:
            assert p in spec["paths"], p


async def test_a_new_source_and_a_rotated_key_take_effect_within_the_refresh(collector, migrated_pool) -> None:  # type: ignore[no-untyped-def]
    from cdp_common.sources import SourceStore

    store = SourceStore(migrated_pool)
    name = f"rot-{uuid.uuid4().hex[:6]}"
    src = await store.add(name)
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:

        async def status(key: str) -> int:
            return (await http.post("/v1/page", auth=auth(key), json={"anonymousId": "rot"})).status_code

        for _ in range(100):  # the test collector refreshes every second; the default is 5 s
            if await status(src.write_key) == 200:
                break
            await asyncio.sleep(0.2)
        assert await status(src.write_key) == 200
        rotated = await store.rotate(name)
        for _ in range(100):
            if await status(src.write_key) == 401:
                break
            await asyncio.sleep(0.2)
        assert await status(src.write_key) == 401
        assert await status(rotated.write_key) == 200


@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
@pytest.mark.parametrize("depth", [255, 600, 1023, 5000])
async def test_deep_nesting_gets_the_documented_json_400(collector, path: str, depth: int) -> None:  # type: ignore[no-untyped-def]
    props = "{" + '"a":{' * (depth - 1) + "}" * depth
    event = '{"type": "track", "event": "x", "anonymousId": "deep", "properties": ' + props + "}"
    body = event if path == "/v1/track" else '{"batch": [' + event + "]}"
    async with httpx.AsyncClient(base_url=collector.url, timeout=10) as http:
        r = await http.post(
            path, content=body, auth=auth(collector.source.write_key), headers={"content-type": "application/json"}
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"] in ("invalid_event", "malformed_json")
