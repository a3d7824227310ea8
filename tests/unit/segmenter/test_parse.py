"""The segmenter's record parsing: what is applied, dropped or rejected, and the stamps kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from cdp_common.stream import Record
from cdp_segmenter.batch import Hit
from cdp_segmenter.processor import parse


def record(doc: Any) -> Record:
    return Record(orjson.dumps(doc), None, "t", 0, 7, 1_764_000_000_000)


def hit(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event": {"type": "page", "anonymousId": "a-1", "messageId": "m-1", "properties": {"path": "/"}},
        "receivedAt": "2026-11-29T10:00:00.250000Z",
        "timestamp": "2026-11-29T09:59:59Z",
        "sourceId": "src_1",
        "enrichment": {"bot": {"isBot": False}},
    }
    doc.update(over)
    return doc


def test_a_hit_keeps_the_collector_receipt_for_the_freshness_metric() -> None:
    got = parse(record(hit()))
    assert isinstance(got, Hit)
    assert got.message_id == "m-1" and got.kafka_ts_ms == 1_764_000_000_000
    assert got.received_s == datetime(2026, 11, 29, 10, 0, 0, 250000, tzinfo=UTC).timestamp()


def test_a_missing_or_broken_receipt_only_costs_the_metric() -> None:
    for value in (None, "yesterday"):
        got = parse(record(hit(receivedAt=value)))
        assert isinstance(got, Hit) and got.received_s is None


def test_bots_are_dropped_and_broken_hits_rejected_with_a_reason() -> None:
    assert parse(record(hit(enrichment={"bot": {"isBot": True}}))) == "bot"
    assert parse(Record(b"{nope", None, "t", 0, 1, None))[0] == "malformed"  # type: ignore[index]
    assert parse(record(hit(timestamp="soon"))) == ("malformed", "timestamp 'soon' is not ISO-8601")
    no_id = hit()
    no_id["event"] = {"type": "page", "anonymousId": "anonymous", "messageId": "m-2"}
    assert parse(record(no_id))[0] == "no_usable_id"  # type: ignore[index]


def test_a_replayed_record_is_marked_as_one() -> None:
    plain = parse(record(hit()))
    rec = record(hit())._replace(headers=(("cdp-replay", b"rpl-1"),))
    replayed = parse(rec)
    assert isinstance(plain, Hit) and isinstance(replayed, Hit)
    assert plain.replay is False and replayed.replay is True and replayed.record is rec
