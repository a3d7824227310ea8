"""Tracking plans: parsing, typed violations, and what allow, omit and block do."""

from __future__ import annotations

from typing import Any

import pytest

from cdp_common.definitions.plans import PlanError, check, parse_plan

PLAN: dict[str, Any] = {
    "source": "www",
    "violations": "allow",
    "events": {
        "Calculator Completed": {
            "properties": {
                "type": "object",
                "required": ["yearlySavings"],
                "properties": {
                    "yearlySavings": {"type": "number", "minimum": 0},
                    "calculator": {"enum": ["benefit", "roi"]},
                },
                "additionalProperties": False,
            }
        },
        "Video Completed": {},
    },
    "identify": {"traits": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}}},
}


def _plan(**over: Any) -> Any:
    return parse_plan({**PLAN, **over})


def _track(name: str, **props: Any) -> dict[str, Any]:
    return {"type": "track", "event": name, "anonymousId": "a", "properties": props}


def test_a_planned_event_that_matches_passes_untouched() -> None:
    ev = _track("Calculator Completed", yearlySavings=156000, calculator="benefit")
    v = check(_plan(), ev)
    assert v.violations == () and not v.blocked and v.event is None  # None: goes on as it is


def test_each_violation_type_is_named_with_its_field() -> None:
    v = check(_plan(), _track("Calculator Completed", yearlySavings="lots", calculator="x", colour="red"))
    got = {(x.type, x.field) for x in v.violations}
    assert got == {
        ("datatype_mismatch", "properties.yearlySavings"),
        ("invalid_value", "properties.calculator"),
        ("additional_property", "properties.colour"),
    }
    missing = check(_plan(), _track("Calculator Completed"))
    assert [(x.type, x.field) for x in missing.violations] == [("required_missing", "properties.yearlySavings")]
    unplanned = check(_plan(), _track("Coupon Copied"))
    assert [x.type for x in unplanned.violations] == ["unplanned_event"]
    assert check(_plan(allow_unplanned=True), _track("Coupon Copied")).violations == ()


def test_allow_flags_omit_drops_the_offending_properties_block_rejects() -> None:
    bad = _track("Calculator Completed", yearlySavings="lots", calculator="roi", colour="red")
    allowed = check(_plan(violations="allow"), bad)
    assert allowed.event is None and len(allowed.violations) == 2 and not allowed.blocked
    omitted = check(_plan(violations="omit"), bad)
    assert omitted.event is not None and omitted.event["properties"] == {"calculator": "roi"}
    assert len(omitted.violations) == 2 and not omitted.blocked
    blocked = check(_plan(violations="block"), bad)
    assert blocked.blocked and blocked.event is None and len(blocked.violations) == 2
    assert check(_plan(violations="block"), _track("Coupon Copied")).blocked


def test_identify_traits_are_checked_and_other_types_pass() -> None:
    bad = {"type": "identify", "userId": "u", "traits": {"email": 42}}
    assert [x.type for x in check(_plan(), bad).violations] == ["datatype_mismatch"]
    page = {"type": "page", "anonymousId": "a", "properties": {"anything": 1}}
    assert check(_plan(), page).violations == ()
    assert check(_plan(), _track("Video Completed", anything=1)).violations == ()  # no schema: anything


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not a mapping", "a plan is a mapping"),
        ({**PLAN, "source": ""}, "source"),
        ({**PLAN, "violations": "ignore"}, "violations"),
        ({**PLAN, "colour": 1}, "unknown field"),
        ({**PLAN, "events": {"X": {"properties": {"type": "objectx"}}}}, "not a valid JSON Schema"),
        ({**PLAN, "events": {"X": {"schema": {}}}}, "events.X"),
        ({**PLAN, "allow_unplanned": "yes"}, "allow_unplanned"),
    ],
)
def test_a_bad_plan_is_refused_with_a_reason(doc: Any, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_plan(doc)
