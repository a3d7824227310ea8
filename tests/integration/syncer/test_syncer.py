"""The syncer against the sandbox over real HTTP, with real Kafka and Postgres: faults,
crashes, signatures, permanent failures and `cdp leads retry`."""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid

import asyncpg
import httpx
import pytest

from cdp_common.topics import Topic
from tests.helpers import TopicTail, free_port, runner_env
from tests.integration.syncer.conftest import Sandbox, Syncers, make_lead, send_leads, until

pytestmark = pytest.mark.integration


def journey_leads(n_profiles: int, tag: str, seed: int = 3) -> tuple[list[dict], dict[str, int]]:
    """Leads for ``n_profiles`` profiles (one email each: the segmenter merges profiles that
    share one), some with updates (versions 1..3); returns leads and the newest version by email."""
    rng = random.Random(seed)
    leads, newest = [], {}
    for i in range(n_profiles):
        email = f"{tag}-{i}@example.org"
        versions = rng.choice([1, 1, 2, 3])
        for v in range(1, versions + 1):
            leads.append(make_lead(f"{tag}-p{i}", email, v))
        newest[email] = max(newest.get(email, 0), versions)
    return leads, newest


def newest_versions(contacts: dict, system: str) -> dict[str, int]:
    return {email: c["versions"][-1] for email, c in contacts.items()}


async def test_every_lead_arrives_once_per_email_under_5xx_429_bursts_and_latency(
    syncers: Syncers, sandbox: Sandbox, producer
) -> None:
    tag = uuid.uuid4().hex[:6]
    leads, newest = journey_leads(120, tag)
    sandbox.faults(error_rate=0.3, throttle_next=4, retry_after_s=1, latency_s=2)
    started = time.time()
    syncers.start()
    await send_leads(producer, syncers.topic, leads)
    for system in ("hubspot", "mautic", "webhook"):
        await until(lambda system=system: len(sandbox.contacts(system)) == len(newest), within=180)
    for system in ("hubspot", "mautic"):
        contacts = sandbox.contacts(system)
        assert set(contacts) == set(newest)
        assert all(started < c["arrivedAt"] <= time.time() for c in contacts.values())  # first upsert, epoch s
    await until(
        lambda: all(newest_versions(sandbox.contacts(s), s) == newest for s in ("hubspot", "mautic", "webhook")),
        within=120,
    )
    stats = sandbox.stats()
    assert stats["regressions"] == 0
    answers = {code: sum(r.get(code, 0) for r in stats["requests"].values()) for code in ("429", "503")}
    assert answers["429"] == 4 and answers["503"] > 0, stats  # the faults were really served
    hub = sandbox.contacts("hubspot")[f"{tag}-1@example.org"]["properties"]
    assert hub["jobtitle"] == "CEO" and hub["lifecyclestage"] == "marketingqualifiedlead"
    assert "First touch: Paid Social / linkedin / ceo-automotive-q4" in hub["cdp_behaviour_summary"]


@pytest.mark.parametrize("runner", ["confluent", "faust"])
async def test_kill_9_mid_delivery_loses_nothing_and_no_older_version_wins(
    syncers: Syncers, sandbox: Sandbox, producer, runner: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    leads, newest = journey_leads(200, tag, seed=5)
    sandbox.faults(latency_s=0.5, error_rate=0.1)
    proc = syncers.start(CDP_SYNC_BATCH_SIZE="50", **runner_env("CDP_SYNC", runner))
    await send_leads(producer, syncers.topic, leads)
    await until(lambda: len(sandbox.contacts("hubspot")) >= 20, within=60, every=0.1)
    proc.stop(signal.SIGKILL)
    assert len(sandbox.contacts("hubspot")) < len(newest)  # killed mid-delivery
    syncers.start(**runner_env("CDP_SYNC", runner))
    for system in ("hubspot", "mautic", "webhook"):
        try:
            await until(lambda system=system: newest_versions(sandbox.contacts(system), system) == newest, within=180)
        except AssertionError:
            got = newest_versions(sandbox.contacts(system), system)
            print(
                "DIFF",
                system,
                len(got),
                len(newest),
                {k: (got.get(k), v) for k, v in newest.items() if got.get(k) != v},
            )
            raise
    assert sandbox.stats()["regressions"] == 0


async def test_webhook_signatures_verify_and_a_wrong_secret_is_refused(
    syncers: Syncers, sandbox: Sandbox, producer, pg_dsn
) -> None:
    tag = uuid.uuid4().hex[:6]
    bad = sandbox.post_webhook(b"{}", {"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})
    assert bad.status_code == 401
    syncers.start(CDP_SYNC_DESTINATIONS="webhook", CDP_WEBHOOK_SECRET="whsec_d3Jvbmctc2VjcmV0")
    lead = make_lead(f"{tag}-p", f"{tag}@example.org")
    await send_leads(producer, syncers.topic, [lead])
    conn = await asyncpg.connect(pg_dsn)
    try:
        row = None
        for _ in range(150):
            row = await conn.fetchrow("SELECT * FROM lead_deliveries WHERE lead_event_id = $1", lead["eventId"])
            if row:
                break
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    assert row and row["status"] == "failed" and "401" in row["last_error"]
    assert sandbox.contacts("webhook") == {}


async def test_a_permanent_refusal_is_recorded_published_and_retried_with_the_cli(
    syncers: Syncers, sandbox: Sandbox, producer, pg_dsn, kafka_bootstrap
) -> None:
    """A 400-refused lead is listed with HubSpot's reason; `cdp leads retry --lead` puts
    that one back in HubSpot's queue (from a shell with no destination settings) and the
    running syncer delivers it."""
    tag = uuid.uuid4().hex[:6]
    refused, other, fine = f"{tag}-no@example.org", f"{tag}-no2@example.org", f"{tag}-yes@example.org"
    sandbox.faults(reject_emails=[refused, other], only=["hubspot"])
    failed_tail = await TopicTail(kafka_bootstrap, Topic.LEADS_FAILED).start()
    try:
        syncers.start(CDP_SYNC_DESTINATIONS="hubspot")
        await send_leads(
            producer,
            syncers.topic,
            [make_lead(f"{tag}-a", refused), make_lead(f"{tag}-c", other), make_lead(f"{tag}-b", fine)],
        )
        got = await failed_tail.collect(lambda r: r.get("profileId", "").startswith(tag), want=2, within=30)
    finally:
        await failed_tail.stop()
    mine = {g["profileId"]: g for g in got}
    assert mine[f"{tag}-a"]["destination"] == "hubspot" and "VALIDATION_ERROR" in mine[f"{tag}-a"]["error"]
    assert mine[f"{tag}-a"]["lead"]["contact"]["email"] == refused
    assert list(sandbox.contacts("hubspot")) == [fine]
    bare = {"PATH": "/usr/bin:/bin", "CDP_PG_DSN": pg_dsn, "CDP_SYNC_GROUP_ID": syncers.group}
    listed = syncers.cli_env(bare, "leads", "failed", "--destination", "hubspot")
    assert listed.returncode == 0 and refused in listed.stdout and "VALIDATION_ERROR" in listed.stdout, listed.stderr
    sandbox.faults(reject_emails=[])
    retried = syncers.cli_env(bare, "leads", "retry", "--lead", f"{tag}-a-v1")
    assert retried.returncode == 0, retried.stderr + retried.stdout
    assert "1 for hubspot" in retried.stdout
    await until(lambda: set(sandbox.contacts("hubspot")) == {refused, fine}, within=30, every=0.1)
    conn = await asyncpg.connect(pg_dsn)
    try:
        status = dict(
            await conn.fetch(
                "SELECT lead_event_id, status FROM lead_deliveries WHERE lead_event_id = ANY($1::text[]) "
                "AND destination = 'hubspot'",
                [f"{tag}-a-v1", f"{tag}-c-v1"],
            )
        )
    finally:
        await conn.close()
    assert status == {f"{tag}-a-v1": "delivered", f"{tag}-c-v1": "failed"}  # only the one named went again
    still = syncers.cli_env(bare, "leads", "failed", "--destination", "hubspot")
    assert other in still.stdout and refused not in still.stdout


async def test_a_time_range_is_replayed_to_one_destination_only(
    syncers: Syncers, sandbox: Sandbox, producer, pg_dsn
) -> None:
    """`cdp leads replay --destination mautic`: every person of the range is sent to Mautic
    once more (its newest version), HubSpot and the webhook get nothing new."""
    tag = uuid.uuid4().hex[:6]
    syncers.start()
    leads = [make_lead(f"{tag}-{i}", f"{tag}-{i}@example.org", v) for i in range(5) for v in (1, 2)]
    await send_leads(producer, syncers.topic, leads)
    await until(lambda: sum(e.startswith(tag) for e in sandbox.contacts("webhook")) == 5, within=30, every=0.1)
    await until(lambda: sum(e.startswith(tag) for e in sandbox.contacts("mautic")) == 5, within=30, every=0.1)
    await until(lambda: sum(e.startswith(tag) for e in sandbox.contacts("hubspot")) == 5, within=30, every=0.1)
    before = {s: len(sandbox.requests(s)) for s in ("hubspot", "mautic", "webhook")}
    updates = {e: c["updates"] for e, c in sandbox.contacts("mautic").items() if e.startswith(tag)}
    env = {"PATH": "/usr/bin:/bin", **syncers.env()}
    dry = syncers.cli_env(env, "leads", "replay", "--destination", "mautic", "--since", "10m", "--dry-run")
    assert dry.returncode == 0 and "5 person(s)" in dry.stdout, dry.stdout + dry.stderr
    done = syncers.cli_env(env, "leads", "replay", "--destination", "mautic", "--since", "10m", "--yes")
    assert done.returncode == 0 and "5 lead(s) queued for mautic" in done.stdout, done.stdout + done.stderr
    conn = await asyncpg.connect(pg_dsn)
    try:

        async def replayed() -> int:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM lead_deliveries WHERE destination = 'mautic' AND profile_id LIKE $1 "
                    "AND status = 'delivered' AND updated_at > now() - interval '1 minute' AND attempts >= 2",
                    f"{tag}-%",
                )
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while await replayed() < 5:
            assert loop.time() < deadline, "the replayed leads were not delivered"
            await asyncio.sleep(0.1)
        queued = await conn.fetchval(
            "SELECT count(*) FROM delivery_queue WHERE owner = $1 AND profile_id LIKE $2", syncers.group, f"{tag}-%"
        )
    finally:
        await conn.close()
    assert queued == 0
    assert len(sandbox.requests("mautic")) > before["mautic"]
    assert len(sandbox.requests("hubspot")) == before["hubspot"]
    assert len(sandbox.requests("webhook")) == before["webhook"]
    after = {e: c for e, c in sandbox.contacts("mautic").items() if e.startswith(tag)}
    assert {e: c["updates"] for e, c in after.items()} == {e: n + 1 for e, n in updates.items()}  # once more each
    assert {c["versions"][-1] for c in after.values()} == {2}  # the newest version, never an older one


def _metrics(port: int) -> str:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return ""  # not up yet


def _gauge(text: str, name: str, destination: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'destination="{destination}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_destination_that_is_down_holds_up_no_other(syncers: Syncers, sandbox: Sandbox, producer) -> None:
    """HubSpot answers 500 to everything: Mautic and the webhook get every lead meanwhile,
    the breaker and queue gauges say HubSpot is cut off and waiting; once HubSpot is back
    it gets each person once, the newest version."""
    tag = uuid.uuid4().hex[:6]
    leads, newest = journey_leads(60, tag, seed=11)
    port = free_port()
    syncers.start(CDP_SYNC_METRICS_PORT=str(port), CDP_SYNC_BREAKER_COOLDOWN_S="5")
    await sandbox.bootstrapped()
    sandbox.faults(reject_status=500, only=["hubspot"])
    # in waves: each must reach Mautic and the webhook while HubSpot still fails (a batch
    # waiting for every destination would hold the second wave back)
    waves = [[x for x in leads if int(x["profileId"].rsplit("p", 1)[1]) % 3 == w] for w in range(3)]
    for wave in waves:
        await send_leads(producer, syncers.topic, wave)
        want = {x["contact"]["email"] for x in wave}
        for system in ("mautic", "webhook"):
            await until(lambda system=system, want=want: want <= set(sandbox.contacts(system)), within=60)
    for system in ("mautic", "webhook"):
        assert newest_versions(sandbox.contacts(system), system) == newest
    assert sandbox.contacts("hubspot") == {}  # still down, and nobody waited for it

    def cut_off() -> bool:
        text = _metrics(port)
        return (
            _gauge(text, "cdp_syncer_breaker_open", "hubspot") == 1.0
            and _gauge(text, "cdp_syncer_queue_leads", "hubspot") >= len(newest)
            and _gauge(text, "cdp_syncer_queue_leads", "webhook") == 0
        )

    await until(cut_off, within=30, every=0.2)
    sandbox.faults(reject_status=0, only=[])
    await until(lambda: newest_versions(sandbox.contacts("hubspot"), "hubspot") == newest, within=90)
    assert all(c["updates"] == 1 for c in sandbox.contacts("hubspot").values())  # once, the newest
    assert sandbox.stats()["regressions"] == 0


async def test_a_429_pauses_that_destination_exactly_as_long_as_it_asks(
    syncers: Syncers, sandbox: Sandbox, producer
) -> None:
    tag = uuid.uuid4().hex[:6]
    leads, newest = journey_leads(30, tag, seed=12)
    syncers.start()
    await sandbox.bootstrapped()
    sandbox.faults(throttle_next=1, retry_after_s=3, only=["hubspot"])
    await send_leads(producer, syncers.topic, leads)
    for system in ("hubspot", "webhook"):
        await until(lambda system=system: newest_versions(sandbox.contacts(system), system) == newest, within=60)
    log = sandbox.requests("hubspot")
    throttled = next(i for i, r in enumerate(log) if r["answer"] == "429")
    gap = log[throttled + 1]["at"] - log[throttled]["at"]
    assert gap >= 3.0, gap  # not a moment before the destination asked
    assert gap < 3.0 + 2.0, gap  # and not a growing backoff after it
    assert sum(r["answer"] == "429" for r in log) == 1


async def test_half_the_requests_failing_slows_a_destination_but_never_stops_it(
    syncers: Syncers, sandbox: Sandbox, producer
) -> None:
    """50% 503s at HubSpot: every lead arrives while the fault is still on (retries, no
    breaker opening on a destination that answers half the time)."""
    tag = uuid.uuid4().hex[:6]
    leads = [make_lead(f"{tag}-p{i}", f"{tag}-{i}@example.org", 1) for i in range(150)]
    port = free_port()
    syncers.start(CDP_SYNC_METRICS_PORT=str(port))
    await sandbox.bootstrapped()
    sandbox.faults(error_rate=0.5, only=["hubspot"])
    await send_leads(producer, syncers.topic, leads)
    opened = False

    def all_arrived() -> bool:
        nonlocal opened
        text = _metrics(port)
        opened = opened or _gauge(text, "cdp_syncer_breaker_open", "hubspot") == 1.0
        return len(sandbox.contacts("hubspot")) == len(leads)

    await until(all_arrived, within=90, every=0.2)
    answers = sandbox.stats()["requests"]["hubspot"]
    assert answers.get("503", 0) > 0 and answers.get("200", 0) > 0, answers  # the fault was really served
    assert not opened
