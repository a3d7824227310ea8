"""An in-memory view of the sources table, refreshed in the background.

The hot path never queries Postgres: it looks write keys and origins up here. A refresh
every ``CDP_COLLECTOR_SOURCES_REFRESH_S`` (at most 10 s) picks up new, rotated and removed
keys; when Postgres is unreachable the last good view stays in use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from cdp_common.sources import Source

logger = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[list[Source]]]


class SourceCache:
    def __init__(self, loader: Loader, *, refresh_s: float) -> None:
        self._loader = loader
        self._refresh_s = refresh_s
        self._by_key: dict[str, Source] = {}
        self._all_origins: frozenset[str] = frozenset()
        self._loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def by_write_key(self, key: str) -> Source | None:
        return self._by_key.get(key)

    def origin_known(self, origin: str) -> bool:
        """Whether any source allows this origin (for CORS preflights, which carry no key)."""
        return origin in self._all_origins or "*" in self._all_origins

    def replace(self, sources: list[Source]) -> None:
        enabled = [s for s in sources if s.enabled]
        self._by_key = {s.write_key: s for s in enabled}
        self._all_origins = frozenset(o for s in enabled for o in s.origins)
        self._loaded.set()

    async def refresh(self) -> None:
        self.replace(await self._loader())

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.refresh()
                delay = self._refresh_s
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # keep serving the last good view; retry sooner while nothing is loaded
                logger.warning("could not refresh sources: %s", e)
                delay = min(self._refresh_s, 1.0) if not self.loaded else self._refresh_s
            await asyncio.sleep(delay)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sources-refresh")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
