"""Campaign attribution, referrers and channels on real ad URLs and referrers."""

from __future__ import annotations

import pytest

from cdp_common.records import Channel
from cdp_enricher.logic import channel, referrer
from cdp_enricher.logic.campaign import CampaignConfig, attribute
from cdp_enricher.logic.urls import query_of

CFG = CampaignConfig()


@pytest.mark.parametrize(
    ("url", "campaign", "click"),
    [
        (
            "https://www.example.com/case-study?utm_source=LinkedIn&utm_medium=Paid_Social&utm_campaign=ceo-automotive-q4"
            "&utm_content=carousel%20A&li_fat_id=2f4e9c1a-1b2c-4d5e-8f90-123456789abc",
            {"source": "linkedin", "medium": "paid_social", "campaign": "ceo-automotive-q4", "content": "carousel A"},
            ("2f4e9c1a-1b2c-4d5e-8f90-123456789abc", "LinkedIn"),
        ),
        (
            "https://www.example.com/pricing?gclid=Cj0KCQiA2eKtBhDcARIsAEGTG40ZxIbe&utm_term=cdp+software",
            {"term": "cdp software"},
            ("Cj0KCQiA2eKtBhDcARIsAEGTG40ZxIbe", "Google"),
        ),
        ("https://shop.example/?msclkid=a1b2c3d4e5f6", {}, ("a1b2c3d4e5f6", "Microsoft")),
        (
            "https://x.example/?fbclid=IwAR2abc&utm_source=facebook&utm_medium=social",
            {"source": "facebook", "medium": "social"},
            ("IwAR2abc", "Facebook"),
        ),
        ("https://x.example/?ttclid=E.C.P.abc", {}, ("E.C.P.abc", "TikTok")),
        ("https://x.example/?twclid=2-abc", {}, ("2-abc", "X")),
        ("https://x.example/?dclid=CJ3x", {}, ("CJ3x", "DoubleClick")),
        ("https://x.example/?wbraid=ABC&gbraid=DEF", {}, ("DEF", "Google")),  # gbraid comes first in the list
        (
            "https://x.example/?UTM_SOURCE=Newsletter&utm_medium=email&utm_campaign=",
            {"source": "newsletter", "medium": "email"},
            None,
        ),
        ("https://x.example/", {}, None),
        (None, {}, None),
    ],
)
def test_attribution_from_real_ad_urls(url: str | None, campaign: dict, click: tuple | None) -> None:
    a = attribute(query_of(url), None, CFG)
    assert a.campaign == campaign
    assert ((a.click_id, a.click_network) if a.click_id else None) == click


def test_context_campaign_fills_in_and_precedence_is_configurable() -> None:
    ctx = {"name": "Spring Launch", "source": "Partner", "medium": "referral"}
    a = attribute(query_of("https://e.com/?utm_source=google"), ctx, CFG)
    assert a.campaign == {"source": "google", "medium": "referral", "campaign": "Spring Launch"}
    custom = CampaignConfig(precedence={**CFG.precedence, "campaign": ("cid", "utm_campaign")})
    b = attribute(query_of("https://e.com/?utm_campaign=a&cid=b"), None, custom)
    assert b.campaign["campaign"] == "b"


def test_length_caps() -> None:
    a = attribute(
        query_of("https://e.com/?utm_campaign=" + "x" * 400 + "&utm_content=" + "y" * 900 + "&gclid=" + "z" * 1500),
        None,
        CFG,
    )
    assert len(a.campaign["campaign"]) == 255 and len(a.campaign["content"]) == 500 and len(a.click_id or "") == 1000


@pytest.mark.parametrize(
    ("url", "medium", "source"),
    [
        ("https://www.google.com/", "search", "Google"),
        ("https://www.google.co.uk/search?q=cdp", "search", "Google"),
        ("https://www.google.de/", "search", "Google"),
        ("https://www.bing.com/search?q=x", "search", "Bing"),
        ("https://duckduckgo.com/", "search", "DuckDuckGo"),
        ("https://mail.google.com/mail/u/0/", "email", "Gmail"),
        ("https://www.linkedin.com/feed/", "social", "LinkedIn"),
        ("https://lnkd.in/abc", "social", "LinkedIn"),
        ("https://t.co/xyz", "social", "X"),
        ("https://l.facebook.com/l.php?u=x", "social", "Facebook"),
        ("https://blog.example.com/post", "internal", None),
        ("https://news.ycombinator.com/item?id=1", "unknown", "news.ycombinator.com"),
        ("not a url at all", "unknown", "not a url at all"),
        ("", None, None),
        (None, None, None),
    ],
)
def test_referrer_classes(url: str | None, medium: str | None, source: str | None) -> None:
    info = referrer.classify(url, ["example.com"])
    assert (info.medium, info.source) == (medium, source)


@pytest.mark.parametrize(
    ("url", "ref", "expected"),
    [
        (
            "https://e.com/?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo&li_fat_id=1",
            "https://www.linkedin.com/",
            Channel.PAID_SOCIAL,
        ),
        ("https://e.com/?li_fat_id=1", None, Channel.PAID_SOCIAL),
        ("https://e.com/?utm_source=google&utm_medium=cpc", "https://www.google.com/", Channel.PAID_SEARCH),
        ("https://e.com/?gclid=abc", "https://www.google.com/", Channel.PAID_SEARCH),
        ("https://e.com/?utm_source=facebook&utm_medium=paid", None, Channel.PAID_SOCIAL),
        ("https://e.com/?utm_source=taboola&utm_medium=cpc", None, Channel.PAID_OTHER),
        ("https://e.com/?utm_source=criteo&utm_medium=display", None, Channel.DISPLAY),
        ("https://e.com/?dclid=1", None, Channel.DISPLAY),
        ("https://e.com/?utm_source=newsletter&utm_medium=email&utm_campaign=nov", None, Channel.EMAIL),
        ("https://e.com/", "https://mail.google.com/", Channel.EMAIL),
        ("https://e.com/?utm_medium=affiliate&utm_source=partner", None, Channel.AFFILIATE),
        ("https://e.com/", "https://www.google.com/", Channel.ORGANIC_SEARCH),
        ("https://e.com/?utm_source=google&utm_medium=organic", None, Channel.ORGANIC_SEARCH),
        ("https://e.com/", "https://www.linkedin.com/", Channel.ORGANIC_SOCIAL),
        ("https://e.com/?fbclid=IwAR", "https://l.facebook.com/", Channel.ORGANIC_SOCIAL),
        ("https://e.com/?utm_source=linkedin&utm_medium=social", None, Channel.ORGANIC_SOCIAL),
        ("https://e.com/", "https://news.ycombinator.com/", Channel.REFERRAL),
        ("https://e.com/?utm_source=partner.example&utm_medium=referral", None, Channel.REFERRAL),
        ("https://e.com/pricing", "https://www.example.com/case", Channel.INTERNAL),
        ("https://e.com/", None, Channel.DIRECT),
        ("https://e.com/?utm_source=qr&utm_medium=print", None, Channel.UNASSIGNED),
    ],
)
def test_channel_grouping(url: str, ref: str | None, expected: Channel) -> None:
    a = attribute(query_of(url), None, CFG)
    r = referrer.classify(ref, ["example.com"])
    got = channel.classify(
        source=a.campaign.get("source"),
        medium=a.campaign.get("medium"),
        click_network=a.click_network,
        source_kind=referrer.source_kind(a.campaign.get("source")),
        referrer_medium=r.medium,
    )
    assert got == expected


def test_the_tags_session_campaign_carries_click_ids_to_later_hits() -> None:
    ctx = {"source": "linkedin", "medium": "paid_social", "name": "ceo-automotive-q4", "li_fat_id": "li-abc"}
    a = attribute(query_of("https://www.example.com/pricing"), ctx, CFG)
    assert a.campaign == {"source": "linkedin", "medium": "paid_social", "campaign": "ceo-automotive-q4"}
    assert (a.click_id, a.click_network) == ("li-abc", "LinkedIn")
    b = attribute(query_of("https://e.com/?gclid=g1"), ctx, CFG)
    assert (b.click_id, b.click_network) == ("g1", "Google")  # the URL's own click id comes first
