"""The seed's journey through the whole platform, over HTTP only: collector, enricher,
segmenter, syncer (to the sandbox marketing-automation server), each a real process on the
real topics, Postgres and Redis."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from cdp_syncer.sandbox import DEFAULT_SECRET
from tests.helpers import ROOT, ServiceProcess, TopicTail, free_port, python_module
from tests.integration.enricher.conftest import Enrichers
from tests.integration.syncer.conftest import make_lead

pytestmark = pytest.mark.integration
CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
SITE = "https://www.example.com"


def cdp(settings: Any, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args],
        env={
            "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
            "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


class Visitor:
    """Builds the events a tag would send, with event timestamps, for one device."""

    def __init__(self, anonymous_id: str, at: datetime, ua: str) -> None:
        self.aid, self.t, self.ua, self.events = anonymous_id, at, ua, []

    def _ev(self, ev: dict[str, Any], path: str, query: str = "") -> None:
        self.t += timedelta(seconds=20)
        self.events.append(
            {
                "anonymousId": self.aid,
                "messageId": str(uuid.uuid4()),
                "timestamp": self.t.isoformat(),
                "context": {"page": {"url": f"{SITE}{path}{query}", "path": path}, "userAgent": self.ua},
                **ev,
            }
        )

    def page(self, path: str, query: str = "") -> Visitor:
        self._ev({"type": "page", "properties": {"path": path}}, path, query)
        return self

    def track(self, name: str, on: str, **props: Any) -> Visitor:
        self._ev({"type": "track", "event": name, "properties": props}, on)
        return self

    def identify(self, **traits: Any) -> Visitor:
        self._ev({"type": "identify", "traits": traits}, "/")
        return self


async def post(collector: Any, v: Visitor) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(
            f"{collector.url}/v1/batch",
            auth=(collector.source.write_key, ""),
            headers={"user-agent": v.ua},
            json={"batch": v.events},
        )
    assert r.status_code == 200, r.text
    v.events = []


async def until(check: Any, within: float = 60, every: float = 0.5) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"not reached within {within}s (last: {last!r})")


@pytest.fixture
async def pipeline(collector, sandbox, settings, kafka_bootstrap, enriched: TopicTail, pg, definitions) -> Any:  # type: ignore[no-untyped-def]
    """Enricher, segmenter and syncer processes behind the session's collector, each shown
    to consume (a probe visitor reaches Postgres, a probe lead reaches the sandbox)."""
    cdp(settings, "rules", "apply", "-f", str(ROOT / "deploy/demo/rules.yaml"))
    common = {
        "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
        "CDP_REDIS_URL": settings.redis_url,
    }
    run = uuid.uuid4().hex[:8]
    enrichers = Enrichers(settings, kafka_bootstrap, "confluent")  # the defaults
    procs: list[ServiceProcess] = []
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        enrichers.start(CDP_ENRICHER_RULES_REFRESH_S="1")
        await enrichers.wait_consuming(producer, enriched)
        procs.append(
            ServiceProcess(
                "segmenter",
                python_module("cdp_segmenter.main"),
                {
                    **common,
                    "CDP_SEGMENTER_GROUP_ID": f"e2e-seg-{run}",
                    "CDP_SEGMENTER_AUTO_OFFSET_RESET": "latest",
                    "CDP_SEGMENTER_METRICS_PORT": str(free_port()),
                    "CDP_SEGMENTER_DEFINITIONS_REFRESH_S": "1",
                },
            )
        )
        procs.append(
            ServiceProcess(
                "syncer",
                python_module("cdp_syncer.main"),
                {
                    **common,
                    "CDP_SYNC_GROUP_ID": f"e2e-sync-{run}",
                    "CDP_SYNC_AUTO_OFFSET_RESET": "latest",
                    "CDP_SYNC_DESTINATIONS": "hubspot,webhook",
                    "CDP_SYNC_METRICS_PORT": str(free_port()),
                    "CDP_HUBSPOT_BASE_URL": sandbox.url,
                    "CDP_HUBSPOT_TOKEN": "sandbox-hubspot-token",
                    "CDP_WEBHOOK_URL": f"{sandbox.url}/webhook",
                    "CDP_WEBHOOK_SECRET": DEFAULT_SECRET,
                },
            )
        )

        # both consume: a probe visitor reaches Postgres, a probe lead reaches the sandbox
        async def segmenter_ready() -> bool:
            probe = Visitor(f"probe-{uuid.uuid4().hex[:6]}", datetime.now(UTC), CHROME).page("/probe")
            await post(collector, probe)
            await asyncio.sleep(1.0)
            return bool(await pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"anon:{probe.aid}"))

        await until(segmenter_ready, within=90, every=0.1)

        async def syncer_ready() -> bool:
            lead = make_lead(f"probe-{uuid.uuid4().hex[:6]}", f"probe-{uuid.uuid4().hex[:6]}@example.org")
            await producer.send_and_wait("cdp.leads.qualified", orjson.dumps(lead), key=lead["profileId"].encode())
            await asyncio.sleep(1.0)
            return lead["contact"]["email"] in sandbox.contacts("hubspot")

        await until(syncer_ready, within=90, every=0.1)

        yield run
    finally:
        await producer.stop()
        enrichers.stop()
        for proc in procs:
            proc.stop()


async def test_the_seed_journey_end_to_end(pipeline: str, collector, sandbox, pg) -> None:  # type: ignore[no-untyped-def]
    run = pipeline
    email = f"ada.{run}@autowerk.example"
    t0 = datetime.now(UTC) - timedelta(days=3)
    phone = Visitor(f"phone-{run}", t0 - timedelta(hours=5), IPHONE).page("/blog/ev-fleets")
    await post(collector, phone)
    laptop = Visitor(f"laptop-{run}", t0, CHROME)
    laptop.page(
        "/case-studies/automotive",
        "?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4&li_fat_id=e2e1",
    )
    laptop.track("Scroll Depth", "/case-studies/automotive", percent=75, path="/case-studies/automotive")
    laptop.track("Video Started", "/case-studies/automotive", title="Fleet savings")
    laptop.track("Video Completed", "/case-studies/automotive", title="Fleet savings")
    laptop.page("/benefit-calculator")
    laptop.track(
        "Form Submitted",
        "/benefit-calculator",
        form="benefit-calculator",
        values={"vehicles": 120, "km_per_year": 40000},
    )
    await post(collector, laptop)
    laptop.t += timedelta(days=2)
    laptop.page("/").page("/pricing").page("/pricing")
    laptop.track(
        "Form Submitted",
        "/contact",
        form="contact",
        values={"email": email, "firstName": "Ada", "company": "Autowerk BV"},
    )
    laptop.identify(email=email)
    await post(collector, laptop)
    phone.t = datetime.now(UTC) - timedelta(hours=1)
    phone.identify(email=email)
    await post(collector, phone)

    async def merged() -> dict | None:
        row = await pg.fetchrow(
            "SELECT p.data FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.id = $1",
            f"anon:phone-{run}",
        )
        if not row or not row["data"]:
            return None
        p = orjson.loads(row["data"])
        return p if {f"laptop-{run}", f"phone-{run}"} <= set(p["anonymousIds"]) else None

    p = await until(merged, within=60)
    assert p["traits"]["role"]["value"] == "CEO" and p["traits"]["industry"]["value"] == "automotive"
    assert len(p["windows"]) >= 2 and {"Paid Social", "Direct"} <= set(p["channels"])
    assert p["calculators"][0]["values"] == {"vehicles": 120, "km_per_year": 40000}
    assert p["pages"]["/pricing"] == 2 and p["maxScroll"]["/case-studies/automotive"] == 75
    assert p["score"] >= 50 and "automotive-ceos" in p["segments"] and "calculator-users" in p["segments"]
    assert (
        await pg.fetchval(
            "SELECT count(DISTINCT profile_id) FROM identities WHERE id = ANY($1::text[])",
            [f"anon:laptop-{run}", f"anon:phone-{run}", f"email:{email}"],
        )
        == 1
    )

    contact = await until(lambda: _contact(sandbox, email), within=60)
    props = contact["properties"]
    assert props["jobtitle"] == "CEO" and props["industry"] == "automotive"
    assert "benefit-calculator: vehicles=120, km_per_year=40000" in props["cdp_behaviour_summary"]
    assert props["cdp_first_touch_campaign"] == "ceo-automotive-q4"
    await asyncio.sleep(3)
    assert [e for e in sandbox.contacts("hubspot") if e == email] == [email]  # exactly one contact
    assert sandbox.stats()["regressions"] == 0


async def _contact(sandbox: Any, email: str) -> dict | None:
    return sandbox.contacts("hubspot").get(email)


async def test_cdp_simulate_traffic_becomes_profiles_and_one_contact_per_conversion(  # type: ignore[no-untyped-def]
    pipeline: str, collector, sandbox, pg
) -> None:
    """`cdp simulate`'s mix through the real pipeline: every event accepted, bots kept out of
    the profiles, and each visitor who filled in the contact form is one contact at the sandbox
    with the campaign story attached."""
    from cdp_console.simulate import send

    before = await pg.fetchval("SELECT count(*) FROM profiles")
    stats = await send(collector.url, collector.source.write_key, visitors=80, rate=800, days=14, seed=7)
    assert stats["events"] > 80 and stats["accepted"] == stats["events"] and stats["refused"] == 0
    assert stats["converted"], "seed 7 gives contact forms among 80 visitors"

    async def all_arrived() -> dict | None:
        contacts = sandbox.contacts("hubspot")
        return contacts if set(stats["converted"]) <= set(contacts) else None

    contacts = await until(all_arrived, within=90)
    for email in stats["converted"]:
        props = contacts[email]["properties"]
        assert props["lifecyclestage"] == "marketingqualifiedlead" and props["email"] == email
        assert "First touch:" in props["cdp_behaviour_summary"]
        assert contacts[email]["updates"] >= 1 and len(contacts[email]["versions"]) == contacts[email]["updates"]
    humans, people = stats["visitors"] - len(stats["bot_ids"]), len(stats["converted"])

    async def created() -> int | None:
        n = int(await pg.fetchval("SELECT count(*) FROM profiles")) - before
        return n if n >= humans else None

    # each human visitor is a profile; a second device seen before it identifies adds a row
    # that is merged away, so at most one more per person who converted
    assert humans <= await until(created, within=60) <= humans + people
    assert stats["bot_ids"], "seed 7 gives bots among 80 visitors"
    bot_profiles = await pg.fetchval(
        "SELECT count(*) FROM identities WHERE id = ANY($1::text[])", [f"anon:{a}" for a in stats["bot_ids"]]
    )
    assert bot_profiles == 0
