"""Produce and consume through the real broker, with committed consumer-group offsets."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.structs import TopicPartition

from cdp_common.kafka import ensure_topics, make_admin, make_consumer, make_producer
from cdp_common.topics import TopicSpec

pytestmark = pytest.mark.integration


async def _fresh_topic(settings, partitions: int = 2) -> str:  # type: ignore[no-untyped-def]
    name = f"test.{uuid.uuid4().hex[:10]}"
    admin = make_admin(settings)
    await admin.start()
    try:
        await ensure_topics(admin, [TopicSpec(name, partitions, 3_600_000)])
    finally:
        await admin.close()
    return name


async def _drain(consumer, want: int) -> list[bytes]:  # type: ignore[no-untyped-def]
    got: list[bytes] = []
    for _ in range(100):
        batches = await consumer.getmany(timeout_ms=200)
        for records in batches.values():
            got.extend(r.value for r in records)
        if len(got) >= want:
            break
    return got


async def test_produce_consume_and_resume_from_committed_offsets(settings) -> None:  # type: ignore[no-untyped-def]
    topic = await _fresh_topic(settings)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    producer = make_producer(settings, client_id="test")
    await producer.start()
    try:
        first = [f"a-{i}".encode() for i in range(50)]
        for i, v in enumerate(first):
            await producer.send(topic, v, key=str(i % 7).encode())
        await producer.flush()

        consumer = make_consumer(settings, topic, group_id=group, client_id="test")
        await consumer.start()
        try:
            got = await _drain(consumer, len(first))
            assert sorted(got) == sorted(first)
            await consumer.commit()
            committed = {tp.partition: await consumer.committed(tp) for tp in consumer.assignment()}
            assert sum(committed.values()) == len(first)
        finally:
            await consumer.stop()

        second = [f"b-{i}".encode() for i in range(20)]
        for i, v in enumerate(second):
            await producer.send(topic, v, key=str(i % 7).encode())
        await producer.flush()
    finally:
        await producer.stop()

    # A new member of the same group resumes after the committed offsets: only the new records.
    consumer = make_consumer(settings, topic, group_id=group, client_id="test")
    await consumer.start()
    try:
        got = await _drain(consumer, len(second))
        extra = await consumer.getmany(timeout_ms=500)
        assert sorted(got) == sorted(second)
        assert not any(extra.values())
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in (0, 1)]
        assert sum(committed) == len(first)  # this member has not committed the new ones yet
    finally:
        await consumer.stop()


async def test_ensure_topics_is_idempotent_and_verifies(settings) -> None:  # type: ignore[no-untyped-def]
    name = f"test.{uuid.uuid4().hex[:10]}"
    spec = TopicSpec(name, 3, 2 * 3_600_000)
    admin = make_admin(settings)
    await admin.start()
    try:
        first = await ensure_topics(admin, [spec])
        assert [r.action for r in first] == ["created"]
        again = await ensure_topics(admin, [spec])
        assert [(r.action, r.partitions) for r in again] == [("ok", 3)]

        wider = TopicSpec(name, 5, 3_600_000)
        check = await ensure_topics(admin, [wider], verify_only=True)
        assert "partitions-differ" in check[0].action and "configs-differ" in check[0].action
        fixed = await ensure_topics(admin, [wider])
        assert "partitions-increased (3 -> 5)" in fixed[0].action
        final = await ensure_topics(admin, [wider], verify_only=True)
        assert [(r.action, r.partitions) for r in final] == [("ok", 5)]
    finally:
        await admin.close()
