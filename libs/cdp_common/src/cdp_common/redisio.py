"""redis asyncio client factory."""

from __future__ import annotations

from redis.asyncio import Redis

from cdp_common.settings import CommonSettings


def make_redis(settings: CommonSettings) -> Redis:
    return Redis.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)
