"""Replay planning: offset ranges, clipping to what a topic holds, the replay mark."""

from __future__ import annotations

import pytest

from cdp_common.replay import Span, clip_spans, marked, parse_offsets, plan_text


def test_offset_ranges_are_inclusive_and_one_per_partition() -> None:
    assert parse_offsets(["1:10-19", "0:5-5"]) == [Span(0, 5, 6), Span(1, 10, 20)]
    for bad in (["0:9-3"], ["x"], ["0:1-2", "0:3-4"], ["0:-1-3"]):
        with pytest.raises(ValueError):
            parse_offsets(bad)


def test_spans_are_clipped_to_what_each_partition_still_holds() -> None:
    spans = [Span(0, 0, 100), Span(1, 50, 60), Span(2, 0, 10), Span(3, 0, 5)]
    bounds = {0: (20, 80), 1: (70, 90), 2: (0, 4)}  # 1 expired; 3 does not exist
    assert clip_spans(spans, bounds) == [Span(0, 20, 80), Span(2, 0, 4)]


def test_the_mark_replaces_an_earlier_replays_mark_and_keeps_other_headers() -> None:
    got = marked([("trace", b"t1"), ("cdp-replay", b"rpl-old")], "rpl-new")
    assert got == [("trace", b"t1"), ("cdp-replay", b"rpl-new")]


def test_the_plan_says_what_and_how_many() -> None:
    text = plan_text("enricher", "cdp.hits.raw", [Span(0, 10, 20), Span(3, 0, 1005)], "rpl-x", 192)
    assert "up to 1,015 record(s) of cdp.hits.raw for the enricher" in text
    assert "partition 3: offsets 0..1004 (1,005)" in text and "192 h" in text
