"""Sources (sites and apps sending events): model and Postgres store."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import asyncpg

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    name: str
    write_key: str
    origins: tuple[str, ...] = ()
    internal_domains: tuple[str, ...] = ()
    enabled: bool = True
    created_at: datetime | None = field(default=None, compare=False)


def new_write_key() -> str:
    return secrets.token_urlsafe(24)


def new_source_id() -> str:
    return "src_" + secrets.token_hex(8)


def normalize_origin(origin: str) -> str:
    """``https://Example.com/path`` -> ``https://example.com``; ``*`` stays ``*``.
    Raises ``ValueError`` on anything that is not an http(s) origin."""
    origin = origin.strip()
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"origin {origin!r} must look like https://www.example.com")
    host = parts.hostname.lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"source name {name!r}: 1-100 letters, digits, space, dot, dash or underscore")
    return name


def _row(r: asyncpg.Record) -> Source:
    return Source(
        id=r["id"],
        name=r["name"],
        write_key=r["write_key"],
        origins=tuple(r["origins"]),
        internal_domains=tuple(r["internal_domains"]),
        enabled=r["enabled"],
        created_at=r["created_at"],
    )


class SourceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_all(self) -> list[Source]:
        rows = await self._pool.fetch("SELECT * FROM sources ORDER BY name")
        return [_row(r) for r in rows]

    async def get(self, name: str) -> Source | None:
        r = await self._pool.fetchrow("SELECT * FROM sources WHERE name = $1", name)
        return _row(r) if r else None

    async def add(
        self,
        name: str,
        *,
        write_key: str | None = None,
        origins: list[str] | None = None,
        internal_domains: list[str] | None = None,
    ) -> Source:
        validate_name(name)
        key = write_key or new_write_key()
        if len(key) < 16:
            raise ValueError("a write key must have at least 16 characters")
        norm = sorted({normalize_origin(o) for o in (origins or [])})
        domains = sorted({d.strip().lower() for d in internal_domains or [] if d.strip()})
        try:
            r = await self._pool.fetchrow(
                "INSERT INTO sources (id, name, write_key, origins, internal_domains) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING *",
                new_source_id(),
                name,
                key,
                norm,
                domains,
            )
        except asyncpg.UniqueViolationError as e:
            raise ValueError(f"a source named {name!r} or with that write key already exists") from e
        assert r is not None
        return _row(r)

    async def ensure(self, name: str, **kwargs: object) -> tuple[Source, bool]:
        """Return the existing source named ``name`` or add it; the bool says if it was added."""
        existing = await self.get(name)
        if existing:
            return existing, False
        return await self.add(name, **kwargs), True  # type: ignore[arg-type]

    async def rotate(self, name: str) -> Source:
        r = await self._pool.fetchrow(
            "UPDATE sources SET write_key = $2, updated_at = now() WHERE name = $1 RETURNING *",
            name,
            new_write_key(),
        )
        if r is None:
            raise LookupError(f"no source named {name!r}")
        return _row(r)

    async def set_origins(self, name: str, origins: list[str]) -> Source:
        """The browser origins allowed to send with this source's key (``*``: any)."""
        norm = sorted({normalize_origin(o) for o in origins if o.strip()})
        r = await self._pool.fetchrow(
            "UPDATE sources SET origins = $2, updated_at = now() WHERE name = $1 RETURNING *", name, norm
        )
        if r is None:
            raise LookupError(f"no source named {name!r}")
        return _row(r)

    async def set_enabled(self, name: str, enabled: bool) -> Source:
        """Revoke (the collector refuses its key within its refresh interval) or restore."""
        r = await self._pool.fetchrow(
            "UPDATE sources SET enabled = $2, updated_at = now() WHERE name = $1 RETURNING *", name, enabled
        )
        if r is None:
            raise LookupError(f"no source named {name!r}")
        return _row(r)
