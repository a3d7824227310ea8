"""redis asyncio client factory: one server, or a Redis Cluster (``CDP_REDIS_CLUSTER``)."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from cdp_common.settings import CommonSettings


def make_redis(settings: CommonSettings) -> Any:
    """A client for ``CDP_REDIS_URL``; with ``CDP_REDIS_CLUSTER`` a cluster client that
    learns the slot map from that node and routes each key (and each pipelined command)
    to the master that owns its slot. Both speak the commands the services use."""
    if settings.redis_cluster:
        return RedisCluster.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)
    return Redis.from_url(settings.redis_url, decode_responses=False, health_check_interval=30)
