"""Channel grouping, modelled on GA4's default channel group.

Inputs are the hit's campaign (source, medium), click network and referrer class. Rules
run in order; the first that holds names the channel:

1. Direct: no campaign source/medium, no click id, no referrer.
2. Internal: the referrer is one of the source's own domains and there is no campaign.
3. Display: medium display/banner/expandable/interstitial/cpm, or a DoubleClick click id.
4. Paid Search: a paid medium (``cp*``, ``ppc``, ``retargeting``, ``paid*``) from a search
   engine, or a search network's click id (gclid, gbraid, wbraid, msclkid, yclid).
5. Paid Social: a paid medium from a social network, or a social ad click id
   (li_fat_id, ttclid, twclid, rdt_cid, epik, sccid, qclid). fbclid is not one: Facebook
   adds it to every outbound link.
6. Paid Other: any other paid medium.
7. Email: source or medium matching ``e-mail``/``email``/``newsletter``, a Mailchimp id,
   or a webmail referrer.
8. Affiliate: medium ``affiliate`` (or an Impact click id).
9. Organic Search: medium ``organic``, a search-engine source, or a search referrer.
10. Organic Social: a social medium (``social``, ``sm``, ``social-network``...), a social
    source, a social referrer, or fbclid/igshid.
11. Referral: medium ``referral``, or any other external referrer.
12. Unassigned: campaign parameters none of the above recognise.
"""

from __future__ import annotations

import re

from cdp_common.records import Channel

_PAID = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
_DISPLAY = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
_EMAIL = re.compile(r"e[-_ ]?mail|newsletter")
_SOCIAL_MEDIUM = frozenset({"social", "social-network", "social-media", "sm", "social network", "social media"})
_SEARCH_CLICKS = frozenset({"Google", "Microsoft", "Yandex"})
_SOCIAL_AD_CLICKS = frozenset({"LinkedIn", "TikTok", "X", "Reddit", "Pinterest", "Snapchat", "Quora"})


def classify(
    *,
    source: str | None,
    medium: str | None,
    click_network: str | None,
    source_kind: str | None,  # "search" / "social" / None, from the campaign source
    referrer_medium: str | None,  # from referrer.classify
) -> Channel:
    has_campaign = bool(source or medium)
    m = medium or ""
    s = source or ""
    if not has_campaign and click_network is None:
        if referrer_medium is None:
            return Channel.DIRECT
        if referrer_medium == "internal":
            return Channel.INTERNAL
    paid = bool(_PAID.match(m))
    if m in _DISPLAY or click_network == "DoubleClick":
        return Channel.DISPLAY
    if (paid and (source_kind == "search" or click_network in _SEARCH_CLICKS)) or (
        click_network in _SEARCH_CLICKS and not m
    ):
        return Channel.PAID_SEARCH
    if (paid and source_kind == "social") or click_network in _SOCIAL_AD_CLICKS:
        return Channel.PAID_SOCIAL
    if paid:
        return Channel.PAID_OTHER
    if (
        _EMAIL.search(s)
        or _EMAIL.search(m)
        or click_network == "Mailchimp"
        or (not has_campaign and referrer_medium == "email")
    ):
        return Channel.EMAIL
    if m == "affiliate" or click_network == "Impact":
        return Channel.AFFILIATE
    if m == "organic" or source_kind == "search" or (not has_campaign and referrer_medium == "search"):
        return Channel.ORGANIC_SEARCH
    if (
        m in _SOCIAL_MEDIUM
        or source_kind == "social"
        or click_network in ("Facebook", "Instagram")
        or (not has_campaign and referrer_medium == "social")
    ):
        return Channel.ORGANIC_SOCIAL
    if m == "referral" or (not has_campaign and referrer_medium in ("unknown", "internal")):
        return Channel.REFERRAL if referrer_medium != "internal" or m == "referral" else Channel.INTERNAL
    if not has_campaign:
        return Channel.REFERRAL if referrer_medium else Channel.DIRECT
    return Channel.UNASSIGNED
