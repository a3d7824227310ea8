"""The profile list's filters as SQL: each one a condition an index can answer, values
always as parameters (never spliced into the SQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cdp_console.web.reads import ProfileFilter, profile_where


def test_no_filter_lists_live_profiles_only() -> None:
    w = profile_where(ProfileFilter())
    assert w.sql() == "merged_into IS NULL AND data IS NOT NULL" and w.args == []


def test_the_automotive_ceos_from_the_linkedin_campaign() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    f = ProfileFilter(
        segment="automotive-ceos",
        stage="mql",
        trait="role=CEO",
        trait2="industry = automotive",
        campaign="ceo-automotive-q4",
        seen_days=7,
        score_min=10,
        score_max=90.5,
    )
    w = profile_where(f, now)
    assert w.sql() == (
        "merged_into IS NULL AND data IS NOT NULL AND (data -> 'segments') @> $1::jsonb AND stage = $2 "
        "AND (data -> 'traits') @> $3::jsonb AND (data -> 'traits') @> $4::jsonb "
        "AND (data -> 'touchpoints') @> $5::jsonb AND last_seen >= $6 AND score >= $7 AND score <= $8"
    )
    assert w.args == [
        ["automotive-ceos"],
        "mql",
        {"role": {"value": "CEO"}},
        {"industry": {"value": "automotive"}},
        [{"campaign": "ceo-automotive-q4"}],
        now - timedelta(days=7),
        10,
        90.5,
    ]


def test_a_trait_without_a_value_asks_only_that_it_is_known() -> None:
    w = profile_where(ProfileFilter(trait="company"))
    assert w.sql().endswith("(data -> 'traits') ? $1") and w.args == ["company"]


def test_hostile_values_stay_parameters() -> None:
    evil = "x'); DROP TABLE profiles; --"
    w = profile_where(ProfileFilter(segment=evil, campaign=evil, trait=f"role={evil}"))
    assert evil not in w.sql() and "DROP" not in w.sql()
    assert w.args[0] == [evil]


def test_the_filter_round_trips_through_its_link() -> None:
    f = ProfileFilter(segment="engaged", trait="role=CEO", score_min=5, sort="score", page=3)
    assert f.query() == {"segment": "engaged", "trait": "role=CEO", "score_min": 5, "sort": "score", "page": 3}
    assert f.active() == {"segment": "engaged", "trait": "role=CEO", "score_min": 5}
