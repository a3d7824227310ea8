"""The client seam over confluent-kafka (librdkafka): the protocol work, batching and
retries run in librdkafka's C threads, so Python pays only for the calls.

Threads: the consumer's calls all run on one dedicated thread (librdkafka's consumer is
called from one thread; its rebalance callbacks run there too, inside ``poll``). The
producer's delivery reports are served by one polling thread, which wakes the event loop
once per ``deliver`` call, not once per record.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import Consumer as RdConsumer
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka import Producer as RdProducer

from cdp_common.stream.client import ConsumerConfig, DeliveryError, OnAssign, OnRevoke, ProducerConfig
from cdp_common.stream.types import TP, Emit, Record

logger = logging.getLogger(__name__)
T = TypeVar("T")
_NO_OFFSET = -1001  # librdkafka's OFFSET_INVALID


class _Pending:
    """The delivery reports of one ``deliver`` call (counted down on the polling thread)."""

    __slots__ = ("error", "future", "left", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, n: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.left = n
        self.error: str | None = None

    def report(self, err: KafkaError | None, _msg: Any = None) -> None:
        if err is not None and self.error is None:
            self.error = f"{err.name()}: {err.str()}"
        self.left -= 1
        if self.left == 0:
            self.loop.call_soon_threadsafe(self._finish)

    def fail(self, n: int, error: str) -> None:
        """``n`` records were never queued."""
        if self.error is None:
            self.error = error
        self.left -= n
        if self.left == 0:
            self._finish()

    def _finish(self) -> None:
        if not self.future.done():
            if self.error is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(DeliveryError(self.error))


class ConfluentProducer:
    def __init__(self, config: ProducerConfig) -> None:
        self._config = config
        self._producer: RdProducer | None = None
        self._running = False
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        c = self._config
        self._producer = self._producer or RdProducer(
            {
                **c.kafka.librdkafka(),
                "client.id": c.client_id,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": c.linger_ms,
                # the same partition for a key as the Java client and aiokafka (murmur2)
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 1_000_000,
                "socket.nagle.disable": True,
                "request.timeout.ms": int(c.request_timeout_s * 1000),
                "logger": logging.getLogger("librdkafka.producer"),
            }
        )
        # fail like aiokafka's start() when no broker answers, rather than queue blindly
        await asyncio.get_running_loop().run_in_executor(None, partial(self._producer.list_topics, timeout=10))
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="kafka-producer-poll", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._producer is not None
        while self._running:
            self._producer.poll(0.05)

    async def deliver(self, emits: Sequence[Emit]) -> None:
        if not emits:
            return
        p = self._producer
        if p is None:
            raise DeliveryError("producer not started")
        pending = _Pending(asyncio.get_running_loop(), len(emits))
        report = pending.report
        for i, e in enumerate(emits):
            while True:
                try:
                    p.produce(e.topic, e.value, e.key, on_delivery=report, headers=list(e.headers) or None)
                    break
                except BufferError:
                    await asyncio.sleep(0.005)  # librdkafka's queue is full: let it drain
                except (KafkaException, TypeError, ValueError) as exc:
                    pending.fail(len(emits) - i, f"{type(exc).__name__}: {exc}")
                    return await pending.future
        await pending.future

    async def stop(self) -> None:
        if self._producer is None:
            return
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(None, partial(self._producer.flush, 30))
        if left:
            logger.warning("%d record(s) still unacknowledged at shutdown", left)
        self._running = False
        if self._thread is not None:
            await loop.run_in_executor(None, self._thread.join)
        self._producer = None


class ConfluentConsumer:
    def __init__(self, config: ConsumerConfig) -> None:
        self._config = config
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="kafka-consumer")
        self._consumer: RdConsumer | None = None
        self._assigned: set[TP] = set()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    async def start(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        c = self._config
        self._consumer = RdConsumer(
            {
                **c.kafka.librdkafka(),
                "group.id": c.group_id,
                "client.id": c.client_id,
                "enable.auto.commit": False,
                "auto.offset.reset": c.auto_offset_reset,
                "isolation.level": "read_committed" if c.read_committed else "read_uncommitted",
                "session.timeout.ms": int(c.session_timeout_s * 1000),
                "heartbeat.interval.ms": max(1000, int(c.session_timeout_s * 1000) // 3),
                "max.poll.interval.ms": int(c.max_poll_interval_s * 1000),
                "max.partition.fetch.bytes": c.max_partition_fetch_bytes,
                "fetch.min.bytes": c.fetch_min_bytes,
                "fetch.wait.max.ms": c.fetch_max_wait_ms,
                "socket.nagle.disable": True,
                "logger": logging.getLogger("librdkafka.consumer"),
            }
        )

        def assigned(consumer: RdConsumer, partitions: list[TopicPartition]) -> None:
            tps = {TP(p.topic, p.partition) for p in partitions}
            self._assigned |= tps
            on_assign(tps)

        def revoked(consumer: RdConsumer, partitions: list[TopicPartition]) -> None:
            tps = {TP(p.topic, p.partition) for p in partitions}
            offsets = on_revoke(tps)  # runs here, inside poll: the engine is between batches
            if offsets:
                self._commit_now(offsets)
            self._assigned -= tps

        def lost(consumer: RdConsumer, partitions: list[TopicPartition]) -> None:
            tps = {TP(p.topic, p.partition) for p in partitions}
            on_revoke(tps)  # forget them; committing for a lost generation would be refused
            self._assigned -= tps
            logger.warning("partitions lost (session expired?): %s", sorted(tps))

        await self._call(
            partial(self._consumer.subscribe, list(c.topics), on_assign=assigned, on_revoke=revoked, on_lost=lost)
        )

    def _poll_now(self, max_records: int, timeout_s: float) -> list[Record]:
        c = self._consumer
        assert c is not None
        first = c.poll(timeout_s)
        if first is None:
            return []
        msgs = [first]
        if max_records > 1:
            msgs.extend(c.consume(max_records - 1, 0))
        out: list[Record] = []
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consumer: %s", err.str())
                continue
            ts_type, ts = m.timestamp()
            headers = m.headers()
            out.append(
                Record(
                    m.value(),
                    m.key(),
                    m.topic(),  # type: ignore[arg-type]  # set on every consumed message
                    m.partition(),  # type: ignore[arg-type]
                    m.offset(),  # type: ignore[arg-type]
                    ts if ts_type else None,
                    tuple(headers) if headers else (),  # type: ignore[arg-type]
                )
            )
        return out

    async def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        result: list[Record] = await self._call(self._poll_now, max_records, timeout_s)
        return result

    def _commit_now(self, offsets: Mapping[TP, int]) -> bool:
        assert self._consumer is not None
        mine = [TopicPartition(tp.topic, tp.partition, off) for tp, off in offsets.items() if tp in self._assigned]
        if not mine:
            return True
        try:
            self._consumer.commit(offsets=mine, asynchronous=False)
            return True
        except KafkaException as e:
            logger.warning("commit refused (%s); those records will be re-read", e)
            return False

    async def commit(self, offsets: Mapping[TP, int]) -> bool:
        ok: bool = await self._call(self._commit_now, offsets)
        return ok

    def assignment(self) -> set[TP]:
        return set(self._assigned)

    def _lag_now(self, done: Mapping[TP, int]) -> dict[TP, int]:
        c = self._consumer
        assert c is not None
        out: dict[TP, int] = {}
        unknown = []
        for tp in self._assigned:
            _low, high = c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), cached=True)
            if high < 0:
                continue
            if tp in done:
                out[tp] = max(0, high - done[tp])
            else:
                unknown.append((tp, high))
        if unknown:
            positions = c.position([TopicPartition(tp.topic, tp.partition) for tp, _ in unknown])
            for (tp, high), p in zip(unknown, positions, strict=True):
                if p.offset >= 0:
                    out[tp] = max(0, high - p.offset)
        return out

    async def lag(self, done: Mapping[TP, int]) -> dict[TP, int]:
        result: dict[TP, int] = await self._call(self._lag_now, done)
        return result

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._call(self._consumer.close)  # leaves the group; revoke commits what is done
            self._consumer = None
        self._thread.shutdown(wait=True)
