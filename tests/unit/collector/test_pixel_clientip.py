"""Pixel query parsing and client IP resolution."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from cdp_collector.logic.clientip import client_ip, parse_trusted
from cdp_collector.logic.pixel import pixel_event


def test_pixel_parameters_become_an_event() -> None:
    q = (
        "writeKey=k&anonymousId=a1&event=Email+Opened&properties.campaign=nov&properties.list.id=7"
        "&context.campaign.source=newsletter&url=https://e.com/?utm_source=nl&referrer=https://mail.example&foo=bar"
    )
    event, key = pixel_event("track", parse_qsl(q))
    assert key == "k"
    assert event["type"] == "track" and event["event"] == "Email Opened" and event["anonymousId"] == "a1"
    assert event["properties"] == {"campaign": "nov", "list": {"id": "7"}, "foo": "bar"}
    assert event["context"]["campaign"] == {"source": "newsletter"}
    assert event["context"]["page"] == {"url": "https://e.com/?utm_source=nl", "referrer": "https://mail.example"}
    assert "writeKey" not in event


def test_page_pixel_copies_page_fields_into_properties() -> None:
    event, _ = pixel_event("page", parse_qsl("url=https://e.com/p&title=Pricing"))
    assert event["properties"] == {"url": "https://e.com/p", "title": "Pricing"}


TRUSTED = parse_trusted(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.5", "1.2.3.4", "203.0.113.5"),  # untrusted peer: header ignored
        ("127.0.0.1", "1.2.3.4", "1.2.3.4"),
        ("127.0.0.1", "1.2.3.4, 10.1.1.1", "1.2.3.4"),  # skip trusted hops from the right
        ("127.0.0.1", "9.9.9.9, 1.2.3.4, 10.1.1.1", "1.2.3.4"),  # the leftmost is spoofable
        ("127.0.0.1", "garbage", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_forwarded_for_is_honoured_only_from_trusted_proxies(peer: str, xff: str | None, expected: str) -> None:
    assert client_ip(peer, xff, TRUSTED) == expected
