"""The client seam over aiokafka (pure-Python protocol, asyncio native)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from cdp_common.partitioner import CachedDefaultPartitioner
from cdp_common.stream.client import ConsumerConfig, DeliveryError, OnAssign, OnRevoke, ProducerConfig
from cdp_common.stream.types import TP, Emit, Record

logger = logging.getLogger(__name__)


class AioProducer:
    def __init__(self, config: ProducerConfig) -> None:
        self._producer = AIOKafkaProducer(
            **config.kafka.aiokafka(),
            client_id=config.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=config.linger_ms,
            max_batch_size=256 * 1024,
            partitioner=CachedDefaultPartitioner(),
            request_timeout_ms=int(config.request_timeout_s * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def deliver(self, emits: Sequence[Emit]) -> None:
        if not emits:
            return
        p = self._producer
        try:
            futures = [await p.send(e.topic, e.value, key=e.key, headers=list(e.headers) or None) for e in emits]
            await asyncio.gather(*futures)
        except KafkaError as e:
            raise DeliveryError(f"{type(e).__name__}: {e}") from e

    async def stop(self) -> None:
        await self._producer.stop()


class AioConsumer:
    def __init__(self, config: ConsumerConfig) -> None:
        self._config = config
        self._consumer = AIOKafkaConsumer(
            **config.kafka.aiokafka(),
            group_id=config.group_id,
            client_id=config.client_id,
            enable_auto_commit=False,
            auto_offset_reset=config.auto_offset_reset,
            isolation_level="read_committed" if config.read_committed else "read_uncommitted",
            session_timeout_ms=int(config.session_timeout_s * 1000),
            heartbeat_interval_ms=max(1000, int(config.session_timeout_s * 1000) // 3),
            max_poll_interval_ms=int(config.max_poll_interval_s * 1000),
            max_partition_fetch_bytes=config.max_partition_fetch_bytes,
            fetch_min_bytes=config.fetch_min_bytes,
            fetch_max_wait_ms=config.fetch_max_wait_ms,
            fetch_max_bytes=16 * 1024 * 1024,
        )

    async def start(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None:
        await self._consumer.start()
        consumer = self

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked: Any) -> None:
                offsets = on_revoke({TP(tp.topic, tp.partition) for tp in revoked})
                if offsets:
                    await consumer.commit(offsets)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                on_assign({TP(tp.topic, tp.partition) for tp in assigned})

        self._consumer.subscribe(list(self._config.topics), listener=Listener())

    async def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        out: list[Record] = []
        for records in batches.values():
            out.extend(
                Record(r.value, r.key, r.topic, r.partition, r.offset, r.timestamp, tuple(r.headers or ()))
                for r in records
            )
        return out

    async def commit(self, offsets: Mapping[TP, int]) -> bool:
        owned = self._consumer.assignment()
        mine = {
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(off, "")
            for tp, off in offsets.items()
            if TopicPartition(tp.topic, tp.partition) in owned
        }
        if not mine:
            return True
        try:
            await self._consumer.commit(mine)
            return True
        except (CommitFailedError, IllegalStateError) as e:
            logger.warning("commit refused after a rebalance (%s); those records will be re-read", e)
            return False

    def assignment(self) -> set[TP]:
        return {TP(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def lag(self, done: Mapping[TP, int]) -> dict[TP, int]:
        out: dict[TP, int] = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            key = TP(tp.topic, tp.partition)
            pos = done.get(key)
            if pos is None:
                committed = await self._consumer.committed(tp)
                pos = committed if committed is not None else await self._consumer.position(tp)
            out[key] = max(0, high - pos)
        return out

    async def stop(self) -> None:
        await self._consumer.stop()
