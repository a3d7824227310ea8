"""What flows through the stream engine: records in, outcomes out.

A processor never touches Kafka: it receives a batch of ``Record``s and returns an
``Output`` saying, for every record, whether it emitted (``Emit``), was rejected
(``Reject``: the engine writes it to the stage's rejected topic with the reason, the
original coordinates and the original bytes) or was dropped (counted by reason).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class Record(NamedTuple):
    """One consumed Kafka record."""

    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


class TP(NamedTuple):
    topic: str
    partition: int


class Emit(NamedTuple):
    """A record to produce."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class Reject(NamedTuple):
    """An input record the stage refuses, and why (``reason`` is a short stable code)."""

    record: Record
    reason: str
    message: str
    source_id: str | None = None


@dataclass(slots=True)
class Output:
    """What a processor made of one batch. ``after_durable`` runs once every emit and
    reject is acknowledged by the broker, before the batch's offsets may be committed."""

    emits: list[Emit] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    drops: dict[str, int] = field(default_factory=dict)
    after_durable: Callable[[], Awaitable[None]] | None = None

    def drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + n


class Fatal(Exception):
    """The processor asks the engine to stop (commit what is durable, exit with ``code``):
    e.g. most records are being rejected, which means a bad deploy, not bad data."""

    def __init__(self, message: str, code: int = 3) -> None:
        super().__init__(message)
        self.code = code


Publish = Callable[[Sequence[Emit]], Awaitable[None]]


class Processor(Protocol):
    """A stage's logic, given to the engine (or to the faust adapter).

    ``process`` is called with one batch at a time; any exception other than ``Fatal`` is
    taken as transient (a store outage): the engine retries the same batch with backoff,
    reports itself degraded and commits nothing past it. ``publish`` given to ``start``
    sends background output (e.g. a re-evaluation pass) with the engine's producer."""

    stage: str
    rejected_topic: str

    async def start(self, publish: Publish) -> None: ...

    async def process(self, batch: Sequence[Record]) -> Output: ...

    async def stop(self) -> None: ...
