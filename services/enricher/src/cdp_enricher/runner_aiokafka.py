"""A plain aiokafka runner with manual commits: the same enrichment without faust.

Loop: ``getmany`` a batch, enrich, send, await every acknowledgement, then commit the
batch's offsets. Nothing is in flight across a rebalance (the next ``getmany`` is where
the group may rebalance), so a commit never covers unsent output; a commit refused after
a rebalance only means the new owner re-reads those records (at least once).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from contextlib import suppress

import uvloop
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from cdp_common.kafka import make_consumer, make_producer
from cdp_enricher.pipeline import Origin
from cdp_enricher.service import EnricherService, RejectionLimitExceeded

logger = logging.getLogger(__name__)


async def _run(service: EnricherService) -> int:
    s = service.settings
    consumer = make_consumer(
        service.common,
        s.input_topic,
        group_id=s.group_id,
        client_id="cdp-enricher",
        auto_offset_reset=s.auto_offset_reset,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
        isolation_level="read_uncommitted",
    )
    producer = make_producer(service.common, client_id="cdp-enricher", linger_ms=5)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service.serve_metrics()
    refresher = asyncio.create_task(service.refresh_rules_forever())
    await service.rules_loaded.wait()
    await producer.start()
    await consumer.start()
    logger.info("enricher (aiokafka runner) consuming %s as %s", s.input_topic, s.group_id)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=int(s.batch_within_s * 1000), max_records=s.batch_size)
            if not batches:
                continue
            records = [
                (r.value, Origin(r.topic, r.partition, r.offset)) for rs in batches.values() for r in rs if r.value
            ]
            try:
                sends = service.process(records)
            except RejectionLimitExceeded as exc:
                logger.critical("%s", exc)
                return 3
            futures = [await producer.send(x.topic, x.value, key=x.key) for x in sends]
            await asyncio.gather(*futures)
            offsets = {
                TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(rs[-1].offset + 1, "")
                for tp, rs in batches.items()
            }
            try:
                await consumer.commit(offsets)
            except CommitFailedError as e:
                logger.warning("commit refused after a rebalance (%s); those records will be re-read", e)
        return 0
    finally:
        refresher.cancel()
        with suppress(asyncio.CancelledError):
            await refresher
        await consumer.stop()
        await producer.stop()


def run(service: EnricherService) -> None:
    sys.exit(uvloop.run(_run(service)))
