"""What the pages read from Kafka: each stage's consumer-group lag (pipeline health) and
the newest enriched events (the live debugger). Short-lived clients, no consumer group."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cdp_common.kafka_access import KafkaAccess
from cdp_common.rejects import partitions_of

logger = logging.getLogger(__name__)


LAG_TTL_S = 5.0
_lag_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[float, dict[str, int | None]]] = {}


async def recent_lag(kafka: KafkaAccess, groups: dict[str, str]) -> tuple[dict[str, int | None], float]:
    """``lag`` read at most every LAG_TTL_S seconds (connecting to the cluster costs more than
    the rest of the overview), with its age in seconds."""
    key = (kafka.bootstrap, tuple(sorted(groups.items())))
    now = time.monotonic()
    hit = _lag_cache.get(key)
    if hit is None or now - hit[0] > LAG_TTL_S:
        hit = (now, await lag(kafka, groups))
        _lag_cache[key] = hit
    return hit[1], now - hit[0]


async def lag(kafka: KafkaAccess, groups: dict[str, str]) -> dict[str, int | None]:
    """Records each stage's group has not committed yet, by stage (None: could not tell)."""
    out: dict[str, int | None] = {}
    admin = AIOKafkaAdminClient(**kafka.aiokafka(), request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), group_id=None, enable_auto_commit=False, request_timeout_ms=5000)
    try:
        await admin.start()
        await consumer.start()
        for stage, (group, topic) in ((s, g.split("@", 1)) for s, g in groups.items()):
            try:
                committed = await admin.list_consumer_group_offsets(group)
                tps = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
                ends = await consumer.end_offsets(tps)
                out[stage] = sum(
                    max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                    for tp in tps
                )
            except Exception as e:  # one stage's answer missing must not hide the others
                logger.warning("lag of %s unknown (%s)", group, e)
                out[stage] = None
    except Exception as e:
        logger.warning("pipeline lag unknown (%s)", e)
        return {stage: None for stage in groups}
    finally:
        await consumer.stop()
        await admin.close()
    return out


async def newest(kafka: KafkaAccess, topic: str, per_partition: int = 50) -> list[dict[str, Any]]:
    """The newest records of every partition of ``topic``, newest first, parsed as JSON."""
    consumer = AIOKafkaConsumer(**kafka.aiokafka(), group_id=None, enable_auto_commit=False, request_timeout_ms=5000)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        todo = {}
        for tp in tps:
            start = max(begins[tp], ends[tp] - per_partition)
            if start < ends[tp]:
                consumer.seek(tp, start)
                todo[tp] = ends[tp]
        found: list[dict[str, Any]] = []
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000)
            if not batches:
                break
            for tp, records in batches.items():
                for rec in records:
                    try:
                        value = orjson.loads(rec.value) if rec.value else None
                    except orjson.JSONDecodeError:
                        value = None
                    if isinstance(value, dict):
                        found.append({"partition": tp.partition, "offset": rec.offset, "ts": rec.timestamp, **value})
                if await consumer.position(tp) >= todo[tp]:
                    todo.pop(tp, None)
        found.sort(key=lambda r: r["ts"], reverse=True)
        return found
    finally:
        await consumer.stop()
