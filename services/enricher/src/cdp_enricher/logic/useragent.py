"""Device, browser and OS from the user agent (ua-parser with its bundled uap-core rules;
the Rust accelerator ua-parser-rs when installed). Pure for a given rule set; callers cache
(``cached_device`` in ``pipeline.py``) because parsing is the costliest enrichment."""

from __future__ import annotations

from dataclasses import dataclass

from ua_parser import parse

_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "macOS", "Linux", "Ubuntu", "Chrome OS", "ChromeOS", "Fedora", "FreeBSD"}
)
_MOBILE_OS = frozenset({"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"})


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    browser: str | None
    browser_version: str | None
    os: str | None
    os_version: str | None
    type: str  # desktop, mobile, tablet, bot, other
    spider: bool  # uap-core's own crawler verdict


def _version(major: str | None, minor: str | None) -> str | None:
    if not major:
        return None
    return f"{major}.{minor}" if minor else major


def device_of(ua: str) -> DeviceInfo:
    r = parse(ua)
    agent, system = r.user_agent, r.os
    browser = agent.family if agent and agent.family != "Other" else None
    os_family = system.family if system and system.family != "Other" else None
    device_family = r.device.family if r.device else None
    spider = device_family == "Spider"
    if spider:
        kind = "bot"
    elif (device_family and ("iPad" in device_family or "Tablet" in device_family or "Kindle" in device_family)) or (
        os_family == "Android" and "Mobile" not in ua
    ):
        kind = "tablet"
    elif os_family in _MOBILE_OS:
        kind = "mobile"
    elif os_family in _DESKTOP_OS:
        kind = "desktop"
    else:
        kind = "other"
    return DeviceInfo(
        browser=browser,
        browser_version=_version(agent.major, agent.minor) if agent and browser else None,
        os=os_family,
        os_version=_version(system.major, system.minor) if system and os_family else None,
        type=kind,
        spider=spider,
    )
