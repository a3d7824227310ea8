"""The overview's visitors per hour (visitor_hours), kept by the running segmenter and by
erasure, always equal to counting the live profiles by the hour they were last seen: new
visitors, a visitor who becomes known in a later hour, two devices merged, an erasure.
The journeys happen in hours of their own (years back), so nothing else counts there."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cdp_common import privacy
from cdp_common.pg import create_pool
from tests.integration.segmenter.conftest import IPHONE, Journey, Segmenters, profile_of, send

pytestmark = pytest.mark.integration


async def _until(check: Callable[[], Awaitable[Any]], within: float = 30) -> Any:
    loop = asyncio.get_running_loop()
    deadline, last = loop.time() + within, None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached within {within}s (last: {last})")


async def test_visitors_per_hour_follow_new_known_merged_and_erased_profiles(
    segmenters: Segmenters, producer: Any, pg: Any, settings: Any
) -> None:
    uid = uuid.uuid4().hex[:8]
    h0 = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(hours=random.randrange(0, 24 * 360))
    hours = [h0 + timedelta(hours=i) for i in range(3)]
    a, b, c1, c2 = (f"{n}-{uid}" for n in ("a", "b", "c1", "c2"))
    b_mail, c_mail = f"b-{uid}@example.org", f"c-{uid}@example.org"
    hits = (
        Journey(a, h0 + timedelta(minutes=5)).page("/").hits
        # b is seen at first anonymously, then known an hour later
        + Journey(b, h0 + timedelta(minutes=10)).page("/").wait(minutes=60).identify(email=b_mail).hits
        # c on a laptop, then on a phone two hours later: merged into one known visitor
        + Journey(c1, h0 + timedelta(minutes=20)).page("/").identify(email=c_mail).hits
    )
    phone = Journey(c2, h0 + timedelta(minutes=130), ua=IPHONE).page("/pricing").identify(email=c_mail)
    segmenters.start()
    await send(producer, segmenters.topic, hits)
    laptop = await profile_of(pg, f"email:{c_mail}")
    await send(producer, segmenters.topic, phone.hits)
    await profile_of(pg, f"anon:{c2}", until=lambda p: p["id"] == laptop["id"])

    async def kept() -> list[tuple[int, int]]:
        rows = {
            r["hour"]: (r["visitors"], r["known"])
            for r in await pg.fetch(
                "SELECT hour, visitors, known FROM visitor_hours WHERE hour = ANY($1::timestamptz[])", hours
            )
        }
        return [rows.get(h, (0, 0)) for h in hours]

    async def counted() -> list[tuple[int, int]]:
        rows = {
            r["hour"]: (r["visitors"], r["known"])
            for r in await pg.fetch(
                "SELECT date_trunc('hour', last_seen AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour, "
                "count(*) AS visitors, count(email) AS known FROM profiles "
                "WHERE merged_into IS NULL AND data IS NOT NULL AND last_seen >= $1 AND last_seen < $2 GROUP BY 1",
                hours[0],
                hours[-1] + timedelta(hours=1),
            )
        }
        return [rows.get(h, (0, 0)) for h in hours]

    expected = [(1, 0), (1, 1), (1, 1)]  # a at h0; b known at h1; c (merged, known) at h2
    assert await _until(lambda: _same(kept, expected)), await kept()
    assert await counted() == expected

    pool = await create_pool(settings, max_size=2)
    try:
        b_profile = await profile_of(pg, f"email:{b_mail}")
        assert await privacy.erase(pool, b_profile["id"]) is not None
    finally:
        await pool.close()
    assert await kept() == await counted() == [(1, 0), (0, 0), (1, 1)]


async def _same(read: Callable[[], Awaitable[list[tuple[int, int]]]], expected: list[tuple[int, int]]) -> bool:
    return await read() == expected
