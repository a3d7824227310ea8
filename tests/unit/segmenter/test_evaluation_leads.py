"""Definitions files, segment/score/lead evaluation and the lead payload, on the seed's
journey profile (pure logic, no I/O)."""

from __future__ import annotations

import copy

import pytest
import yaml

from cdp_common.definitions.scoring import parse_plan
from cdp_common.definitions.segments import DefinitionError, Definitions, LeadPolicy, SegmentDef, parse_file
from cdp_common.records import QualifiedLead
from cdp_segmenter.logic.evaluation import QUALIFIED, UPDATED, evaluate_profile
from cdp_segmenter.logic.identity import event_ids
from cdp_segmenter.logic.leads import build_lead
from cdp_segmenter.logic.profile import fold, merge, new_profile
from tests.helpers import ROOT
from tests.unit.segmenter.test_profile import DAY, T0, hit, journey

NOW = T0 + 3 * DAY
CEO = {"all": [{"trait": {"name": "role", "value": "CEO"}}, {"trait": {"name": "industry", "value": "automotive"}}]}


def defs(threshold: float = 50, interval: float = 300, qualifying: tuple = ()) -> Definitions:
    plan = parse_plan(
        [
            {"id": "pricing", "points": 20, "condition": {"page": {"path": "/pricing*"}}},
            {"id": "video", "points": 15, "condition": {"event": {"name": "Video Completed"}}},
            {"id": "never", "points": 99, "condition": {"channel": "Email"}},
        ]
    )
    return Definitions(
        (
            SegmentDef("automotive-ceos", "Automotive CEOs", CEO),
            SegmentDef("emailed", "Came by email", {"channel": "Email"}),
        ),
        tuple(plan),
        LeadPolicy(threshold, qualifying, interval),
    )


def test_the_demo_definitions_file_parses() -> None:
    segments, plan, policy = parse_file(yaml.safe_load((ROOT / "deploy/demo/segments.yaml").read_text()))
    assert "automotive-ceos" in [s.id for s in segments]
    assert plan and policy and policy.threshold == 50
    assert [q for q, _ in policy.qualifying] == ["contact-form"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"segments": [{"id": "Bad Id", "condition": CEO}]}, "segments[0].id"),
        (
            {"segments": [{"id": "x", "condition": {"trait": {"name": "r", "op": "like", "value": 1}}}]},
            "segments[0].condition.trait.op",
        ),
        ({"segments": [{"id": "x", "condition": CEO}, {"id": "x", "condition": CEO}]}, "duplicate"),
        ({"segments": [{"id": "x", "condition": CEO, "colour": "red"}]}, "unknown field"),
        ({"scoring": {"threshold": -1}}, "scoring.threshold"),
        ({"scoring": {"rules": [{"id": "a", "points": "ten", "condition": CEO}]}}, "rules[0]"),
        ({"leads": {"qualifying": [{"id": "q", "condition": {"form": ""}}]}}, "leads.qualifying[0].condition.form"),
        ({"leads": {"update_interval_s": "soon"}}, "update_interval_s"),
        ({"segmnets": []}, "unknown section"),
    ],
)
def test_a_bad_definitions_file_is_refused_naming_the_place(doc: dict, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_file(doc)


def test_segments_score_stage_and_exactly_one_qualification() -> None:
    p = journey()
    out = evaluate_profile(p, defs(), NOW)
    assert out.entered == ("automotive-ceos",) and out.left == ()
    assert p["score"] == 35 and {b["rule"] for b in p["scoreBreakdown"]} == {"pricing", "video"}
    assert out.lead_event is None and p["stage"] == "known"  # known, but under the threshold

    p2 = journey()
    out = evaluate_profile(p2, defs(threshold=30), NOW)
    assert out.lead_event == QUALIFIED and p2["stage"] == "mql"
    assert p2["lead"]["version"] == 1 and p2["lead"]["qualifiedBy"] == "score"
    again = evaluate_profile(p2, defs(threshold=30), NOW + 1)
    assert again.lead_event is None and not again.changed  # nothing new: nothing announced


def test_each_segment_keeps_when_the_profile_entered_it() -> None:
    p = journey()
    evaluate_profile(p, defs(), NOW)
    assert p["segmentsSince"] == {"automotive-ceos": NOW}
    evaluate_profile(p, defs(), NOW + 50)
    assert p["segmentsSince"] == {"automotive-ceos": NOW}  # still in: the entry time stays
    p["traits"]["role"]["value"] = "CFO"
    evaluate_profile(p, defs(), NOW + 60)
    assert p["segmentsSince"] == {}  # left
    p["traits"]["role"]["value"] = "CEO"
    evaluate_profile(p, defs(), NOW + 70)
    assert p["segmentsSince"] == {"automotive-ceos": NOW + 70}  # entered again


def test_a_merge_keeps_the_earlier_entry_time_of_the_two_profiles() -> None:
    early, late = journey(), journey()
    evaluate_profile(early, defs(), NOW)
    evaluate_profile(late, defs(), NOW + 500)
    survivor = merge(late, early)
    evaluate_profile(survivor, defs(), NOW + 600)
    assert survivor["segmentsSince"] == {"automotive-ceos": NOW}


def test_a_qualifying_condition_qualifies_a_known_profile_whatever_the_score() -> None:
    p = journey()
    out = evaluate_profile(p, defs(threshold=1000, qualifying=(("contact", {"form": "contact*"}),)), NOW)
    assert out.lead_event == QUALIFIED and p["lead"]["qualifiedBy"] == "contact"


def test_an_anonymous_profile_is_never_a_lead_however_high_its_score() -> None:
    p = new_profile("P9")
    p = fold(p, hit(T0, {"type": "page", "properties": {"path": "/pricing"}}))
    out = evaluate_profile(p, defs(threshold=10), NOW)
    assert p["score"] == 20 and out.lead_event is None and p["stage"] == "anonymous"


def test_lead_updates_are_throttled_then_announced_once_with_the_next_version() -> None:
    d = defs(threshold=30, interval=300)
    p = journey()
    assert evaluate_profile(p, d, NOW).lead_event == QUALIFIED
    p = fold(p, hit(NOW + 10, {"type": "page", "properties": {"path": "/blog"}}))
    assert evaluate_profile(p, d, NOW + 10).lead_event is None
    assert p["lead"]["pending"] is True
    assert evaluate_profile(p, d, NOW + 100).lead_event is None  # still inside the interval
    out = evaluate_profile(p, d, NOW + 301)
    assert out.lead_event == UPDATED and p["lead"]["version"] == 2 and p["lead"]["pending"] is False
    # lastSeen alone is not a change
    p["lastSeen"] += 5
    assert evaluate_profile(p, d, NOW + 1000).lead_event is None


def test_leaving_a_segment_is_announced() -> None:
    p = journey()
    evaluate_profile(p, defs(), NOW)
    p["traits"]["role"] = p["traits"]["role"] | {"value": "CFO"}
    out = evaluate_profile(p, defs(), NOW)
    assert out.left == ("automotive-ceos",) and out.entered == ()


def test_the_lead_payload_carries_the_whole_story_and_validates_against_the_schema() -> None:
    p = journey()
    evaluate_profile(p, defs(threshold=30), NOW)
    lead = build_lead(p, QUALIFIED, NOW)
    QualifiedLead.model_validate(lead)
    assert lead["schema"] == "cdp.lead/v1" and lead["eventId"] == "P1-v1" and lead["version"] == 1
    assert lead["contact"]["email"] == "ceo@acme.example" and lead["contact"]["firstName"] == "Ada"
    assert lead["traits"]["role"] == lead["traits"]["role"] | {"value": "CEO", "source": "implicit"}
    assert lead["behaviour"]["calculators"][0]["values"] == {"yearlySavings": 156000}
    assert lead["behaviour"]["topPages"] == {"/pricing": 2, "/case-study": 1}
    assert lead["firstTouch"]["campaign"] == "ceo-automotive-q4"
    assert lead["segments"] == ["automotive-ceos"] and lead["score"] == 35
    assert lead["occurredAt"].endswith("Z") or lead["occurredAt"].endswith("+00:00")


def test_a_profile_without_an_email_cannot_be_built_into_a_lead() -> None:
    p = new_profile("P2")
    p["lead"] = {"version": 1, "qualifiedBy": "score", "qualifiedAt": T0, "lastEmittedAt": T0}
    with pytest.raises(ValueError, match="no email"):
        build_lead(p, QUALIFIED, NOW)


def test_a_contact_form_with_an_email_identifies_like_identify() -> None:
    ev = {
        "type": "track",
        "event": "Form Submitted",
        "anonymousId": "a1",
        "properties": {"form": "contact", "values": {"email": " Ada@Example.COM "}},
    }
    assert event_ids(ev) == ["email:ada@example.com", "anon:a1"]
    calc = copy.deepcopy(ev)
    calc["properties"]["values"] = {"vehicles": 3}
    assert event_ids(calc) == ["anon:a1"]
