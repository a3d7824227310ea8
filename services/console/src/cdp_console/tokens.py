"""API tokens: ``cdp_<id>_<secret>``; only a SHA-256 of the token is stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

SCOPES = ("read", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scope: str

    def can(self, scope: str) -> bool:
        return self.scope == "admin" or scope == "read"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(pool: asyncpg.Pool, name: str, scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    tid = secrets.token_hex(4)
    token = f"cdp_{tid}_{secrets.token_urlsafe(24)}"
    await pool.execute(
        "INSERT INTO api_tokens (id, name, token_hash, scope) VALUES ($1, $2, $3, $4)", tid, name, digest(token), scope
    )
    return token


async def lookup(pool: asyncpg.Pool, token: str) -> Principal | None:
    row = await pool.fetchrow(
        "SELECT name, scope FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL", digest(token)
    )
    return Principal(row["name"], row["scope"]) if row else None


async def revoke(pool: asyncpg.Pool, token_id: str) -> bool:
    result: str = await pool.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", token_id)
    return result.endswith(" 1")
