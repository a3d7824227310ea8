"""Audience sync: each audience's list at its destination follows the segment.

``AudienceSync.run_forever`` (one task per syncer, every audience of a configured
destination in turn):

1. the list exists there (created once; its id kept in ``audiences.external_id``);
2. the people queued for it (``audience_queue``: segment and consent changes, a
   reconciliation) are looked at in Postgres, the truth: a member should be in the list
   when the profile is live, has an email, is in the segment and allows the audience's
   purpose; ``plan`` says who to add and who to remove against what the destination was
   told (``audience_members``); both go out in batches, then the record and the queue
   are updated. A failure leaves the people queued, retried after backoff;
3. reconciliation, when due (``reconcile_every_s``) or asked for (``cdp audiences
   reconcile``): the destination's own member list is read, people it has that we did not
   put there are removed, people we put there that it lost are forgotten by our record,
   and everyone who is or should be a member is queued again, which repairs any drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from cdp_common import audiences as aud
from cdp_common import consent
from cdp_syncer.destinations.base import AudienceDestination, AudienceFailure, Contact, Member

logger = logging.getLogger(__name__)
BATCH = 100


@dataclass(slots=True)
class Plan:
    add: list[Contact] = field(default_factory=list)
    remove: list[Member] = field(default_factory=list)


def wanted(profile: Mapping[str, Any] | None, audience: aud.Audience) -> str | None:
    """The email to list this person under, or None when they should not be a member."""
    if profile is None or profile.get("data") is None or not profile.get("email"):
        return None
    data = profile["data"]
    if audience.segment_id not in (data.get("segments") or []):
        return None
    if audience.purpose and not consent.allowed(data.get("consent"), audience.purpose):
        return None
    return str(profile["email"])


def plan(
    audience: aud.Audience,
    queued: Iterable[str],
    profiles: Mapping[str, Mapping[str, Any]],
    members: Mapping[str, Member],
) -> Plan:
    """Who to add and remove among the queued people (a changed email: removed, then
    added under the new one)."""
    out = Plan()
    for pid in queued:
        email = wanted(profiles.get(pid), audience)
        have = members.get(pid)
        if have is not None and (email is None or have[1] != email):
            out.remove.append(have)
            have = None
        if email is not None and have is None:
            out.add.append((pid, email))
    return out


async def _no_wait(destination: str) -> None:
    return None


class AudienceSync:
    def __init__(
        self,
        pool: asyncpg.Pool,
        destinations: Mapping[str, AudienceDestination],
        *,
        poll_s: float = 1.0,
        lease_s: float = 60.0,
        backoff_cap_s: float = 60.0,
        on_change: Any = None,
        turn: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.pool = pool
        self.destinations = destinations
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.backoff_cap_s = backoff_cap_s
        self.on_change = on_change or (lambda destination, change, n: None)
        self.wake = asyncio.Event()
        # before each call to a destination: its lane's breaker, requested pause and rate limit
        self.turn = turn or _no_wait

    async def run_forever(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # Postgres away: wait and try again
                logger.warning("audiences: %s: %s; retrying", type(e).__name__, e)
                busy = False
                await asyncio.sleep(1.0)
            if not busy:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_s)

    async def run_once(self) -> bool:
        """One pass over every audience; True when there was work."""
        rows = await self.pool.fetch(
            "SELECT *, last_reconciled_at IS NULL OR last_reconciled_at < now() - make_interval(secs => "
            "reconcile_every_s) AS reconcile_due FROM audiences WHERE destination = ANY($1::text[]) ORDER BY id",
            list(self.destinations),
        )
        busy = False
        for row in rows:
            audience = aud.Audience.of(row)
            dest = self.destinations[audience.destination]
            try:
                if audience.external_id is None:
                    audience = await self._ensure(audience, dest)
                if row["reconcile_due"]:
                    await self._reconcile(audience, dest)
                    busy = True
                busy = await self._drain(audience, dest) or busy
            except AudienceFailure as e:
                logger.warning("audience %s: %s", audience.id, e)
        return busy

    async def _ensure(self, audience: aud.Audience, dest: AudienceDestination) -> aud.Audience:
        external = await dest.audience_ensure(audience.name, None)
        await self.pool.execute("UPDATE audiences SET external_id = $2 WHERE id = $1", audience.id, external)
        logger.info("audience %s: list %s at %s", audience.id, external, audience.destination)
        return aud.Audience(
            audience.id,
            audience.segment_id,
            audience.destination,
            audience.name,
            audience.purpose,
            external,
            audience.reconcile_every_s,
        )

    async def _drain(self, audience: aud.Audience, dest: AudienceDestination) -> bool:
        assert audience.external_id is not None
        claimed = await self.pool.fetch(
            "UPDATE audience_queue q SET next_at = now() + make_interval(secs => $3) FROM ("
            "  SELECT profile_id FROM audience_queue WHERE audience_id = $1 AND next_at <= now() "
            "  ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) due "
            "WHERE q.audience_id = $1 AND q.profile_id = due.profile_id RETURNING q.profile_id, q.next_at, q.attempts",
            audience.id,
            BATCH,
            self.lease_s,
        )
        if not claimed:
            return False
        pids = [r["profile_id"] for r in claimed]
        profiles = {
            r["id"]: {"email": r["email"], "data": orjson.loads(r["data"]) if r["data"] else None}
            for r in await self.pool.fetch(
                "SELECT id, email, data::text AS data FROM profiles WHERE id = ANY($1::text[])", pids
            )
        }
        members = {
            r["profile_id"]: (r["profile_id"], r["email"], r["external_contact_id"])
            for r in await self.pool.fetch(
                "SELECT profile_id, email, external_contact_id FROM audience_members "
                "WHERE audience_id = $1 AND profile_id = ANY($2::text[])",
                audience.id,
                pids,
            )
        }
        todo = plan(audience, pids, profiles, members)
        try:
            added: dict[str, str | None] = {}
            if todo.remove:
                await self.turn(audience.destination)
                await dest.audience_remove(audience.external_id, todo.remove)
            if todo.add:
                await self.turn(audience.destination)
                added = await dest.audience_add(audience.external_id, todo.add)
        except AudienceFailure as e:
            await self._retry(audience, claimed, str(e))
            return True
        async with self.pool.acquire() as conn, conn.transaction():
            if todo.remove:
                await conn.execute(
                    "DELETE FROM audience_members WHERE audience_id = $1 AND profile_id = ANY($2::text[])",
                    audience.id,
                    [m[0] for m in todo.remove],
                )
            if todo.add:
                await conn.executemany(
                    "INSERT INTO audience_members (audience_id, profile_id, email, external_contact_id) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (audience_id, profile_id) DO UPDATE SET "
                    "email = EXCLUDED.email, external_contact_id = EXCLUDED.external_contact_id, added_at = now()",
                    [(audience.id, pid, email, added.get(pid)) for pid, email in todo.add],
                )
            # a row queued again meanwhile (its next_at moved) stays for another look
            await conn.executemany(
                "DELETE FROM audience_queue WHERE audience_id = $1 AND profile_id = $2 AND next_at = $3",
                [(audience.id, r["profile_id"], r["next_at"]) for r in claimed],
            )
        self.on_change(audience.destination, "added", len(todo.add))
        self.on_change(audience.destination, "removed", len(todo.remove))
        return True

    async def _retry(self, audience: aud.Audience, claimed: Sequence[asyncpg.Record], error: str) -> None:
        logger.warning("audience %s: %d people to retry: %s", audience.id, len(claimed), error)
        await self.pool.executemany(
            "UPDATE audience_queue SET attempts = attempts + 1, last_error = $4, "
            "next_at = now() + make_interval(secs => $3) WHERE audience_id = $1 AND profile_id = $2",
            [
                (audience.id, r["profile_id"], min(self.backoff_cap_s, 0.5 * 2 ** r["attempts"]), error[:500])
                for r in claimed
            ],
        )

    async def _reconcile(self, audience: aud.Audience, dest: AudienceDestination) -> None:
        """Drift repaired: the destination's own list against our record, then everyone
        who is or should be a member looked at again."""
        assert audience.external_id is not None
        await self.turn(audience.destination)
        there = await dest.audience_members(audience.external_id)
        if there is not None:
            ours = {
                r["external_contact_id"]: r["profile_id"]
                for r in await self.pool.fetch(
                    "SELECT profile_id, external_contact_id FROM audience_members WHERE audience_id = $1",
                    audience.id,
                )
                if r["external_contact_id"]
            }
            strangers = sorted(there - set(ours))
            if strangers:  # in the list, but not put there by us (or left over): out
                await dest.audience_remove(audience.external_id, [("", "", s) for s in strangers])
            lost = [pid for ext, pid in ours.items() if ext not in there]
            if lost:  # we put them there and they are gone: our record forgets them, the look re-adds
                await self.pool.execute(
                    "DELETE FROM audience_members WHERE audience_id = $1 AND profile_id = ANY($2::text[])",
                    audience.id,
                    lost,
                )
            self.on_change(audience.destination, "drift", len(strangers) + len(lost))
            logger.info(
                "audience %s: reconciled: %d removed at the destination, %d to add again",
                audience.id,
                len(strangers),
                len(lost),
            )
        await aud.queue_reconcile(self.pool, audience.id)
