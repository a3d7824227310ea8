"""Browser SDKs from npm, unmodified, in headless Chromium on a site of their own origin,
sending to the real collector: every call type arrives in ``cdp.hits.raw`` with its ids and
properties, and becomes a profile with the campaign of the landing URL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.helpers import TopicTail, wait_for
from tests.integration.clients.conftest import SdkSite, from_source, profile_of
from tests.integration.tag.test_tag import wait_until

pytestmark = pytest.mark.integration

CAMPAIGN = "utm_source=linkedin&utm_medium=paid_social&utm_campaign={campaign}"

SEGMENT_CALLS = """
var done = arguments[arguments.length - 1];
var a = window.analytics, run = arguments[0], email = arguments[1];
(async function () {
  await a.page('Docs', 'Case Study', {section: 'automotive'});
  await a.track('Video Completed', {title: 'Fleet savings', percent: 100});
  await a.identify('user-' + run, {email: email, role: 'CEO'});
  await a.group('acme-' + run, {industry: 'automotive', employees: 250});
  await a.alias('user-' + run, 'previous-' + run);
  await a.screen('Mobile', 'Home', {tab: 'fleet'});
  var user = await a.user();
  return user.anonymousId();
})().then(done, function (e) { done('ERROR ' + e); });
"""


async def _profile_with(migrated_pool: Any, email: str, aid: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def merged() -> bool:
        p = await profile_of(migrated_pool, f"email:{email}")
        if p and aid in p["anonymousIds"]:
            found.update(p)
            return True
        return False

    await wait_for(merged, within=30, what=f"a profile for {email} holding {aid}")
    return found


async def _arrived_once(raw: TopicTail, site: SdkSite, aid: str, kinds: list[str]) -> dict[str, dict[str, Any]]:
    """The visitor's events in ``cdp.hits.raw``, by type: exactly ``kinds``, each once."""
    got = await raw.collect(
        from_source(site.source_id, lambda e: e.get("anonymousId") == aid), want=len(kinds), within=20
    )
    by = {r["event"]["type"]: r["event"] for r in got}
    assert sorted(by) == sorted(kinds), [r["event"]["type"] for r in got]
    assert len(got) == len(kinds), "an event arrived twice"
    return by


def _assert_the_calls(by: dict[str, dict[str, Any]], run: str, email: str, campaign: str) -> None:
    """What every client's calls must look like downstream, whichever client sent them."""
    assert f"utm_campaign={campaign}" in by["page"]["context"]["page"]["url"]
    assert by["track"]["event"] == "Video Completed" and by["track"]["properties"]["percent"] == 100
    assert by["identify"]["userId"] == f"user-{run}" and by["identify"]["traits"]["email"] == email
    assert by["group"]["groupId"] == f"acme-{run}" and by["group"]["traits"]["employees"] == 250
    assert by["alias"]["previousId"] == f"previous-{run}" and by["alias"]["userId"] == f"user-{run}"


async def _a_profile_with_the_campaign(migrated_pool: Any, email: str, aid: str, campaign: str) -> None:
    p = await _profile_with(migrated_pool, email, aid)
    assert p["traits"]["email"]["value"] == email
    assert campaign in [t.get("campaign") for t in p["touchpoints"]]


@pytest.mark.parametrize("mode", ["cdn", "apihost", "cdn-batching"])
async def test_segment_analytics_next(
    mode: str,
    sdk_site: SdkSite,
    person: Any,
    raw: TopicTail,
    profiles: None,
    migrated_pool: Any,
) -> None:
    """``AnalyticsBrowser.load`` with ``cdnURL`` at the collector (the settings document names
    it as ``apiHost``), with ``apiHost`` and inline settings, and in batching mode (``/v1/b``)."""
    run = uuid.uuid4().hex[:8]
    email = f"ada.{run}@autowerk.example"
    campaign = f"ceo-automotive-{run}"
    query = f"mode={mode.split('-')[0]}&batching={int(mode.endswith('batching'))}&" + CAMPAIGN.format(campaign=campaign)
    person.get(sdk_site.page("segment", query))
    wait_until(person, "return window.sdkReady === true", within=20)
    aid = person.execute_async_script(SEGMENT_CALLS, run, email)
    assert isinstance(aid, str) and not aid.startswith("ERROR"), aid

    by = await _arrived_once(raw, sdk_site, aid, ["alias", "group", "identify", "page", "screen", "track"])
    _assert_the_calls(by, run, email, campaign)
    assert by["page"]["name"] == "Case Study" and by["page"]["properties"]["section"] == "automotive"
    assert by["screen"]["name"] == "Home"
    for ev in by.values():
        assert ev["messageId"].startswith("ajs-next-")  # the SDK's own ids are kept
        assert ev["context"]["library"]["name"] == "analytics.js"
        assert "writeKey" not in ev  # the key is not stored with the event
    await _a_profile_with_the_campaign(migrated_pool, email, aid, campaign)


RUDDER_CALLS = """
var done = arguments[arguments.length - 1];
var r = window.rsa, run = arguments[0], email = arguments[1];
r.page('Docs', 'Case Study', {section: 'automotive'});
r.track('Video Completed', {title: 'Fleet savings', percent: 100});
r.identify('user-' + run, {email: email, role: 'CEO'});
r.group('acme-' + run, {industry: 'automotive', employees: 250});
r.alias('user-' + run, 'previous-' + run);
done(r.getAnonymousId());
"""


@pytest.mark.parametrize("transport", ["xhr", "beacon"])
async def test_rudderstack_analytics_js_v3(
    transport: str,
    sdk_site: SdkSite,
    person: Any,
    raw: TopicTail,
    profiles: None,
    migrated_pool: Any,
) -> None:
    """``load(writeKey, dataPlaneUrl, {configUrl})`` with both at the collector; events by XHR
    (``/v1/<type>``, Basic auth) or by ``sendBeacon`` (``/beacon/v1/batch?writeKey=``)."""
    run = uuid.uuid4().hex[:8]
    email = f"grace.{run}@autowerk.example"
    campaign = f"ceo-automotive-{run}"
    query = f"beacon={int(transport == 'beacon')}&" + CAMPAIGN.format(campaign=campaign)
    person.get(sdk_site.page("rudderstack", query))
    wait_until(person, "return window.sdkReady === true", within=20)
    aid = person.execute_async_script(RUDDER_CALLS, run, email)
    assert isinstance(aid, str) and aid, aid

    by = await _arrived_once(raw, sdk_site, aid, ["alias", "group", "identify", "page", "track"])
    _assert_the_calls(by, run, email, campaign)  # identify traits: copied from context.traits by the collector
    assert by["identify"]["context"]["traits"]["email"] == email
    assert by["page"]["name"] == "Case Study" and by["page"]["properties"]["section"] == "automotive"
    for ev in by.values():
        assert ev["messageId"] and ev["channel"] == "web"
        assert ev["context"]["library"]["name"] == "RudderLabs JavaScript SDK"
    await _a_profile_with_the_campaign(migrated_pool, email, aid, campaign)


async def test_send_beacon_fetch_keepalive_and_the_pixel(
    sdk_site: SdkSite, browser: Any, raw: TopicTail, migrated_pool: Any
) -> None:
    """Without an SDK: ``navigator.sendBeacon`` (text/plain, key in the body), ``fetch`` with
    ``keepalive`` (Basic auth, so a CORS preflight) and an image pixel."""
    aid = f"plain-{uuid.uuid4().hex[:8]}"
    browser.get(sdk_site.page("plain", f"aid={aid}&" + CAMPAIGN.format(campaign="plain")))
    assert browser.execute_script("return window.sendByBeacon()") is True
    assert browser.execute_async_script("var d = arguments[0]; window.sendByFetch().then(d)") == 200
    assert browser.execute_async_script("var d = arguments[0]; window.sendByPixel().then(d)") == "loaded"
    got = await raw.collect(from_source(sdk_site.source_id, lambda e: e.get("anonymousId") == aid), want=3)
    kinds = sorted((r["event"]["type"], r["event"]["context"].get("library", {}).get("name", "")) for r in got)
    assert kinds == [("page", ""), ("page", "cdp-pixel"), ("track", "")], kinds
    track = next(r["event"] for r in got if r["event"]["type"] == "track")
    assert track["properties"]["yearlySavings"] == 156000


async def test_a_preflight_from_an_origin_no_source_allows_gets_no_grant(sdk_site: SdkSite, browser: Any) -> None:
    """The same SDK page served from another origin (localhost instead of 127.0.0.1): the
    browser's preflight is refused, so nothing is sent, and the settings fetch is refused."""
    other = sdk_site.page("segment", "mode=cdn").replace("127.0.0.1", "localhost")
    browser.get(other)
    outcome = browser.execute_async_script(
        "var d = arguments[arguments.length - 1];"
        "fetch(arguments[0] + '/v1/t', {method: 'POST', credentials: 'include',"
        " headers: {'Authorization': 'Basic ' + btoa(arguments[1] + ':'), 'Content-Type': 'application/json'},"
        " body: JSON.stringify({event: 'X', anonymousId: 'evil'})})"
        ".then(function (r) { d('status ' + r.status); }, function (e) { d('blocked'); });",
        sdk_site.collector,
        sdk_site.write_key,
    )
    assert outcome == "blocked"
    settings = browser.execute_async_script(
        "var d = arguments[arguments.length - 1];"
        "fetch(arguments[0] + '/v1/projects/' + arguments[1] + '/settings')"
        ".then(function (r) { d('status ' + r.status); }, function (e) { d('blocked'); });",
        sdk_site.collector,
        sdk_site.write_key,
    )
    assert settings == "blocked"


SNIPPET_CALLS = """
var done = arguments[arguments.length - 1];
var a = window[arguments[0]], run = arguments[1], email = arguments[2];
a.track('Video Completed', {title: 'Fleet savings', percent: 100});
a.identify('user-' + run, {email: email, role: 'CEO'});
a.group('acme-' + run, {industry: 'automotive', employees: 250});
a.alias('user-' + run, 'previous-' + run);
if (arguments[0] === 'analytics') a.screen('Mobile', 'Home', {tab: 'fleet'});  // RudderStack's web SDK has none
a.cdp.flush();
done(a.getAnonymousId());
"""


@pytest.mark.parametrize("snippet", ["segment", "rudderstack"])
async def test_a_snippet_pointed_at_the_collector_loads_our_tag(
    snippet: str,
    sdk_site: SdkSite,
    person: Any,
    raw: TopicTail,
    profiles: None,
    migrated_pool: Any,
) -> None:
    """A site keeps Segment's or RudderStack's snippet and changes one setting, the CDN host
    (``sdkBaseUrl``): the collector serves our tag there, which takes over the snippet's
    queue and API. With Segment, the visitor's ``ajs_anonymous_id`` is kept."""
    run = uuid.uuid4().hex[:8]
    email = f"lin.{run}@autowerk.example"
    campaign = f"ceo-automotive-{run}"
    global_name = "analytics" if snippet == "segment" else "rudderanalytics"
    if snippet == "segment":  # the visitor came before, under Segment's analytics.js
        person.get(sdk_site.page("plain"))
        person.add_cookie({"name": "ajs_anonymous_id", "value": f"%22seg-{run}%22", "path": "/"})
    person.get(sdk_site.page(f"{snippet}-snippet", CAMPAIGN.format(campaign=campaign)))
    wait_until(person, f"return !!(window.{global_name} && window.{global_name}.cdp)", within=20)
    aid = person.execute_async_script(SNIPPET_CALLS, global_name, run, email)
    if snippet == "segment":
        assert aid == f"seg-{run}"

    kinds = ["alias", "group", "identify", "page", "track"] + (["screen"] if snippet == "segment" else [])
    by = await _arrived_once(raw, sdk_site, aid, kinds)
    _assert_the_calls(by, run, email, campaign)
    assert by["page"]["context"]["campaign"]["name"] == campaign
    if snippet == "segment":
        assert by["screen"]["name"] == "Home" and by["screen"]["category"] == "Mobile"
    assert all(e["context"]["library"]["name"] == "cdp-tag" for e in by.values())
    await _a_profile_with_the_campaign(migrated_pool, email, aid, campaign)


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
async def test_an_sdk_retries_what_it_could_not_send_and_it_arrives_once(
    sdk: str, sdk_site: SdkSite, person: Any, raw: TopicTail
) -> None:
    """Offline, the SDK keeps the event (analytics-next buffers it, RudderStack's XHR queue
    retries it); back online it is delivered, with its messageId, exactly once."""
    run = uuid.uuid4().hex[:8]
    person.get(sdk_site.page(sdk if sdk == "segment" else "rudderstack", "mode=cdn"))
    wait_until(person, "return window.sdkReady === true", within=20)
    person.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    if sdk == "segment":
        aid = person.execute_async_script(
            "var d = arguments[arguments.length - 1];"
            "analytics.track('Offline Event', {run: arguments[0]});"
            "analytics.user().then(function (u) { d(u.anonymousId()); });",
            run,
        )
    else:
        aid = person.execute_script(
            "rsa.track('Offline Event', {run: arguments[0]}); return rsa.getAnonymousId();", run
        )
    assert not await raw.collect(
        from_source(sdk_site.source_id, lambda e: e.get("event") == "Offline Event" and e.get("anonymousId") == aid),
        want=1,
        within=2,
        settle=0,
    ), "sent while offline"
    person.set_network_conditions(offline=False, latency=0, download_throughput=-1, upload_throughput=-1)
    person.execute_script("window.dispatchEvent(new Event('online'))")
    got = await raw.collect(
        from_source(sdk_site.source_id, lambda e: e.get("event") == "Offline Event" and e.get("anonymousId") == aid),
        want=1,
        within=40,
        settle=3,
    )
    assert len(got) == 1 and got[0]["event"]["properties"]["run"] == run, got
