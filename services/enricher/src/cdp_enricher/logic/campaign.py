"""Campaign attribution (Snowplow's model): UTM fields and click ids from the page URL's
query string and from ``context.campaign`` (where the JS tag keeps the landing page's
campaign and click ids for the rest of the session).

Each field has a precedence list of names; the first present wins. A name starting with
``context.`` reads ``context.campaign`` (``context.name`` is Segment's campaign name);
any other name is a query parameter of the page URL.

Normalization: values are URL-decoded and trimmed; ``source`` and ``medium`` are
lowercased (channel rules match on them); ``campaign``, ``term`` and ``content`` keep their
case. Empty values count as absent. Length caps: content 500, click id 1000, network 64,
the others 255.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("source", "medium", "campaign", "term", "content")

DEFAULT_PRECEDENCE: dict[str, tuple[str, ...]] = {
    "source": ("utm_source", "context.source"),
    "medium": ("utm_medium", "context.medium"),
    "campaign": ("utm_campaign", "context.name"),
    "term": ("utm_term", "context.term"),
    "content": ("utm_content", "context.content"),
}

CAPS = {"source": 255, "medium": 255, "campaign": 255, "term": 255, "content": 500}
CLICK_ID_CAP = 1000
NETWORK_CAP = 64
LOWERCASED = frozenset({"source", "medium"})

# Click id parameter -> advertising network. Order matters when a URL carries several.
CLICK_IDS: tuple[tuple[str, str], ...] = (
    ("gclid", "Google"),
    ("gbraid", "Google"),
    ("wbraid", "Google"),
    ("dclid", "DoubleClick"),
    ("msclkid", "Microsoft"),
    ("li_fat_id", "LinkedIn"),
    ("fbclid", "Facebook"),
    ("ttclid", "TikTok"),
    ("twclid", "X"),
    ("rdt_cid", "Reddit"),
    ("epik", "Pinterest"),
    ("sccid", "Snapchat"),
    ("qclid", "Quora"),
    ("yclid", "Yandex"),
    ("irclid", "Impact"),
    ("igshid", "Instagram"),
    ("mc_eid", "Mailchimp"),
)


_CLICK_PARAMS = frozenset(p for p, _ in CLICK_IDS)


@dataclass(frozen=True, slots=True)
class CampaignConfig:
    precedence: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PRECEDENCE))
    click_ids: tuple[tuple[str, str], ...] = CLICK_IDS


@dataclass(frozen=True, slots=True)
class Attribution:
    campaign: dict[str, str]  # only the fields present
    click_id: str | None = None
    click_network: str | None = None


def _clean(value: Any, cap: int, lower: bool) -> str | None:
    if not isinstance(value, str):
        if value is None or isinstance(value, (dict, list)):
            return None
        value = str(value)
    value = value.strip()
    if not value:
        return None
    if lower:
        value = value.lower()
    return value[:cap]


def attribute(
    query: Mapping[str, str], context_campaign: Mapping[str, Any] | None, config: CampaignConfig
) -> Attribution:
    """``query``: the page URL's parameters (first value of each, already decoded)."""
    ctx = context_campaign or {}
    out: dict[str, str] = {}
    if not query and not ctx:
        return Attribution(out)
    for name in FIELDS:
        for key in config.precedence.get(name, ()):
            raw = ctx.get(key[8:]) if key.startswith("context.") else query.get(key)
            value = _clean(raw, CAPS[name], name in LOWERCASED)
            if value is not None:
                out[name] = value
                break
    # click ids: the page URL's, else the ones the JS tag keeps for the session in context.campaign
    params = _CLICK_PARAMS if config.click_ids is CLICK_IDS else {p for p, _ in config.click_ids}
    for source in (query, ctx):
        if not source or params.isdisjoint(source):
            continue
        for param, net in config.click_ids:
            value = _clean(source.get(param), CLICK_ID_CAP, False)
            if value is not None:
                return Attribution(out, value, net[:NETWORK_CAP])
    return Attribution(out)
