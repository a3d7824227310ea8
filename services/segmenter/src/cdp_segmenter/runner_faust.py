"""The faust-streaming runner (the default).

The agent takes a batch (``stream.take_events``), applies it (one Postgres transaction +
one Redis pipeline), sends its segment changes, leads and rejections and awaits every
acknowledgement before it asks for the next batch. faust acks a batch's events only when
the next batch is requested and commits only acked offsets, so a committed offset never
points past a record whose effects are not durable. A replay after a crash changes nothing:
the batch's messageIds were claimed in the same transaction as its profile changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust

from cdp_common.kafka import faust_broker_url
from cdp_segmenter.service import Record, SegmenterService, Send

logger = logging.getLogger(__name__)


def create_app(service: SegmenterService) -> faust.App:
    settings = service.settings
    app = faust.App(
        settings.group_id,
        broker=faust_broker_url(service.common.kafka_bootstrap),
        web_enabled=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset=settings.auto_offset_reset,
        broker_commit_interval=1.0,
        # a crashed member's partitions move after 10 s, not faust's default 60
        broker_session_timeout=10.0,
        producer_acks=-1,
        producer_linger_ms=5,
        stream_buffer_maxsize=max(4096, settings.batch_size * 2),
        consumer_max_fetch_size=4 * 1024 * 1024,
        key_serializer="raw",
        value_serializer="raw",
    )
    enriched = app.topic(settings.input_topic, key_type=bytes, value_type=bytes)

    async def publish(sends: list[Send]) -> None:
        futures = [await app.producer.send(s.topic, s.key, s.value, None, None, None) for s in sends]
        await asyncio.gather(*futures)

    @app.task
    async def maintain() -> None:
        service.serve_metrics()
        await service.start(publish)
        await service.maintain_forever()

    @app.agent(enriched)
    async def segment(stream: Any) -> None:
        await service.ready.wait()
        async for events in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            records = [
                Record(
                    e.message.value,
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                    int(e.message.timestamp * 1000) if e.message.timestamp else None,
                )
                for e in events
            ]
            step = await service.process(records)
            await publish(step.sends)  # durable before faust may commit these offsets
            await service.published(step)

    return app


def run(service: SegmenterService) -> None:
    app = create_app(service)
    level = service.common.log_level.lower()
    worker = faust.Worker(app, loglevel="warn" if level == "warning" else level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
