"""Folding enriched hits into a profile, and merging profiles."""

from __future__ import annotations

from cdp_common.definitions.conditions import sessions
from cdp_segmenter.logic.profile import correct_into, fold, merge, new_profile

DAY = 86_400
T0 = 1_795_900_000.0


def hit(t: float, ev: dict, **enrichment: object) -> dict:
    base = {
        "channel": "Direct",
        "campaign": {},
        "traits": [],
        "device": {"type": "desktop", "os": "Mac OS X", "browser": "Chrome"},
    }
    base.update(enrichment)
    return {"event": {"anonymousId": "a1", **ev}, "timestamp": t, "enrichment": base}


LI = {
    "channel": "Paid Social",
    "campaign": {"source": "linkedin", "medium": "paid_social", "campaign": "ceo-automotive-q4"},
    "click": {"id": "x", "network": "LinkedIn"},
    "traits": [
        {"name": "role", "value": "CEO", "ruleId": "li"},
        {"name": "industry", "value": "automotive", "ruleId": "li"},
    ],
}


def journey() -> dict:
    p = new_profile("P1")
    p = fold(p, hit(T0, {"type": "page", "properties": {"path": "/case-study"}}, **LI))
    p = fold(
        p,
        hit(
            T0 + 60,
            {"type": "track", "event": "Scroll Depth", "properties": {"percent": 75, "path": "/case-study"}},
            **LI,
        ),
    )
    p = fold(
        p, hit(T0 + 90, {"type": "track", "event": "Video Completed", "properties": {"title": "Product tour"}}, **LI)
    )
    p = fold(
        p,
        hit(
            T0 + 120,
            {
                "type": "track",
                "event": "Calculator Completed",
                "properties": {"calculator": "benefit", "yearlySavings": 156000},
            },
            **LI,
        ),
    )
    later = T0 + 2 * DAY
    p = fold(p, hit(later, {"type": "page", "properties": {"path": "/pricing"}}))
    p = fold(p, hit(later + 30, {"type": "page", "properties": {"path": "/pricing"}}))
    p = fold(
        p,
        hit(
            later + 90,
            {
                "type": "track",
                "event": "Form Submitted",
                "properties": {"form": "contact", "values": {"email": "ceo@acme.example"}},
            },
        ),
    )
    return fold(p, hit(later + 91, {"type": "identify", "traits": {"email": "CEO@Acme.example", "firstName": "Ada"}}))


def test_the_seed_journey_folds_into_one_profile() -> None:
    p = journey()
    assert sessions(p) == 2
    assert p["pageViews"] == 3 and p["pages"] == {"/case-study": 1, "/pricing": 2}
    assert p["maxScroll"] == {"/case-study": 75}
    assert p["videosCompleted"] == ["Product tour"]
    assert p["calculators"][0]["values"] == {"yearlySavings": 156000}
    assert p["forms"][0]["name"] == "contact"
    assert [c["event"] for c in p["conversions"]] == ["Form Submitted"]
    assert p["channels"] == {"Paid Social": 1, "Direct": 1}
    assert [tp["channel"] for tp in p["touchpoints"]] == ["Paid Social", "Direct"]
    assert p["traits"]["role"]["value"] == "CEO" and p["traits"]["role"]["source"] == "implicit"
    assert p["traits"]["role"]["ruleId"] == "li"
    assert p["traits"]["email"]["value"] == "ceo@acme.example" and p["traits"]["email"]["source"] == "explicit"
    assert p["firstSeen"] == T0 and p["lastSeen"] == T0 + 2 * DAY + 91


def test_a_late_event_never_overwrites_a_newer_value() -> None:
    p = new_profile("P")
    p = fold(p, hit(T0 + 100, {"type": "identify", "traits": {"company": "New Co"}}))
    p = fold(p, hit(T0, {"type": "identify", "traits": {"company": "Old Co"}}))  # arrives late
    assert p["traits"]["company"]["value"] == "New Co"
    assert p["traits"]["company"]["firstSeen"] == T0


def test_what_a_person_says_beats_what_a_campaign_implied() -> None:
    p = fold(new_profile("P"), hit(T0, {"type": "identify", "traits": {"role": "CTO"}}))
    p = fold(p, hit(T0 + 10, {"type": "page"}, **LI))
    assert p["traits"]["role"]["value"] == "CTO" and p["traits"]["role"]["source"] == "explicit"
    assert p["traits"]["industry"]["value"] == "automotive"


def test_a_late_event_bridging_two_sessions_joins_them() -> None:
    p = fold(new_profile("P"), hit(T0, {"type": "page"}))
    p = fold(p, hit(T0 + 50 * 60, {"type": "page"}))
    assert sessions(p) == 2
    p = fold(p, hit(T0 + 25 * 60, {"type": "page"}))  # late, within 30 min of both
    assert sessions(p) == 1


def test_merge_adds_counters_and_keeps_the_targets_traits() -> None:
    known = fold(new_profile("K"), hit(T0 + 3 * DAY, {"type": "identify", "traits": {"role": "CFO"}}))
    known = fold(known, hit(T0 + 3 * DAY + 5, {"type": "page", "properties": {"path": "/pricing"}}))
    anon = journey()
    m = merge(known, anon)
    assert m["id"] == "K"
    assert m["pageViews"] == 4 and m["pages"]["/pricing"] == 3
    assert m["traits"]["role"]["value"] == "CFO"  # the target wins
    assert m["traits"]["industry"]["value"] == "automotive"  # new to the target: kept
    assert m["firstSeen"] == T0
    assert sessions(m) == 3
    assert [tp["at"] for tp in m["touchpoints"]] == sorted(tp["at"] for tp in m["touchpoints"])


WRONG = {**LI, "traits": [{"name": "role", "value": "CFO", "ruleId": "li"}, {"name": "seniority", "value": "x"}]}


def test_a_replayed_event_corrects_what_enrichment_decided_and_counts_nothing_again() -> None:
    first = hit(T0, {"type": "page", "properties": {"path": "/case-study"}}, **WRONG)
    p = fold(new_profile("P1"), first)
    p = fold(p, hit(T0 + 60, {"type": "page", "properties": {"path": "/pricing"}}))
    counted = {k: p[k] for k in ("pageViews", "events", "pages", "windows", "interactions")}

    fixed = hit(T0, {"type": "page", "properties": {"path": "/case-study"}}, **LI)
    assert correct_into(p, fixed) is True
    assert p["traits"]["role"]["value"] == "CEO" and p["traits"]["industry"]["value"] == "automotive"
    assert "seniority" not in p["traits"]  # implied by this event only, and no longer
    assert {k: p[k] for k in counted} == counted
    assert correct_into(p, fixed) is False  # a second replay changes nothing


def test_a_replay_corrects_the_touchpoint_the_event_opened() -> None:
    typo = {**LI, "campaign": {"source": "linkdin", "medium": "paid_social", "campaign": "ceo-automotive-q4"}}
    typo["channel"] = "Referral"
    p = fold(new_profile("P1"), hit(T0, {"type": "page", "properties": {"path": "/"}}, **typo))
    assert p["channels"] == {"Referral": 1}
    assert correct_into(p, hit(T0, {"type": "page", "properties": {"path": "/"}}, **LI))
    assert p["touchpoints"][0]["source"] == "linkedin" and p["touchpoints"][0]["channel"] == "Paid Social"
    assert p["firstTouch"]["source"] == "linkedin" and p["channels"] == {"Paid Social": 1}
    assert p["recent"][0]["channel"] == "Paid Social"


def test_a_replay_never_overrides_what_a_person_said_or_a_newer_event() -> None:
    p = fold(new_profile("P1"), hit(T0, {"type": "page", "properties": {"path": "/"}}, **WRONG))
    p = fold(p, hit(T0 + 5, {"type": "identify", "traits": {"role": "Founder"}}))
    p = fold(p, hit(T0 + 10, {"type": "page"}, traits=[{"name": "industry", "value": "finance", "ruleId": "other"}]))
    correct_into(p, hit(T0, {"type": "page", "properties": {"path": "/"}}, **LI))
    assert p["traits"]["role"]["value"] == "Founder"
    assert p["traits"]["industry"]["value"] == "finance"
