"""Conversions to LinkedIn, Google Ads and Meta against the sandbox, which checks each
API's documented wire format strictly: sent only for a person who allowed ads and came
from that platform's ad click, in each API's exact shape, once (their deduplication keys)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from cdp_common.records import QualifiedLead
from cdp_syncer import sandbox_ads as sa
from tests.integration.syncer.conftest import Sandbox, Syncers, make_lead, send_leads, until

pytestmark = pytest.mark.integration
CUSTOMER, ACTION = "1234567890", "987654"
URN = "urn:lla:llaPartnerConversion:4242"


def ad_env(sandbox: Sandbox) -> dict[str, str]:
    return {
        "CDP_SYNC_DESTINATIONS": "linkedin,google_ads,meta",
        "CDP_LINKEDIN_BASE_URL": sandbox.url,
        "CDP_LINKEDIN_TOKEN": sa.LINKEDIN_TOKEN,
        "CDP_LINKEDIN_CONVERSION": URN,
        "CDP_GOOGLE_ADS_BASE_URL": sandbox.url,
        "CDP_GOOGLE_ADS_CUSTOMER_ID": "123-456-7890",
        "CDP_GOOGLE_ADS_CONVERSION_ACTION": ACTION,
        "CDP_GOOGLE_ADS_TOKEN": sa.GOOGLE_TOKEN,
        "CDP_GOOGLE_ADS_DEVELOPER_TOKEN": sa.GOOGLE_DEVELOPER_TOKEN,
        "CDP_META_BASE_URL": sandbox.url,
        "CDP_META_PIXEL_ID": "555000111",
        "CDP_META_TOKEN": sa.META_TOKEN,
    }


CLICKED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def lead(profile: str, email: str, network: str | None, ads: bool | None, version: int = 1) -> dict[str, Any]:
    doc = make_lead(profile, email, version)
    clicked = CLICKED
    doc["qualifiedAt"] = (clicked + timedelta(minutes=40)).isoformat()
    doc["touchpoints"] = [
        {"at": (clicked - timedelta(days=1)).isoformat(), "channel": "Direct"},
        {
            "at": clicked.isoformat(),
            "channel": "Paid Social" if network != "Google" else "Paid Search",
            "source": "ad",
            "clickNetwork": network,
            "clickId": f"click-{profile}" if network else None,
        },
    ]
    doc["conversions"] = [{"event": "Demo Booked", "at": (clicked + timedelta(minutes=30)).isoformat()}]
    if ads is not None:
        doc["consent"] = {"ads": {"granted": ads, "at": clicked.isoformat()}}
    return QualifiedLead.model_validate(doc).model_dump(mode="json", by_alias=True)


def sha(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


def conversions(sandbox: Sandbox, platform: str) -> dict[str, Any]:
    return httpx.get(f"{sandbox.url}/_sandbox/conversions/{platform}", timeout=5).json()


async def test_conversions_go_only_for_consenting_clickers_in_each_api_s_shape(
    syncers: Syncers, sandbox: Sandbox, producer, pg_dsn
) -> None:
    tag = uuid.uuid4().hex[:6]
    li, g, fb = f"{tag}-li", f"{tag}-g", f"{tag}-fb"
    refused, unasked = f"{tag}-no", f"{tag}-unasked"
    syncers.start(**ad_env(sandbox))
    await send_leads(
        producer,
        syncers.topic,
        [
            lead(li, f"{tag}.li@example.org", "LinkedIn", True),
            lead(g, f"Ada.Lovelace.{tag}@Gmail.com", "Google", True),
            lead(fb, f"{tag}.fb@example.org", "Facebook", True),
            lead(refused, f"{tag}.no@example.org", "LinkedIn", False),
            lead(unasked, f"{tag}.unasked@example.org", "Facebook", None),
        ],
    )
    conn = await asyncpg.connect(pg_dsn)
    try:

        async def final() -> dict[tuple[str, str], tuple[str, str | None]]:
            rows = await conn.fetch(
                "SELECT profile_id, destination, status, last_error FROM lead_deliveries WHERE profile_id LIKE $1",
                f"{tag}-%",
            )
            return {(r["profile_id"], r["destination"]): (r["status"], r["last_error"]) for r in rows}

        got: dict[tuple[str, str], tuple[str, str | None]] = {}
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < 15 and asyncio.get_running_loop().time() < deadline:
            got = await final()
            await asyncio.sleep(0.1)
        assert len(got) == 15, got  # five people, three platforms: each final
    finally:
        await conn.close()
    assert got[(li, "linkedin")][0] == got[(g, "google_ads")][0] == got[(fb, "meta")][0] == "delivered"
    assert got[(refused, "linkedin")] == ("skipped", "no ads consent")
    assert got[(unasked, "meta")] == ("skipped", "no ads consent")  # ads need an explicit yes
    assert got[(li, "google_ads")] == ("skipped", "no Google ad click on the profile")

    linkedin = conversions(sandbox, "linkedin")["conversions"]
    assert set(linkedin) == {f"{li}:lead", f"{li}:Demo Booked:" + linkedin_demo_suffix(linkedin, li)}
    el = linkedin[f"{li}:lead"]
    assert el["conversion"] == URN and isinstance(el["conversionHappenedAt"], int)
    assert {"idType": "SHA256_EMAIL", "idValue": sha(f"{tag}.li@example.org")} in el["user"]["userIds"]
    assert {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": f"click-{li}"} in el["user"]["userIds"]

    google = list(conversions(sandbox, "google_ads")["conversions"].values())
    assert len(google) == 2 and {c["gclid"] for c in google} == {f"click-{g}"}
    c = next(x for x in google if x["orderId"] == f"{g}:lead")
    assert c["conversionAction"] == f"customers/{CUSTOMER}/conversionActions/{ACTION}"
    assert c["userIdentifiers"] == [{"hashedEmail": sha(f"adalovelace{tag}@gmail.com".lower())}]  # Gmail dots gone
    assert c["consent"] == {"adUserData": "GRANTED"} and c["conversionDateTime"].endswith("+00:00")

    meta = list(conversions(sandbox, "meta")["conversions"].values())
    assert sorted(e["event_name"] for e in meta) == ["Demo Booked", "Lead"]
    e = next(x for x in meta if x["event_name"] == "Lead")
    assert e["action_source"] == "system_generated" and e["event_id"] == f"{fb}:lead"
    assert e["user_data"]["em"] == [sha(f"{tag}.fb@example.org")]
    assert e["user_data"]["fbc"].startswith("fb.1.") and e["user_data"]["fbc"].endswith(f".click-{fb}")
    assert not any(
        refused in k or unasked in k
        for p in ("linkedin", "google_ads", "meta")
        for k in conversions(sandbox, p)["conversions"]
    )

    # a later version repeats the conversions: every platform drops the copies by its key
    before = {p: len(conversions(sandbox, p)["conversions"]) for p in ("linkedin", "google_ads", "meta")}
    await send_leads(
        producer,
        syncers.topic,
        [
            lead(li, f"{tag}.li@example.org", "LinkedIn", True, 2),
            lead(g, f"Ada.Lovelace.{tag}@Gmail.com", "Google", True, 2),
            lead(fb, f"{tag}.fb@example.org", "Facebook", True, 2),
        ],
    )
    await until(lambda: [conversions(sandbox, p)["duplicates"] for p in before] == [2, 2, 2], within=30, every=0.2)
    assert {p: len(conversions(sandbox, p)["conversions"]) for p in before} == before


def linkedin_demo_suffix(linkedin: dict[str, Any], profile: str) -> str:
    key = next(k for k in linkedin if k.startswith(f"{profile}:Demo Booked:"))
    return key.rsplit(":", 1)[1]


def test_the_sandbox_refuses_what_each_api_refuses(sandbox: Sandbox) -> None:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    good = {
        "conversion": URN,
        "conversionHappenedAt": now_ms,
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": sha("a@b.org")}]},
    }
    li_headers = {
        "authorization": f"Bearer {sa.LINKEDIN_TOKEN}",
        "linkedin-version": "202511",
        "x-restli-protocol-version": "2.0.0",
        "x-restli-method": "BATCH_CREATE",
    }
    plain = {**good, "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": "a@b.org"}]}}
    r = httpx.post(f"{sandbox.url}/rest/conversionEvents", json={"elements": [good, plain]}, headers=li_headers)
    assert [e["status"] for e in r.json()["elements"]] == [201, 400]  # an unhashed email is refused
    no_version = {k: v for k, v in li_headers.items() if k != "linkedin-version"}
    assert (
        httpx.post(f"{sandbox.url}/rest/conversionEvents", json={"elements": [good]}, headers=no_version).status_code
        == 426
    )

    g_headers = {"authorization": f"Bearer {sa.GOOGLE_TOKEN}", "developer-token": sa.GOOGLE_DEVELOPER_TOKEN}
    conv = {
        "gclid": "abc",
        "conversionAction": f"customers/{CUSTOMER}/conversionActions/{ACTION}",
        "conversionDateTime": "2026-12-02T10:00:00Z",  # ISO, not Google's format
    }
    url = f"{sandbox.url}/v22/customers/{CUSTOMER}:uploadClickConversions"
    r = httpx.post(url, json={"conversions": [conv], "partialFailure": True}, headers=g_headers)
    assert r.status_code == 200 and r.json()["results"] == [{}]
    assert "INVALID_STRING_DATE_TIME" in str(r.json()["partialFailureError"])
    assert (
        httpx.post(url, json={"conversions": [conv]}, headers=g_headers).status_code == 400
    )  # partialFailure required
    no_dev = {"authorization": g_headers["authorization"]}
    assert httpx.post(url, json={"conversions": [conv], "partialFailure": True}, headers=no_dev).status_code == 401

    event = {
        "event_name": "Lead",
        "event_time": int(datetime.now(UTC).timestamp()),
        "action_source": "website",  # website events need the browser's user agent and URL
        "user_data": {"em": [sha("a@b.org")]},
    }
    meta_url = f"{sandbox.url}/v24.0/555000111/events"
    r = httpx.post(meta_url, json={"data": [event], "access_token": sa.META_TOKEN})
    assert r.status_code == 400 and r.json()["error"]["code"] == 100
    old = {**event, "action_source": "system_generated", "event_time": event["event_time"] - 8 * 86_400}
    assert (
        httpx.post(meta_url, json={"data": [old], "access_token": sa.META_TOKEN}).json()["error"]["error_subcode"]
        == 2804003
    )
    assert httpx.post(meta_url, json={"data": [event], "access_token": "nope"}).json()["error"]["code"] == 190
