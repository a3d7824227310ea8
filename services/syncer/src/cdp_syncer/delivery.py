"""Delivering a batch of leads to one destination until every lead reaches a final state.

- Per profile, only the newest version in the batch is sent; older ones are
  ``superseded``, as is any lead whose version is not newer than the version already
  delivered to this destination: an older version never overwrites a newer one.
- Requests wait for the destination's token bucket and circuit breaker.
- 429, 5xx, timeouts and connection errors are retried with backoff and jitter (the
  server's Retry-After as a floor) while the lead is younger than ``max_age_s``: the
  caller does not consume further meanwhile (backpressure). Other answers, per-record
  rejections and leads that aged out are ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdp_syncer.destinations.base import Destination, Result
from cdp_syncer.logic.flow import Breaker, TokenBucket, Verdict, backoff
from cdp_syncer.store import Final

logger = logging.getLogger(__name__)
Lead = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Policy:
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    max_age_s: float = 86_400.0


@dataclass(slots=True)
class Lane:
    """One destination with its own flow control."""

    destination: Destination
    bucket: TokenBucket
    breaker: Breaker
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    on_request: Callable[[str, float, list[Result]], None] = lambda name, secs, results: None

    @property
    def name(self) -> str:
        return self.destination.name


def newest_per_profile(leads: Sequence[Lead], delivered: Mapping[str, int]) -> tuple[list[Lead], list[Lead]]:
    """(to send, superseded): the highest version per profile that is newer than what the
    destination already has."""
    best: dict[str, Lead] = {}
    for lead in leads:
        cur = best.get(lead["profileId"])
        if cur is None or lead["version"] > cur["version"]:
            best[lead["profileId"]] = lead
    send = [lead for lead in best.values() if lead["version"] > delivered.get(lead["profileId"], 0)]
    keep = {id(x) for x in send}
    return send, [lead for lead in leads if id(lead) not in keep]


async def deliver(lane: Lane, leads: Sequence[Lead], delivered: Mapping[str, int], first_seen: float) -> list[Final]:
    """Every lead's final state at ``lane``; returns only when all have one."""
    send, superseded = newest_per_profile(leads, delivered)
    finals = [Final(lead, lane.name, "superseded", 0, "a newer version exists") for lead in superseded]
    # one email per request: two profiles with one email (never merged) go in turn
    attempts: dict[str, int] = {}
    pending = list(send)
    while pending:
        chunk: list[Lead] = []
        emails: set[str] = set()
        for lead in pending:
            email = lead["contact"]["email"]
            if email not in emails and len(chunk) < lane.destination.max_batch:
                chunk.append(lead)
                emails.add(email)
        wait = max(lane.breaker.allow(lane.clock()), 0.0)
        if wait:
            await lane.sleep(wait)
        wait = lane.bucket.wait(lane.clock())
        while wait:
            await lane.sleep(wait)
            wait = lane.bucket.wait(lane.clock())
        t0 = lane.clock()
        results = await lane.destination.send(chunk)
        lane.on_request(lane.name, lane.clock() - t0, results)
        retry_hint = 0.0
        retried = []
        transient = False
        for lead, res in zip(chunk, results, strict=True):
            n = attempts[lead["eventId"]] = attempts.get(lead["eventId"], 0) + 1
            if res.verdict is Verdict.DELIVERED:
                finals.append(Final(lead, lane.name, "delivered", n))
            elif res.verdict is Verdict.PERMANENT:
                finals.append(Final(lead, lane.name, "failed", n, res.error))
            elif lane.clock() - first_seen >= lane.policy.max_age_s:
                finals.append(Final(lead, lane.name, "failed", n, f"gave up after {n} attempts: {res.error}"))
            else:
                retried.append(lead)
                transient = transient or res.status is None or res.status >= 500 or res.status == 429
                retry_hint = max(retry_hint, res.retry_after or 0.0)
        if transient and len(retried) == len(chunk):
            lane.breaker.failure(lane.clock())
        else:
            lane.breaker.success()
        done = {id(x) for x in chunk} - {id(x) for x in retried}
        pending = [x for x in pending if id(x) not in done]
        if retried:
            n = max(attempts[x["eventId"]] for x in retried)
            delay = backoff(n, lane.policy.backoff_base_s, lane.policy.backoff_cap_s, retry_hint or None)
            logger.info("%s: %d lead(s) to retry in %.2f s (attempt %d)", lane.name, len(retried), delay, n)
            await lane.sleep(delay)
    return finals
