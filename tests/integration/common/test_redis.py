"""A round trip through the real Redis with the shared client factory."""

from __future__ import annotations

import uuid

import pytest

from cdp_common.redisio import make_redis

pytestmark = pytest.mark.integration


async def test_redis_round_trip_with_pipeline(settings) -> None:  # type: ignore[no-untyped-def]
    r = make_redis(settings)
    key = f"test:{uuid.uuid4().hex}"
    try:
        async with r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"views": 3, "role": "CEO"})
            pipe.hincrby(key, "views", 2)
            pipe.expire(key, 60)
            results = await pipe.execute()
        assert results[1] == 5
        assert await r.hgetall(key) == {b"views": b"5", b"role": b"CEO"}
        assert 0 < await r.ttl(key) <= 60
    finally:
        await r.delete(key)
        await r.aclose()
