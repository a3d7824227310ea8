"""The hot state on a Redis Cluster (three masters, started natively): the segmenter
writes every profile summary, anonymous-id link and segment membership through a cluster
client (pipelines split by slot), the console's personalization reads them back, and the
keys are spread over every master."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from cdp_common.hotkeys import RedisKeys
from cdp_common.redisio import make_redis
from cdp_common.settings import CommonSettings, ConsoleSettings
from cdp_console.state import State
from tests.integration.faults.infra import PrivateRedisCluster
from tests.integration.segmenter.conftest import Journey, Segmenters, profile_of, send

pytestmark = pytest.mark.integration

LINKEDIN = "?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4&li_fat_id=abc"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateRedisCluster]:
    c = PrivateRedisCluster().start()
    yield c
    c.destroy()


@pytest.mark.parametrize("runner", ["confluent"])
async def test_profiles_links_and_segments_live_on_a_redis_cluster_and_personalization_reads_them(
    segmenters: Segmenters, producer, pg, cluster: PrivateRedisCluster, runner: str
) -> None:
    segmenters.start(CDP_REDIS_URL=cluster.url, CDP_REDIS_CLUSTER="true")
    await segmenters.wait_all_consuming(producer)
    uid, t0 = uuid.uuid4().hex[:8], datetime.now(UTC) - timedelta(hours=1)
    people = [f"rc-{i}-{uid}" for i in range(60)]
    hits = []
    for i, aid in enumerate(people):
        j = Journey(aid, t0 + timedelta(seconds=i))
        j.page("/case-studies/automotive", LINKEDIN if i % 2 == 0 else "")  # half arrive from the CEO ad
        j.page("/pricing")
        hits += j.hits
    await send(producer, segmenters.topic, hits)

    common = CommonSettings(redis_url=cluster.url, redis_cluster=True)
    client = make_redis(common)
    console = State(common, ConsoleSettings())
    keys = RedisKeys()
    try:
        for i, aid in enumerate(people):
            p = await profile_of(pg, f"anon:{aid}", within=60, until=lambda p: p["pageViews"] == 2)
            raw = await client.get(keys.profile(p["id"]))
            assert raw is not None and orjson.loads(raw)["pageViews"] == 2
            assert await client.get(keys.anonymous(aid)) == p["id"].encode()
            # personalization's read: the anonymous id's key, then the profile's (other slots)
            assert await console.summary_of(keys, aid) == raw
            ceo = "automotive-ceos" in p["segments"]
            assert ceo == (i % 2 == 0)
            assert bool(await client.sismember(keys.segment("automotive-ceos"), p["id"])) == ceo
        spread = cluster.keys_per_master()
        assert len(spread) == 3 and all(n > 0 for n in spread.values()), spread
    finally:
        await client.aclose()
        await console.redis.aclose()
    segmenters.alive()
