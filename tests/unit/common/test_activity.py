"""Visitors per hour as differences (cdp_common.activity): every profile counted once, in
the hour it was last seen; moving, becoming known, merging and erasure move the counts."""

from __future__ import annotations

from datetime import UTC, datetime

from cdp_common.activity import deltas, place

H9 = datetime(2026, 12, 3, 9, tzinfo=UTC)
H10 = datetime(2026, 12, 3, 10, tzinfo=UTC)


def doc(last_seen: float | None, email: str | None = None) -> dict:
    return {"lastSeen": last_seen, "traits": {"email": {"value": email}} if email else {}}


def test_a_profile_counts_in_the_hour_it_was_last_seen_and_as_known_with_an_email() -> None:
    assert place(doc(H9.timestamp() + 1799)) == (H9, False)
    assert place(doc(H10.timestamp(), "a@example.org")) == (H10, True)
    assert place(doc(None)) is None and place(None) is None
    assert place({"lastSeen": H9.timestamp(), "traits": {"email": {"value": 5}}}) == (H9, False)


def test_moves_between_hours_and_states_are_differences() -> None:
    new = (None, (H9, False))
    seen_again = ((H9, False), (H10, False))
    became_known = ((H10, False), (H10, True))
    unchanged = ((H9, True), (H9, True))
    assert deltas([new]) == {H9: [1, 0]}
    assert deltas([seen_again]) == {H9: [-1, 0], H10: [1, 0]}
    assert deltas([became_known]) == {H10: [0, 1]}
    assert deltas([unchanged]) == {}
    # a merge: the survivor moves, the merged-away profile stops counting
    merged = [((H9, True), (H10, True)), ((H10, False), None)]
    assert deltas(merged) == {H9: [-1, -1], H10: [0, 1]}  # one visitor fewer; at 10 a known one for an unknown
    # two profiles created and one erased in the same hour cancel one out
    assert deltas([new, new, ((H9, False), None)]) == {H9: [1, 0]}
