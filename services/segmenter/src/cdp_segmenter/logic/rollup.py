"""Campaign reporting counters, aggregated per batch in memory and added to the
``campaign_stats`` rollup rows in the batch's transaction (so a redelivery never counts
twice and a report sums a few rows per day instead of scanning events). Pure.

Attribution: every event applied goes to the profile's last touch as it stands after the
event (the session it belongs to), so the overview counts a period's events from a few
rows per day; visitors and sessions go to the touch itself; personas to the touch whose
campaign rule implied the trait; engaged visitors, conversions and leads to the profile's
last touch (last-touch attribution).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from cdp_segmenter.logic.profile import Folded, campaign_key

Key = tuple[date, str, str, str, str, str]
COLUMNS = ("visitors", "sessions", "engaged", "conversions", "leads", "personas", "events")


def _day(ts: Any) -> date:
    if isinstance(ts, (int, float)):
        return datetime.fromtimestamp(ts, UTC).date()
    return datetime.fromisoformat(str(ts).replace("Z", "+00:00")).astimezone(UTC).date()


class Rollup:
    def __init__(self) -> None:
        self.rows: dict[Key, dict[str, int]] = {}

    def _add(self, day: date, tp: Mapping[str, Any] | None, column: str) -> None:
        row = self.rows.setdefault((day, *campaign_key(tp)), dict.fromkeys(COLUMNS, 0))
        row[column] += 1

    def count(self, p: Mapping[str, Any], f: Folded, ts: Any) -> None:
        day = _day(ts)
        last = p["touchpoints"][-1] if p["touchpoints"] else None
        self._add(day, last, "events")
        if f.touch is not None:
            self._add(day, f.touch, "sessions")
            if f.first_touch_of_campaign:
                self._add(day, f.touch, "visitors")
        if f.persona:
            self._add(day, f.touch or last, "personas")
        if f.engaged:
            self._add(day, last, "engaged")
        if f.conversion:
            self._add(day, last, "conversions")

    def lead(self, p: Mapping[str, Any], now: float) -> None:
        self._add(_day(now), p["touchpoints"][-1] if p["touchpoints"] else None, "leads")
