"""The syncer as a stream processor: settings -> destinations and lanes; one step per
batch of lead records: every lead to every destination until all reach a final state,
recorded in Postgres, failures on ``cdp.leads.failed``. The engine commits offsets only
after ``process`` returned and the failure records are acknowledged; a store outage
propagates and the engine retries the batch (redelivery is harmless: upserts by email,
the webhook's ``webhook-id``, versions already delivered are skipped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cdp_common.metrics import M, build
from cdp_common.records import LeadFailure
from cdp_common.settings import (
    CONFIG_FILE,
    CommonSettings,
    HubSpotSettings,
    MauticSettings,
    SyncerSettings,
    WebhookSettings,
)
from cdp_common.stream import Emit, Output, Publish, Record, Reject
from cdp_common.topics import Topic
from cdp_common.wire import LeadDoc
from cdp_syncer import store
from cdp_syncer.delivery import Lane, Policy, deliver
from cdp_syncer.destinations.base import Destination, Result
from cdp_syncer.logic.flow import Breaker, TokenBucket, Verdict
from cdp_syncer.logic.mapping import HUBSPOT_DEFAULT, MAUTIC_DEFAULT, check_map

logger = logging.getLogger(__name__)


def parse_erasure(rec: Record) -> Mapping[str, Any] | str:
    """An erasure request (``cdp.erasure/v1``), or why it is not one."""
    try:
        doc = orjson.loads(rec.value or b"")
    except orjson.JSONDecodeError as e:
        return f"not JSON: {e}"
    if not isinstance(doc, dict) or doc.get("schema") != "cdp.erasure/v1":
        return "not a cdp.erasure/v1 record"
    if not isinstance(doc.get("requestId"), str) or not isinstance(doc.get("emails"), list):
        return "an erasure needs requestId and emails"
    if not all(isinstance(e, str) for e in doc["emails"]):
        return "emails: must be strings"
    return doc


class MissingSetting(ValueError):
    """A destination is configured without what it needs."""


def build_destinations(settings: SyncerSettings) -> list[Destination]:
    out: list[Destination] = []
    for name in settings.destination_names():
        if name == "hubspot":
            from cdp_syncer.destinations.hubspot import HubSpot

            h = HubSpotSettings()
            mapping = {**HUBSPOT_DEFAULT, **h.property_map}
            check_map(mapping)
            out.append(HubSpot(h.base_url, h.token.get_secret_value(), mapping, settings.timeout_s, h.batch_size))
        elif name == "mautic":
            from cdp_syncer.destinations.mautic import Mautic

            m = MauticSettings()
            mapping = {**MAUTIC_DEFAULT, **m.field_map}
            check_map(mapping)
            out.append(Mautic(m.base_url, m.user, m.password.get_secret_value(), mapping, settings.timeout_s))
        elif name == "webhook":
            from cdp_syncer.destinations.webhook import Webhook

            w = WebhookSettings()
            if not w.secret.get_secret_value():
                raise MissingSetting(
                    "CDP_WEBHOOK_SECRET is required for the webhook destination (or leave webhook out of "
                    f"CDP_SYNC_DESTINATIONS): set it in the environment, in .env, or in {CONFIG_FILE}, "
                    "which the local start script writes"
                )
            out.append(Webhook(w.url, w.secret.get_secret_value(), settings.timeout_s))
    return out


def parse(rec: Record) -> LeadDoc | str:
    """A lead, or why it is not one."""
    try:
        lead = orjson.loads(rec.value or b"")
    except orjson.JSONDecodeError as e:
        return f"not JSON: {e}"
    if not isinstance(lead, dict) or lead.get("schema") != "cdp.lead/v1":
        return "not a cdp.lead/v1 record"
    for k in ("eventId", "profileId", "version", "contact"):
        if k not in lead:
            return f"lead without {k}"
    if not isinstance(lead["contact"], dict) or not lead["contact"].get("email"):
        return "lead without contact.email"
    return cast(LeadDoc, lead)


class SyncerProcessor:
    stage = "syncer"
    rejected_topic = Topic.HITS_REJECTED.value

    def __init__(
        self, common: CommonSettings, settings: SyncerSettings, destinations: list[Destination] | None = None
    ) -> None:
        self.common = common
        self.settings = settings
        self.destinations = destinations if destinations is not None else build_destinations(settings)
        self.registry = CollectorRegistry()
        self._leads = cast(Counter, build(M.SYNCER_LEADS, self.registry))
        self._requests = cast(Counter, build(M.SYNCER_REQUESTS, self.registry))
        self._seconds = cast(Histogram, build(M.SYNCER_REQUEST_SECONDS, self.registry))
        self._breaker = cast(Gauge, build(M.SYNCER_BREAKER, self.registry))
        self._erasures = cast(Counter, build(M.SYNCER_ERASURES, self.registry))
        policy = Policy(settings.backoff_base_s, settings.backoff_cap_s, settings.max_age_s)
        self.lanes = []
        for d in self.destinations:
            rate, per = settings.rate_limits.get(d.name, (10.0, 1.0))
            self.lanes.append(
                Lane(
                    d,
                    TokenBucket(rate, per),
                    Breaker(settings.breaker_threshold, settings.breaker_cooldown_s),
                    policy,
                    on_request=self._observe,
                )
            )
        self.pool: asyncpg.Pool | None = None
        self._eraser: asyncio.Task[None] | None = None

    def _observe(self, name: str, seconds: float, results: list[Result]) -> None:
        self._seconds.labels(name).observe(seconds)
        for r in results:
            self._requests.labels(name, r.verdict.value).inc()
        lane = next(x for x in self.lanes if x.name == name)
        self._breaker.labels(name).set(1 if lane.breaker.opened_at is not None else 0)

    async def start(self, publish: Publish | None = None) -> None:
        while self.pool is None:
            try:
                self.pool = await store.open_pool(self.common)
            except (OSError, asyncpg.PostgresError) as e:
                logger.warning("Postgres not reachable (%s); retrying", e)
                await asyncio.sleep(1.0)
        if publish is not None:  # a running stage (not `cdp leads retry`)
            self._eraser = asyncio.create_task(self._erase_forever(), name="erasures")

    async def stop(self) -> None:
        if self._eraser is not None:
            self._eraser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._eraser
        for d in self.destinations:
            await d.aclose()
        if self.pool:
            await self.pool.close()

    async def process(self, records: Sequence[Record]) -> Output:
        """Deliver a batch everywhere; returns what to publish (failures, rejections)."""
        assert self.pool is not None
        out = Output()
        leads: list[Mapping[str, Any]] = []
        first_seen: dict[str, float] = {}
        erasures: list[Mapping[str, Any]] = []
        for rec in records:
            if rec.topic == self.settings.erasures_topic:
                erasure = parse_erasure(rec)
                if isinstance(erasure, str):
                    out.rejects.append(Reject(rec, "malformed", erasure))
                else:
                    erasures.append(erasure)
                continue
            if rec.value is None:  # an erasure's tombstone: compaction forgets the person's leads
                out.drop("erased")
                continue
            got = parse(rec)
            if isinstance(got, str):
                out.rejects.append(Reject(rec, "malformed", got))
            else:
                leads.append(got)
                first_seen[got["eventId"]] = (rec.timestamp_ms or 0) / 1000
        if erasures:
            # durable before the offsets move on; carried out apart from lead delivery
            await store.queue_erasures(self.pool, erasures, [d.name for d in self.destinations])
        if not leads:
            return out
        # age is measured from when the oldest lead of the batch was written
        oldest = min(first_seen.values()) or datetime.now(UTC).timestamp()
        results = await asyncio.gather(*(self._lane(lane, leads, oldest) for lane in self.lanes))
        finals = [f for r in results for f in r]
        await store.record(self.pool, finals)
        for f in finals:
            self._leads.labels(f.destination, f.status).inc()
            if f.status == "failed":
                failure = LeadFailure(
                    lead_event_id=f.lead["eventId"],
                    profile_id=f.lead["profileId"],
                    destination=f.destination,
                    error=f.error or "",
                    attempts=f.attempts,
                    failed_at=datetime.now(UTC),
                    lead=dict(f.lead),
                )
                out.emits.append(
                    Emit(
                        self.settings.failed_topic,
                        f.lead["profileId"].encode(),
                        failure.model_dump_json(by_alias=True).encode(),
                    )
                )
                logger.warning("lead %s failed at %s: %s", f.lead["eventId"], f.destination, f.error)
        return out

    async def _erase_due(self) -> int:
        """Carry out the erasures that are due, each destination on its own: a destination
        that is down is retried with backoff and holds up neither the others nor any lead."""
        assert self.pool is not None
        by_name = {d.name: d for d in self.destinations}
        rows = await store.due_erasures(self.pool)
        for row in rows:
            d = by_name.get(row["destination"])
            request = row["request"]
            if d is None:  # a destination since removed from the settings
                await store.erasure_done(self.pool, row["request_id"], row["destination"], "failed", "not configured")
                continue
            results = await d.erase(request) if request["emails"] else []
            retry = [r for r in results if r.verdict is Verdict.RETRY]
            if retry:
                hint = max((r.retry_after or 0.0) for r in retry)
                delay = max(hint, min(self.settings.backoff_cap_s, self.settings.backoff_base_s * 2 ** row["attempts"]))
                await store.erasure_retry(self.pool, row["request_id"], d.name, delay, retry[0].error or "retry")
                logger.warning(
                    "erasure %s at %s: %s; retrying in %.1f s", row["request_id"], d.name, retry[0].error, delay
                )
                continue
            outcomes = []
            for r in results:
                outcome = "failed" if r.verdict is Verdict.PERMANENT else "absent" if r.status == 404 else "deleted"
                self._erasures.labels(d.name, outcome).inc()
                outcomes.append(outcome if outcome != "failed" else f"failed: {r.error}")
            failed = any(o.startswith("failed") for o in outcomes)
            if failed:
                logger.error("erasure %s refused by %s: %s", row["request_id"], d.name, outcomes)
            await store.erasure_done(
                self.pool, row["request_id"], d.name, "failed" if failed else "done", "; ".join(outcomes) or "nothing"
            )
        return len(rows)

    async def _erase_forever(self) -> None:
        while True:
            try:
                if not await self._erase_due():
                    await asyncio.sleep(self.settings.erasure_poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # Postgres away: the rows wait
                logger.warning("erasures: %s; retrying", e)
                await asyncio.sleep(1.0)

    async def _lane(self, lane: Lane, leads: list[Mapping[str, Any]], oldest: float) -> list[store.Final]:
        assert self.pool is not None
        delivered = await store.delivered_versions(self.pool, lane.name, {x["profileId"] for x in leads})
        # the lane's clock is monotonic: translate the lead's wall-clock age into it
        age = max(0.0, datetime.now(UTC).timestamp() - oldest)
        return await deliver(lane, leads, delivered, lane.clock() - age)

    async def retry_failed(self, destination: str | None = None) -> dict[str, int]:
        """Re-send the recorded failures (``cdp leads retry``); returns counts by state."""
        assert self.pool is not None
        rows = await store.failed(self.pool, destination)
        counts: dict[str, int] = {}
        for lane in self.lanes:
            mine = [r["payload"] for r in rows if r["destination"] == lane.name]
            if not mine:
                continue
            finals = await self._lane(lane, mine, datetime.now(UTC).timestamp())
            await store.record(self.pool, finals)
            for f in finals:
                counts[f.status] = counts.get(f.status, 0) + 1
        return counts


__all__ = ["SyncerProcessor", "Verdict"]
