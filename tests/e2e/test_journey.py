"""The seed's journey through the whole platform, over HTTP only: collector, enricher,
segmenter, syncer (to the sandbox marketing-automation server), each a real process on the
real topics, Postgres and Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import CHROME, IPHONE, Pipeline, Visitor, post, until

pytestmark = pytest.mark.integration


async def test_the_seed_journey_end_to_end(pipeline: Pipeline, collector, sandbox, pg) -> None:  # type: ignore[no-untyped-def]
    run = pipeline.run
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
    pipeline: Pipeline, collector, sandbox, pg
) -> None:
    """`cdp simulate`'s mix through the real pipeline: every event accepted, bots kept out of
    the profiles, and each visitor who filled in the contact form is one contact at the sandbox
    with the campaign story attached."""
    from cdp_simulator.simulate import send

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
