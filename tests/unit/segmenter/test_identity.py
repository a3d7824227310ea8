"""Identity decisions as tables: links, merges and refused merges."""

from __future__ import annotations

import pytest

from cdp_common.identity import clean_id, normalize_email
from cdp_segmenter.logic.identity import Decision, Known, decide, event_ids


@pytest.mark.parametrize(
    "value", ["anonymous", "null", "undefined", "0", "NaN", "[object Object]", "  ", "", None, True, "Guest", "email"]
)
def test_illegal_ids_are_refused(value: object) -> None:
    assert clean_id(value) is None


def test_emails_are_normalized() -> None:
    assert normalize_email("  CEO@Example.COM ") == "ceo@example.com"
    assert normalize_email("not-an-email") is None
    assert normalize_email("null@example.com") is None


def test_event_ids_known_first() -> None:
    ev = {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "X@Y.io"}}
    assert event_ids(ev) == ["user:u1", "email:x@y.io", "anon:a1"]
    assert event_ids({"type": "page", "anonymousId": "undefined", "userId": "0"}) == []
    assert event_ids({"type": "alias", "previousId": "a9", "userId": "u1"}) == ["user:u1", "anon:a9"]


def K(**ids: str) -> Known:
    return Known({k: frozenset({v}) for k, v in ids.items()})


@pytest.mark.parametrize(
    ("ids", "owner", "known", "expected"),
    [
        # first sight: a new profile with every id
        (["anon:a1"], {}, {}, Decision(None, ("anon:a1",), new_profile=True)),
        # the same visitor again
        (["anon:a1"], {"anon:a1": "P1"}, {}, Decision("P1", ())),
        # identify on the device: the email joins the anonymous profile
        (["email:c@x.io", "anon:a1"], {"anon:a1": "P1"}, {}, Decision("P1", ("email:c@x.io",))),
        # the email already has a profile (another device): the anonymous one merges into it
        (
            ["email:c@x.io", "anon:a2"],
            {"anon:a2": "P2", "email:c@x.io": "P1"},
            {"P1": K(email="c@x.io")},
            Decision("P1", (), ("P2",)),  # P2's ids (anon:a2) move with the merge
        ),
        # both identified with different emails: never merged, conflict recorded
        (
            ["email:b@x.io", "anon:a2"],
            {"anon:a2": "P2", "email:b@x.io": "P1"},
            {"P1": K(email="b@x.io"), "P2": K(email="other@x.io")},
            Decision("P1", (), (), (("P1", "P2", "both identified with different email ids"),)),
        ),
        # a shared computer: a new person's email on a profile identified as someone else
        (
            ["email:new@x.io", "anon:a1"],
            {"anon:a1": "P1"},
            {"P1": K(email="old@x.io")},
            Decision(
                None,
                ("email:new@x.io",),
                (),
                (("P1", "email:new@x.io", "both identified with different email ids"),),
                new_profile=True,
            ),
        ),
        # a second user id with an email that already belongs to the first user's profile: the
        # new user id gets its own profile and the email stays where it is (found live: the
        # email was linked twice and the batch retried forever on the unique key)
        (
            ["user:u2", "email:c@x.io", "anon:a1"],
            {"email:c@x.io": "P1", "anon:a1": "P1"},
            {"P1": Known({"user": frozenset({"u1"}), "email": frozenset({"c@x.io"})})},
            Decision(
                None,
                ("user:u2",),
                (),
                (("P1", "user:u2", "both identified with different user ids"),),
                new_profile=True,
            ),
        ),
        # a user id and an email of the same person on two profiles: merge
        (
            ["user:u1", "email:c@x.io", "anon:a1"],
            {"user:u1": "P1", "email:c@x.io": "P2", "anon:a1": "P3"},
            {"P1": K(user="u1"), "P2": K(email="c@x.io")},
            Decision("P1", (), ("P2", "P3")),
        ),
    ],
)
def test_decisions(ids: list[str], owner: dict, known: dict, expected: Decision) -> None:
    assert decide(ids, owner, known) == expected
