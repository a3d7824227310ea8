"""The console as a running process over HTTP, on data the real segmenter produced from
hits that went through the real enrichment code; pages in headless Chromium."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from cdp_common.definitions.rule_store import load_suppressions
from cdp_enricher.pipeline import Dropped, Enricher, Rules
from tests.helpers import ROOT, ServiceProcess, free_port, python_module
from tests.integration.segmenter.conftest import Journey, Segmenters, send

pytestmark = pytest.mark.integration


def cdp(settings: Any, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args],
        env={"CDP_PG_DSN": settings.pg_dsn.get_secret_value(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class Console:
    def __init__(self, settings: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = ServiceProcess(
            "console",
            python_module("cdp_console.main"),
            {
                "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
                "CDP_REDIS_URL": settings.redis_url,
                "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                "CDP_CONSOLE_PORT": str(self.port),
                "CDP_CONSOLE_REFRESH_S": "1",
            },
        )
        self.proc.wait_http(f"{self.url}/readyz")
        self.read = cdp(settings, "tokens", "create", "--name", "test-reader", "--scope", "read")
        self.admin = cdp(settings, "tokens", "create", "--name", "test-admin", "--scope", "admin")

    def get(self, path: str, token: str | None = "read", **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.read if token == 'read' else self.admin}"} if token else {}
        return httpx.get(f"{self.url}{path}", headers=headers | kw.pop("headers", {}), timeout=10, **kw)

    def call(self, method: str, path: str, token: str = "admin", **kw: Any) -> httpx.Response:
        tok = self.read if token == "read" else self.admin
        return httpx.request(method, f"{self.url}{path}", headers={"authorization": f"Bearer {tok}"}, timeout=10, **kw)


@pytest.fixture
def console(settings: Any, migrated_pool: Any) -> Iterator[Console]:
    c = Console(settings)
    yield c
    c.proc.stop()


@pytest.fixture
def segmenters(settings: Any, input_topic: str, definitions: None) -> Iterator[Segmenters]:
    s = Segmenters(settings, "aiokafka", input_topic)
    yield s
    s.stop()


async def _until(check: Any, within: float = 30) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.3)
    raise AssertionError("not reached")


async def test_card_report_personalization_erasure_and_auth(
    console: Console,
    segmenters: Segmenters,
    producer,
    pg,
    redis,
    settings,
    migrated_pool,
) -> None:
    tag = uuid.uuid4().hex[:8]
    campaign = f"ceo-automotive-{tag}"  # the demo rule makes CEOs in automotive of its visitors
    li = f"?utm_source=linkedin&utm_medium=paid_social&utm_campaign={campaign}"
    t0 = datetime.now(UTC) - timedelta(days=2)
    hits: list[bytes] = []
    visitors, converted = 6, 2
    emails = [f"v{i}-{tag}@example.org" for i in range(converted)]
    for i in range(visitors):
        j = Journey(f"{tag}-v{i}", t0 + timedelta(minutes=i)).page("/case-studies/automotive", li).page("/pricing")
        if i < converted:
            j.track("Form Submitted", "/contact", form="contact", values={"email": emails[i], "firstName": f"V{i}"})
        hits += j.hits
    segmenters.start()
    await send(producer, segmenters.topic, hits)
    await _until(lambda: pg.fetchval("SELECT count(*) FROM identities WHERE id LIKE $1", f"anon:{tag}-v%"))
    await _until(
        lambda: pg.fetchval("SELECT count(*) = $2 FROM leads WHERE email = ANY($1::text[])", emails, converted)
    )

    # auth: no token, unknown token, read token on an admin route
    assert console.get(f"/v1/profiles?email={emails[0]}", token=None).status_code == 401
    assert (
        console.get(f"/v1/profiles?email={emails[0]}", headers={"authorization": "Bearer nope"}, token=None).status_code
        == 401
    )
    assert console.call("DELETE", f"/v1/profiles?email={emails[0]}", token="read").status_code == 403

    # the card
    r = console.get(f"/v1/profiles?email={emails[0]}")
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["stage"] == "mql" and c["lead"]["qualifiedBy"] in ("contact-form", "score")
    assert (
        c["implicitTraits"]["role"]["value"] == "CEO"
        and c["implicitTraits"]["role"]["ruleId"] == "linkedin-ceo-automotive"
    )
    assert c["explicitTraits"]["email"]["value"] == emails[0] and c["explicitTraits"]["firstName"]["value"] == "V0"
    assert c["counters"]["pageViews"] == 2 and c["counters"]["sessions"] == 1
    assert c["topPages"] == {"/case-studies/automotive": 1, "/pricing": 1}
    assert c["forms"][0]["name"] == "contact" and c["firstTouch"]["campaign"] == campaign
    assert "automotive-ceos" in c["segments"] and c["score"] == 30
    entered = datetime.fromisoformat(c["segmentsSince"]["automotive-ceos"].replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(UTC) - entered < timedelta(minutes=10)  # when the segmenter put them in
    assert {b["rule"] for b in c["scoreBreakdown"]} == {"case-study-view", "pricing-view"}
    assert [e["name"] for e in c["timeline"]][:3] == ["Form Submitted", "Page Viewed", "Page Viewed"]
    assert f"anon:{tag}-v0" in c["identities"] and f"email:{emails[0]}" in c["identities"]
    assert console.get(f"/v1/profiles/{c['id']}").json()["id"] == c["id"]
    assert console.get(f"/v1/profiles?anonymousId={tag}-v1").json()["explicitTraits"]["email"]["value"] == emails[1]

    # the report matches the hits sent
    rep = console.get(
        "/v1/reports/campaigns", params={"by": "campaign", "since": (t0 - timedelta(days=1)).date().isoformat()}
    ).json()
    [row] = [x for x in rep["rows"] if x["campaign"] == campaign]
    assert (row["visitors"], row["sessions"], row["conversions"], row["leads"], row["personas"]) == (
        visitors,
        visitors,
        converted,
        converted,
        visitors,
    )
    assert row["conversionRate"] == round(converted / visitors, 4) and row["personaShare"] == 1.0
    assert row["events"] == 2 * visitors + converted  # two pages each, a form for those who converted
    assert console.get("/v1/reports/campaigns?by=colour").status_code == 422

    # definitions: refused clearly, then created, listed and deleted
    bad = console.call(
        "PUT",
        f"/v1/segments/t-{tag}",
        json={"name": "x", "condition": {"trait": {"name": "role", "op": "like", "value": 1}}},
    )
    assert bad.status_code == 422 and "segment.condition.trait.op" in bad.json()["detail"]
    ok = console.call("PUT", f"/v1/segments/t-{tag}", json={"name": "Test", "condition": {"campaign": campaign}})
    assert ok.status_code == 200, ok.text
    assert f"t-{tag}" in [s["id"] for s in console.get("/v1/segments").json()["segments"]]
    assert console.call("DELETE", f"/v1/segments/t-{tag}").status_code == 200
    assert console.call("PUT", "/v1/rules/bad rule", json={"when": {}, "set": {}}).status_code == 422
    rule = console.call(
        "PUT",
        f"/v1/rules/t-{tag}",
        json={"when": {"source": "newsletter", "campaign": f"x-{tag}*"}, "set": {"interest": "fleet"}},
    )
    assert rule.status_code == 200, rule.text
    assert f"t-{tag}" in [r["id"] for r in console.get("/v1/rules").json()]
    assert console.call("DELETE", f"/v1/rules/t-{tag}").status_code == 200

    # personalization: write key, CORS, a variant per segment
    slot = console.call(
        "PUT",
        f"/v1/personalization/slots/hero-{tag}",
        json={"rules": [{"when": {"segment": "automotive-ceos"}, "variant": "fleet-roi"}], "default": "generic"},
    )
    assert slot.status_code == 200, slot.text
    assert (
        console.call(
            "PUT", "/v1/personalization/slots/x", json={"rules": [{"when": {"colour": 1}, "variant": "v"}]}
        ).status_code
        == 422
    )
    src = console.call("POST", "/v1/sources", json={"name": f"site-{tag}", "origins": ["https://www.example.com"]})
    assert src.status_code == 201, src.text
    row_key = src.json()["writeKey"]
    assert console.call("POST", "/v1/sources", json={"name": "Not A Name!"}).status_code == 422

    async def personalized() -> httpx.Response | None:
        r = httpx.get(
            f"{console.url}/v1/personalize",
            params={"anonymousId": f"{tag}-v3", "writeKey": row_key, "slot": f"hero-{tag}"},
            headers={"origin": "https://www.example.com"},
            timeout=5,
        )
        return r if r.status_code == 200 and r.json()["variants"] else None

    p = await _until(personalized)  # the console refreshes sources and slots every second
    assert p.status_code == 200 and p.headers["access-control-allow-origin"] == "https://www.example.com"
    assert p.json() == {"variants": {f"hero-{tag}": "fleet-roi"}}  # the variant only: nothing about the person
    unknown = httpx.get(
        f"{console.url}/v1/personalize",
        params={"anonymousId": "nobody-" + tag, "writeKey": row_key, "slot": f"hero-{tag}"},
    )
    assert unknown.json() == {"variants": {f"hero-{tag}": "generic"}}
    # another site's page may not ask: 403 and no CORS grant
    foreign = httpx.get(
        f"{console.url}/v1/personalize",
        params={"anonymousId": f"{tag}-v3", "writeKey": row_key},
        headers={"origin": "https://evil.example.net"},
    )
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    # a flood from one client is cut after the burst (30), then 10/s, with Retry-After
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=console.url) as http:  # keep-alive: a flood is fast
        answers = [
            await http.get("/v1/personalize", params={"anonymousId": f"probe-{i}", "writeKey": row_key})
            for i in range(100)
        ]
    elapsed = time.monotonic() - started
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429} and codes.count(200) <= 30 + 10 * elapsed + 1, (codes, elapsed)
    if elapsed < 5:  # then at most 81 could pass
        assert next(a for a in answers if a.status_code == 429).headers["retry-after"]
    assert (
        httpx.get(f"{console.url}/v1/personalize", params={"anonymousId": f"{tag}-v3", "writeKey": "wrong"}).status_code
        == 401
    )

    # export, then erasure leaves no trace, and a later hit for the email is dropped
    exp = console.get(f"/v1/profiles/{c['id']}/export", token="admin")
    assert exp.status_code == 200 and exp.json()["profile"]["id"] == c["id"]
    held = exp.json()
    assert f"email:{emails[0]}" in held["identities"] and held["lead"][0]["email"] == emails[0]
    gone = console.call("DELETE", "/v1/profiles", params={"email": emails[0]})
    assert gone.status_code == 200, gone.text
    assert console.get(f"/v1/profiles/{c['id']}").status_code == 404
    assert console.get(f"/v1/profiles?email={emails[0]}").status_code == 404
    assert await pg.fetchval("SELECT count(*) FROM profiles WHERE id = $1", c["id"]) == 0
    assert await pg.fetchval("SELECT count(*) FROM identities WHERE profile_id = $1", c["id"]) == 0
    assert await pg.fetchval("SELECT count(*) FROM leads WHERE profile_id = $1", c["id"]) == 0
    assert await redis.get(f"cdp:p:{c['id']}") is None and await redis.get(f"cdp:aid:{tag}-v0") is None
    assert not await redis.sismember("cdp:seg:automotive-ceos", c["id"])
    audit = console.get("/v1/audit", token="admin").json()
    assert [(a["action"], a["subject"], a["actor"]) for a in audit[:2]] == [
        ("erase", c["id"], "test-admin"),
        ("export", c["id"], "test-admin"),
    ]
    suppressed = await load_suppressions(migrated_pool)
    later = Journey(f"new-device-{tag}", datetime.now(UTC)).identify(email=emails[0].upper())
    raw = orjson.loads(later.hits[0])
    raw_hit = {
        "event": raw["event"],
        "receivedAt": raw["receivedAt"],
        "sourceId": "src_test",
        "timestamp": raw["timestamp"],
        "userAgent": raw.get("userAgent"),
    }
    assert Enricher(lambda ip: None).enrich(orjson.dumps(raw_hit), Rules(suppressed=suppressed)) == Dropped(
        "suppressed"
    )


async def test_pages_search_a_profile_open_the_card_and_see_the_campaign_chart(
    console: Console,
    segmenters: Segmenters,
    producer,
    pg,
    browser,
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"page-{tag}@example.org"
    j = Journey(f"{tag}-page", datetime.now(UTC) - timedelta(hours=1))
    j.page("/case-studies/automotive", f"?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-{tag}")
    j.track("Form Submitted", "/contact", form="contact", values={"email": email})
    segmenters.start()
    await send(producer, segmenters.topic, j.hits)
    await _until(lambda: pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"email:{email}"))
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(by: str, what: str) -> Any:
        return WebDriverWait(browser, 15).until(ec.presence_of_element_located((by, what)))

    browser.get(f"{console.url}/ui/profiles")  # not signed in: the sign-in form, then back here
    shown(By.ID, "token").send_keys(console.read)
    shown(By.ID, "signin").click()
    box = shown(By.ID, "q")
    assert "token" not in browser.current_url
    box.send_keys(email)
    shown(By.ID, "apply").click()
    shown(By.ID, "profile-id")  # the search found one person: their card
    assert shown(By.ID, "stage").text == "mql"
    assert "automotive-ceos" in shown(By.ID, "segments").text
    assert "linkedin-ceo-automotive" in browser.page_source and f"ceo-automotive-{tag}" in browser.page_source
    browser.get(f"{console.url}/ui/campaigns?by=campaign")
    WebDriverWait(browser, 15).until(
        lambda b: b.find_element(By.ID, "campaign-chart").get_attribute("data-rendered") == "1"
    )
    assert f"ceo-automotive-{tag}" in shown(By.ID, "campaign-table").text

    # the JS tag's cdp.personalize(slot) on a page, for this visitor
    src = console.call("POST", "/v1/sources", json={"name": f"tag-{tag}"}).json()
    assert (
        console.call(
            "PUT",
            f"/v1/personalization/slots/hero-{tag}",
            json={"rules": [{"when": {"segment": "automotive-ceos"}, "variant": "fleet-roi"}], "default": "generic"},
        ).status_code
        == 200
    )

    async def source_known() -> bool:
        r = httpx.get(f"{console.url}/v1/personalize", params={"anonymousId": "x", "writeKey": src["writeKey"]})
        return r.status_code == 200

    await _until(source_known)  # the console refreshes sources and slots every second
    tag_js = (ROOT / "services/collector/src/cdp_collector/static/tag.js").read_text()
    browser.get(f"{console.url}/healthz")
    browser.execute_script(
        "localStorage.setItem('cdp_aid', JSON.stringify(arguments[0]));"
        "window.cdp = {options: {writeKey: arguments[1], host: 'http://127.0.0.1:9', console: arguments[2]}};",
        f"{tag}-page",
        src["writeKey"],
        console.url,
    )
    browser.execute_script(tag_js)
    got = browser.execute_async_script(
        "var done = arguments[arguments.length - 1]; cdp.personalize(arguments[0]).then(done);", f"hero-{tag}"
    )
    assert got == {"variants": {f"hero-{tag}": "fleet-roi"}}
