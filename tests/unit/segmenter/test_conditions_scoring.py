"""The condition language and scoring plans on the seed's journey profile."""

from __future__ import annotations

import pytest

from cdp_common.definitions.conditions import ConditionError, evaluate, validate
from cdp_common.definitions.scoring import parse_plan, score
from tests.unit.segmenter.test_profile import DAY, T0, journey

NOW = T0 + 3 * DAY


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"trait": {"name": "role", "op": "eq", "value": "ceo"}}, True),
        ({"trait": {"name": "industry", "op": "in", "value": ["automotive", "aerospace"]}}, True),
        ({"trait": {"name": "email", "op": "endsWith", "value": "@acme.example"}}, True),
        ({"trait": {"name": "phone", "op": "exists"}}, False),
        ({"trait": {"name": "phone", "op": "missing"}}, True),
        ({"counter": {"name": "pageViews", "op": "gte", "value": 3}}, True),
        ({"counter": {"name": "sessions", "op": "eq", "value": 2}}, True),
        ({"counter": {"name": "events.Form Submitted", "op": "gte", "value": 1}}, True),
        ({"event": {"name": "Page Viewed", "min": 2, "days": 2}}, True),  # the two pricing views
        ({"event": {"name": "Page Viewed", "min": 3, "days": 2}}, False),  # the case study was 3 days ago
        ({"page": {"path": "/pricing*", "min": 2}}, True),
        ({"page": {"path": "/case-*"}}, True),
        ({"channel": "Paid Social"}, True),
        ({"channel": "Email"}, False),
        ({"campaign": "ceo-automotive*"}, True),
        (
            {
                "all": [
                    {"trait": {"name": "role", "value": "CEO"}},
                    {"trait": {"name": "industry", "value": "automotive"}},
                ]
            },
            True,
        ),
        ({"any": [{"channel": "Email"}, {"channel": "Direct"}]}, True),
        ({"not": {"channel": "Direct"}}, False),
    ],
)
def test_conditions(cond: dict, expected: bool) -> None:
    validate(cond)
    assert evaluate(cond, journey(), NOW) is expected


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ({"trait": {"op": "eq", "value": 1}}, "needs a name"),
        ({"trait": {"name": "x", "op": "like", "value": 1}}, "not one of"),
        ({"trait": {"name": "x", "op": "gt"}}, "needs a value"),
        ({"counter": {"name": "visits", "op": "gt", "value": 1}}, "events.<Event Name>"),
        ({"event": {"name": "X", "days": 0}}, "positive whole number"),
        ({"all": []}, "non-empty list"),
        ({"sometimes": 1}, "unknown condition"),
        ({"trait": {"name": "x", "op": "matches", "value": "("}}, "regular expression"),
        ({"all": [{"channel": ""}]}, r"condition\.all\[0\]\.channel"),
    ],
)
def test_invalid_conditions_say_where_and_what(cond: dict, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        validate(cond)


def test_a_scoring_plan_with_its_breakdown() -> None:
    plan = parse_plan(
        [
            {"id": "case-study", "condition": {"page": {"path": "/case-*"}}, "points": 10},
            {"id": "pricing-twice", "condition": {"page": {"path": "/pricing", "min": 2}}, "points": 20},
            {
                "id": "video",
                "condition": {"counter": {"name": "events.Video Completed", "op": "gte", "value": 1}},
                "points": 15,
            },
            {
                "id": "calculator",
                "condition": {"counter": {"name": "events.Calculator Completed", "op": "gte", "value": 1}},
                "points": 25,
            },
            {"id": "newsletter", "condition": {"channel": "Email"}, "points": 5},
        ]
    )
    total, breakdown = score(plan, journey(), NOW)
    assert total == 70
    assert [b["rule"] for b in breakdown] == ["case-study", "pricing-twice", "video", "calculator"]
    with pytest.raises(ValueError, match=r"rules\[0\]"):
        parse_plan([{"id": "x", "condition": {"bogus": 1}, "points": 1}])
