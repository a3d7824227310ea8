"""Signing in to the console's pages: an API token is exchanged once (a form post, never a
URL) for a session; the browser holds only a random session id in an HttpOnly, SameSite=
Strict cookie, the server a SHA-256 of it. Every request checks the session and that its
token is not revoked. Forms carry the session's CSRF token; a state-changing request from
another site is refused before that (Origin / Sec-Fetch-Site)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
from starlette.requests import Request

from cdp_console import tokens

COOKIE = "cdp_session"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Session:
    name: str  # the token's name: who acts, in the audit log
    scope: str
    csrf: str
    token_id: str

    @property
    def admin(self) -> bool:
        return self.scope == "admin"

    def can(self, scope: str) -> bool:
        return self.admin or scope == "read"

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, sent or "")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def start(pool: asyncpg.Pool, token: str) -> str | None:
    """A new session for a valid token (its id for the cookie), or None."""
    row = await pool.fetchrow(
        "SELECT id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL", tokens.digest(token.strip())
    )
    if row is None:
        return None
    session_id = secrets.token_urlsafe(32)
    await pool.execute(
        "INSERT INTO console_sessions (id_hash, token_id, csrf, expires_at) VALUES ($1, $2, $3, now() + $4)",
        _hash(session_id),
        row["id"],
        secrets.token_urlsafe(24),
        LIFETIME,
    )
    await pool.execute("DELETE FROM console_sessions WHERE expires_at < now()")
    return session_id


async def current(pool: asyncpg.Pool, request: Request) -> Session | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > 100:
        return None
    row = await pool.fetchrow(
        "SELECT t.id, t.name, t.scope, s.csrf FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id "
        "WHERE s.id_hash = $1 AND s.expires_at > now() AND t.revoked_at IS NULL",
        _hash(session_id),
    )
    return Session(row["name"], row["scope"], row["csrf"], row["id"]) if row else None


async def end(pool: asyncpg.Pool, request: Request) -> None:
    session_id = request.cookies.get(COOKIE)
    if session_id:
        await pool.execute("DELETE FROM console_sessions WHERE id_hash = $1", _hash(session_id))


def secure_request(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def same_origin(request: Request) -> bool:
    """A form post from the console's own pages: a browser says so with Sec-Fetch-Site, or
    with an Origin naming this host; a post from another site is neither."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser's cross-site form post (they send Origin on POST)
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host
