"""A lead (``cdp.lead/v1``) as the fields a marketing-automation system stores. Pure.

Each destination has a map of CDP field -> destination property name; the defaults below
can be overridden (``CDP_HUBSPOT_PROPERTY_MAP`` / ``CDP_MAUTIC_FIELD_MAP``, JSON); mapping a
field to ``""`` leaves it out. HubSpot rejects unknown properties, so the ``cdp_*``
properties must exist in the portal (docs/syncer.md lists them) or be mapped away.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Lead = Mapping[str, Any]
MAX_TEXT = 65_000  # HubSpot's limit for a text property is 65,536 characters


def _trait(name: str) -> Callable[[Lead], Any]:
    return lambda lead: ((lead.get("traits") or {}).get(name) or {}).get("value")


def _touch(which: str, key: str) -> Callable[[Lead], Any]:
    return lambda lead: (lead.get(which) or {}).get(key)


def _values(sub: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in (sub.get("values") or {}).items())


def calculators(lead: Lead) -> str:
    return "; ".join(f"{c['name']}: {_values(c)}" for c in lead["behaviour"].get("calculators") or [])


def conversions(lead: Lead) -> str:
    return "; ".join(f"{c['event']} at {c['at'][:16].replace('T', ' ')}" for c in lead.get("conversions") or [])


def summary(lead: Lead) -> str:
    """A readable story for the sales rep."""
    b = lead["behaviour"]
    traits = lead.get("traits") or {}
    lines = []
    persona = [
        f"{k}: {v['value']}" + (f" (from {v['ruleId']})" if v.get("ruleId") else "")
        for k, v in traits.items()
        if k in ("role", "industry", "jobTitle", "company", "intent")
    ]
    if persona:
        lines.append("Persona: " + "; ".join(persona))
    parts = ", ".join(f"{r['rule']} +{r['points']:g}" for r in lead.get("scoreBreakdown") or [])
    lines.append(
        f"Score {lead.get('score', 0):g}" + (f" ({parts})" if parts else "") + f"; qualified by {lead['qualifiedBy']}"
    )
    lines.append(f"{b['pageViews']} page views over {b['sessions']} session(s), {b['interactions']} interactions")
    if b.get("topPages"):
        lines.append("Top pages: " + ", ".join(f"{p} ({n})" for p, n in b["topPages"].items()))
    if b.get("maxScroll"):
        lines.append("Scrolled: " + ", ".join(f"{p} {n}%" for p, n in b["maxScroll"].items()))
    if b.get("videosCompleted"):
        lines.append("Videos watched to the end: " + ", ".join(b["videosCompleted"]))
    if b.get("calculators"):
        lines.append("Calculator: " + calculators(lead))
    if b.get("forms"):
        lines.append("Forms: " + "; ".join(f"{f['name']} ({_values(f)})" for f in b["forms"]))
    ft, lt = lead.get("firstTouch"), lead.get("lastTouch")
    if ft:
        lines.append(
            "First touch: "
            + " / ".join(str(ft.get(k)) for k in ("channel", "source", "medium", "campaign") if ft.get(k))
        )
    if lt:
        lines.append(
            "Last touch: "
            + " / ".join(str(lt.get(k)) for k in ("channel", "source", "medium", "campaign") if lt.get(k))
        )
    if lead.get("segments"):
        lines.append("Segments: " + ", ".join(lead["segments"]))
    if lead.get("conversions"):
        lines.append("Conversions: " + conversions(lead))
    return "\n".join(lines)[:MAX_TEXT]


FIELDS: dict[str, Callable[[Lead], Any]] = {
    "email": lambda lead: lead["contact"]["email"],
    "firstName": lambda lead: lead["contact"].get("firstName"),
    "lastName": lambda lead: lead["contact"].get("lastName"),
    "company": lambda lead: lead["contact"].get("company"),
    "phone": lambda lead: lead["contact"].get("phone"),
    "role": _trait("role"),
    "industry": _trait("industry"),
    "lifecycleStage": lambda lead: lead.get("lifecycleStage"),
    "score": lambda lead: lead.get("score"),
    "segments": lambda lead: ";".join(lead.get("segments") or []),
    "pageViews": lambda lead: lead["behaviour"]["pageViews"],
    "sessions": lambda lead: lead["behaviour"]["sessions"],
    "firstTouchSource": _touch("firstTouch", "source"),
    "firstTouchMedium": _touch("firstTouch", "medium"),
    "firstTouchCampaign": _touch("firstTouch", "campaign"),
    "firstTouchChannel": _touch("firstTouch", "channel"),
    "lastTouchSource": _touch("lastTouch", "source"),
    "lastTouchMedium": _touch("lastTouch", "medium"),
    "lastTouchCampaign": _touch("lastTouch", "campaign"),
    "lastTouchChannel": _touch("lastTouch", "channel"),
    "calculators": calculators,
    "conversions": conversions,
    "summary": summary,
    "profileId": lambda lead: lead["profileId"],
    "leadVersion": lambda lead: lead["version"],
}

HUBSPOT_DEFAULT = {
    "email": "email",
    "firstName": "firstname",
    "lastName": "lastname",
    "company": "company",
    "phone": "phone",
    "role": "jobtitle",
    "industry": "industry",
    "lifecycleStage": "lifecyclestage",
    "score": "cdp_score",
    "segments": "cdp_segments",
    "pageViews": "cdp_page_views",
    "sessions": "cdp_sessions",
    "firstTouchSource": "cdp_first_touch_source",
    "firstTouchMedium": "cdp_first_touch_medium",
    "firstTouchCampaign": "cdp_first_touch_campaign",
    "lastTouchSource": "cdp_last_touch_source",
    "lastTouchMedium": "cdp_last_touch_medium",
    "lastTouchCampaign": "cdp_last_touch_campaign",
    "calculators": "cdp_calculator_values",
    "conversions": "cdp_conversions",
    "summary": "cdp_behaviour_summary",
    "profileId": "cdp_profile_id",
    "leadVersion": "cdp_lead_version",
}
MAUTIC_DEFAULT = {
    "email": "email",
    "firstName": "firstname",
    "lastName": "lastname",
    "company": "company",
    "phone": "phone",
    "role": "position",
    "industry": "cdp_industry",
    "score": "cdp_score",
    "segments": "cdp_segments",
    "pageViews": "cdp_page_views",
    "sessions": "cdp_sessions",
    "firstTouchSource": "cdp_first_touch_source",
    "firstTouchCampaign": "cdp_first_touch_campaign",
    "lastTouchSource": "cdp_last_touch_source",
    "lastTouchCampaign": "cdp_last_touch_campaign",
    "calculators": "cdp_calculator_values",
    "summary": "cdp_behaviour_summary",
    "profileId": "cdp_profile_id",
    "leadVersion": "cdp_lead_version",
}
LIFECYCLE_HUBSPOT = {"mql": "marketingqualifiedlead", "sql": "salesqualifiedlead", "known": "lead"}


def check_map(mapping: Mapping[str, str]) -> None:
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown lead field(s) {unknown}; known: {sorted(FIELDS)}")


def properties(lead: Lead, mapping: Mapping[str, str], *, hubspot: bool = False) -> dict[str, str]:
    """Destination properties as strings (both APIs take strings); empty values left out."""
    out: dict[str, str] = {}
    for field, prop in mapping.items():
        if not prop:
            continue
        value = FIELDS[field](lead)
        if field == "lifecycleStage" and hubspot:
            value = LIFECYCLE_HUBSPOT.get(str(value), value)
        if value is None or value == "":
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[prop] = str(value)
    return out
