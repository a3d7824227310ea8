"""Consent by purpose: what events state, what the profile keeps, what is announced and
what segments, leads and decisions see."""

from __future__ import annotations

from cdp_common import consent
from cdp_common.definitions.conditions import evaluate, validate
from cdp_segmenter.logic.evaluation import evaluate_profile
from cdp_segmenter.logic.leads import build_lead
from cdp_segmenter.logic.profile import fold, merge, new_profile
from tests.unit.segmenter.test_evaluation_leads import defs
from tests.unit.segmenter.test_profile import LI, T0, hit


def stated(**prefs: bool) -> dict:
    return {
        "type": "track",
        "event": "Segment Consent Preference Updated",
        "context": {"consent": {"categoryPreferences": prefs}},
    }


def test_a_cmp_s_category_names_map_onto_purposes_and_a_no_wins() -> None:
    ev = stated(Advertising=True, Analytics=True, marketing=False, C0009=True)
    ev["context"]["consent"]["categoryPreferences"]["weird"] = "yes"  # not a boolean: ignored
    assert consent.preferences(ev) == {"ads": False, "analytics": True, "c0009": True}
    assert consent.preferences({"context": {"consent": "all"}}) == {}
    assert consent.preferences({}) == {}


def test_defaults_need_an_explicit_yes_for_ads_only() -> None:
    assert consent.allowed(None, "ads") is False
    assert consent.allowed(None, "analytics") and consent.allowed({}, "personalization")
    state = {"ads": {"granted": True, "at": 1.0}, "personalization": {"granted": False, "at": 1.0}}
    assert consent.allowed(state, "ads") and not consent.allowed(state, "personalization")
    assert consent.allowed(state, "unknown-purpose") is False


def test_the_latest_answer_per_category_wins_also_when_events_arrive_late() -> None:
    p = new_profile("p1")
    p = fold(p, hit(T0 + 10, stated(ads=True)))
    p = fold(p, hit(T0 + 5, stated(ads=False, analytics=False)))  # older: ads unchanged, analytics new
    assert p["consent"] == {"ads": {"granted": True, "at": T0 + 10}, "analytics": {"granted": False, "at": T0 + 5}}
    p = fold(p, hit(T0 + 20, stated(ads=False)))
    assert p["consent"]["ads"] == {"granted": False, "at": T0 + 20}


def test_merging_two_profiles_keeps_the_later_answer_per_category() -> None:
    a, b = new_profile("a"), new_profile("b")
    a = fold(a, hit(T0, stated(ads=True, analytics=True)))
    b = fold(b, hit(T0 + 60, stated(ads=False)))
    m = merge(a, b)
    assert m["consent"]["ads"]["granted"] is False and m["consent"]["analytics"]["granted"] is True
    assert merge(b, a)["consent"] == m["consent"]


def test_only_answers_are_announced_as_consent_cohort_changes() -> None:
    d = defs()
    p = new_profile("p1")
    p = fold(p, hit(T0, {"type": "page"}))
    assert evaluate_profile(p, d, T0).consent == ()  # never answered: the defaults, nothing to say
    p = fold(p, hit(T0 + 1, stated(ads=True)))
    assert evaluate_profile(p, d, T0 + 1).consent == (("ads", "entered"),)
    assert evaluate_profile(p, d, T0 + 2).consent == ()
    p = fold(p, hit(T0 + 3, stated(ads=False, personalization=False)))
    assert evaluate_profile(p, d, T0 + 3).consent == (("ads", "left"), ("personalization", "left"))


def test_a_consent_condition_and_the_lead_carry_the_answer() -> None:
    validate({"all": [{"consent": "ads"}, {"channel": "Paid Social"}]})
    p = new_profile("p1")
    p = fold(p, hit(T0, {"type": "page"}, **LI))
    assert not evaluate({"consent": "ads"}, p, T0)
    p = fold(p, hit(T0 + 1, {"type": "identify", "traits": {"email": "ada@example.org"}}))
    p = fold(p, hit(T0 + 2, stated(ads=True)))
    assert evaluate({"consent": "ads"}, p, T0 + 2)
    p["lead"] = {"version": 1, "qualifiedBy": "score"}
    lead = build_lead(p, "lead.qualified", T0 + 3)
    assert lead["consent"]["ads"]["granted"] is True
    assert lead["touchpoints"][0]["clickId"] == "x" and lead["touchpoints"][0]["clickNetwork"] == "LinkedIn"
