"""Delivering leads to one destination (a lane: its own rate limit, breaker and pauses).

- Per profile, only the newest version is sent; older ones are ``superseded``, as is any
  lead whose version is not newer than the version already delivered to this destination:
  an older version never overwrites a newer one.
- Requests wait for the lane's breaker, a pause the destination asked for (429's
  Retry-After, honoured exactly and for the whole lane) and its token bucket.
- 5xx, timeouts and connection errors are retried after backoff with jitter (a server's
  Retry-After as a floor) while the lead is younger than ``max_age_s``; 429 is pacing: the
  retry waits exactly what the destination asked and never counts toward the breaker.
  Other answers, per-record rejections and leads that aged out are ``failed``.
- ``deliver_round`` makes one request per chunk and hands back what to retry when, so a
  queue can schedule it; ``deliver`` loops until every lead is final (``cdp leads retry``).
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
    paused_until: float = 0.0  # a 429's Retry-After: no request to this destination before then

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


@dataclass(slots=True)
class Round:
    """What one pass over a set of leads at one destination decided."""

    finals: list[Final] = field(default_factory=list)
    retry: list[tuple[Lead, float]] = field(default_factory=list)  # lead, seconds until its next try
    attempts: dict[str, int] = field(default_factory=dict)  # eventId -> requests made this pass


def _chunks(pending: Sequence[Lead], max_batch: int) -> list[list[Lead]]:
    """Requests of at most ``max_batch`` leads, one email per request (two profiles with
    one email, never merged, go in turn)."""
    out: list[list[Lead]] = []
    left = list(pending)
    while left:
        chunk: list[Lead] = []
        emails: set[str] = set()
        rest = []
        for lead in left:
            email = lead["contact"]["email"]
            if email not in emails and len(chunk) < max_batch:
                chunk.append(lead)
                emails.add(email)
            else:
                rest.append(lead)
        out.append(chunk)
        left = rest
    return out


async def wait_turn(lane: Lane) -> None:
    """Until the breaker, a destination's requested pause (429) and the rate limit allow."""
    while True:
        wait = max(lane.breaker.allow(lane.clock()), lane.paused_until - lane.clock(), 0.0)
        if wait < 1e-3:  # (a float remainder no clock can sleep through)
            break
        await lane.sleep(wait)
    wait = lane.bucket.wait(lane.clock())
    while wait:
        await lane.sleep(wait)
        wait = lane.bucket.wait(lane.clock())


async def deliver_round(
    lane: Lane,
    leads: Sequence[Lead],
    delivered: Mapping[str, int],
    first_seen: Callable[[Lead], float],
    prior: Callable[[Lead], int] = lambda lead: 0,
) -> Round:
    """One request per chunk: every lead ends delivered, failed, superseded, or scheduled
    for another try (``Round.retry``) without holding up the rest. ``first_seen`` gives a
    lead's age origin on the lane's clock; ``prior``, the attempts it had before."""
    out = Round()
    send, superseded = newest_per_profile(leads, delivered)
    out.finals += [Final(lead, lane.name, "superseded", 0, "a newer version exists") for lead in superseded]
    for chunk in _chunks(send, lane.destination.max_batch):
        await wait_turn(lane)
        t0 = lane.clock()
        results = await lane.destination.send(chunk)
        lane.on_request(lane.name, lane.clock() - t0, results)
        throttled = 0.0
        failed_all = True
        for lead, res in zip(chunk, results, strict=True):
            n = out.attempts[lead["eventId"]] = out.attempts.get(lead["eventId"], 0) + 1
            total = prior(lead) + n
            if res.verdict is Verdict.DELIVERED:
                out.finals.append(Final(lead, lane.name, "delivered", n))
                failed_all = False
            elif res.verdict is Verdict.SKIPPED:
                out.finals.append(Final(lead, lane.name, "skipped", n, res.error))
                failed_all = False
            elif res.verdict is Verdict.PERMANENT:
                out.finals.append(Final(lead, lane.name, "failed", n, res.error))
                failed_all = False
            elif lane.clock() - first_seen(lead) >= lane.policy.max_age_s:
                out.finals.append(Final(lead, lane.name, "failed", n, f"gave up after {total} attempts: {res.error}"))
            elif res.status == 429:  # pacing: exactly the pause the destination asked for
                delay = res.retry_after if res.retry_after is not None else lane.policy.backoff_base_s
                throttled = max(throttled, delay)
                out.retry.append((lead, delay))
            else:
                delay = backoff(total, lane.policy.backoff_base_s, lane.policy.backoff_cap_s, res.retry_after)
                out.retry.append((lead, delay))
        if throttled:
            lane.paused_until = max(lane.paused_until, lane.clock() + throttled)
        elif failed_all and results:
            lane.breaker.failure(lane.clock())
        else:
            lane.breaker.success()
    return out


async def deliver(lane: Lane, leads: Sequence[Lead], delivered: Mapping[str, int], first_seen: float) -> list[Final]:
    """Every lead's final state at ``lane``; returns only when all have one (``cdp leads
    retry``; the running syncer schedules retries in its queue instead)."""
    finals: list[Final] = []
    attempts: dict[str, int] = {}
    pending = list(leads)
    known = dict(delivered)
    while pending:
        r = await deliver_round(
            lane, pending, known, lambda lead: first_seen, lambda lead: attempts.get(lead["eventId"], 0)
        )
        for k, n in r.attempts.items():
            attempts[k] = attempts.get(k, 0) + n
        for f in r.finals:
            finals.append(Final(f.lead, f.destination, f.status, attempts.get(f.lead["eventId"], f.attempts), f.error))
            if f.status == "delivered":
                known[f.lead["profileId"]] = max(known.get(f.lead["profileId"], 0), f.lead["version"])
        pending = [lead for lead, _ in r.retry]
        if r.retry:
            delay = max(d for _, d in r.retry)
            logger.info("%s: %d lead(s) to retry in %.2f s", lane.name, len(r.retry), delay)
            await lane.sleep(delay)
    return finals
