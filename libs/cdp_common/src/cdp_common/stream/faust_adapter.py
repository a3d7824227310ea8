"""Runs a processor under faust-streaming instead of the engine: the same processor code,
the same runtime (retries, rejects, metrics, health); faust owns the consumer group.

The agent takes a batch (``stream.take_events``), the runtime finishes it (output
acknowledged) before the agent asks for the next one; faust acks a batch's events only
when the next batch is requested and commits only acked offsets, so a committed offset
never points past unfinished work. Not reported here: per-partition lag (faust keeps its
own consumer); use the group's lag from Kafka."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from cdp_common.kafka_access import KafkaAccess
from cdp_common.stream.http import Health, OpsServer
from cdp_common.stream.runtime import Abandoned, StageRuntime
from cdp_common.stream.types import Emit, Fatal, Processor, Record

logger = logging.getLogger(__name__)


def faust_broker_url(bootstrap: str) -> str:
    """``host:port,host:port`` as faust's broker setting."""
    return ";".join(f"kafka://{b.strip()}" for b in bootstrap.split(","))


def faust_credentials(kafka: KafkaAccess) -> faust.types.auth.CredentialsT | None:
    """The cluster's TLS and SASL as faust's ``broker_credentials`` (faust hands them to
    its aiokafka consumer and producer)."""
    if kafka.sasl:
        return faust.SASLCredentials(
            username=kafka.username,
            password=kafka.password,
            mechanism=kafka.sasl_mechanism,
            ssl_context=kafka.ssl_context() if kafka.tls else None,
        )
    if kafka.tls:
        return faust.SSLCredentials(kafka.ssl_context())
    return None


def create_app(
    processor: Processor,
    *,
    kafka: KafkaAccess,
    group_id: str,
    topics: tuple[str, ...],
    batch_size: int,
    batch_within_s: float,
    auto_offset_reset: str,
    registry: CollectorRegistry,
    metrics_port: int | None,
    metrics_host: str = "127.0.0.1",
) -> faust.App:
    health = Health()
    runtime = StageRuntime(processor, registry, health)
    ops = OpsServer(registry, health, host=metrics_host, port=metrics_port) if metrics_port else None
    datadir = Path(tempfile.gettempdir()) / "cdp-faust"
    datadir.mkdir(exist_ok=True)
    app = faust.App(
        group_id,
        broker=faust_broker_url(kafka.bootstrap),
        broker_credentials=faust_credentials(kafka),
        web_enabled=False,
        # faust keeps a data directory per app even without tables: not in the working directory
        datadir=str(datadir / "{conf.name}-data"),
        topic_disable_leader=True,
        consumer_auto_offset_reset=auto_offset_reset,
        broker_commit_interval=1.0,
        broker_session_timeout=6.0,  # a crashed member's partitions move after 6 s, not 60
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_batch_size=256 * 1024,
        stream_buffer_maxsize=max(4096, batch_size * 2),
        consumer_max_fetch_size=4 * 1024 * 1024,
        key_serializer="raw",
        value_serializer="raw",
    )
    source = app.topic(*topics, key_type=bytes, value_type=bytes)
    started = asyncio.Event()

    async def deliver(emits: Sequence[Emit]) -> None:
        futures = [await app.producer.send(e.topic, e.key, e.value, None, None, list(e.headers) or None) for e in emits]
        await asyncio.gather(*futures)

    @app.task
    async def start() -> None:
        if ops:
            await ops.start()
        await runtime.start(deliver)
        health.set("ok")
        started.set()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust types the signal loosely
    async def _stopping(app: faust.App, *args: Any, **kwargs: Any) -> None:
        runtime.stopping = True  # a batch still failing is abandoned (uncommitted), not retried
        health.set("stopping")
        await processor.stop()
        if ops:
            await ops.stop()

    @app.agent(source)
    async def process(stream: Any) -> None:
        await started.wait()
        async for events in stream.take_events(batch_size, within=batch_within_s):
            batch = [
                Record(
                    e.message.value,
                    e.message.key,
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                    int(e.message.timestamp * 1000) if e.message.timestamp else None,
                    tuple(e.message.headers or ()),
                )
                for e in events
            ]
            try:
                await runtime.handle(batch)
            except Fatal as exc:
                logger.critical("%s: %s", processor.stage, exc)
                await app.crash(exc)
                return
            except Abandoned as exc:
                logger.warning("%s: %s", processor.stage, exc)
                return

    return app


def run(app: faust.App, *, log_level: str) -> None:
    level = log_level.lower()
    worker = faust.Worker(app, loglevel="warn" if level == "warning" else level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
