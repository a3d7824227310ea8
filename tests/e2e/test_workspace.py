"""A marketer's walk through the console in headless Chromium, on the running pipeline after
a simulated day of traffic: from the overview, without knowing any id, to the automotive
CEOs who came from the LinkedIn campaign, into one card that says why they are a lead and
that HubSpot has them. Every page is screenshotted to .data/screenshots/console/ for a
reviewer (waits are explicit: an element or a condition, never a sleep)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import Pipeline, until
from tests.helpers import ROOT
from tests.integration.console.test_console import Console
from tests.integration.tag.conftest import browser  # noqa: F401  # the fixture

pytestmark = pytest.mark.integration
SHOTS = ROOT / ".data/screenshots/console"
CAMPAIGN = "ceo-automotive-q4"  # cdp simulate's LinkedIn ad aimed at CEOs in automotive


@pytest.fixture
def console(settings: Any, pipeline: Pipeline) -> Iterator[Console]:
    c = Console(settings)
    yield c
    c.proc.stop()


async def test_a_marketer_finds_the_automotive_ceos_from_linkedin_and_sees_why_one_is_a_lead(  # type: ignore[no-untyped-def]
    pipeline: Pipeline,
    collector,
    sandbox,
    pg,
    console: Console,
    browser: Any,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from cdp_simulator.simulate import send

    started = datetime.now(UTC)
    stats = await send(collector.url, collector.source.write_key, visitors=150, rate=900, days=1, seed=11)
    assert stats["accepted"] == stats["events"]

    # the day's leads from the CEO campaign have reached HubSpot (this run's: a database kept
    # between runs holds earlier runs' leads too)

    async def ceo_leads_delivered() -> list[str] | None:
        rows = await pg.fetch(
            "SELECT p.email FROM profiles p JOIN lead_deliveries d ON d.profile_id = p.id "
            "WHERE d.destination = 'hubspot' AND d.status = 'delivered' AND p.merged_into IS NULL "
            "AND d.updated_at >= $2 "
            'AND p.data -> \'traits\' @> \'{"role": {"value": "CEO"}}\'::jsonb '
            "AND p.data -> 'touchpoints' @> $1::text::jsonb",
            f'[{{"campaign": "{CAMPAIGN}"}}]',
            started,
        )
        return [r["email"] for r in rows] or None

    delivered = await until(ceo_leads_delivered, within=120)
    # the segmenter has recorded the CEO segment's size (every second in this platform)
    await until(
        lambda: pg.fetchval("SELECT max(size) > 0 FROM segment_sizes WHERE segment_id = 'automotive-ceos'"), within=30
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 20)

    def shown(by: str, what: str) -> Any:
        return wait.until(ec.visibility_of_element_located((by, what)))

    def shot(name: str) -> None:
        browser.save_screenshot(str(SHOTS / f"{name}.png"))

    browser.set_window_size(1400, 1000)
    browser.get(f"{console.url}/ui")
    shown(By.ID, "token")
    shot("01-sign-in")
    shown(By.ID, "token").send_keys(console.read)
    shown(By.ID, "signin").click()

    # the overview: the day's figures and the campaigns that brought people
    visitors = int(shown(By.ID, "fig-visitors").text.replace(",", ""))
    assert visitors >= 100 and int(shown(By.ID, "fig-events").text.replace(",", "")) > visitors
    top = shown(By.ID, "top-campaigns")
    assert CAMPAIGN in top.text
    assert "unknown" not in shown(By.ID, "pipeline").text
    shot("02-overview")

    # the campaign report: the funnel and the chart (drawn by the console's own Chart.js)
    browser.get(f"{console.url}/ui/campaigns")
    wait.until(lambda b: b.find_element(By.ID, "campaign-chart").get_attribute("data-rendered") == "1")
    assert int(shown(By.ID, "funnel-leads").text.replace(",", "")) >= len(delivered)
    shot("03-campaigns")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#campaign-table tbody tr") if CAMPAIGN in r.text)
    row.find_element(By.LINK_TEXT, "people").click()

    # the people that campaign brought, narrowed to CEOs in automotive who are leads
    wait.until(ec.url_contains(f"campaign={CAMPAIGN}"))
    shown(By.ID, "f-trait").send_keys("role=CEO")
    shown(By.ID, "f-trait2").send_keys("industry=automotive")
    Select(shown(By.ID, "f-stage")).select_by_visible_text("mql")
    shown(By.ID, "apply").click()
    wait.until(ec.url_contains("stage=mql"))
    assert re.match(r"\d+ profiles?", shown(By.ID, "count").text)
    shot("04-profiles-ceos-automotive-linkedin")
    # every one HubSpot has is listed (a database kept between runs holds earlier runs' too:
    # page on until all of this run's are seen)
    listed: list[str] = []
    card_page = None
    while True:
        shown(By.ID, "profile-list")
        here = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#profile-list a.profile-link")]
        listed += here
        if delivered[0] in here:
            card_page = browser.current_url
        following = browser.find_elements(By.ID, "next")
        if set(delivered) <= set(listed) or not following:
            break
        browser.get(following[0].get_attribute("href"))
    assert set(delivered) <= set(listed), (delivered, listed)

    # one card: why a lead, and that HubSpot received them
    browser.get(card_page)
    browser.find_element(By.LINK_TEXT, delivered[0]).click()
    assert shown(By.ID, "profile-title").text == delivered[0]
    assert shown(By.ID, "stage").text == "mql"
    assert shown(By.ID, "qualified-by").text
    hubspot = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "#lead-deliveries tbody tr") if r.text.startswith("hubspot")
    )
    assert "delivered" in hubspot.text
    traits = shown(By.ID, "traits").text
    assert "role CEO" in traits and "linkedin-ceo-automotive" in traits  # the rule each implicit trait came from
    assert CAMPAIGN in shown(By.ID, "touchpoints").text
    ceo = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#segments tbody tr") if "automotive-ceos" in r.text)
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", ceo.text), ceo.text  # member since
    shot("05-profile-card")

    for name, path, ready in (
        ("06-leads", "/ui/leads", "lead-list"),
        ("07-segments", "/ui/segments", "segment-list"),
        ("08-live-events", "/ui/events?live=0", "events"),
        ("09-settings", "/ui/settings", "token-list"),
    ):
        browser.get(f"{console.url}{path}")
        shown(By.ID, ready)
        shot(name)
    browser.get(f"{console.url}/ui/leads")
    assert delivered[0] in shown(By.ID, "lead-list").text

    # a segment: its size now, its size over time drawn as a chart, its members
    browser.get(f"{console.url}/ui/segments/automotive-ceos")
    assert int(shown(By.ID, "segment-size").text.replace(",", "")) > 0
    wait.until(lambda b: b.find_element(By.ID, "segment-size-chart").get_attribute("data-rendered") == "1")
    assert shown(By.ID, "members").text
    shot("10-segment")
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, severe  # no CSP violation, no script error
