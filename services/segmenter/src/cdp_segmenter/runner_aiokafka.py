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
from contextlib import suppress

import uvloop

from cdp_common.kafka import Committer, make_consumer, make_producer
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
    committer = Committer(consumer, COMMIT_INTERVAL_S)
    consumer.subscribe([s.input_topic], listener=committer.listener())

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
            committer.done(batches)  # a replay is a no-op, so once a second is enough
            await committer.maybe_commit()
        await committer.commit()
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
