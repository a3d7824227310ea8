"""Devices and bots from real user agents; IP anonymization."""

from __future__ import annotations

import pytest

from cdp_enricher.logic import bots, privacy
from cdp_enricher.logic.useragent import device_of

CHROME_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
IPAD = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
EDGE_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36"
)
LINKEDIN_BOT = "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"
CURL = "curl/8.5.0"


@pytest.mark.parametrize(
    ("ua", "browser", "os", "kind"),
    [
        (CHROME_MAC, "Chrome", "Mac OS X", "desktop"),
        (SAFARI_IPHONE, "Mobile Safari", "iOS", "mobile"),
        (IPAD, "Mobile Safari", "iOS", "tablet"),
        (ANDROID_PHONE, "Chrome Mobile", "Android", "mobile"),
        (ANDROID_TABLET, "Chrome", "Android", "tablet"),
        (EDGE_WIN, "Edge", "Windows", "desktop"),
        (FIREFOX_LINUX, "Firefox", "Ubuntu", "desktop"),
        (GOOGLEBOT, "Googlebot", None, "bot"),
    ],
)
def test_devices(ua: str, browser: str, os: str | None, kind: str) -> None:
    d = device_of(ua)
    assert (d.browser, d.os, d.type) == (browser, os, kind)


@pytest.mark.parametrize(
    ("ua", "reason"),
    [
        (CHROME_MAC, None),
        (SAFARI_IPHONE, None),
        (ANDROID_PHONE, None),
        (GOOGLEBOT, "uap_spider"),
        (BINGBOT, "uap_spider"),
        (HEADLESS, "headless_browser"),
        (LINKEDIN_BOT, "uap_spider"),
        (CURL, "crawler_pattern"),
        ("", "empty_user_agent"),
        (None, "empty_user_agent"),
    ],
)
def test_bots(ua: str | None, reason: str | None) -> None:
    spider = device_of(ua).spider if ua else False
    got = bots.bot_reason(ua, spider=spider)
    assert got == reason


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("81.2.69.142", "81.2.69.0"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1::"),
        ("::ffff:198.51.100.9", "198.51.100.0"),
        (" 10.1.2.3 ", "10.1.2.0"),
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_anonymize(ip: str | None, expected: str | None) -> None:
    assert privacy.anonymize(ip) == expected


def test_country_from_the_offline_database() -> None:
    import iptocc

    assert privacy.country("81.2.69.0", iptocc.country_code) == "GB"
    assert privacy.country("8.8.8.0", iptocc.country_code) == "US"
    assert privacy.country("10.0.0.0", iptocc.country_code) is None
