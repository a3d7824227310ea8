"""The faust-streaming runner (the default).

The agent takes a batch (``stream.take_events``), enriches it, sends the enriched and
rejected records and awaits every acknowledgement before it asks for the next batch.
faust acks a batch's events only when the next batch is requested, and commits only acked
offsets, so a committed offset never points past a record whose output is not in Kafka.
A crash replays at most the uncommitted tail (at least once; the segmenter de-duplicates
on messageId).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from cdp_common.kafka import faust_broker_url
from cdp_enricher.pipeline import Origin
from cdp_enricher.service import EnricherService, RejectionLimitExceeded

logger = logging.getLogger(__name__)


def create_app(service: EnricherService) -> faust.App:
    settings = service.settings
    app = faust.App(
        settings.group_id,
        broker=faust_broker_url(service.common.kafka_bootstrap),
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset=settings.auto_offset_reset,
        broker_commit_interval=1.0,
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        stream_buffer_maxsize=max(4096, settings.batch_size * 2),
        consumer_max_fetch_size=4 * 1024 * 1024,
        key_serializer="raw",
        value_serializer="raw",
    )
    raw = app.topic(settings.input_topic, key_type=bytes, value_type=bytes)

    @app.task
    async def refresh_rules() -> None:
        service.serve_metrics()
        await service.refresh_rules_forever()

    @app.agent(raw)
    async def enrich(stream: Any) -> None:
        await service.rules_loaded.wait()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            records = [
                (e.message.value, Origin(e.message.topic, e.message.partition, e.message.offset)) for e in events
            ]
            try:
                sends = service.process(records)
            except RejectionLimitExceeded as exc:
                logger.critical("%s", exc)
                await app.crash(exc)
                return
            futures = [await app.producer.send(s.topic, s.key, s.value, None, None, None) for s in sends]
            await asyncio.gather(*futures)  # durable before faust may commit these offsets

    return app


def run(service: EnricherService) -> None:
    app = create_app(service)
    level = service.common.log_level.lower()
    worker = faust.Worker(app, loglevel="warn" if level == "warning" else level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
