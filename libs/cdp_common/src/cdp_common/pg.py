"""asyncpg pool factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import orjson

from cdp_common.settings import CommonSettings


async def create_pool(
    settings: CommonSettings,
    *,
    min_size: int = 1,
    max_size: int = 10,
    init: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    server_settings: dict[str, str] | None = None,
) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        settings.pg_dsn.get_secret_value(),
        min_size=min_size,
        max_size=max_size,
        command_timeout=30,
        init=init,
        server_settings=server_settings,
    )
    assert pool is not None
    return pool


async def jsonb_as_python(conn: asyncpg.Connection) -> None:
    """Pool ``init``: jsonb in and out as Python values, in binary (orjson both ways)."""
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=lambda v: b"\x01" + orjson.dumps(v),
        decoder=lambda b: orjson.loads(b[1:]),
        format="binary",
    )
