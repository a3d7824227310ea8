"""Referrer classification: search engine, social network, webmail, internal, or other.

The lists below ship with the code. A ``name.*`` entry matches that name under any public
suffix (``google.de``, ``google.co.uk``); other entries match the domain and its
subdomains.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from cdp_enricher.logic.urls import domain_matches, host_of

SEARCH_ENGINES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Google", ("google.*",)),
    ("Bing", ("bing.com", "cn.bing.com")),
    ("Yahoo", ("search.yahoo.com", "yahoo.*")),
    ("DuckDuckGo", ("duckduckgo.com",)),
    ("Baidu", ("baidu.com",)),
    ("Yandex", ("yandex.*", "ya.ru")),
    ("Ecosia", ("ecosia.org",)),
    ("Qwant", ("qwant.com",)),
    ("Startpage", ("startpage.com",)),
    ("Brave", ("search.brave.com",)),
    ("Ask", ("ask.com",)),
    ("Naver", ("naver.com",)),
    ("Seznam", ("seznam.cz",)),
    ("Sogou", ("sogou.com",)),
    ("AOL", ("search.aol.com",)),
)

SOCIAL_NETWORKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("LinkedIn", ("linkedin.com", "lnkd.in", "linkedin.android")),
    ("Facebook", ("facebook.com", "fb.com", "fb.me", "messenger.com")),
    ("Instagram", ("instagram.com",)),
    ("X", ("t.co", "twitter.com", "x.com")),
    ("YouTube", ("youtube.com", "youtu.be")),
    ("Reddit", ("reddit.com", "redd.it")),
    ("Pinterest", ("pinterest.*", "pin.it")),
    ("TikTok", ("tiktok.com",)),
    ("Xing", ("xing.com",)),
    ("Threads", ("threads.net",)),
    ("Bluesky", ("bsky.app",)),
    ("Mastodon", ("mastodon.social",)),
    ("Quora", ("quora.com",)),
    ("WhatsApp", ("whatsapp.com", "wa.me")),
    ("Snapchat", ("snapchat.com",)),
    ("Telegram", ("t.me", "telegram.org")),
    ("VK", ("vk.com",)),
    ("Tumblr", ("tumblr.com",)),
    ("Slack", ("slack.com",)),
)

WEBMAIL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Gmail", ("mail.google.com",)),
    ("Outlook", ("outlook.live.com", "outlook.office.com", "outlook.office365.com")),
    ("Yahoo Mail", ("mail.yahoo.com",)),
    ("Proton Mail", ("mail.proton.me",)),
    ("GMX", ("gmx.net", "gmx.de")),
    ("Web.de", ("web.de",)),
)


@dataclass(frozen=True, slots=True)
class ReferrerInfo:
    url: str | None
    host: str | None
    medium: str | None  # search, social, email, internal, unknown (None: no referrer)
    source: str | None


def _wild(host: str, name: str) -> bool:
    """``google.*``: a label ``google`` followed by one or two suffix labels."""
    labels = host.split(".")
    for i, label in enumerate(labels):
        if label == name:
            rest = labels[i + 1 :]
            return 1 <= len(rest) <= 2 and all(len(x) <= 3 for x in rest)
    return False


def _match(host: str, entries: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    for name, patterns in entries:
        for pattern in patterns:
            if pattern.endswith(".*"):
                if _wild(host, pattern[:-2]):
                    return name
            elif domain_matches(host, pattern):
                return name
    return None


def classify(url: str | None, internal_domains: Iterable[str]) -> ReferrerInfo:
    host = host_of(url)
    if host is None:
        return ReferrerInfo(None, None, None, None)
    medium, source = _classify_host(host, tuple(internal_domains))
    return ReferrerInfo(url, host, medium, source)


@lru_cache(maxsize=65_536)
def _classify_host(host: str, internal_domains: tuple[str, ...]) -> tuple[str, str | None]:
    """Pure and called for every hit with a referrer: cached by host."""
    for domain in internal_domains:
        if domain_matches(host, domain):
            return "internal", None
    # webmail first: mail.google.com is not a Google search
    if (name := _match(host, WEBMAIL)) is not None:
        return "email", name
    if (name := _match(host, SEARCH_ENGINES)) is not None:
        return "search", name
    if (name := _match(host, SOCIAL_NETWORKS)) is not None:
        return "social", name
    return "unknown", host


@lru_cache(maxsize=65_536)
def source_kind(source: str | None) -> str | None:
    """Whether a campaign source names a search engine or a social network
    (``google``, ``linkedin``, ``facebook.com``, ``l.facebook.com``...)."""
    if not source:
        return None
    s = source.lower()
    host = s if "." in s else None
    for kind, entries in (("search", SEARCH_ENGINES), ("social", SOCIAL_NETWORKS)):
        for name, patterns in entries:
            if s == name.lower() or s.replace(" ", "") == name.lower().replace(" ", ""):
                return kind
            if host and _match(host, ((name, patterns),)):
                return kind
            if any(s == p.split(".")[0] for p in patterns if not p.startswith(("t.", "fb."))):
                return kind
    if s in ("ig", "fb", "li", "tw", "yt"):
        return "social"
    return None
