"""The enricher as a stream processor: raw hits in, enriched hits, rejections and counted
drops out. Holds the rules (refreshed from Postgres in the background), the rejection
guard and the enricher's own metrics; the stream engine does all the Kafka work."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import iptocc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cdp_common.definitions.campaign_rules import KvConvention, compile_rules
from cdp_common.definitions.rule_store import RuleStore, load_internal_domains, load_plans, load_suppressions
from cdp_common.metrics import M, build
from cdp_common.pg import create_pool
from cdp_common.settings import CommonSettings, EnricherSettings
from cdp_common.stream import Emit, Fatal, Output, Publish, Record, Reject
from cdp_common.topics import REPLAY_HEADER
from cdp_enricher.logic.campaign import DEFAULT_PRECEDENCE, CampaignConfig
from cdp_enricher.pipeline import Dropped, Emitted, Enricher, RejectionGuard, Rules

logger = logging.getLogger(__name__)


class EnricherProcessor:
    stage = "enricher"

    def __init__(self, common: CommonSettings, settings: EnricherSettings) -> None:
        self.common = common
        self.settings = settings
        self.rejected_topic = settings.rejected_topic
        precedence = dict(DEFAULT_PRECEDENCE)
        precedence.update({k: tuple(v) for k, v in settings.campaign_precedence.items()})
        self.rules = Rules(
            campaign=CampaignConfig(precedence=precedence),
            kv=KvConvention(settings.kv_parameter or None, settings.kv_pair_separator, settings.kv_separator),
        )
        self.rules_loaded = asyncio.Event()
        self.enricher = Enricher(iptocc.country_code, ua_cache_size=settings.ua_cache_size)
        self.guard = RejectionGuard(window=settings.guard_window, max_ratio=settings.guard_max_ratio)
        self.registry = CollectorRegistry()
        self._records = cast(Counter, build(M.ENRICHER_RECORDS, self.registry))
        self._bots = cast(Counter, build(M.ENRICHER_BOTS, self.registry))
        self._batch_seconds = cast(Histogram, build(M.ENRICHER_BATCH_SECONDS, self.registry))
        self._ua_cache = cast(Gauge, build(M.ENRICHER_UA_CACHE, self.registry))
        self._rules_gauge = cast(Gauge, build(M.ENRICHER_RULES, self.registry))
        self._rejected_ratio = cast(Gauge, build(M.ENRICHER_REJECTED_RATIO, self.registry))
        self._violations = cast(Counter, build(M.ENRICHER_PLAN_VIOLATIONS, self.registry))

        self._refresher: asyncio.Task[None] | None = None

    async def start(self, publish: Publish) -> None:
        """Load the rules first: no record is enriched with an empty rule set."""
        self._refresher = asyncio.create_task(self.refresh_rules_forever())
        await self.rules_loaded.wait()

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()

    async def refresh_rules_forever(self) -> None:
        """Reload rules and sources' internal domains every few seconds (at most 10)."""
        pool = None
        while True:
            try:
                if pool is None:
                    pool = await create_pool(self.common, min_size=1, max_size=2)
                defs = await RuleStore(pool).list_all()
                domains = await load_internal_domains(pool)
                suppressed = await load_suppressions(pool)
                plans = await load_plans(pool)
                self.rules = replace(
                    self.rules,
                    rules=compile_rules(defs),
                    internal_domains=domains,
                    suppressed=suppressed,
                    plans=plans,
                )
                self._rules_gauge.set(len(self.rules.rules))
                if not self.rules_loaded.is_set():
                    logger.info("loaded %d campaign rule(s) and %d source(s)", len(defs), len(domains))
                self.rules_loaded.set()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("could not load rules (%s); keeping the last good set", e)
            await asyncio.sleep(self.settings.rules_refresh_s if self.rules_loaded.is_set() else 1.0)

    def _omits(self, source_id: str) -> bool:
        plan = self.rules.plans.get(source_id)
        return plan is not None and plan.mode == "omit"

    async def process(self, batch: Sequence[Record]) -> Output:
        return self.enrich_batch(batch)

    def enrich_batch(self, batch: Sequence[Record]) -> Output:
        """Enrich a batch; raises ``Fatal`` (and emits nothing) when the guard trips."""
        t0 = time.perf_counter()
        rules = self.rules
        s = self.settings
        out = Output()
        emits = out.emits
        counts: dict[tuple[str, str], int] = {}
        bots: dict[str, int] = {}
        enrich = self.enricher.enrich
        guard = self.guard
        violations: dict[tuple[str, str, str, str], int] = {}
        for rec in batch:
            outcome = enrich(rec.value, rules)
            if isinstance(outcome, Emitted):
                # a replayed record stays marked as one (the segmenter corrects, never recounts)
                replay = tuple(h for h in rec.headers if h[0] == REPLAY_HEADER) if rec.headers else ()
                emits.append(Emit(s.output_topic, outcome.key, outcome.value, replay))
                key = ("emitted", "bot" if outcome.bot_reason else "ok")
                if outcome.bot_reason:
                    bots[outcome.bot_reason] = bots.get(outcome.bot_reason, 0) + 1
                if outcome.violations:
                    action = "omitted" if self._omits(outcome.source_id) else "flagged"
                    for v in outcome.violations:
                        vkey = (outcome.source_id, outcome.planned_event or "(unplanned)", v.type, action)
                        violations[vkey] = violations.get(vkey, 0) + 1
                guard.record(False)
            elif isinstance(outcome, Dropped):
                key = ("dropped", outcome.reason)
                out.drop(outcome.reason)
                guard.record(False)
            else:
                out.rejects.append(Reject(rec, outcome.reason, outcome.message, outcome.source_id))
                key = ("rejected", outcome.reason)
                for v in outcome.violations:  # blocked by a tracking plan: by design, not a fault
                    vkey = (outcome.source_id or "", outcome.planned_event or "(unplanned)", v.type, "blocked")
                    violations[vkey] = violations.get(vkey, 0) + 1
                guard.record(outcome.reason != "tracking_plan")
            counts[key] = counts.get(key, 0) + 1
        self._rejected_ratio.set(guard.ratio)
        if guard.tripped:
            raise Fatal(
                f"{guard.ratio:.0%} of the last records were rejected (limit {s.guard_max_ratio:.0%}); "
                f"stopping instead of draining {s.input_topic} into {s.rejected_topic}. Last batch: {counts}"
            )
        for (outcome_name, reason), n in counts.items():
            self._records.labels(outcome_name, reason).inc(n)
        for reason, n in bots.items():
            self._bots.labels(reason).inc(n)
        for labels, n in violations.items():
            self._violations.labels(*labels).inc(n)
        hits, misses = self.enricher.ua_cache_stats()
        self._ua_cache.labels("hit").set(hits)
        self._ua_cache.labels("miss").set(misses)
        self._batch_seconds.observe(time.perf_counter() - t0)
        return out
