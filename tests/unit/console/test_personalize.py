"""Personalization decisions: rules in order, defaults, and a refusal of personalization."""

from __future__ import annotations

import orjson

from cdp_console.personalize import choose, parse_slot
from cdp_segmenter.logic.profile import fold, new_profile
from cdp_segmenter.readmodel import summary
from tests.unit.segmenter.test_profile import T0, hit

HERO = parse_slot("hero", [{"when": {"segment": "automotive-ceos"}, "variant": "ceo"}], "default")


def test_a_member_gets_the_variant_unless_they_refused_personalization() -> None:
    p = new_profile("p1")
    p["segments"] = ["automotive-ceos"]
    assert choose([HERO], orjson.loads(summary(p))) == {"hero": "ceo"}
    assert choose([HERO], None) == {"hero": "default"}  # unknown visitor
    refused = fold(
        p, hit(T0, {"type": "track", "context": {"consent": {"categoryPreferences": {"personalization": False}}}})
    )
    refused["segments"] = ["automotive-ceos"]
    doc = orjson.loads(summary(refused))
    assert doc["personalize"] is False
    assert choose([HERO], doc) == {"hero": "default"}
