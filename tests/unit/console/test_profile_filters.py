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
        "merged_into IS NULL AND data IS NOT NULL AND profile_facets(data, stage) @> $1::text[] "
        "AND last_seen >= $2 AND score >= $3 AND score <= $4"
    )
    assert w.args == [
        [
            "segment:automotive-ceos",
            "stage:mql",
            "trait:role=CEO",
            "trait:industry=automotive",
            "campaign:ceo-automotive-q4",
        ],
        now - timedelta(days=7),
        10,
        90.5,
    ]


def test_a_trait_without_a_value_asks_only_that_it_is_known() -> None:
    w = profile_where(ProfileFilter(trait="company"))
    assert w.sql().endswith("profile_facets(data, stage) @> $1::text[]") and w.args == [["trait:company"]]


def test_a_value_longer_than_the_facet_is_also_compared_whole() -> None:
    long = "x" * 250
    w = profile_where(ProfileFilter(trait=f"note={long}", campaign=long))
    assert w.args == ["note", long, [{"campaign": long}], [f"trait:note={long[:200]}", f"campaign:{long[:200]}"]]
    assert "(data #>> ARRAY['traits', $1, 'value']) = $2" in w.sql()


def test_hostile_values_stay_parameters() -> None:
    evil = "x'); DROP TABLE profiles; --"
    w = profile_where(ProfileFilter(segment=evil, campaign=evil, trait=f"role={evil}"))
    assert evil not in w.sql() and "DROP" not in w.sql()
    assert w.args[0] == [f"segment:{evil}", f"trait:role={evil}", f"campaign:{evil}"]


def test_the_filter_round_trips_through_its_link() -> None:
    f = ProfileFilter(segment="engaged", trait="role=CEO", score_min=5, sort="score", page=3)
    assert f.query() == {"segment": "engaged", "trait": "role=CEO", "score_min": 5, "sort": "score", "page": 3}
    assert f.active() == {"segment": "engaged", "trait": "role=CEO", "score_min": 5}
