"""Replay: put a time or offset range of a stage's input back on that input, marked with
the ``cdp-replay`` header, so the running stage processes it again with the rules it has
now (``cdp replay``).

Each record goes back to the partition it came from with its key, value and headers, so a
person's events keep their order and their owner. Nothing is counted twice downstream: the
segmenter applies a replayed event it applied before as a correction of what enrichment
decided (traits, touchpoint campaign, device), and one it never applied (blocked then, for
example) once. Events older than the segmenter's dedup window are never put back: it no
longer remembers them, and would count them again.

The planning (spans, parsing, what to say) is pure; ``spans_for_times``, ``clip``,
``read_spans`` and ``copy`` are the Kafka I/O. Reading uses no consumer group and moves nobody's offsets.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from cdp_common.kafka_access import KafkaAccess
from cdp_common.rejects import partitions_of
from cdp_common.topics import REPLAY_HEADER, Topic

STAGE_INPUT = {"enricher": Topic.HITS_RAW.value, "segmenter": Topic.HITS_ENRICHED.value}
_OFFSETS = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*-\s*(\d+)\s*$")
_FLUSH_EVERY = 2000


@dataclass(frozen=True, slots=True)
class Span:
    """Offsets ``start`` up to (not including) ``end`` of one partition."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)

    def __str__(self) -> str:
        return f"partition {self.partition}: offsets {self.start}..{self.end - 1}"


@dataclass(slots=True)
class Copied:
    sent: int = 0
    other_source: int = 0  # not the chosen source: left alone
    too_old: int = 0  # older than the dedup window: left alone
    tombstones: int = 0
    by_partition: dict[int, int] = field(default_factory=dict)


def new_replay_id(now: datetime) -> str:
    return f"rpl-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def parse_offsets(values: Iterable[str]) -> list[Span]:
    """``P:FROM-TO`` (both inclusive), e.g. ``0:1200-1500``; one per partition."""
    spans: dict[int, Span] = {}
    for v in values:
        m = _OFFSETS.match(v)
        if not m:
            raise ValueError(f"{v!r}: give PARTITION:FROM-TO, e.g. 0:1200-1500")
        p, a, b = (int(x) for x in m.groups())
        if b < a:
            raise ValueError(f"{v!r}: the range ends before it starts")
        if p in spans:
            raise ValueError(f"partition {p} is given twice")
        spans[p] = Span(p, a, b + 1)
    return sorted(spans.values(), key=lambda s: s.partition)


def clip_spans(spans: Iterable[Span], bounds: dict[int, tuple[int, int]]) -> list[Span]:
    """To what each partition still holds (``bounds``: partition -> (first, end)); a
    partition the topic does not have, or an empty result, is left out."""
    out = []
    for s in spans:
        if s.partition not in bounds:
            continue
        first, end = bounds[s.partition]
        c = Span(s.partition, max(s.start, first), min(s.end, end))
        if c.size:
            out.append(c)
    return out


def plan_text(stage: str, topic: str, spans: list[Span], replay_id: str, window_hours: float) -> str:
    total = sum(s.size for s in spans)
    lines = [
        f"replay {replay_id}: will put back up to {total:,} record(s) of {topic} for the {stage} "
        f"to process again with its current rules:",
        *(f"  {s} ({s.size:,})" for s in spans),
        "events the segmenter applied before are corrected (implicit traits, touchpoint campaign, device), "
        "never counted again; events it never applied are applied once;",
        f"records older than the segmenter's dedup window ({window_hours:g} h) are skipped.",
    ]
    return "\n".join(lines)


def _source_of(value: bytes) -> str | None:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return doc.get("sourceId") if isinstance(doc, dict) and isinstance(doc.get("sourceId"), str) else None


def marked(headers: Iterable[tuple[str, bytes]], replay_id: str) -> list[tuple[str, bytes]]:
    """The record's headers with this replay's mark (an earlier replay's mark replaced)."""
    return [*(h for h in headers if h[0] != REPLAY_HEADER), (REPLAY_HEADER, replay_id.encode())]


# ---- Kafka I/O --------------------------------------------------------------------------


async def _bounds(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[int, tuple[int, int]]:
    firsts = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    return {tp.partition: (firsts[tp], ends[tp]) for tp in tps}


async def spans_for_times(kafka: KafkaAccess, topic: str, since: datetime, until: datetime) -> list[Span]:
    """The offsets of the records written in [since, until), per partition, as the topic
    is now (what arrives later, replayed copies included, is not part of it)."""
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
        bounds = await _bounds(consumer, tps)
        starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        stops = await consumer.offsets_for_times({tp: int(until.timestamp() * 1000) for tp in tps})
        spans = []
        for tp in tps:
            first, end = bounds[tp.partition]
            start = starts.get(tp)
            stop = stops.get(tp)
            a = start.offset if start is not None else end
            b = stop.offset if stop is not None else end
            spans.append(Span(tp.partition, max(a, first), b))
        return [s for s in spans if s.size]
    finally:
        await consumer.stop()


async def clip(kafka: KafkaAccess, topic: str, spans: list[Span]) -> list[Span]:
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
        return clip_spans(spans, await _bounds(consumer, tps))
    finally:
        await consumer.stop()


async def read_spans(kafka: KafkaAccess, topic: str, spans: list[Span]) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """Every record of the spans, partition by partition in offset order (no consumer
    group: nobody's offsets move)."""
    if not spans:
        return
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        todo = {TopicPartition(topic, s.partition): s for s in spans}
        consumer.assign(list(todo))
        for tp, s in todo.items():
            consumer.seek(tp, s.start)
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=1000)
            for tp, records in batches.items():
                span = todo.get(tp)
                if span is None:
                    continue
                for rec in records:
                    if rec.offset >= span.end:
                        todo.pop(tp, None)
                        break
                    yield rec
            for tp, span in list(todo.items()):  # done, also when the span ends in a gap
                if await consumer.position(tp) >= span.end:
                    todo.pop(tp)
    finally:
        await consumer.stop()


async def copy(
    kafka: KafkaAccess,
    topic: str,
    spans: list[Span],
    replay_id: str,
    *,
    source_id: str | None = None,
    not_before: datetime | None = None,
) -> Copied:
    """Put the spans' records back on ``topic``, each on its own partition with its key,
    value and headers plus the replay mark; waits until the broker has them all."""
    done = Copied()
    if not spans:
        return done
    not_before_ms = int(not_before.timestamp() * 1000) if not_before else None
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True, linger_ms=20)
    await producer.start()
    try:
        pending = []
        async for rec in read_spans(kafka, topic, spans):
            if rec.value is None:
                done.tombstones += 1
                continue
            if not_before_ms is not None and rec.timestamp < not_before_ms:
                done.too_old += 1
                continue
            if source_id is not None and _source_of(rec.value) != source_id:
                done.other_source += 1
                continue
            pending.append(
                await producer.send(
                    topic, rec.value, key=rec.key, partition=rec.partition, headers=marked(rec.headers or (), replay_id)
                )
            )
            done.sent += 1
            done.by_partition[rec.partition] = done.by_partition.get(rec.partition, 0) + 1
            if len(pending) >= _FLUSH_EVERY:
                for fut in pending:
                    await fut
                pending.clear()
        for fut in pending:
            await fut
        return done
    finally:
        await producer.stop()
