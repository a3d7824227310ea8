"""One stream engine for every processor (see ``engine.py``), the client seam
(``client.py``), and ``run``: the whole of a processor's ``main``."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry

from cdp_common.settings import CommonSettings
from cdp_common.stream.client import ConsumerConfig, ProducerConfig
from cdp_common.stream.types import Emit, Fatal, Output, Processor, Publish, Record, Reject

__all__ = ["Emit", "Fatal", "Output", "Processor", "Publish", "Record", "Reject", "StreamOptions", "options_of", "run"]

Runner = Literal["engine", "faust"]


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How one processor consumes: its group, input, batching and ops port."""

    group_id: str
    input_topic: str
    batch_size: int
    batch_within_s: float
    auto_offset_reset: str = "earliest"
    metrics_port: int | None = None
    read_committed: bool = True
    max_poll_interval_s: float = 300.0
    runner: Runner = "engine"
    # more topics read by the same group (the syncer's erasure requests beside its leads)
    extra_topics: tuple[str, ...] = ()


class ProcessorSettings(Protocol):
    """What every processor's settings class has (``EnricherSettings``, ``SegmenterSettings``,
    ``SyncerSettings``)."""

    @property
    def group_id(self) -> str: ...
    @property
    def input_topic(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def batch_within_s(self) -> float: ...
    @property
    def auto_offset_reset(self) -> str: ...
    @property
    def metrics_port(self) -> int: ...
    @property
    def runner(self) -> Runner: ...


def options_of(settings: ProcessorSettings, **overrides: Any) -> StreamOptions:
    """A processor's ``StreamOptions`` from its settings (``metrics_port`` 0 disables it)."""
    base: dict[str, Any] = {
        "group_id": settings.group_id,
        "input_topic": settings.input_topic,
        "batch_size": settings.batch_size,
        "batch_within_s": settings.batch_within_s,
        "auto_offset_reset": settings.auto_offset_reset,
        "metrics_port": settings.metrics_port or None,
        "runner": settings.runner,
    }
    return StreamOptions(**{**base, **overrides})


def run(processor: Processor, common: CommonSettings, options: StreamOptions, registry: CollectorRegistry) -> None:
    """Run ``processor`` until SIGTERM (exit 0) or a ``Fatal`` (its exit code)."""
    client_id = f"cdp-{processor.stage}"
    if options.runner == "faust":
        from cdp_common.stream import faust_adapter

        app = faust_adapter.create_app(
            processor,
            kafka=common.kafka_access(),
            group_id=options.group_id,
            topics=(options.input_topic, *options.extra_topics),
            batch_size=options.batch_size,
            batch_within_s=options.batch_within_s,
            auto_offset_reset=options.auto_offset_reset,
            registry=registry,
            metrics_port=options.metrics_port,
            metrics_host=common.metrics_host,
        )
        faust_adapter.run(app, log_level=common.log_level)
        return

    import uvloop

    from cdp_common.stream.engine import Engine, EngineConfig

    config = EngineConfig(
        consumer=ConsumerConfig(
            kafka=common.kafka_access(),
            group_id=options.group_id,
            client_id=client_id,
            topics=(options.input_topic, *options.extra_topics),
            auto_offset_reset=options.auto_offset_reset,
            read_committed=options.read_committed,
            max_poll_interval_s=options.max_poll_interval_s,
        ),
        producer=ProducerConfig(kafka=common.kafka_access(), client_id=client_id),
        client=common.kafka_client,
        batch_size=options.batch_size,
        batch_within_s=options.batch_within_s,
        metrics_port=options.metrics_port,
        metrics_host=common.metrics_host,
    )

    async def main() -> int:
        return await Engine(processor, config, registry=registry).run()

    if common.kafka_access().event_loop(aiokafka=common.kafka_client == "aiokafka") == "asyncio":
        sys.exit(asyncio.run(main()))
    sys.exit(uvloop.run(main()))
