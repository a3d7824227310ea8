"""Bot detection: crawler-user-agents patterns, headless-browser markers, and uap-core's
own spider verdict. Pure; callers cache by user agent."""

from __future__ import annotations

import re

import crawleruseragents

_HEADLESS = re.compile(
    r"HeadlessChrome|PhantomJS|Headless|puppeteer|Playwright|Selenium|webdriver|SlimerJS|Electron/.*Headless",
    re.IGNORECASE,
)


def bot_reason(ua: str | None, *, spider: bool = False) -> str | None:
    """Why this user agent is a bot, or None for a (probable) human."""
    if not ua or not ua.strip():
        return "empty_user_agent"
    if _HEADLESS.search(ua):
        return "headless_browser"
    if spider:
        return "uap_spider"
    if crawleruseragents.is_crawler(ua):
        return "crawler_pattern"
    return None
