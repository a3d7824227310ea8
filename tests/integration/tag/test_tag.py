"""The JS tag in headless Chromium on a local site, asserted in Kafka (cdp.hits.raw)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest

from cdp_common.sources import SourceStore
from tests.helpers import TopicTail
from tests.integration.tag.conftest import serve_site

pytestmark = pytest.mark.integration

CAMPAIGN_QUERY = "utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4&li_fat_id=li-abc-123"


def wait_until(driver, script: str, *, within: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.1)
    raise TimeoutError(script)


def queue_empty(driver) -> None:  # type: ignore[no-untyped-def]
    wait_until(
        driver,
        "return window.cdp && window.cdp.version && (JSON.parse(localStorage.getItem('cdp_queue')) || []).length === 0",
    )


@pytest.fixture
async def site(collector, migrated_pool):  # type: ignore[no-untyped-def]
    """The site's origin is allowed for a source of its own, whose key the pages carry."""
    server, site = serve_site(collector.url)
    src = await SourceStore(migrated_pool).add(
        f"tag-{int(time.time() * 1000)}", origins=[site.url], internal_domains=["127.0.0.1"]
    )
    site.write_key = src.write_key
    deadline = time.monotonic() + 10  # the test collector refreshes its sources every second
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            r = await http.post(f"{collector.url}/v1/page", auth=(src.write_key, ""), json={"anonymousId": "tag-probe"})
            if r.status_code == 200:
                break
            await asyncio.sleep(0.2)
    yield site
    server.shutdown()


def test_tag_js_is_served_small_cached_and_revalidated(collector) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(f"{collector.url}/v1/tag.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) <= 6 * 1024, "the tag must stay under 6 KB gzipped"
    assert "max-age=86400" in r.headers["cache-control"]
    assert "cdp-tag" in r.text
    etag = r.headers["etag"]
    again = httpx.get(f"{collector.url}/v1/tag.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    plain = httpx.get(f"{collector.url}/v1/tag.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert r.content == plain.content  # httpx inflated the gzipped answer: the same file


async def test_a_visit_lands_in_kafka_once_per_event_with_the_campaign_carried(site, browser, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    d = browser
    d.get(f"{site.url}/case-study?{CAMPAIGN_QUERY}")
    wait_until(d, "return !!(window.cdp && window.cdp.version)")
    aid = d.execute_script("return cdp.anonymousId()")
    assert d.get_cookie("cdp_aid")["value"] == aid
    queue_empty(d)

    # scroll to the bottom: 25/50/75/100 once each
    d.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    await asyncio.sleep(0.5)
    d.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")  # no repeats
    # play the video to its end
    d.execute_script("document.getElementById('tour').play()")
    wait_until(d, "return document.getElementById('tour').ended", within=15)
    # the calculator: an opted-in form, and its result sent with track (the documented way)
    d.find_element("id", "calc-submit").click()
    d.find_element("id", "calc-done").click()
    queue_empty(d)

    # SPA navigation, then back to the top (no new milestones), then a reload
    d.find_element("id", "to-pricing").click()
    wait_until(d, "return location.pathname === '/pricing'")
    d.execute_script("window.scrollTo(0, 0)")
    await asyncio.sleep(0.4)
    queue_empty(d)
    d.refresh()
    wait_until(d, "return !!(window.cdp && window.cdp.version)")
    assert d.execute_script("return cdp.anonymousId()") == aid
    queue_empty(d)

    # offline: queued and retried; back online: delivered once
    d.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    d.execute_script("cdp.track('Offline Event', {n: 1})")
    await asyncio.sleep(2.5)  # at least one failed attempt
    assert d.execute_script("return (JSON.parse(localStorage.getItem('cdp_queue')) || []).length") == 1
    d.set_network_conditions(offline=False, latency=0, download_throughput=-1, upload_throughput=-1)
    queue_empty(d)

    got = await raw.collect(lambda r: r["event"].get("anonymousId") == aid, want=16, within=20, settle=2)
    names = Counter(r["event"].get("event") or r["event"]["type"] for r in got)
    assert names == Counter(
        {
            "page": 3,
            "Scroll Depth": 4,
            "Video Started": 1,
            "Video Progress": 3,
            "Video Completed": 1,
            "Form Submitted": 1,
            "Calculator Completed": 1,
            "Offline Event": 1,
        }
    ), names
    ids = [r["event"]["messageId"] for r in got]
    assert len(ids) == len(set(ids)), "an event arrived twice"

    by = {}
    for r in got:
        by.setdefault(r["event"].get("event") or r["event"]["type"], []).append(r["event"])
    assert sorted(e["properties"]["percent"] for e in by["Scroll Depth"]) == [25, 50, 75, 100]
    assert sorted(e["properties"]["percent"] for e in by["Video Progress"]) == [25, 50, 75]
    assert by["Video Completed"][0]["properties"]["title"] == "Product tour"
    form = by["Form Submitted"][0]["properties"]
    assert form["form"] == "benefit-calculator"
    assert form["values"] == {
        "employees": "250",
        "hoursSaved": "12",
        "industry": "automotive",
    }  # no hidden, password or card
    assert by["Calculator Completed"][0]["properties"]["yearlySavings"] == 156000
    paths = sorted(e["properties"]["path"] for e in by["page"])
    assert paths == ["/case-study", "/pricing", "/pricing"]
    for e in (ev for evs in by.values() for ev in evs):  # the campaign stays with every hit of the session
        assert e["context"]["campaign"]["source"] == "linkedin"
        assert e["context"]["campaign"]["name"] == "ceo-automotive-q4"
        assert e["context"]["campaign"]["li_fat_id"] == "li-abc-123"
        assert e["context"]["library"]["name"] == "cdp-tag"
    assert len({e["context"]["sessionId"] for evs in by.values() for e in evs}) == 1
    landing = next(e for e in by["page"] if e["properties"]["path"] == "/case-study")
    assert "utm_campaign=ceo-automotive-q4" in landing["context"]["page"]["url"]


async def test_nothing_is_sent_before_consent_when_the_gate_is_on(site, browser, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    d = browser
    d.get(f"{site.url}/consent-page")
    wait_until(d, "return !!(window.cdp && window.cdp.version)")
    aid = d.execute_script("return cdp.anonymousId()")
    d.execute_script("window.scrollTo(0, document.documentElement.scrollHeight); cdp.track('Before Consent')")
    await asyncio.sleep(2)
    assert d.execute_script("return localStorage.getItem('cdp_queue')") in (None, "[]")
    before = await raw.collect(lambda r: r["event"].get("anonymousId") == aid, want=1, within=3, settle=0)
    assert before == []

    d.execute_script("cdp.consent(true)")
    queue_empty(d)
    got = await raw.collect(lambda r: r["event"].get("anonymousId") == aid, want=2, within=15, settle=2)
    assert [(r["event"]["type"], r["event"].get("event")) for r in got] == [
        ("track", "Segment Consent Preference Updated"),
        ("page", None),
    ]
    assert got[1]["event"]["properties"]["path"] == "/consent-page"
    for r in got:  # every event carries the answer (Segment's consent spec)
        prefs = r["event"]["context"]["consent"]["categoryPreferences"]
        assert prefs == {"analytics": True, "ads": True, "personalization": True}


async def test_consent_mode_signals_set_each_purpose_and_an_update_is_announced(site, browser, raw: TopicTail) -> None:  # type: ignore[no-untyped-def]
    """A CMP's Google Consent Mode v2 defaults (analytics granted, ads denied) let the tag
    track with ads refused; the banner's update to ads granted is sent as a consent event,
    and so is cdp.consent({personalization: false})."""
    d = browser
    d.get(f"{site.url}/gcm-page")
    wait_until(d, "return !!(window.cdp && window.cdp.version)")
    aid = d.execute_script("return cdp.anonymousId()")
    queue_empty(d)
    first = await raw.collect(lambda r: r["event"].get("anonymousId") == aid, want=2, within=15, settle=1)
    assert [r["event"].get("event") or r["event"]["type"] for r in first] == [
        "Segment Consent Preference Updated",
        "page",
    ]
    for r in first:
        assert r["event"]["context"]["consent"]["categoryPreferences"] == {"analytics": True, "ads": False}

    d.execute_script('gtag("consent", "update", {ad_storage: "granted", ad_user_data: "granted"})')
    d.execute_script("cdp.consent({personalization: false})")
    queue_empty(d)
    later = await raw.collect(lambda r: r["event"].get("anonymousId") == aid, want=2, within=15, settle=1)
    updates = [r["event"]["context"]["consent"]["categoryPreferences"] for r in later]
    assert updates == [
        {"analytics": True, "ads": True},
        {"analytics": True, "ads": True, "personalization": False},
    ]
    assert all(r["event"].get("event") == "Segment Consent Preference Updated" for r in later)
    kept = d.execute_script("return JSON.parse(localStorage.getItem('cdp_consent_prefs'))")
    assert kept == {"analytics": True, "ads": True, "personalization": False}
