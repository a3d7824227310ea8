"""Campaign-to-profile rules and the whole per-record step."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from cdp_common.definitions.campaign_rules import KvConvention, RuleDef, compile_rules, kv_traits, matching_traits
from cdp_common.definitions.rule_store import parse_rule_file
from cdp_enricher.pipeline import Dropped, Emitted, Enricher, Refused, RejectionGuard, Rules

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"

RULES = parse_rule_file(
    {
        "rules": [
            {
                "id": "li-ceo-auto",
                "when": {"source": "linkedin", "campaign": "ceo-automotive*"},
                "set": {"role": "CEO", "industry": "automotive"},
            },
            {"id": "cfo-regex", "when": {"campaign": {"regex": "^cfo-(finance|banking)"}}, "set": {"role": "CFO"}},
            {"id": "any-linkedin", "when": {"source": "linkedin"}, "set": {"role": "unknown", "seen_on": "linkedin"}},
            {"id": "off", "when": {"source": "linkedin"}, "set": {"x": 1}, "enabled": False},
            {
                "id": "paid-social",
                "when": {"channel": "Paid Social", "click_network": "LinkedIn"},
                "set": {"ad_clicker": True},
            },
        ]
    }
)
COMPILED = compile_rules(RULES)


def test_glob_and_regex_rules_with_first_rule_winning() -> None:
    got = matching_traits(
        COMPILED,
        {"source": "linkedin", "campaign": "CEO-Automotive-Q4", "channel": "Paid Social", "click_network": "LinkedIn"},
    )
    assert got == [
        ("role", "CEO", "li-ceo-auto"),
        ("industry", "automotive", "li-ceo-auto"),
        ("seen_on", "linkedin", "any-linkedin"),
        ("ad_clicker", True, "paid-social"),
    ]
    assert matching_traits(COMPILED, {"source": "google", "campaign": "cfo-banking-2026"}) == [
        ("role", "CFO", "cfo-regex")
    ]
    assert matching_traits(COMPILED, {"source": "google", "campaign": "ceo-automotive"}) == []
    assert matching_traits(COMPILED, {"campaign": "ceo-automotive-x"}) == []  # source missing: no match


def test_kv_convention() -> None:
    kv = KvConvention()
    assert kv_traits({"utm_content": "role:ceo|industry:automotive"}, kv) == [
        ("role", "ceo", "kv:utm_content"),
        ("industry", "automotive", "kv:utm_content"),
    ]
    assert kv_traits({"utm_content": "banner-a"}, kv) == []
    custom = KvConvention(parameter="utm_term", pair_separator=";", kv_separator="=")
    assert kv_traits({"utm_term": "Role=CFO; size=500+"}, custom) == [
        ("role", "CFO", "kv:utm_term"),
        ("size", "500+", "kv:utm_term"),
    ]
    assert kv_traits({"utm_content": "role:ceo"}, KvConvention(parameter=None)) == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rules": [{"id": "a", "when": {"sauce": "x"}, "set": {"r": 1}}]}, "unknown field"),
        ({"rules": [{"id": "a", "when": {"source": "x"}, "set": {}}]}, "sets no trait"),
        (
            {"rules": [{"id": "a", "when": {"campaign": {"regex": "("}}, "set": {"r": 1}}]},
            "not a valid regular expression",
        ),
        ({"rules": [{"id": "a", "when": {"source": "x"}, "set": {"r": 1}}] * 2}, "appears twice"),
        ({"rules": [{"id": "bad id!", "when": {"source": "x"}, "set": {"r": 1}}]}, "ids are"),
        ({"rules": [{"id": "a", "when": {"source": "x"}, "set": {"bad-name": 1}}]}, "identifiers"),
    ],
)
def test_invalid_rule_files_say_what_is_wrong(doc: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_rule_file(doc)


def raw(**over: object) -> bytes:
    hit = {
        "event": {
            "type": "page",
            "anonymousId": "anon-1",
            "messageId": "m-1",
            "context": {
                "ip": "203.0.113.77",
                "page": {
                    "url": "https://www.example.com/case?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4&li_fat_id=abc",
                    "referrer": "https://www.linkedin.com/",
                },
                "library": {"name": "cdp-tag"},
            },
        },
        "receivedAt": "2026-11-29T12:00:00Z",
        "sourceId": "src_1",
        "clientIp": "81.2.69.142",
        "userAgent": CHROME,
        "timestamp": "2026-11-29T11:59:59Z",
    }
    hit.update(over)
    return orjson.dumps(hit)


ENRICHER = Enricher(lambda ip: {"203.0.113.0": "NL", "81.2.69.0": "GB"}.get(ip))
CTX = Rules(rules=COMPILED, internal_domains={"src_1": ("example.com",)})


def test_a_linkedin_ad_click_becomes_a_ceo_in_automotive() -> None:
    out = ENRICHER.enrich(raw(), CTX)
    assert isinstance(out, Emitted)
    assert out.key == b"anon-1" and not out.bot
    rec = orjson.loads(out.value)
    e = rec["enrichment"]
    assert e["campaign"] == {"source": "linkedin", "medium": "paid_social", "campaign": "ceo-automotive-q4"}
    assert e["click"] == {"id": "abc", "network": "LinkedIn"}
    assert e["channel"] == "Paid Social"
    assert e["referrer"]["medium"] == "social" and e["referrer"]["source"] == "LinkedIn"
    assert e["device"]["type"] == "desktop" and e["device"]["browser"] == "Chrome"
    assert e["bot"] == {"isBot": False, "reason": None}
    assert {(t["name"], t["value"], t["ruleId"]) for t in e["traits"]} >= {
        ("role", "CEO", "li-ceo-auto"),
        ("industry", "automotive", "li-ceo-auto"),
    }
    # context.ip wins over the connection's address; only the anonymized form leaves
    assert e["geo"] == {"country": "NL", "ip": "203.0.113.0"}
    assert rec["event"]["context"]["ip"] == "203.0.113.0"
    assert "clientIp" not in rec and b"203.0.113.77" not in out.value and b"81.2.69.142" not in out.value


def test_bots_are_flagged_and_get_no_traits() -> None:
    out = ENRICHER.enrich(
        raw(userAgent="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), CTX
    )
    assert isinstance(out, Emitted) and out.bot
    e = orjson.loads(out.value)["enrichment"]
    assert e["bot"]["isBot"] is True and e["traits"] == []


def test_server_side_library_hits_are_not_judged_by_the_http_client_agent() -> None:
    data = orjson.loads(raw(userAgent="python-requests/2.32"))
    data["event"]["context"]["library"] = {"name": "analytics-python"}
    out = ENRICHER.enrich(orjson.dumps(data), CTX)
    assert isinstance(out, Emitted) and not out.bot
    assert orjson.loads(out.value)["enrichment"]["device"] == {"type": "server"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "malformed_json"),
        (b"[1,2]", "invalid_record"),
        (
            orjson.dumps({"event": {"type": "page"}, "receivedAt": "x", "sourceId": "s", "timestamp": "x"}),
            "invalid_record",
        ),
        (
            orjson.dumps(
                {"event": {"type": "nope", "anonymousId": "a"}, "receivedAt": "x", "sourceId": "s", "timestamp": "x"}
            ),
            "invalid_record",
        ),
        (
            orjson.dumps(
                {
                    "event": {"type": "page", "anonymousId": "a", "context": "x"},
                    "receivedAt": "x",
                    "sourceId": "s",
                    "timestamp": "x",
                }
            ),
            "invalid_record",
        ),
    ],
)
def test_bad_records_are_rejected_with_their_origin(data: bytes, reason: str) -> None:
    out = ENRICHER.enrich(data, CTX)
    assert isinstance(out, Refused) and out.reason == reason and out.message


def test_suppressed_identities_are_dropped() -> None:
    out = ENRICHER.enrich(raw(), Rules(suppressed=frozenset({"anon:anon-1"})))
    assert out == Dropped("suppressed")
    # an erased email identifying from a new device is dropped too
    ident = raw()
    d = orjson.loads(ident)
    d["event"] = {**d["event"], "type": "identify", "anonymousId": "new-device", "traits": {"email": "Ada@X.io"}}
    out = ENRICHER.enrich(orjson.dumps(d), Rules(suppressed=frozenset({"email:ada@x.io"})))
    assert out == Dropped("suppressed")
    assert not isinstance(ENRICHER.enrich(raw(), Rules(suppressed=frozenset({"email:b@x.io"}))), Dropped)


@pytest.mark.parametrize(
    "event",
    [
        # an alias whose previousId is the erased anonymous id
        {"type": "alias", "previousId": "anon-erased", "userId": "new-user"},
        # an identify whose userId is the erased email (any case)
        {"type": "identify", "anonymousId": "fresh-device", "userId": "ADA@x.io"},
        # an alias naming the erased email as the previous id
        {"type": "alias", "previousId": "ada@x.io", "userId": "u-2"},
        # the erased user id sent as an anonymous id
        {"type": "page", "anonymousId": "user-erased"},
        # a track carrying the erased email in its properties
        {"type": "track", "event": "Form Submitted", "anonymousId": "x", "properties": {"email": "ada@x.io"}},
    ],
)
def test_an_erased_person_stays_erased_through_any_identifier(event: dict) -> None:  # type: ignore[type-arg]
    suppressed = frozenset({"anon:anon-erased", "email:ada@x.io", "user:user-erased"})
    d = orjson.loads(raw())
    d["event"] = {"messageId": "m-9", "context": d["event"]["context"], **event}
    assert ENRICHER.enrich(orjson.dumps(d), Rules(suppressed=suppressed)) == Dropped("suppressed")


def test_the_ua_cache_is_used() -> None:
    e = Enricher(lambda ip: None)
    for _ in range(5):
        e.enrich(raw(), CTX)
    assert e.ua_cache_stats() == (4, 1)


def test_rejection_guard_trips_on_a_majority_of_rejections() -> None:
    g = RejectionGuard(window=100, max_ratio=0.5, min_seen=50)
    for i in range(100):
        g.record(i % 3 == 0)  # a third rejected
    assert not g.tripped
    for _ in range(60):
        g.record(True)
    assert g.tripped and g.ratio > 0.5
    fresh = RejectionGuard(window=100, max_ratio=0.5, min_seen=50)
    for _ in range(10):
        fresh.record(True)
    assert not fresh.tripped  # too few to judge


def test_ruledef_round_trips_its_alias() -> None:
    r = RuleDef.model_validate({"id": "a", "when": {"source": "x"}, "set": {"role": "CEO"}})
    assert r.model_dump(by_alias=True)["set"] == {"role": "CEO"}


def test_the_output_is_a_valid_enriched_hit_for_downstream_consumers() -> None:
    from cdp_common.jsonio import load_model
    from cdp_common.records import EnrichedHit

    for data in (raw(), raw(userAgent="curl/8.5.0")):
        out = ENRICHER.enrich(data, CTX)
        assert isinstance(out, Emitted)
        hit = load_model(EnrichedHit, out.value)
        assert hit.enrichment.channel.value == orjson.loads(out.value)["enrichment"]["channel"]
        assert hit.enrichment.geo.ip and hit.enrichment.geo.ip.endswith(".0")
