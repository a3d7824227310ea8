"""The lead payload (``cdp.lead/v1``) built from a profile: the whole story, not one form.
Pure: validated against the published model so downstream systems can rely on the schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdp_common.definitions.conditions import sessions
from cdp_common.records import QualifiedLead
from cdp_segmenter.logic.evaluation import email_of

TOP_PAGES = 10
CONTACT_TRAITS = {
    "firstName": ("firstName", "first_name", "firstname"),
    "lastName": ("lastName", "last_name", "lastname"),
    "company": ("company", "companyName", "company_name", "organization"),
    "phone": ("phone", "phoneNumber", "phone_number", "tel"),
}


def event_id(profile_id: str, version: int) -> str:
    """Stable per (profile, version): a re-sent lead carries the same id (idempotency key)."""
    return f"{profile_id}-v{version}"


def _trait(p: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for n in names:
        t = p["traits"].get(n)
        if t and isinstance(t["value"], (str, int, float)) and str(t["value"]).strip():
            return str(t["value"]).strip()
    return None


def build_lead(p: Mapping[str, Any], event_type: str, now: float) -> dict[str, Any]:
    """The lead event as JSON-ready camelCase dict; ``p`` must be a lead (``p["lead"]``)."""
    lead = p["lead"]
    email = email_of(p)
    if email is None:
        raise ValueError(f"profile {p['id']} has no email; it cannot be a lead")
    top = sorted(p["pages"].items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_PAGES]
    touchpoints = p["touchpoints"]
    doc = {
        "schema": "cdp.lead/v1",
        "eventType": event_type,
        "eventId": event_id(p["id"], lead["version"]),
        "version": lead["version"],
        "profileId": p["id"],
        "occurredAt": now,
        "qualifiedBy": lead["qualifiedBy"],
        "qualifiedAt": lead.get("qualifiedAt"),
        "lifecycleStage": p.get("stage") or "mql",
        "contact": {"email": email, "userId": p.get("userId")}
        | {k: _trait(p, names) for k, names in CONTACT_TRAITS.items()},
        "traits": {
            k: {
                "value": v["value"],
                "source": v["source"],
                "ruleId": v.get("ruleId"),
                "firstSeen": v.get("firstSeen"),
                "lastSeen": v.get("lastSeen"),
            }
            for k, v in sorted(p["traits"].items())
        },
        "score": p.get("score", 0),
        "scoreBreakdown": p.get("scoreBreakdown", []),
        "segments": p.get("segments", []),
        "behaviour": {
            "pageViews": p["pageViews"],
            "sessions": sessions(p),
            "interactions": p["interactions"],
            "events": p["events"],
            "topPages": dict(top),
            "maxScroll": p["maxScroll"],
            "videosStarted": p["videosStarted"],
            "videosCompleted": p["videosCompleted"],
            "forms": p["forms"],
            "calculators": p["calculators"],
        },
        "channels": p["channels"],
        "touchpoints": touchpoints,
        "firstTouch": p.get("firstTouch") or (touchpoints[0] if touchpoints else None),
        "lastTouch": touchpoints[-1] if touchpoints else None,
        "conversions": p["conversions"],
        "anonymousIds": p["anonymousIds"],
        "devices": p["devices"],
        "consent": p.get("consent") or {},
        "firstSeen": p["firstSeen"],
        "lastSeen": p["lastSeen"],
    }
    # validate and normalize (timestamps become ISO-8601 UTC) through the published model
    return QualifiedLead.model_validate(doc).model_dump(mode="json", by_alias=True)
