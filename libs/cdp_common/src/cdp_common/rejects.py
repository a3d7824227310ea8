"""Rejected records made visible and re-sendable: ``cdp rejects list|show|resend``.

Every stage's refusals are on ``cdp.hits.rejected`` (reason, message, stage, source, the
original bytes and their coordinates). This module filters them (pure) and reads a time
window of the topic (I/O, no consumer group: reading never moves anyone's offsets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cdp_common.kafka_access import KafkaAccess
from cdp_common.records import Rejected
from cdp_common.topics import Topic

# where a stage's rejected input came from, so a fixed record can be sent there again
STAGE_INPUT = {
    "enricher": Topic.HITS_RAW.value,
    "segmenter": Topic.HITS_ENRICHED.value,
    "syncer": Topic.LEADS_QUALIFIED.value,
}
_AGO = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(value: str, now: datetime) -> datetime:
    """``30m``, ``2h``, ``7d`` (ago) or an ISO time (``2026-12-02T10:00:00Z``)."""
    m = _AGO.match(value.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise ValueError(f"{value!r}: use 30m, 2h, 7d or an ISO time") from e
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    stage: str | None = None
    reason: str | None = None
    source_id: str | None = None

    def match(self, r: Rejected) -> bool:
        return (
            (self.stage is None or r.stage == self.stage)
            and (self.reason is None or r.reason == self.reason)
            and (self.source_id is None or r.source_id == self.source_id)
        )


@dataclass(frozen=True, slots=True)
class Found:
    partition: int
    offset: int
    record: Rejected

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"


def parse_rejected(value: bytes | None) -> Rejected | None:
    try:
        return Rejected.model_validate_json(value or b"")
    except ValueError:
        return None


def summary(found: Iterable[Found]) -> dict[tuple[str, str], int]:
    """Counts by (stage, reason)."""
    out: dict[tuple[str, str], int] = {}
    for f in found:
        key = (f.record.stage, f.record.reason)
        out[key] = out.get(key, 0) + 1
    return out


async def read(
    kafka: KafkaAccess,
    *,
    since: datetime,
    until: datetime,
    filters: Filters,
    limit: int,
    topic: str = Topic.HITS_REJECTED.value,
) -> list[Found]:
    """The matching rejected records written in [since, until), oldest first per partition,
    at most ``limit``; read up to the topic's end as it was when reading began."""
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        partitions = await partitions_of(kafka, topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        todo = {}
        for tp in tps:
            start = starts.get(tp)
            if start is None or start.offset >= ends[tp]:
                continue
            consumer.seek(tp, start.offset)
            todo[tp] = ends[tp]
        until_ms = int(until.timestamp() * 1000)
        out: list[Found] = []
        while todo and len(out) < limit:
            batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=500)
            if not batches:
                break
            for tp, records in batches.items():
                for rec in records:
                    if rec.offset >= todo.get(tp, 0) or rec.timestamp >= until_ms:
                        todo.pop(tp, None)
                        break
                    r = parse_rejected(rec.value)
                    if r is not None and filters.match(r):
                        out.append(Found(tp.partition, rec.offset, r))
                if tp in todo and await consumer.position(tp) >= todo[tp]:
                    todo.pop(tp)
        out.sort(key=lambda f: (f.record.rejected_at, f.partition, f.offset))
        return out[:limit]
    finally:
        await consumer.stop()


async def partitions_of(kafka: KafkaAccess, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted({p["partition"] for d in described for p in d["partitions"]})


async def fetch_one(
    kafka: KafkaAccess, partition: int, offset: int, topic: str = Topic.HITS_REJECTED.value
) -> Rejected:
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        got = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        for rec in got.get(tp, []):
            r = parse_rejected(rec.value)
            if r is not None and rec.offset == offset:
                return r
        raise LookupError(f"no rejected record at {partition}:{offset}")
    finally:
        await consumer.stop()


def resendable(found: Iterable[Found]) -> tuple[list[Found], dict[str, int]]:
    """Those whose original is a record of a stage's input (enricher, segmenter, syncer),
    and the count of the others by stage (the collector's are query strings, not records)."""
    ok: list[Found] = []
    skipped: dict[str, int] = {}
    for f in found:
        if f.record.stage in STAGE_INPUT:
            ok.append(f)
        else:
            skipped[f.record.stage] = skipped.get(f.record.stage, 0) + 1
    return ok, skipped


def _key_of(original: bytes) -> bytes | None:
    """The input record's partition key: the anonymous id (else user id) of a hit, the
    profile id of a lead."""
    try:
        doc: Any = orjson.loads(original)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    if isinstance(doc.get("profileId"), str):
        return str(doc["profileId"]).encode()
    ev = doc.get("event")
    if not isinstance(ev, dict):
        return None
    key = ev.get("anonymousId") or ev.get("userId")
    return str(key).encode() if key else None


async def resend(kafka: KafkaAccess, found: Iterable[Found]) -> dict[str, int]:
    """Each original back to its stage's input topic (same bytes, same messageId: what was
    already applied is de-duplicated downstream); counts by topic."""
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    counts: dict[str, int] = {}
    try:
        futures = []
        for f in found:
            topic = STAGE_INPUT[f.record.stage]
            original = f.record.original_bytes()
            futures.append(await producer.send(topic, original, key=_key_of(original)))
            counts[topic] = counts.get(topic, 0) + 1
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    return counts
