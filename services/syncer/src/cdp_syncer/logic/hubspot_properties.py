"""Which HubSpot contact properties the lead mapping needs, and what to create. Pure.

HubSpot refuses an upsert that names a property the portal does not have, so every mapped
property that is not one of HubSpot's own contact properties is created (in the ``cdp``
property group) before the first lead goes out: ``cdp destinations bootstrap hubspot``, and
the syncer on start (``CDP_HUBSPOT_BOOTSTRAP``). Existing properties are left alone; one
whose type differs from what the CDP sends is reported as a conflict, never changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

GROUP = "cdp"
GROUP_LABEL = "Customer Data Platform"
# HubSpot's own contact properties among those the mapping uses: never created
BUILT_IN = frozenset(
    {"email", "firstname", "lastname", "company", "phone", "jobtitle", "industry", "lifecyclestage", "website"}
)
NUMBERS = frozenset({"score", "pageViews", "sessions", "leadVersion"})
LONG_TEXT = frozenset({"summary", "calculators", "conversions"})
LABELS = {
    "score": "CDP score",
    "segments": "CDP segments",
    "pageViews": "CDP page views",
    "sessions": "CDP sessions",
    "firstTouchSource": "CDP first touch source",
    "firstTouchMedium": "CDP first touch medium",
    "firstTouchCampaign": "CDP first touch campaign",
    "firstTouchChannel": "CDP first touch channel",
    "lastTouchSource": "CDP last touch source",
    "lastTouchMedium": "CDP last touch medium",
    "lastTouchCampaign": "CDP last touch campaign",
    "lastTouchChannel": "CDP last touch channel",
    "calculators": "CDP calculator values",
    "conversions": "CDP conversions",
    "summary": "CDP behaviour summary",
    "profileId": "CDP profile id",
    "leadVersion": "CDP lead version",
}


@dataclass(frozen=True, slots=True)
class PropertySpec:
    name: str
    label: str
    type: str  # string, number
    field_type: str  # text, textarea, number
    group: str = GROUP

    def as_input(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group,
            "description": "Written by the CDP with every qualified lead.",
        }


class Spec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    def as_input(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class Plan:
    create: list[Any] = field(default_factory=list)  # PropertySpec (HubSpot), FieldSpec (Mautic)
    existing: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # "name: portal has T, the CDP sends U"


def wanted(mapping: Mapping[str, str]) -> list[PropertySpec]:
    """The custom properties a mapping (lead field -> property) writes."""
    out = []
    for lead_field, prop in sorted(mapping.items()):
        if not prop or prop in BUILT_IN:
            continue
        if lead_field in NUMBERS:
            spec = PropertySpec(prop, LABELS.get(lead_field, prop), "number", "number")
        elif lead_field in LONG_TEXT:
            spec = PropertySpec(prop, LABELS.get(lead_field, prop), "string", "textarea")
        else:
            spec = PropertySpec(prop, LABELS.get(lead_field, prop), "string", "text")
        out.append(spec)
    return out


def plan(specs: Sequence[Spec], portal: Mapping[str, Mapping[str, Any]]) -> Plan:
    """What to create, given the portal's properties (or Mautic's fields) by name, with
    the ``type`` of each."""
    p = Plan()
    for spec in specs:
        have = portal.get(spec.name)
        if have is None:
            p.create.append(spec)
        elif have.get("type") != spec.type:
            p.conflicts.append(f"{spec.name}: the portal has type {have.get('type')}, the CDP sends {spec.type}")
        else:
            p.existing.append(spec.name)
    return p
