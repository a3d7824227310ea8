"""Publishing to Kafka with an answer: every record acknowledged by the broker, or an error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextlib import suppress

from cdp_collector.logic.ingest import Hit
from cdp_common.stream.client import DeliveryError, Producer
from cdp_common.stream.types import Emit

logger = logging.getLogger(__name__)


class PublishError(Exception):
    """The broker did not acknowledge in time, or refused."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class Publisher:
    """Wraps one producer of the client seam (acks=all, idempotent). Starting is retried
    in the background so the process comes up and answers 503 while Kafka is away."""

    def __init__(self, producer: Producer, *, timeout_s: float) -> None:
        self._producer = producer
        self._timeout_s = timeout_s
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect(), name="producer-connect")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._producer.start()
                self._ready.set()
                logger.info("producer connected")
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.warning("kafka not reachable yet (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        if self._task and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self.ready:
            await self._producer.stop()  # flushes what is pending

    async def publish(self, topic: str, hits: Sequence[Hit]) -> float:
        """Send every hit and wait for all acknowledgements; returns the seconds it took.
        Raises ``PublishError`` when not connected, on a broker error, or after the timeout."""
        if not self.ready:
            raise PublishError("not_connected")
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._producer.deliver([Emit(topic, h.key, h.value) for h in hits])
        except TimeoutError as e:
            raise PublishError("timeout") from e
        except DeliveryError as e:
            logger.warning("publish failed: %s", e)
            raise PublishError("refused") from e
        return time.perf_counter() - t0
