"""The segmenter as a stream processor: enriched hits in; segment changes, leads,
rejections and counted drops out. Holds the stores, the definitions refresher, the
background passes (re-evaluation, pending lead updates, outbox relay, dedup pruning) and
the segmenter's own metrics; the stream engine does all the Kafka work.

Contract with the engine: ``process(batch)`` applies the batch (one Postgres transaction +
one Redis pipeline) and returns its output; once that output is acknowledged the engine
calls ``after_durable`` (which deletes the batch's outbox rows) and only then commits.
A transient store failure propagates: the engine retries the whole batch, and the
messageIds claimed in the same transaction make a redone batch a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime
from typing import cast

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from redis.exceptions import RedisError

from cdp_common.definitions.segments import Definitions
from cdp_common.definitions.store import DefinitionStore
from cdp_common.metrics import M, build
from cdp_common.redisio import make_redis
from cdp_common.settings import CommonSettings, SegmenterSettings
from cdp_common.stream import Emit, Output, Publish, Record, Reject
from cdp_common.topics import REPLAY_HEADER
from cdp_common.wire import EnrichedHitDoc
from cdp_segmenter import store
from cdp_segmenter.batch import Applied, Hit, PoisonHit, Topics, apply_batch, reevaluate
from cdp_segmenter.logic.identity import event_ids
from cdp_segmenter.logic.profile import FoldConfig
from cdp_segmenter.readmodel import ReadModel

logger = logging.getLogger(__name__)

RETRYABLE = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.UniqueViolationError,
    asyncpg.exceptions.ForeignKeyViolationError,
)
INTEGRITY = (asyncpg.exceptions.UniqueViolationError, asyncpg.exceptions.ForeignKeyViolationError)
CONFLICT_RETRIES = 8
EVENT_TYPES = frozenset({"track", "page", "screen", "identify", "alias", "group"})


def parse(rec: Record) -> Hit | str | tuple[str, str]:
    """A hit to apply, ``"bot"`` to drop, or (reason, message) to reject."""
    try:
        doc = orjson.loads(rec.value or b"")
    except orjson.JSONDecodeError as e:
        return ("malformed", f"not JSON: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("event"), dict):
        return ("malformed", "not an enriched hit (no event object)")
    en = doc.get("enrichment")
    if not isinstance(en, dict):
        return ("malformed", "not an enriched hit (no enrichment)")
    if (en.get("bot") or {}).get("isBot"):
        return "bot"
    ev = doc["event"]
    mid = ev.get("messageId")
    if not isinstance(mid, str) or not mid:
        return ("malformed", "event has no messageId")
    if ev.get("type") not in EVENT_TYPES:
        return ("malformed", f"unknown event type {ev.get('type')!r}")
    try:
        datetime.fromisoformat(str(doc.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        return ("malformed", f"timestamp {doc.get('timestamp')!r} is not ISO-8601")
    try:
        received: float | None = datetime.fromisoformat(str(doc.get("receivedAt"))).timestamp()
    except ValueError:
        received = None  # only the freshness metric needs it
    for k in ("properties", "traits", "context"):
        if ev.get(k) is not None and not isinstance(ev[k], dict):
            return ("malformed", f"event.{k} must be an object")
    if b"\\u0000" in (rec.value or b""):
        return ("unsupported_character", "contains a NUL character (\\u0000), which Postgres text cannot hold")
    ids = event_ids(ev)
    if not ids:
        return ("no_usable_id", "no usable anonymousId, userId or email (placeholders like 'anonymous' are refused)")
    replay = any(k == REPLAY_HEADER for k, _ in rec.headers)
    return Hit(mid, ids, cast(EnrichedHitDoc, doc), rec.timestamp_ms, received, replay=replay, record=rec)


def source_of(rec: Record) -> str | None:
    """The source a refused record came from, when it says (``cdp rejects --source``)."""
    try:
        doc = orjson.loads(rec.value or b"")
    except orjson.JSONDecodeError:
        return None
    sid = doc.get("sourceId") if isinstance(doc, dict) else None
    return sid if isinstance(sid, str) else None


def _report_pass(task: asyncio.Task[None]) -> None:
    """A re-evaluation pass that failed (the next refresh starts another) says why."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("the re-evaluation pass failed; retrying at the next refresh", exc_info=task.exception())


class SegmenterProcessor:
    stage = "segmenter"

    def __init__(self, common: CommonSettings, settings: SegmenterSettings) -> None:
        self.common = common
        self.settings = settings
        self.rejected_topic = settings.rejected_topic
        self.topics = Topics(settings.changes_topic, settings.leads_topic)
        self.fold_config = FoldConfig(frozenset(settings.conversion_events), frozenset(settings.calculator_events))
        self.readmodel = ReadModel(settings.redis_prefix, int(settings.redis_ttl_days * 86_400))
        self.defs = Definitions()
        self.ready = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self.redis = make_redis(common)
        self.publish: Publish | None = None
        self._pass: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self.registry = CollectorRegistry()
        self._records = cast(Counter, build(M.SEGMENTER_RECORDS, self.registry))
        self._batch_seconds = cast(Histogram, build(M.SEGMENTER_BATCH_SECONDS, self.registry))
        self._visible = cast(Histogram, build(M.SEGMENTER_VISIBLE_SECONDS, self.registry))
        self._freshness = cast(Histogram, build(M.SEGMENTER_FRESHNESS_SECONDS, self.registry))
        self._retries = cast(Counter, build(M.SEGMENTER_RETRIES, self.registry))
        self._identity = cast(Counter, build(M.SEGMENTER_IDENTITY, self.registry))
        self._changes = cast(Counter, build(M.SEGMENTER_SEGMENT_CHANGES, self.registry))
        self._leads = cast(Counter, build(M.SEGMENTER_LEADS, self.registry))
        self._defs_gauge = cast(Gauge, build(M.SEGMENTER_DEFINITIONS, self.registry))

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, publish: Publish) -> None:
        """Open the stores and load definitions (retrying until Postgres and Redis answer),
        then start the background passes."""
        self.publish = publish
        while True:
            try:
                if self.pool is None:
                    self.pool = await store.open_pool(self.common, self.settings.pg_pool_size)
                await self.redis.ping()
                await self._load_definitions()
                break
            except (OSError, asyncpg.PostgresError, RedisError) as e:
                logger.warning("Postgres or Redis not reachable (%s); retrying", e)
                await asyncio.sleep(1.0)
        self.ready.set()
        self._maintenance = asyncio.create_task(self.maintain_forever())

    async def stop(self) -> None:
        for task in (self._pass, self._maintenance):
            if task:
                task.cancel()
        if self.pool:
            await self.pool.close()
        await self.redis.aclose()

    # ---- the batch step --------------------------------------------------------------------

    async def process(self, records: Sequence[Record]) -> Output:
        t0 = time.perf_counter()
        step = Output()
        hits: list[Hit] = []
        seen: dict[str, int] = {}  # messageId -> its place in hits
        counts: dict[tuple[str, str], int] = {}
        for rec in records:
            got = parse(rec)
            if isinstance(got, Hit):
                if got.message_id in seen:
                    key = ("dropped", "duplicate")
                    if got.replay:  # the replayed copy's enrichment supersedes the earlier one's
                        hits[seen[got.message_id]] = got
                else:
                    seen[got.message_id] = len(hits)
                    hits.append(got)
                    continue
            elif isinstance(got, str):
                key = ("dropped", got)
                step.drop(got)
            else:
                reason, message = got
                step.rejects.append(Reject(rec, reason, message, source_of(rec)))
                key = ("rejected", reason)
            counts[key] = counts.get(key, 0) + 1

        outbox_ids: list[int] = []
        applied = await self._apply(hits, step, counts, outbox_ids) if hits else Applied()
        counts[("applied", "ok")] = applied.applied
        if applied.duplicates:
            counts[("dropped", "duplicate")] = counts.get(("dropped", "duplicate"), 0) + applied.duplicates
        duplicates = counts.get(("dropped", "duplicate"), 0)
        if duplicates:
            step.drop("duplicate", duplicates)
        self._account(applied, counts)
        if applied.visible_at:
            for h in hits:
                if h.kafka_ts_ms:
                    self._visible.observe(max(0.0, applied.visible_at - h.kafka_ts_ms / 1000))
                if h.received_s:
                    self._freshness.observe(max(0.0, applied.visible_at - h.received_s))
        if outbox_ids:
            step.after_durable = lambda: store.delete_outbox(self.pool, outbox_ids)
        self._batch_seconds.observe(time.perf_counter() - t0)
        return step

    async def _apply(
        self, hits: list[Hit], step: Output, counts: dict[tuple[str, str], int], outbox_ids: list[int]
    ) -> Applied:
        assert self.pool is not None
        attempt = 0
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    applied = await apply_batch(
                        conn,
                        self.redis,
                        hits,
                        self.defs,
                        self.fold_config,
                        self.readmodel,
                        self.topics,
                        time.time(),
                    )
                break
            except PoisonHit as e:
                hits = [h for h in hits if h is not e.hit]
                step.rejects.append(Reject(e.hit.record, "unprocessable", e.reason, e.hit.doc.get("sourceId")))
                counts[("rejected", "unprocessable")] = counts.get(("rejected", "unprocessable"), 0) + 1
                logger.warning("hit %s cannot be applied (%s); rejected", e.hit.message_id, e.reason)
                if not hits:
                    return Applied()
            except asyncpg.exceptions.DataError as e:
                # a value Postgres refuses (e.g. an out-of-range number): find the hit, reject it
                return await self._isolate(hits, step, counts, outbox_ids, "unstorable", e)
            except RETRYABLE as e:
                attempt += 1
                self._retries.labels(type(e).__name__).inc()
                if attempt >= CONFLICT_RETRIES and isinstance(e, INTEGRITY):
                    # a concurrent writer resolves within a retry or two; the same violation
                    # again and again is one hit the logic cannot place: find it, reject it
                    return await self._isolate(hits, step, counts, outbox_ids, "unprocessable", e)
                delay = min(2.0, 0.01 * 2**attempt) * (0.5 + random.random())
                if attempt % 10 == 0:
                    logger.warning("batch retried %d times (%s); still retrying", attempt, e)
                await asyncio.sleep(delay)
            # any other failure (a store outage) propagates: the engine retries the batch
        step.emits.extend(Emit(topic, key, value) for _, topic, key, value in applied.outbox)
        outbox_ids.extend(i for i, *_ in applied.outbox)
        return applied

    async def _isolate(
        self,
        hits: list[Hit],
        step: Output,
        counts: dict[tuple[str, str], int],
        outbox_ids: list[int],
        reason: str,
        e: Exception,
    ) -> Applied:
        """Apply the hits one transaction each; a single hit that still fails is rejected."""
        if len(hits) == 1:
            step.rejects.append(Reject(hits[0].record, reason, f"{type(e).__name__}: {e}", hits[0].doc.get("sourceId")))
            counts[("rejected", reason)] = counts.get(("rejected", reason), 0) + 1
            logger.warning("hit %s cannot be applied (%s); rejected as %s", hits[0].message_id, e, reason)
            return Applied()
        logger.warning("batch failed (%s); applying its %d hits one by one", e, len(hits))
        total = Applied()
        for h in hits:  # each call adds its own outbox messages to the step
            a = await self._apply([h], step, counts, outbox_ids)
            total.duplicates += a.duplicates
            total.applied += a.applied
            total.visible_at = max(total.visible_at, a.visible_at)
            for mine, theirs in (
                (total.replayed, a.replayed),
                (total.identity, a.identity),
                (total.segment_changes, a.segment_changes),
                (total.leads, a.leads),
            ):
                for k, n in theirs.items():
                    mine[k] = mine.get(k, 0) + n
        return total

    def _account(self, a: Applied, counts: dict[tuple[str, str], int]) -> None:
        for (outcome, reason), n in counts.items():
            if n:
                self._records.labels(outcome, reason).inc(n)
        for k, n in a.identity.items():
            self._identity.labels(k).inc(n)
        for k, n in a.segment_changes.items():
            self._changes.labels(k).inc(n)
        for k, n in a.leads.items():
            self._leads.labels(k).inc(n)
        for k, n in a.replayed.items():
            self._records.labels("replayed", k).inc(n)

    # ---- background ------------------------------------------------------------------------

    async def _load_definitions(self) -> None:
        assert self.pool is not None
        defs = await DefinitionStore(self.pool).load()
        if defs.fingerprint != self.defs.fingerprint or not self.ready.is_set():
            if self.ready.is_set():
                logger.info("definitions changed (%s -> %s)", self.defs.fingerprint, defs.fingerprint)
            self.defs = defs
            self._defs_gauge.labels("segments").set(len(defs.segments))
            self._defs_gauge.labels("scoring_rules").set(len(defs.plan))
        if (self._pass is None or self._pass.done()) and await store.evaluated_fingerprint(
            self.pool
        ) != defs.fingerprint:
            self._pass = asyncio.create_task(self._reevaluate_all(defs))
            self._pass.add_done_callback(_report_pass)

    async def _reevaluate_all(self, defs: Definitions) -> None:
        """Bring every profile up to date with ``defs``, in small transactions beside ingestion."""
        assert self.pool is not None
        t0 = time.perf_counter()
        after, n, changed = "", 0, 0
        while True:
            if self.defs.fingerprint != defs.fingerprint:
                logger.info("definitions changed again; restarting the re-evaluation pass")
                return  # the refresher starts a new pass
            pids = await store.live_profile_ids(self.pool, after, self.settings.reevaluate_chunk)
            if not pids:
                break
            changed += await self._reevaluate(pids, defs)
            n += len(pids)
            after = pids[-1]
        await store.set_evaluated_fingerprint(self.pool, defs.fingerprint)
        logger.info("re-evaluated %d profile(s), %d changed, in %.1f s", n, changed, time.perf_counter() - t0)

    async def _reevaluate(self, pids: list[str], defs: Definitions) -> int:
        assert self.pool is not None and self.publish is not None
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    a = await reevaluate(conn, self.redis, pids, defs, self.readmodel, self.topics, time.time())
                break
            except RETRYABLE as e:
                self._retries.labels(type(e).__name__).inc()
                await asyncio.sleep(0.05 + random.random() * 0.1)
        self._account(a, {})
        for pid, why in a.unevaluable.items():
            self._records.labels("unevaluable", "reevaluation").inc()
            logger.error("profile %s could not be re-evaluated and is left as it was: %s", pid, why)
        if a.outbox:
            await self.publish([Emit(t, k, v) for _, t, k, v in a.outbox])
            await store.delete_outbox(self.pool, [i for i, *_ in a.outbox])
        return a.applied

    async def _relay_outbox(self) -> None:
        """Publish outbox rows a crashed or stopped writer left (at least once; receivers
        de-duplicate on eventId / profile+segment+change)."""
        assert self.pool is not None and self.publish is not None
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await store.old_outbox(conn, self.settings.outbox_grace_s, 1000)
            if rows:
                await self.publish([Emit(r["topic"], r["key"], r["value"]) for r in rows])
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
                logger.info("relayed %d outbox message(s) left by an earlier run", len(rows))

    async def _record_sizes(self) -> None:
        assert self.pool is not None
        ids = [sd.id for sd in self.defs.segments]
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.scard(self.readmodel.keys.segment(sid))
            counts = await pipe.execute()
        await store.record_segment_sizes(self.pool, dict(zip(ids, (int(n) for n in counts), strict=True)))

    async def maintain_forever(self) -> None:
        """Definitions refresh, pending lead updates, outbox relay, dedup pruning, segment
        sizes over time."""
        await self.ready.wait()
        assert self.pool is not None
        last_prune = last_sizes = 0.0
        while True:
            await asyncio.sleep(self.settings.definitions_refresh_s)
            try:
                await self._load_definitions()
                due = await store.pending_leads(self.pool, self.defs.policy.update_interval_s, 500)
                if due:
                    await self._reevaluate(due, self.defs)
                await self._relay_outbox()
                if time.monotonic() - last_prune > 600:
                    pruned = await store.prune_processed(self.pool, self.settings.dedup_window_hours)
                    last_prune = time.monotonic()
                    if pruned:
                        logger.info("pruned %d messageId(s) older than the dedup window", pruned)
                if time.monotonic() - last_sizes > self.settings.segment_sizes_s:
                    await self._record_sizes()
                    last_sizes = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep ingesting; the next round tries again
                logger.warning("background maintenance failed (%s: %s); retrying", type(e).__name__, e)
