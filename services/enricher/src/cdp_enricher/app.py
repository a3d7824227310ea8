"""Wiring: settings -> adapters -> a faust-streaming agent. faust lives only here; the
enrichment itself (``pipeline.py``) does not know it exists.

Delivery: the agent takes a batch (``stream.take_events``), enriches it, sends the
enriched and rejected records and awaits every acknowledgement before it asks for the next
batch. faust acks a batch's events only when the next batch is requested, and commits only
acked offsets, so a committed offset never points past a record whose output is not in
Kafka. A crash replays at most the uncommitted tail (at least once; the segmenter
de-duplicates on messageId).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

import faust
import iptocc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from cdp_common.metrics import M, build
from cdp_common.pg import create_pool
from cdp_common.settings import CommonSettings, EnricherSettings
from cdp_common.topics import Topic
from cdp_enricher.logic.campaign import DEFAULT_PRECEDENCE, CampaignConfig
from cdp_enricher.logic.rules import KvConvention, compile_rules
from cdp_enricher.pipeline import Dropped, Emitted, Enricher, Origin, RejectionGuard, Rules
from cdp_enricher.store import RuleStore, load_internal_domains

logger = logging.getLogger(__name__)


class RejectionLimitExceeded(RuntimeError):
    """Most recent records were rejected: stop instead of draining the topic."""


class RulesHolder:
    """The current rules, replaced whole by the refresher; the agent waits for the first."""

    def __init__(self, base: Rules) -> None:
        self.current = base
        self.loaded = asyncio.Event()


def _bootstrap_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{b.strip()}" for b in bootstrap.split(","))


def create_app(common: CommonSettings, settings: EnricherSettings) -> faust.App:
    app = faust.App(
        settings.group_id,
        broker=_bootstrap_url(common.kafka_bootstrap),
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset=settings.auto_offset_reset,
        broker_commit_interval=1.0,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        stream_buffer_maxsize=max(4096, settings.batch_size * 2),
        consumer_max_fetch_size=4 * 1024 * 1024,
        key_serializer="raw",
        value_serializer="raw",
    )
    raw = app.topic(Topic.HITS_RAW.value, key_type=bytes, value_type=bytes)

    precedence = dict(DEFAULT_PRECEDENCE)
    precedence.update({k: tuple(v) for k, v in settings.campaign_precedence.items()})
    holder = RulesHolder(
        Rules(
            campaign=CampaignConfig(precedence=precedence),
            kv=KvConvention(settings.kv_parameter or None, settings.kv_pair_separator, settings.kv_separator),
        )
    )
    enricher = Enricher(iptocc.country_code, ua_cache_size=settings.ua_cache_size)
    guard = RejectionGuard(window=settings.guard_window, max_ratio=settings.guard_max_ratio)

    registry = CollectorRegistry()
    records = cast(Counter, build(M.ENRICHER_RECORDS, registry))
    bots = cast(Counter, build(M.ENRICHER_BOTS, registry))
    batch_seconds = cast(Histogram, build(M.ENRICHER_BATCH_SECONDS, registry))
    ua_cache = cast(Gauge, build(M.ENRICHER_UA_CACHE, registry))
    rules_gauge = cast(Gauge, build(M.ENRICHER_RULES, registry))
    rejected_ratio = cast(Gauge, build(M.ENRICHER_REJECTED_RATIO, registry))

    @app.task
    async def refresh_rules() -> None:
        if settings.metrics_port:
            start_http_server(settings.metrics_port, addr="127.0.0.1", registry=registry)
        pool = None
        while True:
            try:
                if pool is None:
                    pool = await create_pool(common, min_size=1, max_size=2)
                defs = await RuleStore(pool).list_all()
                domains = await load_internal_domains(pool)
                holder.current = replace(holder.current, rules=compile_rules(defs), internal_domains=domains)
                rules_gauge.set(len(holder.current.rules))
                if not holder.loaded.is_set():
                    logger.info("loaded %d campaign rule(s) and %d source(s)", len(defs), len(domains))
                holder.loaded.set()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("could not load rules (%s); keeping the last good set", e)
            await asyncio.sleep(settings.rules_refresh_s if holder.loaded.is_set() else 1.0)

    @app.agent(raw)
    async def enrich(stream: Any) -> None:
        await holder.loaded.wait()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            t0 = time.perf_counter()
            now = datetime.now(UTC)
            rules = holder.current
            sends: list[tuple[str, bytes | None, bytes]] = []
            counts: dict[tuple[str, str], int] = {}
            for event in events:
                msg = event.message
                outcome = enricher.enrich(msg.value, Origin(msg.topic, msg.partition, msg.offset), rules, now)
                if isinstance(outcome, Emitted):
                    sends.append((Topic.HITS_ENRICHED.value, outcome.key, outcome.value))
                    key = ("emitted", "bot" if outcome.bot else "ok")
                    guard.record(False)
                elif isinstance(outcome, Dropped):
                    key = ("dropped", outcome.reason)
                    guard.record(False)
                else:
                    sends.append((Topic.HITS_REJECTED.value, None, outcome.value))
                    key = ("rejected", outcome.reason)
                    guard.record(True)
                counts[key] = counts.get(key, 0) + 1
                if isinstance(outcome, Emitted) and outcome.bot_reason is not None:
                    bots.labels(outcome.bot_reason).inc()
            rejected_ratio.set(guard.ratio)
            if guard.tripped:
                exc = RejectionLimitExceeded(
                    f"{guard.ratio:.0%} of the last records were rejected (limit {settings.guard_max_ratio:.0%}); "
                    f"stopping instead of draining {Topic.HITS_RAW.value} into {Topic.HITS_REJECTED.value}. "
                    f"Last batch: {counts}"
                )
                logger.critical("%s", exc)
                await app.crash(exc)
                return
            futures = [await app.producer.send(t, k, v, None, None, None) for t, k, v in sends]
            await asyncio.gather(*futures)  # durable before faust may commit these offsets
            for (outcome_name, reason), n in counts.items():
                records.labels(outcome_name, reason).inc(n)
            hits, misses = enricher.ua_cache_stats()
            ua_cache.labels("hit").set(hits)
            ua_cache.labels("miss").set(misses)
            batch_seconds.observe(time.perf_counter() - t0)

    return app
