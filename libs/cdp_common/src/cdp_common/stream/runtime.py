"""What every driver of a processor shares (the Kafka engine and the faust adapter):
hand a batch to the processor, retry it while it fails transiently, route its output
(emits, rejects with their original bytes and coordinates, counted drops), wait for the
broker's acknowledgement, run the processor's after-durable step, and keep the stage's
metrics and health. A batch is done only when all of that happened; a driver commits
offsets of done batches only."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cdp_common.metrics import M, build
from cdp_common.records import Rejected
from cdp_common.stream.http import Health
from cdp_common.stream.types import Emit, Fatal, Output, Processor, Record, Reject

logger = logging.getLogger(__name__)
T = TypeVar("T")
Deliver = Callable[[Sequence[Emit]], Awaitable[None]]


class Abandoned(Exception):
    """The process is stopping while a batch still fails: it stays uncommitted."""


def rejected_record(stage: str, r: Reject, now: datetime) -> bytes:
    rec = r.record
    return (
        Rejected(
            reason=r.reason,
            message=r.message,
            stage=stage,
            original=Rejected.encode(rec.value or b""),
            source_id=r.source_id,
            source_topic=rec.topic,
            source_partition=rec.partition,
            source_offset=rec.offset,
            rejected_at=now,
        )
        .model_dump_json(by_alias=True)
        .encode()
    )


class Backoff:
    """Exponential backoff with jitter: 0.1 s doubling to ``cap_s``."""

    def __init__(self, cap_s: float = 10.0) -> None:
        self.cap_s = cap_s
        self.attempt = 0

    def next_delay(self) -> float:
        self.attempt += 1
        return min(self.cap_s, 0.1 * 2 ** min(self.attempt, 10)) * (0.5 + random.random() / 2)


class StageRuntime:
    def __init__(self, processor: Processor, registry: CollectorRegistry, health: Health) -> None:
        self.processor = processor
        self.stage = processor.stage
        self.health = health
        self.stopping = False
        self._deliver: Deliver | None = None
        self._in = cast(Counter, build(M.STREAM_RECORDS_IN, registry)).labels(self.stage)
        self._out = cast(Counter, build(M.STREAM_RECORDS_OUT, registry))
        self._rejected = cast(Counter, build(M.STREAM_REJECTED, registry))
        self._dropped = cast(Counter, build(M.STREAM_DROPPED, registry))
        self._size = cast(Histogram, build(M.STREAM_BATCH_SIZE, registry)).labels(self.stage)
        self._seconds = cast(Histogram, build(M.STREAM_BATCH_SECONDS, registry)).labels(self.stage)
        self._retries = cast(Counter, build(M.STREAM_RETRIES, registry))
        self._degraded = cast(Gauge, build(M.STREAM_DEGRADED, registry)).labels(self.stage)
        self.commits = cast(Counter, build(M.STREAM_COMMITS, registry))
        self.lag = cast(Gauge, build(M.STREAM_LAG, registry))

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        await self.processor.start(self.publish)

    async def publish(self, emits: Sequence[Emit]) -> None:
        """Background output of the processor (not tied to an input batch)."""
        assert self._deliver is not None
        await self._deliver(emits)
        self._count_out(emits)

    async def handle(self, batch: Sequence[Record]) -> None:
        """Process, deliver and finish one batch, retrying transient failures until it is
        done; raises ``Fatal`` (stop) or ``Abandoned`` (stopping while still failing)."""
        assert self._deliver is not None
        t0 = time.perf_counter()
        self._in.inc(len(batch))
        self._size.observe(len(batch))
        out = await self._retrying("process", lambda: self.processor.process(batch))
        now = datetime.now(UTC)
        sends = list(out.emits)
        if out.rejects:
            sends.extend(
                Emit(self.processor.rejected_topic, None, rejected_record(self.stage, r, now)) for r in out.rejects
            )
        if sends:
            await self._retrying("deliver", lambda: self._deliver(sends))  # type: ignore[misc]
        if out.after_durable is not None:
            await self._retrying("after_durable", out.after_durable)
        self._account(out)
        self._seconds.observe(time.perf_counter() - t0)

    def _account(self, out: Output) -> None:
        self._count_out(out.emits)
        for r in out.rejects:
            self._rejected.labels(self.stage, r.reason).inc()
        if out.rejects:
            self._out.labels(self.stage, self.processor.rejected_topic).inc(len(out.rejects))
        for reason, n in out.drops.items():
            self._dropped.labels(self.stage, reason).inc(n)

    def _count_out(self, emits: Sequence[Emit]) -> None:
        if not emits:
            return
        by_topic: dict[str, int] = {}
        for e in emits:
            by_topic[e.topic] = by_topic.get(e.topic, 0) + 1
        for topic, n in by_topic.items():
            self._out.labels(self.stage, topic).inc(n)

    async def _retrying(self, step: str, call: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff()
        first_failure = 0.0
        while True:
            try:
                result = await call()
            except (Fatal, asyncio.CancelledError):
                raise
            except Exception as e:
                if self.stopping:
                    raise Abandoned(f"{step} failing while stopping: {e}") from e
                self._retries.labels(self.stage, step).inc()
                delay = backoff.next_delay()
                now = time.monotonic()
                if backoff.attempt == 1 or now - first_failure > 30:
                    first_failure = now
                    logger.warning(
                        "%s: %s failed (%s: %s); retrying the batch with backoff (attempt %d)",
                        self.stage, step, type(e).__name__, e, backoff.attempt,
                    )  # fmt: skip
                self.health.set("degraded", f"{step} failing: {type(e).__name__}: {e}"[:500])
                self._degraded.set(1)
                await asyncio.sleep(delay)
                continue
            if backoff.attempt:
                logger.info("%s: %s recovered after %d retries", self.stage, step, backoff.attempt)
                self.health.set("ok")
                self._degraded.set(0)
            return result
