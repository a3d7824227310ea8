"""The collector's pure logic: bodies, events, stamps and refusals."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from cdp_collector.logic.errors import Refusal
from cdp_collector.logic.ingest import (
    Limits,
    Stamp,
    build_hits,
    corrected_timestamp,
    decode_body,
    events_of,
    parse_payload,
)
from cdp_common.events import parse_event

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
STAMP = Stamp(received_at=NOW, source_id="src_1", client_ip="198.51.100.7", user_agent="header-UA")
LIMITS = Limits(max_event_bytes=1024, max_request_bytes=4096)


def ids():  # type: ignore[no-untyped-def]
    n = iter(range(1000))
    return lambda: f"minted-{next(n)}"


def test_gzip_bodies_are_inflated_and_bombs_are_refused() -> None:
    assert decode_body(gzip.compress(b'{"a":1}'), "gzip", LIMITS) == b'{"a":1}'
    bomb = decode_body(gzip.compress(b" " * 100_000), "gzip", LIMITS)
    assert isinstance(bomb, Refusal) and bomb.status == 413
    bad = decode_body(b"not gzip", "gzip", LIMITS)
    assert isinstance(bad, Refusal) and bad.code == "malformed_gzip"
    br = decode_body(b"x", "br", LIMITS)
    assert isinstance(br, Refusal) and br.status == 415


def test_malformed_json_is_a_400() -> None:
    r = parse_payload(b'{"type": "track",')
    assert isinstance(r, Refusal) and (r.status, r.code) == (400, "malformed_json")


def test_single_event_type_comes_from_the_path_and_must_agree() -> None:
    assert events_of({"event": "X", "anonymousId": "a"}, "track") == [
        {"event": "X", "anonymousId": "a", "type": "track"}
    ]
    r = events_of({"type": "page", "anonymousId": "a"}, "track")
    assert isinstance(r, Refusal) and r.details["errors"][0]["field"] == "type"


def test_batch_level_fields_fill_in_what_events_lack() -> None:
    events = events_of(
        {
            "batch": [{"type": "page", "anonymousId": "a"}, {"type": "page", "anonymousId": "b", "sentAt": "x"}],
            "sentAt": "2026-11-29T12:00:00Z",
            "context": {"library": {"name": "sdk"}},
        },
        "batch",
    )
    assert isinstance(events, list)
    assert events[0]["sentAt"] == "2026-11-29T12:00:00Z" and events[1]["sentAt"] == "x"
    assert events[0]["context"] == {"library": {"name": "sdk"}}


@pytest.mark.parametrize("payload", [[], {"batch": []}, {"batch": {}}, {"nope": 1}])
def test_bad_batches_are_refused(payload: object) -> None:
    r = events_of(payload, "batch")
    assert isinstance(r, Refusal) and r.status == 400


def test_hits_carry_stamps_minted_ids_and_the_partition_key() -> None:
    hits = build_hits(
        [
            {"type": "track", "event": "Calculator Completed", "anonymousId": " a1 ", "properties": {"savings": 1200}},
            {"type": "identify", "userId": "u9", "messageId": "client-id"},
        ],
        stamp=STAMP,
        limits=LIMITS,
        new_id=ids(),
        single=False,
    )
    assert isinstance(hits, list)
    first, second = (orjson.loads(h.value) for h in hits)
    assert hits[0].key == b"a1" and hits[1].key == b"u9"
    assert hits[0].message_id == "minted-0" and hits[1].message_id == "client-id"
    assert first["event"]["messageId"] == "minted-0" and first["event"]["anonymousId"] == "a1"
    assert first["event"]["properties"] == {"savings": 1200}
    assert first["sourceId"] == "src_1" and first["clientIp"] == "198.51.100.7"
    assert first["userAgent"] == "header-UA"
    assert first["receivedAt"] == "2026-11-29T12:00:00Z" and first["timestamp"] == "2026-11-29T12:00:00Z"
    assert second["event"]["type"] == "identify"


def test_context_user_agent_wins_over_the_header() -> None:
    hits = build_hits(
        [{"type": "page", "anonymousId": "a", "context": {"userAgent": "client-UA"}}],
        stamp=STAMP,
        limits=LIMITS,
        new_id=ids(),
        single=True,
    )
    assert isinstance(hits, list) and orjson.loads(hits[0].value)["userAgent"] == "client-UA"


def test_a_batch_with_any_invalid_event_is_refused_whole_with_every_bad_index() -> None:
    r = build_hits(
        [
            {"type": "track", "anonymousId": "a"},
            {"type": "page", "anonymousId": "b"},
            {"type": "track", "event": "X"},
            7,
        ],
        stamp=STAMP,
        limits=LIMITS,
        new_id=ids(),
        single=False,
    )
    assert isinstance(r, Refusal) and r.status == 400
    assert [i["index"] for i in r.details["invalid"]] == [0, 2, 3]
    assert r.details["invalid"][0]["errors"] == [{"field": "event", "message": "Field required"}]
    assert r.details["invalid"][1]["errors"][0]["field"] == "anonymousId"
    assert "3 of 4" in r.message


def test_a_single_invalid_event_names_its_field() -> None:
    r = build_hits([{"type": "alias", "userId": "u"}], stamp=STAMP, limits=LIMITS, new_id=ids(), single=True)
    assert isinstance(r, Refusal) and r.message.startswith("previousId:")


def test_an_oversized_event_in_a_batch_is_a_413() -> None:
    r = build_hits(
        [{"type": "track", "event": "X", "anonymousId": "a", "properties": {"blob": "x" * 2000}}],
        stamp=STAMP,
        limits=LIMITS,
        new_id=ids(),
        single=False,
    )
    assert isinstance(r, Refusal) and r.status == 413


@pytest.mark.parametrize(
    ("event", "expected", "plausible"),
    [
        # the client's clock is 1 h fast: sentAt - timestamp = 10 s, so the event happened 10 s before receipt
        ({"timestamp": "2026-11-29T12:59:50Z", "sentAt": "2026-11-29T13:00:00Z"}, NOW - timedelta(seconds=10), True),
        (
            {"originalTimestamp": "2026-11-29T12:59:58Z", "sentAt": "2026-11-29T13:00:00Z"},
            NOW - timedelta(seconds=2),
            True,
        ),
        ({"timestamp": "2026-11-27T08:00:00Z"}, datetime(2026, 11, 27, 8, tzinfo=UTC), True),
        ({}, NOW, True),
        ({"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"}, NOW, False),  # overflow
        ({"timestamp": "2026-11-29T13:00:10Z", "sentAt": "2026-11-29T13:00:00Z"}, NOW, True),  # sent before it happened
        # implausible client clocks: the receive time, flagged
        ({"timestamp": "9999-12-31T23:59:59Z"}, NOW, False),
        ({"timestamp": "0001-01-01T00:00:00Z"}, NOW, False),
        ({"timestamp": "2026-12-01T12:00:01Z"}, NOW, False),  # more than a day ahead
        ({"timestamp": "2015-01-01T00:00:00Z"}, NOW, False),  # more than five years back
        # a clock set years ahead, with sentAt on the same clock, is corrected, not clamped
        ({"timestamp": "2040-01-01T00:00:00Z", "sentAt": "2040-01-01T00:00:05Z"}, NOW - timedelta(seconds=5), True),
    ],
)
def test_clock_skew_correction(event: dict, expected: datetime, plausible: bool) -> None:
    ev = parse_event({"type": "page", "anonymousId": "a", **event})
    assert corrected_timestamp(ev, NOW) == (expected, plausible)


def test_an_implausible_client_time_is_kept_beside_the_receive_time() -> None:
    hits = build_hits(
        [{"type": "track", "event": "x", "anonymousId": "a", "timestamp": "9999-12-31T23:59:59Z"}],
        stamp=STAMP,
        limits=LIMITS,
        new_id=ids(),
        single=True,
    )
    assert isinstance(hits, list)
    record = orjson.loads(hits[0].value)
    assert record["timestamp"] == "2026-11-29T12:00:00Z" and record["clientTimestamp"] == "9999-12-31T23:59:59Z"
    ok = build_hits([{"type": "page", "anonymousId": "a"}], stamp=STAMP, limits=LIMITS, new_id=ids(), single=True)
    assert isinstance(ok, list) and "clientTimestamp" not in orjson.loads(ok[0].value)


def _nested(depth: int) -> bytes:
    # built as text: orjson itself cannot write JSON this deep
    return ("{" + '"a":{' * (depth - 1) + "}" * depth).encode()


@pytest.mark.parametrize("depth", [65, 255, 300, 1023])
@pytest.mark.parametrize("kind", ["track", "batch"])
def test_deep_nesting_is_a_json_400_never_a_crash(depth: int, kind: str) -> None:
    props = _nested(depth).decode()
    event = '{"type": "track", "event": "x", "anonymousId": "a", "properties": ' + props + "}"
    raw = event if kind == "track" else '{"batch": [' + event + "]}"
    payload = parse_payload(raw.encode())
    if isinstance(payload, Refusal):  # past orjson's own parse limit
        assert payload.status == 400
        return
    events = events_of(payload, kind)
    assert isinstance(events, list)
    hits = build_hits(events, stamp=STAMP, limits=Limits(max_event_bytes=10**6), new_id=ids(), single=kind != "batch")
    assert (
        isinstance(hits, Refusal)
        and hits.status == 400
        and "nested deeper than 64" in orjson.dumps(hits.body()).decode()
    )


def test_nesting_within_the_limit_is_accepted() -> None:
    payload = parse_payload(b'{"type": "track", "event": "x", "anonymousId": "a", "properties": ' + _nested(60) + b"}")
    hits = build_hits(events_of(payload, "track"), stamp=STAMP, limits=LIMITS, new_id=ids(), single=True)  # type: ignore[arg-type]
    assert isinstance(hits, list)
