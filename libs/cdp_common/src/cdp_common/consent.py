"""Consent by purpose: what a person allowed, per category, as every stage reads it. Pure.

Events carry the visitor's choices the way Segment's consent spec does:
``context.consent.categoryPreferences`` = ``{"analytics": true, "ads": false, ...}`` (our
tag sets it from ``cdp.consent({...})``, a CMP's TCF v2 signal or Google Consent Mode v2).
A CMP's own category names are mapped onto the three purposes the platform acts on
(``SYNONYMS``); other names are kept as they are, lower-cased.

The profile keeps the latest choice per category with its time (``fold``), and every
decision asks ``allowed(state, purpose)``: a category the person never answered falls back
to ``DEFAULTS``: ads need an explicit yes (opt-in); analytics and personalization are
allowed until refused. Ad platforms (conversions, audiences marked ``ads``) need ``ads``;
personalization decisions need ``personalization``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ANALYTICS, ADS, PERSONALIZATION = "analytics", "ads", "personalization"
PURPOSES = (ANALYTICS, ADS, PERSONALIZATION)
DEFAULTS: Mapping[str, bool] = {ANALYTICS: True, ADS: False, PERSONALIZATION: True}
SYNONYMS: Mapping[str, str] = {
    **dict.fromkeys(("ads", "advertising", "marketing", "targeting", "ad_storage", "ad_user_data"), ADS),
    **dict.fromkeys(("analytics", "statistics", "performance", "measurement", "analytics_storage"), ANALYTICS),
    **dict.fromkeys(("personalization", "personalisation", "functional", "personalization_storage"), PERSONALIZATION),
}
MAX_CATEGORIES = 32


def preferences(event: Mapping[str, Any]) -> dict[str, bool]:
    """The categories an event states (``context.consent.categoryPreferences``), mapped to
    purposes; values that are not booleans are ignored."""
    ctx = event.get("context")
    consent = ctx.get("consent") if isinstance(ctx, Mapping) else None
    prefs = consent.get("categoryPreferences") if isinstance(consent, Mapping) else None
    if not isinstance(prefs, Mapping):
        return {}
    out: dict[str, bool] = {}
    for name, value in list(prefs.items())[:MAX_CATEGORIES]:
        if isinstance(name, str) and isinstance(value, bool) and 0 < len(name) <= 64:
            key = SYNONYMS.get(name.strip().lower(), name.strip().lower())
            out[key] = out.get(key, True) and value  # two names for one purpose: a no wins
    return out


def fold(state: dict[str, Any], prefs: Mapping[str, bool], at: float) -> list[str]:
    """Record ``prefs`` stated at ``at`` into ``state`` (category -> {granted, at}); a
    statement older than the one held is ignored. Returns the categories whose answer changed."""
    changed = []
    for category, granted in prefs.items():
        cur = state.get(category)
        if cur is not None and cur["at"] > at:
            continue
        if cur is None or cur["granted"] != granted:
            changed.append(category)
        state[category] = {"granted": granted, "at": at}
    return changed


def merge(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """Two profiles' consent states as one: per category, the later answer."""
    out = {k: dict(v) for k, v in (a or {}).items()}
    for k, v in (b or {}).items():
        if k not in out or v["at"] > out[k]["at"]:
            out[k] = dict(v)
    return out


def allowed(state: Mapping[str, Any] | None, purpose: str, defaults: Mapping[str, bool] = DEFAULTS) -> bool:
    """May the person's data be used for ``purpose``?"""
    answer = (state or {}).get(purpose)
    if answer is not None:
        return bool(answer["granted"])
    return defaults.get(purpose, False)
