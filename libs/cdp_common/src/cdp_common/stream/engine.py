"""The stream engine: one Kafka loop for every processor.

Loop: poll a batch (a rebalance happens only here, between batches) -> the runtime
processes it, delivers its output and waits for the acknowledgements -> its offsets become
committable. Offsets are committed at most every ``commit_interval_s`` (also when idle),
when partitions are revoked (only what is done: nothing is in flight during a poll) and
at shutdown. A crash re-reads at most the uncommitted tail; every stage tolerates that
(the segmenter de-duplicates on messageId, the syncer's upserts are idempotent).

SIGTERM/SIGINT: finish the current batch (at most ``shutdown_timeout_s``; a batch still
failing then is abandoned uncommitted), commit, leave the group, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from contextlib import suppress
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from cdp_common.stream.client import (
    ClientName,
    Consumer,
    ConsumerConfig,
    Producer,
    ProducerConfig,
    make_consumer,
    make_producer,
)
from cdp_common.stream.http import Health, OpsServer
from cdp_common.stream.runtime import Abandoned, StageRuntime
from cdp_common.stream.types import TP, Fatal, Processor, Record

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    consumer: ConsumerConfig
    producer: ProducerConfig
    client: ClientName = "confluent"
    batch_size: int = 1000
    batch_within_s: float = 0.05
    commit_interval_s: float = 1.0
    lag_interval_s: float = 1.0
    shutdown_timeout_s: float = 20.0
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"


def last_offsets(batch: list[Record]) -> dict[TP, int]:
    """The next offset to read per partition once ``batch`` is done."""
    nxt: dict[TP, int] = {}
    for r in batch:
        tp = TP(r.topic, r.partition)
        if r.offset + 1 > nxt.get(tp, -1):
            nxt[tp] = r.offset + 1
    return nxt


class Offsets:
    """Next offsets of done work per partition, and which of them are not yet committed."""

    def __init__(self) -> None:
        self.done: dict[TP, int] = {}
        self.pending: dict[TP, int] = {}

    def mark(self, nxt: dict[TP, int]) -> None:
        self.done.update(nxt)
        self.pending.update(nxt)

    def take(self, tps: set[TP] | None = None) -> dict[TP, int]:
        """Pending offsets (of ``tps``, or all) to commit now."""
        if tps is None:
            out, self.pending = self.pending, {}
            return out
        return {tp: self.pending.pop(tp) for tp in list(self.pending) if tp in tps}

    def forget(self, tps: set[TP]) -> None:
        for tp in tps:
            self.done.pop(tp, None)
            self.pending.pop(tp, None)


class Engine:
    def __init__(
        self,
        processor: Processor,
        config: EngineConfig,
        *,
        registry: CollectorRegistry,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.processor = processor
        self.config = config
        self.stage = processor.stage
        self.health = Health()
        self.runtime = StageRuntime(processor, registry, self.health)
        self.consumer = consumer or make_consumer(config.client, config.consumer)
        self.producer = producer or make_producer(config.client, config.producer)
        self.offsets = Offsets()
        self.ops = (
            OpsServer(registry, self.health, host=config.metrics_host, port=config.metrics_port)
            if config.metrics_port
            else None
        )
        self._stop = asyncio.Event()
        self._last_commit = time.monotonic()
        self._last_lag = 0.0
        self._lag_labels: set[TP] = set()

    def stop(self) -> None:
        self._stop.set()

    # ---- rebalance callbacks (called by the client inside poll) ------------------------------

    def _assigned(self, tps: set[TP]) -> None:
        logger.info("%s: assigned %s", self.stage, ", ".join(f"{t}[{p}]" for t, p in sorted(tps)) or "nothing")
        if self.health.status == "starting":
            self.health.set("ok")

    def _revoked(self, tps: set[TP]) -> dict[TP, int]:
        offsets = self.offsets.take(tps)
        self.offsets.forget(tps)
        for tp in tps & self._lag_labels:
            with suppress(KeyError):
                self.runtime.lag.remove(self.stage, tp.topic, str(tp.partition))
        self._lag_labels -= tps
        if offsets:
            self.runtime.commits.labels(self.stage, "revoke").inc()
        return offsets

    # ---- the loop ----------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        if self.ops:
            await self.ops.start()
        await self._start_producer()
        code = 0
        try:
            await self.runtime.start(self.producer.deliver)
            await self.consumer.start(self._assigned, self._revoked)
            logger.info(
                "%s consuming %s as %s",
                self.stage,
                ", ".join(self.config.consumer.topics),
                self.config.consumer.group_id,
            )
            code = await self._loop()
        finally:
            self.health.set("stopping")
            await self._commit("shutdown")
            with suppress(Exception):
                await asyncio.wait_for(self.consumer.stop(), 15)
            with suppress(Exception):
                await self.processor.stop()
            with suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 35)
            if self.ops:
                await self.ops.stop()
        return code

    async def _start_producer(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self.producer.start()
                return
            except Exception as e:
                if self._stop.is_set():
                    raise
                logger.warning("%s: Kafka not reachable (%s); retrying in %.1fs", self.stage, e, backoff)
                self.health.set("degraded", f"Kafka not reachable: {e}")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _loop(self) -> int:
        c = self.config
        while not self._stop.is_set():
            batch = await self.consumer.poll(c.batch_size, c.batch_within_s)
            if batch:
                try:
                    finished = await self._handle(batch)
                except Fatal as e:
                    logger.critical("%s: %s", self.stage, e)
                    return e.code
                if not finished:
                    break
                self.offsets.mark(last_offsets(batch))
            now = time.monotonic()
            if now - self._last_commit >= c.commit_interval_s:
                await self._commit("interval")
            if now - self._last_lag >= c.lag_interval_s:
                await self._update_lag()
        return 0

    async def _handle(self, batch: list[Record]) -> bool:
        """True once the batch is done; False if it was abandoned at shutdown."""
        work = asyncio.ensure_future(self.runtime.handle(batch))
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                self.runtime.stopping = True
                logger.info(
                    "%s: stopping; finishing the current batch (at most %.0fs)",
                    self.stage,
                    self.config.shutdown_timeout_s,
                )
                await asyncio.wait({work}, timeout=self.config.shutdown_timeout_s)
                if not work.done():
                    work.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await work
                    logger.warning(
                        "%s: abandoned an unfinished batch of %d at shutdown (not committed)", self.stage, len(batch)
                    )
                    return False
            try:
                work.result()
            except Abandoned as e:
                logger.warning("%s: %s; the batch stays uncommitted", self.stage, e)
                return False
            return True
        finally:
            stopped.cancel()

    async def _commit(self, why: str) -> None:
        self._last_commit = time.monotonic()
        offsets = self.offsets.take()
        if not offsets:
            return
        try:
            ok = await self.consumer.commit(offsets)
        except Exception as e:  # the broker is away: keep them for the next try
            logger.warning("%s: commit failed (%s); will retry", self.stage, e)
            for tp, off in offsets.items():
                self.offsets.pending.setdefault(tp, off)
            ok = False
        self.runtime.commits.labels(self.stage, why if ok else "refused").inc()

    async def _update_lag(self) -> None:
        self._last_lag = time.monotonic()
        try:
            lag = await self.consumer.lag(self.offsets.done)
        except Exception as e:
            logger.debug("lag unavailable: %s", e)
            return
        for tp, n in lag.items():
            self.runtime.lag.labels(self.stage, tp.topic, str(tp.partition)).set(n)
        self._lag_labels |= set(lag)
