"""The syncer's consumer loop (aiokafka with manual commits; why not faust: docs/syncer.md).

``getmany`` a batch, deliver every lead to every destination until each has a final
state (this may take long: 429s and outages are waited out, which is the backpressure),
publish failures and await their acknowledgement, then commit the batch's offsets. A crash
anywhere before the commit re-delivers the batch: upserts by email and the webhook's
``webhook-id`` make that harmless, and versions already delivered are skipped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from cdp_common.kafka import make_consumer, make_producer
from cdp_syncer.service import Record, SyncerService

logger = logging.getLogger(__name__)


async def _run(service: SyncerService) -> int:
    s = service.settings
    consumer = make_consumer(
        service.common,
        s.input_topic,
        group_id=s.group_id,
        client_id="cdp-syncer",
        auto_offset_reset=s.auto_offset_reset,
        # a batch may take minutes while a destination is down: stay in the group meanwhile
        max_poll_interval_ms=max(300_000, int(s.max_age_s * 1000) + 60_000),
    )
    producer = make_producer(service.common, client_id="cdp-syncer", linger_ms=5)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service.serve_metrics()
    await service.start()
    await producer.start()
    await consumer.start()
    logger.info(
        "syncer consuming %s as %s, delivering to %s",
        s.input_topic,
        s.group_id,
        ", ".join(d.name for d in service.destinations) or "nothing",
    )
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=int(s.batch_within_s * 1000), max_records=s.batch_size)
            lag = 0
            for tp in consumer.assignment():
                high = consumer.highwater(tp)
                pos = await consumer.position(tp)
                if high is not None:
                    lag += max(0, high - pos)
            service.lag.set(lag)
            if not batches:
                continue
            records = [
                Record(r.value, r.topic, r.partition, r.offset, r.timestamp) for rs in batches.values() for r in rs
            ]
            sends = await service.handle(records)
            futures = [await producer.send(x.topic, x.value, key=x.key) for x in sends]
            await asyncio.gather(*futures)
            offsets = {
                TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(rs[-1].offset + 1, "")
                for tp, rs in batches.items()
            }
            try:
                await consumer.commit(offsets)
            except CommitFailedError as e:
                logger.warning("commit refused after a rebalance (%s); those leads will be re-read", e)
        return 0
    finally:
        await consumer.stop()
        await producer.stop()
        await service.stop()


def run(service: SyncerService) -> None:
    sys.exit(uvloop.run(_run(service)))
