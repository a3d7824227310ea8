"""The syncer as a stream processor: settings -> destinations and lanes.

One step per batch of lead records: every lead is written to every destination's queue in
Postgres (``delivery_queue``), and only then may the engine commit the batch's offsets; a
store outage propagates and the engine retries the batch (a redelivered lead adds nothing).
Each destination then drains its own queue in a task of its own (``_drain_forever``): its
own position, rate limit, breaker, pauses and retry schedule, so one that is down or slow
never delays the others. Final states are recorded in ``lead_deliveries``, failures go to
``cdp.leads.failed``. Delivery is idempotent (upserts by email, the webhook's
``webhook-id``, versions already delivered are skipped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from cdp_common import audiences, deliveries
from cdp_common.metrics import M, build
from cdp_common.records import LeadFailure
from cdp_common.settings import (
    CONFIG_FILE,
    CommonSettings,
    GoogleAdsSettings,
    HubSpotSettings,
    LinkedInSettings,
    MauticSettings,
    MetaSettings,
    SyncerSettings,
    WebhookSettings,
)
from cdp_common.stream import Emit, Output, Publish, Record, Reject
from cdp_common.topics import Topic
from cdp_common.wire import LeadDoc
from cdp_syncer import store
from cdp_syncer.audience_sync import AudienceSync
from cdp_syncer.delivery import Lane, Policy, deliver_round, wait_turn
from cdp_syncer.destinations.base import AudienceDestination, Destination, Result
from cdp_syncer.logic.flow import Breaker, TokenBucket, Verdict
from cdp_syncer.logic.mapping import HUBSPOT_DEFAULT, MAUTIC_DEFAULT, check_map

logger = logging.getLogger(__name__)


def parse_change(rec: Record) -> tuple[str, str] | str:
    """A segment change's ``(profile id, segment id)``, or why it is not one."""
    try:
        doc = orjson.loads(rec.value or b"")
    except orjson.JSONDecodeError as e:
        return f"not JSON: {e}"
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("profileId"), str)
        or not isinstance(doc.get("segmentId"), str)
    ):
        return "a segment change needs profileId and segmentId"
    return doc["profileId"], doc["segmentId"]


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


def _missing(what: str, destination: str) -> str:
    return (
        f"{what} is required for the {destination} destination (or leave {destination} out of "
        f"CDP_SYNC_DESTINATIONS): set it in the environment, in .env, or in {CONFIG_FILE}, "
        "which the local start script writes"
    )


def build_destinations(settings: SyncerSettings) -> list[Destination]:
    out: list[Destination] = []
    for name in settings.destination_names():
        if name == "hubspot":
            from cdp_syncer.destinations.hubspot import HubSpot

            h = HubSpotSettings()
            if not h.token.get_secret_value():
                raise MissingSetting(_missing("CDP_HUBSPOT_TOKEN (a private app's access token)", name))
            mapping = {**HUBSPOT_DEFAULT, **h.property_map}
            check_map(mapping)
            out.append(
                HubSpot(h.base_url, h.token.get_secret_value(), mapping, settings.timeout_s, h.batch_size, h.bootstrap)
            )
        elif name == "mautic":
            from cdp_syncer.destinations.mautic import Mautic

            m = MauticSettings()
            if not m.user or not m.password.get_secret_value():
                raise MissingSetting(_missing("CDP_MAUTIC_USER and CDP_MAUTIC_PASSWORD (an API user)", name))
            mapping = {**MAUTIC_DEFAULT, **m.field_map}
            check_map(mapping)
            out.append(
                Mautic(m.base_url, m.user, m.password.get_secret_value(), mapping, settings.timeout_s, m.bootstrap)
            )
        elif name == "webhook":
            from cdp_syncer.destinations.webhook import Webhook

            w = WebhookSettings()
            if not w.secret.get_secret_value():
                raise MissingSetting(_missing("CDP_WEBHOOK_SECRET", name))
            out.append(Webhook(w.url, w.secret.get_secret_value(), settings.timeout_s))
        elif name in ("linkedin", "google_ads", "meta"):
            out.append(_ad_platform(name, settings))
    return out


def _ad_platform(name: str, settings: SyncerSettings) -> Destination:
    from cdp_syncer.destinations import adplatforms as ads

    if name == "linkedin":
        li = LinkedInSettings()
        if not li.token.get_secret_value() or not li.conversion.startswith("urn:lla:llaPartnerConversion:"):
            raise MissingSetting(
                _missing("CDP_LINKEDIN_TOKEN and CDP_LINKEDIN_CONVERSION (urn:lla:llaPartnerConversion:<id>)", name)
            )
        return ads.LinkedIn(li.base_url, li.token.get_secret_value(), li.conversion, li.version, settings.timeout_s)
    if name == "google_ads":
        g = GoogleAdsSettings()
        if not (g.customer_id and g.conversion_action and g.token.get_secret_value()):
            raise MissingSetting(
                _missing("CDP_GOOGLE_ADS_CUSTOMER_ID, _CONVERSION_ACTION, _TOKEN and _DEVELOPER_TOKEN", name)
            )
        if not g.developer_token.get_secret_value():
            raise MissingSetting(_missing("CDP_GOOGLE_ADS_DEVELOPER_TOKEN", name))
        return ads.GoogleAds(
            g.base_url,
            g.version,
            g.customer_id.replace("-", ""),
            g.conversion_action,
            g.token.get_secret_value(),
            g.developer_token.get_secret_value(),
            g.login_customer_id.replace("-", ""),
            g.value,
            g.currency,
            settings.timeout_s,
        )
    m = MetaSettings()
    if not (m.pixel_id and m.token.get_secret_value()):
        raise MissingSetting(_missing("CDP_META_PIXEL_ID and CDP_META_TOKEN", name))
    return ads.Meta(m.base_url, m.version, m.pixel_id, m.token.get_secret_value(), m.event_name, settings.timeout_s)


def parse(rec: Record) -> LeadDoc | str:
    """A lead, or why it is not one."""
    return parse_lead(rec.value or b"")


def parse_lead(value: bytes) -> LeadDoc | str:
    """A ``cdp.lead/v1`` document, or why it is not one."""
    try:
        lead = orjson.loads(value)
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


def _breaker_open(lane: Lane) -> Callable[[], float]:
    return lambda: 1.0 if lane.breaker.state(lane.clock()) == "open" else 0.0


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
        self._queue = cast(Gauge, build(M.SYNCER_QUEUE, self.registry))
        self._queue_age = cast(Gauge, build(M.SYNCER_QUEUE_AGE, self.registry))
        self._retries = cast(Counter, build(M.SYNCER_RETRIES, self.registry))
        self._audience = cast(Counter, build(M.SYNCER_AUDIENCE, self.registry))
        self.audiences: AudienceSync | None = None
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
        for lane in self.lanes:  # read when scraped: true at every moment, not only after a request
            self._breaker.labels(lane.name).set_function(_breaker_open(lane))
        self.pool: asyncpg.Pool | None = None
        self.publish: Publish | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = {lane.name: asyncio.Event() for lane in self.lanes}
        self._next_look: dict[str, float] = {}  # lane -> seconds until its first retry is due

    def _observe(self, name: str, seconds: float, results: list[Result]) -> None:
        self._seconds.labels(name).observe(seconds)
        for r in results:
            self._requests.labels(name, r.verdict.value).inc()

    async def start(self, publish: Publish | None = None) -> None:
        while self.pool is None:
            try:
                self.pool = await store.open_pool(self.common)
            except (OSError, asyncpg.PostgresError) as e:
                logger.warning("Postgres not reachable (%s); retrying", e)
                await asyncio.sleep(1.0)
        if publish is not None:  # a running stage (not `cdp leads retry`)
            self.publish = publish
            self._tasks.append(asyncio.create_task(self._erase_forever(), name="erasures"))
            self._tasks.append(asyncio.create_task(self._watch_queues_forever(), name="queues"))
            for lane in self.lanes:
                self._tasks.append(asyncio.create_task(self._drain_forever(lane), name=f"deliver-{lane.name}"))
            keeps_lists = {d.name: d for d in self.destinations if hasattr(d, "audience_ensure")}
            lanes = {lane.name: lane for lane in self.lanes}
            self.audiences = AudienceSync(
                self.pool,
                cast(dict[str, AudienceDestination], keeps_lists),
                poll_s=self.settings.audience_poll_s,
                lease_s=self.settings.lease_s,
                backoff_cap_s=self.settings.backoff_cap_s,
                on_change=lambda d, change, n: self._audience.labels(d, change).inc(n),
                turn=lambda name: wait_turn(lanes[name]),  # the destination's own rate limit and breaker
            )
            self._tasks.append(asyncio.create_task(self.audiences.run_forever(), name="audiences"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for d in self.destinations:
            await d.aclose()
        if self.pool:
            await self.pool.close()

    async def process(self, records: Sequence[Record]) -> Output:
        """Queue the batch's leads for every destination (durable before the offsets move
        on) and the erasure requests; delivery happens in each destination's own task."""
        assert self.pool is not None
        out = Output()
        leads: list[tuple[Mapping[str, Any], float]] = []
        erasures: list[Mapping[str, Any]] = []
        changes: list[tuple[str, str]] = []
        for rec in records:
            if rec.topic == self.settings.segments_topic:
                change = parse_change(rec)
                if isinstance(change, str):
                    out.rejects.append(Reject(rec, "malformed", change))
                else:
                    changes.append(change)
                continue
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
                leads.append((got, (rec.timestamp_ms or time.time() * 1000) / 1000))
        names = [d.name for d in self.destinations]
        await deliveries.enqueue(self.pool, self.settings.group_id, leads, names)
        if erasures:
            # durable before the offsets move on; carried out apart from lead delivery, and
            # nothing of the person still queued is sent any more
            await store.forget_queued(self.pool, [e for x in erasures for e in x["emails"]])
            await store.queue_erasures(self.pool, erasures, names)
        if leads:
            for event in self._wake.values():
                event.set()
        if changes and await audiences.queue_changes(self.pool, changes) and self.audiences is not None:
            self.audiences.wake.set()  # durable before the offsets move on; synced in its own task
        return out

    # ---- each destination's queue ----------------------------------------------------------

    async def _drain_forever(self, lane: Lane) -> None:
        """Deliver this destination's queued leads, for ever; a store outage waits and retries."""
        wake = self._wake[lane.name]
        if getattr(lane.destination, "auto_bootstrap", False):
            await self._bootstrap(lane)
        while True:
            try:
                worked = await self._drain_once(lane)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # Postgres away, or a destination's client failing oddly
                logger.warning("%s: delivery round failed (%s: %s); retrying", lane.name, type(e).__name__, e)
                await asyncio.sleep(1.0)
                continue
            if not worked:
                wake.clear()
                pause = min(self.settings.queue_poll_s, self._next_look.pop(lane.name, self.settings.queue_poll_s))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), max(0.01, pause))

    async def _bootstrap(self, lane: Lane) -> None:
        """Create what the destination needs before the first lead (HubSpot's custom
        properties, Mautic's custom fields): retried while the destination is unreachable; a refusal is logged and
        delivery goes on (the leads then fail with the destination's reason, listed)."""
        from cdp_syncer.destinations.base import BootstrapError

        delay = 1.0
        while True:
            try:
                done = await lane.destination.bootstrap()  # type: ignore[attr-defined]
            except BootstrapError as e:
                if not e.transient:
                    logger.error("%s: bootstrap refused (%s); delivering anyway", lane.name, e)
                    return
                error: Exception = e
            except httpx.HTTPError as e:
                error = e
            else:
                for c in done.conflicts:
                    logger.error("%s: property type conflict, %s", lane.name, c)
                logger.info(
                    "%s: bootstrap created %d propert%s, %d existed",
                    lane.name,
                    len(done.create),
                    "y" if len(done.create) == 1 else "ies",
                    len(done.existing),
                )
                return
            logger.warning("%s: bootstrap failed (%s); retrying in %.0f s", lane.name, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _drain_once(self, lane: Lane) -> bool:
        """One claim of due leads through ``deliver_round``; False when none was due."""
        assert self.pool is not None
        wait = max(lane.breaker.allow(lane.clock()), lane.paused_until - lane.clock(), 0.0)
        if wait >= 1e-3:  # no lease is held while the destination is cut off or asked for a pause
            await asyncio.sleep(wait)
        rows = await store.claim(
            self.pool, self.settings.group_id, lane.name, self.settings.claim_size, self.settings.lease_s
        )
        if not rows:
            return False
        meta = {r["lead"]["eventId"]: r for r in rows}
        profiles = {r["lead"]["profileId"] for r in rows}
        delivered = await store.delivered_versions(self.pool, lane.name, profiles)
        for r in rows:  # a replayed lead goes again even if the destination has that version
            pid, version = r["lead"]["profileId"], r["lead"]["version"]
            if r["replay"] and delivered.get(pid, 0) <= version:
                delivered[pid] = min(delivered[pid], version - 1) if pid in delivered else 0
        # a newer version of the person waits in the queue (due later): it goes instead
        queued = await store.newest_queued(self.pool, self.settings.group_id, lane.name, profiles)
        stale = [r["lead"] for r in rows if r["lead"]["version"] < queued.get(r["lead"]["profileId"], 0)]
        leads = [r["lead"] for r in rows if r["lead"]["version"] >= queued.get(r["lead"]["profileId"], 0)]
        now_wall, now_lane = time.time(), lane.clock()

        def first_seen(lead: Mapping[str, Any]) -> float:
            return now_lane - (now_wall - meta[lead["eventId"]]["written_at"].timestamp())

        def prior(lead: Mapping[str, Any]) -> int:
            return int(meta[lead["eventId"]]["attempts"])

        done = await deliver_round(lane, leads, delivered, first_seen, prior)
        finals = [
            store.Final(f.lead, f.destination, f.status, prior(f.lead) + f.attempts, f.error) for f in done.finals
        ]
        finals += [store.Final(x, lane.name, "superseded", prior(x), "a newer version is queued") for x in stale]
        if done.retry:  # look again when the first of them is due, not at the next idle poll
            self._next_look[lane.name] = min(d for _, d in done.retry)
        retries = []
        for lead, delay in done.retry:
            row = meta[lead["eventId"]]
            error = "throttled (429)" if delay and lane.paused_until > lane.clock() else "failing"
            retries.append((row["id"], done.attempts.get(lead["eventId"], 0), delay, error))
            self._retries.labels(lane.name, "throttled" if error.startswith("throttled") else "failing").inc()
        await store.settle(self.pool, finals, [meta[f.lead["eventId"]]["id"] for f in finals])
        await store.reschedule(self.pool, retries)
        await self._publish_failures(finals)
        for f in finals:
            self._leads.labels(f.destination, f.status).inc()
        return True

    async def _publish_failures(self, finals: Sequence[store.Final]) -> None:
        emits = []
        for f in finals:
            if f.status != "failed":
                continue
            failure = LeadFailure(
                lead_event_id=f.lead["eventId"],
                profile_id=f.lead["profileId"],
                destination=f.destination,
                error=f.error or "",
                attempts=f.attempts,
                failed_at=datetime.now(UTC),
                lead=dict(f.lead),
            )
            value = failure.model_dump_json(by_alias=True).encode()
            emits.append(Emit(self.settings.failed_topic, f.lead["profileId"].encode(), value))
            logger.warning("lead %s failed at %s: %s", f.lead["eventId"], f.destination, f.error)
        if emits and self.publish is not None:
            await self.publish(emits)

    async def _watch_queues_forever(self) -> None:
        """The queue gauges, from Postgres once a second: what waits where, and for how long."""
        assert self.pool is not None
        while True:
            try:
                state = {r["destination"]: r for r in await store.queue_state(self.pool, self.settings.group_id)}
                for lane in self.lanes:
                    r = state.get(lane.name)
                    self._queue.labels(lane.name, "due").set(r["due"] if r else 0)
                    self._queue.labels(lane.name, "waiting").set(r["waiting"] if r else 0)
                    self._queue_age.labels(lane.name).set(r["oldest"] if r else 0)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                logger.debug("queue gauges unavailable: %s", e)
            await asyncio.sleep(1.0)

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


__all__ = ["SyncerProcessor", "Verdict"]
