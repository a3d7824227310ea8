"""The console process's state: its Postgres pools, Redis, Kafka producer, the sources and
slots it serves personalization for (refreshed), and its erasure work."""

import asyncio
import logging
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry, Histogram

from cdp_common import privacy
from cdp_common.hotkeys import RedisKeys
from cdp_common.identity import ANON, namespace_of
from cdp_common.redisio import make_redis
from cdp_common.settings import CommonSettings, ConsoleSettings
from cdp_common.sources import SourceStore
from cdp_console import data
from cdp_console.personalize import Slot, parse_slot
from cdp_console.ratelimit import RateLimiter

logger = logging.getLogger(__name__)
LOOKUP = """
local pid = redis.call('GET', KEYS[1])
if not pid then return false end
return redis.call('GET', ARGV[1] .. pid)
"""


class State:
    def __init__(self, common: CommonSettings, settings: ConsoleSettings) -> None:
        self.common = common
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.plain: Any = None
        self.redis = make_redis(common)
        self.producer: Any = None  # created in the lifespan (aiokafka needs the running loop)
        self.write_keys: dict[str, tuple[str, frozenset[str]]] = {}  # write key -> (source id, origins)
        self.origins: frozenset[str] = frozenset()  # every source's allowed origins (preflights)
        self.limiter = RateLimiter(settings.personalize_rate, settings.personalize_burst)
        self.erasing = asyncio.Lock()
        self.lookup = None if common.redis_cluster else self.redis.register_script(LOOKUP)
        self.slots: list[Slot] = []
        self.registry = CollectorRegistry()
        self.personalize_seconds = Histogram(
            "cdp_console_personalize_seconds",
            "Time to answer a personalization request (server side)",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.0075, 0.01, 0.025, 0.05, 0.1),
        )

    def db(self) -> asyncpg.Pool:
        """The pool with jsonb as Python values (open once the app has started)."""
        assert self.pool is not None
        return self.pool

    async def summary_of(self, keys: RedisKeys, anonymous_id: str) -> bytes | None:
        """The profile summary an anonymousId points to: one round trip inside Redis; on a
        cluster two (the id's key and the profile's key live in different slots)."""
        if self.lookup is not None:
            raw: bytes | None = await self.lookup(keys=[keys.anonymous(anonymous_id)], args=[keys.profile_prefix])
            return raw
        pid = await self.redis.get(keys.anonymous(anonymous_id))
        return await self.redis.get(keys.profile(pid.decode())) if pid else None

    async def refresh(self) -> None:
        assert self.pool is not None
        sources = await SourceStore(self.plain or self.pool).list_all()
        enabled = [s for s in sources if s.enabled]
        self.write_keys = {s.write_key: (s.id, frozenset(s.origins)) for s in enabled}
        self.origins = frozenset(o for s in enabled for o in s.origins)
        rows = await self.pool.fetch("SELECT id, rules, default_variant FROM personalization_slots ORDER BY id")
        self.slots = [parse_slot(r["id"], r["rules"], r["default_variant"]) for r in rows]

    async def publish_erasures(self) -> int:
        """Every erasure in the outbox to ``cdp.privacy.erasures`` (for the destinations) and
        a tombstone per profile to the compacted lead topic (which then forgets the person's
        lead records); each outbox row is deleted once Kafka has acknowledged it."""
        assert self.pool is not None
        async with self.erasing:
            done = 0
            for e in await privacy.pending_erasures(self.pool):
                value = e.model_dump_json(by_alias=True).encode()
                for p in e.profile_ids:
                    await self.producer.send_and_wait(self.settings.erasures_topic, value, key=p.encode())
                    for topic in (self.settings.leads_topic, self.settings.leads_failed_topic):
                        await self.producer.send_and_wait(topic, None, key=p.encode())
                await privacy.erasure_published(self.pool, e.request_id)
                done += 1
            return done

    async def erase(self, pid: str, actor: str, via: str) -> dict[str, Any] | None:
        """Erase a person (right to be forgotten): Postgres in one transaction, then the hot
        state, then the announcement to the destinations (from the outbox); audited."""
        assert self.pool is not None
        gone = await privacy.erase(self.pool, pid)
        if gone is None:
            return None
        keys = RedisKeys(self.settings.redis_prefix)
        pipe = self.redis.pipeline(transaction=False)
        for p in gone["profiles"]:
            pipe.delete(keys.profile(p))
            for sid in gone["segments"]:
                pipe.srem(keys.segment(sid), p)
        for ident in gone["identities"]:
            if namespace_of(ident) == ANON:
                pipe.delete(keys.anonymous(ident.split(":", 1)[1]))
        await pipe.execute()
        try:
            await self.publish_erasures()
        except Exception as e:  # kept in the outbox: published by the next attempt
            logger.warning("erasure of %s not yet published (%s); will retry", pid, e)
        await data.audit(self.pool, actor, "erase", pid, {"via": via, "identities": len(gone["identities"])})
        return {"erased": pid, "profiles": gone["profiles"], "suppressedIdentities": len(gone["identities"])}

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            try:
                await self.refresh()
            except Exception as e:  # keep serving the last good set
                logger.warning("could not refresh sources/slots (%s)", e)
            try:
                await self.publish_erasures()
            except Exception as e:
                logger.warning("could not publish pending erasures (%s); will retry", e)
