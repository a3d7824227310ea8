"""A plain aiokafka runner with manual commits: the same enrichment without faust.

Loop: ``getmany`` a batch, enrich, send, await every acknowledgement; only then are the
batch's offsets committable, and they are committed at most once a second (and when
partitions are revoked). Nothing is in flight across a rebalance (the next ``getmany`` is
where the group may rebalance), so a commit never covers unsent output; a crash or a
refused commit only means those records are enriched again (at least once; the segmenter
dedups on messageId).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from contextlib import suppress

import uvloop

from cdp_common.kafka import Committer, make_consumer, make_producer
from cdp_enricher.pipeline import Origin
from cdp_enricher.service import EnricherService, RejectionLimitExceeded

logger = logging.getLogger(__name__)
COMMIT_INTERVAL_S = 1.0


async def _run(service: EnricherService) -> int:
    s = service.settings
    consumer = make_consumer(
        service.common,
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
    committer = Committer(consumer, COMMIT_INTERVAL_S)
    consumer.subscribe([s.input_topic], listener=committer.listener())
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
                await committer.commit()  # what was sent before stays done
                return 3
            futures = [await producer.send(x.topic, x.value, key=x.key) for x in sends]
            await asyncio.gather(*futures)
            committer.done(batches)
            await committer.maybe_commit()
        await committer.commit()
        return 0
    finally:
        refresher.cancel()
        with suppress(asyncio.CancelledError):
            await refresher
        await consumer.stop()
        await producer.stop()


def run(service: EnricherService) -> None:
    sys.exit(uvloop.run(_run(service)))
