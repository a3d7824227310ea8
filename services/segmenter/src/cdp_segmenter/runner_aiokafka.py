"""A plain aiokafka runner with manual commits (same processing as the faust runner).

Loop: ``getmany`` a batch, apply it (one Postgres transaction + one Redis pipeline), send
its segment changes, leads and rejections, await every acknowledgement, delete the sent
outbox rows; only then may the batch's offsets be committed (at most once a second). A
crash anywhere before the commit replays the batch; its messageIds are already claimed,
so the replay changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from contextlib import suppress

import uvloop
from aiokafka import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from cdp_common.kafka import make_consumer, make_producer
from cdp_segmenter.service import Record, SegmenterService, Send

logger = logging.getLogger(__name__)
COMMIT_INTERVAL_S = 1.0


async def _run(service: SegmenterService) -> int:
    s = service.settings
    consumer = make_consumer(
        service.common,
        group_id=s.group_id,
        client_id="cdp-segmenter",
        auto_offset_reset=s.auto_offset_reset,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    producer = make_producer(service.common, client_id="cdp-segmenter", linger_ms=5)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def publish(sends: list[Send]) -> None:
        futures = [await producer.send(x.topic, x.value, key=x.key) for x in sends]
        await asyncio.gather(*futures)

    service.serve_metrics()
    await producer.start()
    await service.start(publish)
    maintenance = asyncio.create_task(service.maintain_forever())
    await consumer.start()
    logger.info("segmenter (aiokafka runner) consuming %s as %s", s.input_topic, s.group_id)
    pending: dict[TopicPartition, OffsetAndMetadata] = {}
    last_commit = time.monotonic()

    async def commit() -> None:
        nonlocal last_commit
        last_commit = time.monotonic()
        owned = consumer.assignment()
        offsets = {tp: om for tp, om in pending.items() if tp in owned}
        pending.clear()
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as e:
            logger.warning("commit refused after a rebalance (%s); those records will be re-read", e)

    class OnRebalance(ConsumerRebalanceListener):
        """Partitions leaving: commit what is done on them first (it is all durable: a
        rebalance happens inside ``getmany``, between batches), so the next owner
        re-reads nothing."""

        async def on_partitions_revoked(self, revoked: object) -> None:
            await commit()

        async def on_partitions_assigned(self, assigned: object) -> None:
            pass

    consumer.subscribe([s.input_topic], listener=OnRebalance())

    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=int(s.batch_within_s * 1000), max_records=s.batch_size)
            if not batches:
                continue
            records = [
                Record(r.value, r.topic, r.partition, r.offset, r.timestamp) for rs in batches.values() for r in rs
            ]
            step = await service.process(records)
            await publish(step.sends)
            await service.published(step)
            pending.update(
                {
                    TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(rs[-1].offset + 1, "")
                    for tp, rs in batches.items()
                }
            )
            # Committing is only about how much a restart re-reads (a replay is a no-op), so
            # once a second is enough; a round trip per batch would be pure latency.
            if time.monotonic() - last_commit >= COMMIT_INTERVAL_S:
                await commit()
        await commit()
        return 0
    finally:
        maintenance.cancel()
        with suppress(asyncio.CancelledError):
            await maintenance
        await consumer.stop()
        await producer.stop()
        await service.stop()


def run(service: SegmenterService) -> None:
    sys.exit(uvloop.run(_run(service)))
