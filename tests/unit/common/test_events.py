"""Inbound event validation (Segment spec) as tables of input -> outcome."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from cdp_common.events import AliasEvent, IdentifyEvent, PageEvent, TrackEvent, parse_event


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({"type": "track", "event": "Signed Up", "anonymousId": "a1"}, TrackEvent),
        ({"type": "page", "name": "Pricing", "userId": "u1"}, PageEvent),
        ({"type": "identify", "userId": "u1", "traits": {"email": "x@y.z"}}, IdentifyEvent),
        ({"type": "alias", "previousId": "a1", "userId": "u1"}, AliasEvent),
    ],
)
def test_valid_events_parse_to_their_type(data: dict, cls: type) -> None:
    assert isinstance(parse_event(data), cls)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "track", "anonymousId": "a1"}, "event"),
        ({"type": "track", "event": "", "anonymousId": "a1"}, "event"),
        ({"type": "track", "event": "X"}, "anonymousId or userId"),
        ({"type": "alias", "userId": "u1"}, "previousId"),
        ({"type": "group", "userId": "u1"}, "groupId"),
        ({"type": "bogus", "anonymousId": "a1"}, "type"),
        ({"anonymousId": "a1"}, "type"),
        ({"type": "page", "anonymousId": "a1", "timestamp": "yesterday"}, "timestamp"),
        ({"type": "page", "anonymousId": "a1", "timestamp": "0001-01-01T00:00:00+01:00"}, "out of range"),
        ({"type": "page", "anonymousId": "a1", "sentAt": "9999-12-31T23:59:59-01:00"}, "out of range"),
        ({"type": "track", "event": "X", "anonymousId": "a1", "properties": [1]}, "properties"),
    ],
)
def test_invalid_events_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_event(data)
    assert field in str(err.value)


def test_unknown_fields_are_kept_and_names_round_trip_in_camel_case() -> None:
    ev = parse_event(
        {
            "type": "track",
            "event": "Video Completed",
            "anonymousId": "a1",
            "messageId": "m1",
            "custom": {"x": 1},
            "context": {"userAgent": "UA", "page": {"url": "https://e.com/?utm_source=li"}, "extra": 2},
        }
    )
    dumped = ev.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["messageId"] == "m1"
    assert dumped["custom"] == {"x": 1}
    assert dumped["context"]["userAgent"] == "UA"
    assert dumped["context"]["extra"] == 2
    assert dumped["context"]["page"]["url"] == "https://e.com/?utm_source=li"


def test_naive_timestamps_are_utc_and_offsets_are_converted() -> None:
    ev = parse_event(
        {"type": "page", "anonymousId": "a", "timestamp": "2026-01-01T10:00:00", "sentAt": "2026-01-01T12:00:00+02:00"}
    )
    assert ev.timestamp == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert ev.sent_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
