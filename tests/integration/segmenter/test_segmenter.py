"""The segmenter as running processes: the seed's journey, identity merges, order,
redelivery, concurrency, definitions and bad input, against real Kafka, Postgres, Redis."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.helpers import TopicTail
from tests.integration.segmenter.conftest import (
    IPHONE,
    Journey,
    Segmenters,
    apply_definitions,
    profile_of,
    send,
)

pytestmark = pytest.mark.integration

LINKEDIN = (
    "?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4&utm_content=video-ad&li_fat_id=abc"
)


def _uid() -> str:
    return uuid.uuid4().hex[:10]


def seed_journey(aid: str, email: str, start: datetime) -> Journey:
    """The seed: an anonymous LinkedIn visit (case study, scroll, video, the calculator
    without an email), a return visit days later (pricing), then the contact form."""
    j = Journey(aid, start)
    j.page("/case-studies/automotive", LINKEDIN)
    j.track("Scroll Depth", "/case-studies/automotive", percent=50, path="/case-studies/automotive")
    j.track("Scroll Depth", "/case-studies/automotive", percent=90, path="/case-studies/automotive")
    j.track("Video Started", "/case-studies/automotive", title="Fleet savings in 90 seconds")
    j.track("Video Completed", "/case-studies/automotive", title="Fleet savings in 90 seconds")
    j.page("/benefit-calculator")
    j.track(
        "Form Submitted",
        "/benefit-calculator",
        form="benefit-calculator",
        values={"vehicles": 120, "km_per_year": 40000},
    )
    j.wait(days=3)
    j.referrer = None
    j.page("/")
    j.page("/pricing")
    j.track(
        "Form Submitted",
        "/contact",
        form="contact",
        values={"email": email.upper(), "firstName": "Ada", "company": "Autowerk BV"},
    )
    j.identify(email=email)
    return j


async def test_the_seed_journey_yields_one_profile_with_everything_and_exactly_one_lead(
    segmenters: Segmenters, producer, pg, redis, leads: TopicTail, changes: TopicTail
) -> None:
    aid, email = f"seed-{_uid()}", f"ada.{_uid()}@autowerk.example"
    journey = seed_journey(aid, email, datetime.now(UTC) - timedelta(days=4))
    segmenters.start()
    await send(producer, segmenters.topic, journey.hits)

    p = await profile_of(pg, f"email:{email}", until=lambda p: p.get("stage") == "mql")
    assert await profile_of(pg, f"anon:{aid}") == p  # one profile holds both ids
    assert p["pageViews"] == 4 and p["interactions"] == 6
    assert p["pages"] == {"/case-studies/automotive": 1, "/benefit-calculator": 1, "/": 1, "/pricing": 1}
    assert p["maxScroll"] == {"/case-studies/automotive": 90}
    assert p["videosStarted"] == p["videosCompleted"] == ["Fleet savings in 90 seconds"]
    assert [c["name"] for c in p["calculators"]] == ["benefit-calculator"]
    assert p["calculators"][0]["values"] == {"vehicles": 120, "km_per_year": 40000}
    assert [f["name"] for f in p["forms"]] == ["contact"]
    assert len(p["windows"]) == 2  # two sessions, three days apart
    role = p["traits"]["role"]
    assert (role["value"], role["source"], role["ruleId"]) == ("CEO", "implicit", "linkedin-ceo-automotive")
    assert p["traits"]["industry"]["value"] == "automotive"
    assert p["traits"]["email"] == p["traits"]["email"] | {"value": email, "source": "explicit"}
    assert p["firstTouch"]["campaign"] == "ceo-automotive-q4" and p["firstTouch"]["channel"] == "Paid Social"
    assert [t["channel"] for t in p["touchpoints"]] == ["Paid Social", "Direct"]
    assert p["segments"] == ["automotive-ceos", "calculator-users", "engaged", "pricing-interest"]
    assert p["score"] == 70
    assert {b["rule"] for b in p["scoreBreakdown"]} == {
        "case-study-view",
        "pricing-view",
        "video-completed",
        "calculator-completed",
        "returning-visitor",
    }

    got = await leads.collect(lambda r: r.get("profileId") == p["id"], want=1, within=20, settle=3)
    assert len(got) == 1, got
    lead = got[0]
    assert lead["_key"] == p["id"]
    assert (lead["schema"], lead["eventType"], lead["version"]) == ("cdp.lead/v1", "lead.qualified", 1)
    assert lead["eventId"] == f"{p['id']}-v1" and lead["qualifiedBy"] == "score"
    assert lead["contact"] == {
        "email": email,
        "userId": None,
        "firstName": "Ada",
        "lastName": None,
        "company": "Autowerk BV",
        "phone": None,
    }
    assert (
        lead["traits"]["role"]["source"] == "implicit" and lead["traits"]["role"]["ruleId"] == "linkedin-ceo-automotive"
    )
    assert lead["score"] == 70 and len(lead["scoreBreakdown"]) == 5
    assert lead["segments"] == p["segments"]
    b = lead["behaviour"]
    assert (b["pageViews"], b["sessions"]) == (4, 2)
    assert b["calculators"][0]["values"] == {"vehicles": 120, "km_per_year": 40000}
    assert b["videosCompleted"] == ["Fleet savings in 90 seconds"] and b["maxScroll"]["/case-studies/automotive"] == 90
    assert lead["firstTouch"]["campaign"] == "ceo-automotive-q4" and lead["lastTouch"]["channel"] == "Direct"
    assert [c["event"] for c in lead["conversions"]] == ["Form Submitted", "Form Submitted"]
    assert lead["anonymousIds"] == [aid] and lead["devices"] == ["desktop/Mac OS X/Chrome"]
    assert lead["firstSeen"] < lead["lastSeen"]

    entered = await changes.collect(lambda r: r.get("profileId") == p["id"], want=4, within=10)
    assert sorted(c["segmentId"] for c in entered if c["change"] == "entered") == p["segments"]

    summary = orjson.loads(await redis.get(f"cdp:p:{p['id']}"))
    assert summary["segments"] == p["segments"] and summary["stage"] == "mql" and summary["score"] == 70
    assert (await redis.get(f"cdp:aid:{aid}")).decode() == p["id"]
    assert await redis.sismember("cdp:seg:automotive-ceos", p["id"])
    lead_row = await pg.fetchrow("SELECT * FROM leads WHERE profile_id = $1", p["id"])
    assert lead_row["email"] == email and lead_row["version"] == 1
    segmenters.alive()


async def test_a_second_device_merges_into_the_known_profile(segmenters: Segmenters, producer, pg, redis) -> None:
    email = f"bo.{_uid()}@example.org"
    laptop, phone = f"laptop-{_uid()}", f"phone-{_uid()}"
    t0 = datetime.now(UTC) - timedelta(days=2)
    a = Journey(laptop, t0).page("/").page("/pricing").identify(email=email)
    b = Journey(phone, t0 + timedelta(days=1), ua=IPHONE).page("/case-studies/x").page("/blog")
    segmenters.start()
    await send(producer, segmenters.topic, a.hits)
    known = await profile_of(pg, f"email:{email}")
    await send(producer, segmenters.topic, b.hits)
    phone_profile = await profile_of(pg, f"anon:{phone}", until=lambda p: p["pageViews"] == 2)
    assert phone_profile["id"] != known["id"]
    later = Journey(phone, t0 + timedelta(days=1, hours=1), ua=IPHONE).identify(email=email.upper())
    await send(producer, segmenters.topic, later.hits)

    merged = await profile_of(pg, f"anon:{phone}", until=lambda p: p["id"] == known["id"])
    assert merged["pageViews"] == 4
    assert set(merged["anonymousIds"]) == {laptop, phone}
    assert merged["firstSeen"] == known["firstSeen"]
    assert set(merged["devices"]) == {"desktop/Mac OS X/Chrome", "mobile/iOS/Mobile Safari"}
    assert merged["pages"]["/pricing"] == 1 and merged["pages"]["/case-studies/x"] == 1
    tomb = await pg.fetchrow("SELECT data, merged_into FROM profiles WHERE id = $1", phone_profile["id"])
    assert tomb["data"] is None and tomb["merged_into"] == known["id"]
    assert (
        await pg.fetchval(
            "SELECT count(*) FROM profile_merges WHERE from_profile = $1 AND into_profile = $2",
            phone_profile["id"],
            known["id"],
        )
        == 1
    )
    assert await redis.get(f"cdp:p:{phone_profile['id']}") is None
    assert (await redis.get(f"cdp:aid:{phone}")).decode() == known["id"]


async def test_two_identified_profiles_are_never_merged_and_the_conflict_is_recorded(
    segmenters: Segmenters, producer, pg
) -> None:
    a_mail, b_mail, shared = f"a.{_uid()}@example.org", f"b.{_uid()}@example.org", f"shared-{_uid()}"
    t0 = datetime.now(UTC) - timedelta(hours=5)
    segmenters.start()
    await send(
        producer, segmenters.topic, Journey(shared, t0).page("/").identify("user-a-" + _uid(), email=a_mail).hits
    )
    a = await profile_of(pg, f"email:{a_mail}")
    # someone else logs in on the same computer, with their own user id
    b_user = "user-b-" + _uid()
    await send(
        producer,
        segmenters.topic,
        Journey(shared, t0 + timedelta(hours=1)).identify(b_user, email=b_mail).page("/x").hits,
    )
    b = await profile_of(pg, f"user:{b_user}")
    assert b["id"] != a["id"]
    assert b["traits"]["email"]["value"] == b_mail
    a_after = await profile_of(pg, f"email:{a_mail}")
    assert a_after["traits"]["email"]["value"] == a_mail  # not overwritten by the other person
    assert await pg.fetchval("SELECT profile_id FROM identities WHERE id = $1", f"anon:{shared}") == a["id"]
    rows = await pg.fetch("SELECT * FROM identity_conflicts WHERE profile_a = $1", a["id"])
    assert rows and "different" in rows[0]["reason"]


async def test_a_late_event_never_overwrites_a_newer_trait_but_still_counts(
    segmenters: Segmenters, producer, pg
) -> None:
    aid = f"late-{_uid()}"
    t0 = datetime.now(UTC) - timedelta(days=1)
    segmenters.start()
    await send(
        producer, segmenters.topic, Journey(aid, t0 + timedelta(hours=2)).identify(company="New BV").page("/").hits
    )
    await profile_of(pg, f"anon:{aid}", until=lambda p: p["pageViews"] == 1)
    late = Journey(aid, t0).identify(company="Old BV").page("/old")  # happened two hours earlier, arrives now
    await send(producer, segmenters.topic, late.hits)
    p = await profile_of(pg, f"anon:{aid}", until=lambda p: p["pageViews"] == 2)
    assert p["traits"]["company"]["value"] == "New BV"
    assert p["traits"]["company"]["firstSeen"] < p["traits"]["company"]["lastSeen"]
    assert p["firstSeen"] < p["lastSeen"] and len(p["windows"]) == 2


async def test_redelivering_a_whole_batch_changes_nothing(
    segmenters: Segmenters, producer, pg, leads: TopicTail
) -> None:
    aid, email = f"again-{_uid()}", f"re.{_uid()}@example.org"
    journey = seed_journey(aid, email, datetime.now(UTC) - timedelta(days=4))
    segmenters.start()
    await send(producer, segmenters.topic, journey.hits)
    first = await profile_of(pg, f"email:{email}", until=lambda p: p.get("stage") == "mql")
    await send(producer, segmenters.topic, journey.hits)  # the same records again (same messageIds)
    await send(producer, segmenters.topic, journey.hits[:5], partition=3)  # and on another partition
    await segmenters.wait_counter(
        len(journey.hits) + 5, "cdp_segmenter_records_total", outcome="dropped", reason="duplicate"
    )
    again = await profile_of(pg, f"email:{email}")
    assert again == first
    got = await leads.collect(lambda r: r.get("profileId") == first["id"], want=1, within=10, settle=3)
    assert len(got) == 1


async def test_two_instances_on_two_devices_of_one_person_end_with_exact_counters(
    segmenters: Segmenters, producer, pg
) -> None:
    email = f"two.{_uid()}@example.org"
    d1, d2 = f"d1-{_uid()}", f"d2-{_uid()}"
    t0 = datetime.now(UTC) - timedelta(days=1)
    a, b = Journey(d1, t0), Journey(d2, t0 + timedelta(minutes=1), ua=IPHONE)
    a.identify(email=email)
    b.identify(email=email)
    for i in range(150):
        a.page(f"/a/{i % 7}")
        b.page(f"/b/{i % 5}")
        if i % 10 == 0:
            a.track("Clicked", "/a")
            b.track("Clicked", "/b")
    segmenters.start()
    segmenters.start()
    await segmenters.wait_all_consuming(producer)
    # each device on its own partition, owned by different instances: both write the same person at once
    for x, y in zip(a.hits, b.hits, strict=True):
        await send(producer, segmenters.topic, [x], partition=0)
        await send(producer, segmenters.topic, [y], partition=3)
    p = await profile_of(pg, f"email:{email}", within=60, until=lambda p: p["pageViews"] >= 300)
    assert p["pageViews"] == 300
    assert p["events"]["Clicked"] == 30 and p["interactions"] == 30
    assert sum(p["pages"].values()) == 300
    assert set(p["anonymousIds"]) == {d1, d2}
    owners = await pg.fetch(
        "SELECT DISTINCT profile_id FROM identities WHERE id = ANY($1::text[])",
        [f"anon:{d1}", f"anon:{d2}", f"email:{email}"],
    )
    assert [r["profile_id"] for r in owners] == [p["id"]]
    for i in range(2):  # both instances took part
        assert segmenters.counter("cdp_segmenter_records_total", i, outcome="applied", reason="ok") > 0
    segmenters.alive()


async def test_four_instances_resolve_people_seen_on_four_devices_at_once_into_one_profile_each(
    segmenters: Segmenters, producer, pg
) -> None:
    """Each person browses anonymously on four devices, then identifies on all of them and
    browses on: every device on its own partition, so four instances merge the same person
    concurrently. Each ends as one live profile owning every id, with exact counters."""
    people, uid = 10, _uid()
    t0 = datetime.now(UTC) - timedelta(hours=3)
    devices: dict[str, list[Journey]] = {}
    for i in range(people):
        email = f"multi.{i}.{uid}@example.org"
        devices[email] = [Journey(f"m{i}-{d}-{uid}", t0 + timedelta(minutes=d)) for d in range(4)]
        for j in devices[email]:
            for k in range(4):
                j.page(f"/before/{k}")
            j.identify(email=email)
            for k in range(4):
                j.page(f"/after/{k}")
    for _ in range(4):
        segmenters.start()
    await segmenters.wait_all_consuming(producer)
    for step in range(9):  # the same step of every device at once, each device to its partition
        await asyncio.gather(
            *(
                send(
                    producer,
                    segmenters.topic,
                    [j.hits[step] for js in devices.values() for j in js[d : d + 1]],
                    partition=d,
                )
                for d in range(4)
            )
        )
    for email, js in devices.items():
        p = await profile_of(pg, f"email:{email}", within=90, until=lambda p: p["pageViews"] >= 32)
        assert p["pageViews"] == 32 and sum(p["pages"].values()) == 32, email
        assert set(p["anonymousIds"]) == {j.anonymous_id for j in js}
        ids = [f"anon:{j.anonymous_id}" for j in js] + [f"email:{email}"]
        owners = await pg.fetch("SELECT DISTINCT profile_id FROM identities WHERE id = ANY($1::text[])", ids)
        assert [r["profile_id"] for r in owners] == [p["id"]], email  # never split
        assert await pg.fetchval("SELECT merged_into FROM profiles WHERE id = $1", p["id"]) is None
    for i in range(4):  # every instance took part
        assert segmenters.counter("cdp_segmenter_records_total", i, outcome="applied", reason="ok") > 0
    segmenters.alive()


async def test_bad_input_is_rejected_with_a_reason_bots_are_dropped_and_the_service_goes_on(
    segmenters: Segmenters, producer, pg, rejected_tail: TopicTail
) -> None:
    aid = f"after-{_uid()}"
    bot = Journey(
        f"bot-{_uid()}",
        datetime.now(UTC),
        ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    )
    bot.page("/")
    nobody = Journey("anonymous", datetime.now(UTC)).page("/")  # a placeholder id, refused
    nul = Journey(f"nul-{_uid()}", datetime.now(UTC)).track("Searched", query="a\u0000b")  # Postgres cannot store NUL
    segmenters.start()
    await producer.send_and_wait(segmenters.topic, b"{not json", key=b"x")
    await producer.send_and_wait(segmenters.topic, orjson.dumps({"event": {"type": "page"}}), key=b"x")
    await producer.send_and_wait(segmenters.topic, None, key=b"x")  # a None value (a tombstone)
    await producer.send_and_wait(segmenters.topic, orjson.dumps([1, 2]), key=b"x")  # a value of the wrong type
    await producer.send_and_wait(segmenters.topic, b"\xff\xfe\x00", key=b"x")  # undecodable bytes
    await send(
        producer, segmenters.topic, bot.hits + nobody.hits + nul.hits + Journey(aid, datetime.now(UTC)).page("/ok").hits
    )
    p = await profile_of(pg, f"anon:{aid}")
    assert p["pageViews"] == 1
    got = await rejected_tail.collect(
        lambda r: r.get("stage") == "segmenter" and r.get("sourceTopic") == segmenters.topic, want=7, within=15
    )
    assert sorted(r["reason"] for r in got) == ["malformed"] * 5 + ["no_usable_id", "unsupported_character"]
    assert all(r["message"] for r in got)
    await segmenters.wait_counter(1, "cdp_segmenter_records_total", outcome="dropped", reason="bot")
    assert await pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"anon:{bot.anonymous_id}") == 0
    segmenters.alive()


async def test_a_new_segment_applied_with_the_cli_reaches_existing_profiles(
    segmenters: Segmenters, producer, pg, redis, changes: TopicTail, settings, tmp_path: Path
) -> None:
    aid = f"defs-{_uid()}"
    segmenters.start()
    await send(producer, segmenters.topic, Journey(aid, datetime.now(UTC)).page("/docs/api").page("/docs/sdk").hits)
    p = await profile_of(pg, f"anon:{aid}", until=lambda p: p["pageViews"] == 2)
    assert "developers" not in p["segments"]
    # stored documents the pass meets first: one from before fields were added (it gets
    # their empty values) and one no code can evaluate (logged, counted, left as it was)
    old, broken = f"0-{aid}-old", f"0-{aid}-broken"
    await pg.executemany(
        "INSERT INTO profiles (id, data) VALUES ($1, $2::jsonb)",
        [(old, orjson.dumps({"id": old, "segments": []}).decode()), (broken, '{"traits": "?", "pages": 7}')],
    )
    doc = Path(__file__).parents[3] / "deploy/demo/segments.yaml"
    (tmp_path / "defs.yaml").write_text(
        doc.read_text().replace(
            "segments:\n",
            "segments:\n  - id: developers\n    name: Read the docs\n    condition: {page: {path: '/docs/*', min: 2}}\n",
            1,
        )
    )
    apply_definitions(settings, tmp_path / "defs.yaml")
    # picked up within the refresh interval, then a pass over every live profile in the
    # (shared) database reaches this one: how fast that pass is belongs to make bench
    got = await changes.collect(
        lambda r: r.get("profileId") == p["id"] and r["segmentId"] == "developers", want=1, within=90, settle=0
    )
    assert got and got[0]["change"] == "entered"
    after = await profile_of(pg, f"anon:{aid}")
    assert "developers" in after["segments"]
    assert await redis.sismember("cdp:seg:developers", p["id"])
    await segmenters.wait_counter(1, "cdp_segmenter_records_total", outcome="unevaluable", reason="reevaluation")
    assert orjson.loads(await pg.fetchval("SELECT data FROM profiles WHERE id = $1", broken)) == {
        "traits": "?",
        "pages": 7,
    }


async def test_a_qualified_lead_that_changes_gets_a_throttled_lead_updated(
    segmenters: Segmenters, producer, pg, leads: TopicTail, settings, tmp_path: Path
) -> None:
    doc = Path(__file__).parents[3] / "deploy/demo/segments.yaml"
    (tmp_path / "defs.yaml").write_text(doc.read_text().replace("update_interval_s: 300", "update_interval_s: 3"))
    apply_definitions(settings, tmp_path / "defs.yaml")
    aid, email = f"upd-{_uid()}", f"upd.{_uid()}@example.org"
    t0 = datetime.now(UTC) - timedelta(hours=1)
    segmenters.start()
    form = (
        Journey(aid, t0).page("/contact").track("Form Submitted", "/contact", form="contact", values={"email": email})
    )
    await send(producer, segmenters.topic, form.hits)
    p = await profile_of(pg, f"email:{email}", until=lambda p: p.get("lead"))
    first = await leads.collect(lambda r: r.get("profileId") == p["id"], want=1, within=10, settle=0)
    assert first[0]["qualifiedBy"] == "contact-form" and first[0]["version"] == 1
    # two changes at once: inside the interval they are held, then announced once
    await send(producer, segmenters.topic, Journey(aid, t0 + timedelta(minutes=5)).page("/pricing").hits)
    await send(producer, segmenters.topic, Journey(aid, t0 + timedelta(minutes=6)).page("/pricing").hits)
    got = await leads.collect(lambda r: r.get("profileId") == p["id"] and r["version"] > 1, want=1, within=15, settle=4)
    assert [(r["eventType"], r["version"]) for r in got] == [("lead.updated", 2)]
    assert got[0]["behaviour"]["pageViews"] == 3 and got[0]["eventId"] == f"{p['id']}-v2"
    row = await pg.fetchrow("SELECT version, pending FROM leads WHERE profile_id = $1", p["id"])
    assert (row["version"], row["pending"]) == (2, False)


async def test_a_killed_segmenter_restarts_without_losing_or_double_counting(
    segmenters: Segmenters, producer, pg
) -> None:
    run = _uid()
    visitors = [Journey(f"kill-{run}-{i}", datetime.now(UTC) - timedelta(hours=2)) for i in range(40)]
    for j in visitors:
        for k in range(50):
            j.page(f"/p/{k % 9}")
    proc = segmenters.start(CDP_SEGMENTER_BATCH_SIZE="200")
    hits = [h for pair in zip(*(j.hits for j in visitors), strict=True) for h in pair]
    await send(producer, segmenters.topic, hits)
    await segmenters.wait_counter(300, "cdp_segmenter_records_total", outcome="applied", reason="ok")
    proc.stop(signal.SIGKILL)
    killed = asyncio.get_running_loop().time()
    segmenters.procs.remove(proc)  # gone on purpose; its metrics port stays index 0
    segmenters.start()
    await send(producer, segmenters.topic, Journey(f"kill-{run}-after", datetime.now(UTC)).page("/after").hits)
    # the replacement is processing again within 15 s of the kill (the session timeout is 6 s)
    await segmenters.wait_counter(1, "cdp_stream_records_in_total", index=1, within=15, stage="segmenter")
    assert asyncio.get_running_loop().time() - killed <= 15
    for j in visitors:
        # the killed member's partitions move once its session times out
        p = await profile_of(pg, f"anon:{j.anonymous_id}", within=120, until=lambda p: p["pageViews"] >= 50)
        assert p["pageViews"] == 50 and sum(p["pages"].values()) == 50
