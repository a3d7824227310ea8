"""What third-party SDKs need of the collector: their configuration documents, preflight
grants, their routes, and the shapes they send normalized to one raw hit."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from cdp_collector.edge import EVENT_ROUTES
from cdp_collector.logic.ingest import Limits, Stamp, build_hits
from cdp_collector.logic.sdk_config import (
    PublicUrl,
    allowed_request_headers,
    rudderstack_source_config,
    segment_settings,
)
from cdp_collector.sdk_routes import RUDDER_ROUTE, SEGMENT_ROUTE, route_of
from cdp_common.sources import Source

SOURCE = Source(id="src_1", name="site", write_key="wk_123", origins=("https://www.example.com",))
STAMP = Stamp(received_at=datetime(2026, 12, 2, tzinfo=UTC), source_id="src_1", client_ip=None, user_agent=None)


def test_the_segment_settings_point_analytics_next_back_at_the_collector() -> None:
    doc = segment_settings(SOURCE, PublicUrl.parse("https://collect.example.com/ignored/path"))
    seg = doc["integrations"]["Segment.io"]
    assert seg["apiKey"] == "wk_123"
    assert seg["apiHost"] == "collect.example.com/v1" and seg["protocol"] == "https"
    assert list(doc["integrations"]) == ["Segment.io"]  # no device-mode destinations to load
    assert doc["metrics"]["sampleRate"] == 0 and doc["remotePlugins"] == []


def test_the_rudderstack_source_config_is_one_enabled_source_without_destinations() -> None:
    doc = rudderstack_source_config(SOURCE)
    assert doc["source"]["id"] == "src_1" and doc["source"]["enabled"] is True
    assert doc["source"]["destinations"] == [] and isinstance(doc["source"]["config"], dict)


@pytest.mark.parametrize("url", ["ftp://x", "collect.example.com", ""])
def test_a_public_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ValueError):
        PublicUrl.parse(url)


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, "content-type, authorization, content-encoding"),
        (
            "authorization,content-type,x-retry-count",
            "content-type, authorization, content-encoding, x-retry-count",
        ),
        ("AnonymousId, SentAt", "content-type, authorization, content-encoding, anonymousid, sentat"),
        ("bad header\r\nx: 1", "content-type, authorization, content-encoding"),
        (",".join(f"h{i}" for i in range(30)), "content-type, authorization, content-encoding"),
    ],
)
def test_a_preflight_is_granted_the_plain_headers_it_asks_for(requested: str | None, granted: str) -> None:
    assert allowed_request_headers(requested) == granted


def test_every_sdk_path_is_routed() -> None:
    for letter, kind in {"t": "track", "p": "page", "i": "identify", "a": "alias", "g": "group", "s": "screen"}.items():
        assert EVENT_ROUTES[f"/v1/{letter}"] == kind == EVENT_ROUTES[f"/v1/{kind}"]
    assert EVENT_ROUTES["/v1/b"] == EVENT_ROUTES["/beacon/v1/batch"] == "batch"
    assert route_of("/v1/projects/wk_123/settings") == SEGMENT_ROUTE
    assert route_of("/v1/projects/wk/123/settings") is None
    assert route_of("/sourceConfig/") == route_of("/sourceConfig") == RUDDER_ROUTE


def _hit(event: dict) -> dict:  # type: ignore[type-arg]
    hits = build_hits([event], stamp=STAMP, limits=Limits(), new_id=lambda: "minted", single=True)
    assert isinstance(hits, list), hits
    return orjson.loads(hits[0].value)["event"]  # type: ignore[no-any-return]


def test_a_write_key_inside_an_event_is_not_kept() -> None:
    ev = _hit({"type": "track", "event": "X", "anonymousId": "a", "writeKey": "wk_123"})
    assert "writeKey" not in ev


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_a_blank_user_id_is_no_user_id(blank: str | None) -> None:
    ev = _hit({"type": "page", "anonymousId": "a", "userId": blank})
    assert "userId" not in ev and ev["anonymousId"] == "a"


def test_rudderstack_identify_traits_in_the_context_become_the_event_traits() -> None:
    ev = _hit({"type": "identify", "userId": "u1", "context": {"traits": {"email": "ada@example.com"}}})
    assert ev["traits"] == {"email": "ada@example.com"}
    own = _hit({"type": "identify", "userId": "u1", "traits": {"email": "a@x.org"}, "context": {"traits": {"b": 1}}})
    assert own["traits"] == {"email": "a@x.org"}
