"""Which conversions a lead reports to an ad platform, and the platforms' request shapes. Pure.

A lead is reported to LinkedIn, Google Ads or Meta only when

- the person allows ``ads`` (an explicit yes: ``cdp_common.consent``), and
- one of their touchpoints came from that platform's ad click (``clickNetwork`` and a
  ``clickId``: ``li_fat_id``, ``gclid``, ``fbclid``): the latest such click is used.

What is reported: the qualification itself (``lead.qualified``: the conversion named by the
destination's settings) and every conversion event on the profile (``Demo Booked``, ...)
at its own time. Each has a stable id (``profileId`` + what + when), which every platform
uses to drop a second copy (LinkedIn ``eventId``, Google ``orderId``, Meta ``event_id``), so
a later version of the lead that repeats them adds nothing there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cdp_common import consent

Lead = Mapping[str, Any]
NETWORKS = {"linkedin": ("LinkedIn",), "google_ads": ("Google",), "meta": ("Facebook", "Instagram")}


@dataclass(frozen=True, slots=True)
class Conversion:
    id: str  # stable: the platform's deduplication key
    name: str  # "lead" or the conversion event's name
    at: float  # epoch seconds
    click_id: str
    click_at: float
    email: str  # normalized, not hashed
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def sha256_email(email: str, *, google: bool = False) -> str:
    """Lower-cased, trimmed, SHA-256 hex; for Google, dots before @gmail.com /
    @googlemail.com are removed first (Google's documented normalization)."""
    e = email.strip().lower()
    if google:
        local, _, domain = e.partition("@")
        if domain in ("gmail.com", "googlemail.com"):
            e = local.replace(".", "") + "@" + domain
    return hashlib.sha256(e.encode()).hexdigest()


def skip_reason(lead: Lead, platform: str) -> str | None:
    """Why nothing goes to ``platform`` for this lead (None: something does)."""
    if not consent.allowed(lead.get("consent"), consent.ADS):
        return "no ads consent"
    if _click(lead, platform) is None:
        return f"no {'/'.join(NETWORKS[platform])} ad click on the profile"
    return None


def _click(lead: Lead, platform: str) -> Mapping[str, Any] | None:
    nets = NETWORKS[platform]
    clicks = [t for t in lead.get("touchpoints") or [] if t.get("clickNetwork") in nets and t.get("clickId")]
    return max(clicks, key=lambda t: _epoch(t["at"])) if clicks else None


def conversions(lead: Lead, platform: str) -> list[Conversion]:
    """What ``platform`` gets for this lead (empty when ``skip_reason`` says why)."""
    if skip_reason(lead, platform):
        return []
    click = _click(lead, platform)
    assert click is not None
    contact = lead["contact"]
    base = {
        "click_id": str(click["clickId"]),
        "click_at": _epoch(click["at"]),
        "email": str(contact["email"]).strip().lower(),
        "first_name": contact.get("firstName"),
        "last_name": contact.get("lastName"),
        "company": contact.get("company"),
    }
    pid = lead["profileId"]
    out = []
    # qualification time: the same in every version, so each platform sees one conversion
    out.append(Conversion(f"{pid}:lead", "lead", _epoch(lead.get("qualifiedAt") or lead["occurredAt"]), **base))
    for c in lead.get("conversions") or []:
        at = _epoch(c["at"])
        out.append(Conversion(f"{pid}:{c['event']}:{int(at)}", str(c["event"]), at, **base))
    return out


# ---- the platforms' documented shapes ------------------------------------------------


def linkedin_element(c: Conversion, conversion_urn: str) -> dict[str, Any]:
    """One element of LinkedIn's ``POST /rest/conversionEvents`` (BATCH_CREATE)."""
    user_info = {
        k: v for k, v in (("firstName", c.first_name), ("lastName", c.last_name), ("companyName", c.company)) if v
    }
    user: dict[str, Any] = {
        "userIds": [
            {"idType": "SHA256_EMAIL", "idValue": sha256_email(c.email)},
            {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": c.click_id},
        ]
    }
    if "firstName" in user_info and "lastName" in user_info:  # LinkedIn wants both or neither
        user["userInfo"] = user_info
    return {
        "conversion": conversion_urn,
        "conversionHappenedAt": int(c.at * 1000),
        "user": user,
        "eventId": c.id,
    }


def google_datetime(at: float) -> str:
    """``yyyy-mm-dd hh:mm:ss+00:00``, the format Google Ads requires."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def google_conversion(c: Conversion, conversion_action: str, value: float, currency: str) -> dict[str, Any]:
    """One ``ClickConversion`` of ``customers/{id}:uploadClickConversions``."""
    return {
        "gclid": c.click_id,
        "conversionAction": conversion_action,
        "conversionDateTime": google_datetime(c.at),
        "conversionValue": value,
        "currencyCode": currency,
        "orderId": c.id,
        "userIdentifiers": [{"hashedEmail": sha256_email(c.email, google=True)}],
        "consent": {"adUserData": "GRANTED"},  # only people who allowed ads are sent
    }


def meta_event(c: Conversion, event_name: str) -> dict[str, Any]:
    """One event of Meta's Conversions API (``POST /{pixel}/events``): a CRM-sourced lead."""
    return {
        "event_name": event_name if c.name == "lead" else c.name,
        "event_time": int(c.at),
        "event_id": c.id,
        "action_source": "system_generated",
        "user_data": {
            "em": [sha256_email(c.email)],
            # Meta's click id format: fb.{subdomain index}.{creation time ms}.{fbclid}
            "fbc": f"fb.1.{int(c.click_at * 1000)}.{c.click_id}",
        },
        "custom_data": {"event_source": "crm", "lead_event_source": "cdp"},
    }
