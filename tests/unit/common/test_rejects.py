"""The pure parts of `cdp rejects`: time windows, filters, what can be re-sent, and where."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from cdp_common.records import Rejected
from cdp_common.rejects import Filters, Found, _key_of, parse_when, resendable, summary

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _found(stage: str, reason: str, source: str | None = "src_1", original: bytes = b"{}") -> Found:
    r = Rejected(
        reason=reason, message="m", stage=stage, original=Rejected.encode(original), source_id=source, rejected_at=NOW
    )
    return Found(0, 1, r)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
        ("2026-12-01T10:00:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ],
)
def test_a_window_is_ago_or_iso(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected


def test_a_bad_window_says_what_to_write() -> None:
    with pytest.raises(ValueError, match="30m, 2h, 7d"):
        parse_when("yesterday", NOW)


def test_filters_and_what_can_be_resent() -> None:
    rows = [_found("enricher", "tracking_plan"), _found("collector", "invalid_event"), _found("segmenter", "x", None)]
    assert [f.record.stage for f in rows if Filters(stage="enricher").match(f.record)] == ["enricher"]
    assert len([f for f in rows if Filters(source_id="src_1").match(f.record)]) == 2
    ok, skipped = resendable(rows)
    assert [f.record.stage for f in ok] == ["enricher", "segmenter"] and skipped == {"collector": 1}
    assert summary(rows) == {("enricher", "tracking_plan"): 1, ("collector", "invalid_event"): 1, ("segmenter", "x"): 1}


def test_a_resent_record_keeps_its_partition_key() -> None:
    hit = {"event": {"anonymousId": "a-1", "userId": "u"}}
    assert _key_of(orjson.dumps(hit)) == b"a-1"
    assert _key_of(orjson.dumps({"profileId": "p-9"})) == b"p-9"
    assert _key_of(b"not json") is None and _key_of(b"[1]") is None
