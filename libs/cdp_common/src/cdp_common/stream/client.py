"""The Kafka client seam: the only place the engine and the collector's publisher meet a
Kafka library. Two implementations: librdkafka through confluent-kafka (the default:
measured cheaper per message, see docs/performance.md) and aiokafka.

Semantics both honour:
- ``Producer.deliver(emits)`` sends and returns once the broker acknowledged every one of
  them (acks=all, idempotent); it raises ``DeliveryError`` if any was refused.
- ``Consumer.poll`` returns what is available now (waiting at most ``timeout_s`` for the
  first record); a group rebalance happens only inside ``poll``, between batches.
- On revoke, the consumer asks the engine which offsets are done for the leaving
  partitions and commits them before it lets go (``on_revoke`` returns them).
- The consumer never auto-commits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cdp_common.kafka_access import KafkaAccess
from cdp_common.stream.types import TP, Emit, Record

ClientName = Literal["confluent", "aiokafka"]


class DeliveryError(Exception):
    """The broker refused (or never acknowledged) a record."""


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    kafka: KafkaAccess
    group_id: str
    client_id: str
    topics: tuple[str, ...]
    auto_offset_reset: str = "earliest"
    read_committed: bool = True
    session_timeout_s: float = 6.0  # a crashed member's partitions move after 6 s (the broker's minimum)
    max_poll_interval_s: float = 300.0
    max_partition_fetch_bytes: int = 4 * 1024 * 1024
    # how long the broker may hold a fetch to gather fetch_min_bytes: fewer, fuller fetches
    fetch_min_bytes: int = 1
    fetch_max_wait_ms: int = 500


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    kafka: KafkaAccess
    client_id: str
    linger_ms: int = 5
    request_timeout_s: float = 30.0


OnRevoke = Callable[[set[TP]], Mapping[TP, int]]
"""Partitions are leaving: returns the next offsets to commit for those that are done."""
OnAssign = Callable[[set[TP]], None]


class Producer(Protocol):
    async def start(self) -> None: ...

    async def deliver(self, emits: Sequence[Emit]) -> None: ...

    async def stop(self) -> None: ...


class Consumer(Protocol):
    async def start(self, on_assign: OnAssign, on_revoke: OnRevoke) -> None: ...

    async def poll(self, max_records: int, timeout_s: float) -> list[Record]: ...

    async def commit(self, offsets: Mapping[TP, int]) -> bool: ...

    def assignment(self) -> set[TP]: ...

    async def lag(self, done: Mapping[TP, int]) -> dict[TP, int]: ...

    async def stop(self) -> None: ...


def make_producer(client: ClientName, config: ProducerConfig) -> Producer:
    if client == "confluent":
        from cdp_common.stream.confluent_client import ConfluentProducer

        return ConfluentProducer(config)
    from cdp_common.stream.aiokafka_client import AioProducer

    return AioProducer(config)


def make_consumer(client: ClientName, config: ConsumerConfig) -> Consumer:
    if client == "confluent":
        from cdp_common.stream.confluent_client import ConfluentConsumer

        return ConfluentConsumer(config)
    from cdp_common.stream.aiokafka_client import AioConsumer

    return AioConsumer(config)
