"""Which Mautic custom contact fields the lead mapping needs, and what to create. Pure.

Mautic keeps the values of fields it knows and silently drops the rest, so a ``cdp_*``
field the instance lacks would be lost without a word: every mapped field that is not one
of Mautic's own is created (``POST /api/fields/contact/new``) before the first lead goes
out (``cdp destinations bootstrap mautic``; the syncer on start, ``CDP_MAUTIC_BOOTSTRAP``).
Existing fields are left alone; one of another type is reported, never changed. The plan
itself is HubSpot's (``hubspot_properties.plan``): same rule, other names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdp_syncer.logic.hubspot_properties import LABELS, LONG_TEXT, NUMBERS

GROUP = "professional"  # one of Mautic's fixed field groups (core, social, personal, professional)
# Mautic's own contact fields (the "core" and "social" groups of a fresh instance)
BUILT_IN = frozenset(
    {
        *("title", "firstname", "lastname", "company", "position", "email", "mobile", "phone", "points", "fax"),
        *("address1", "address2", "city", "state", "zipcode", "country", "preferred_locale", "timezone"),
        *("last_active", "attribution_date", "attribution", "website"),
        *("facebook", "foursquare", "instagram", "linkedin", "skype", "twitter"),
    }
)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str  # the field's alias
    label: str
    type: str  # text, textarea, number
    group: str = GROUP

    def as_input(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "alias": self.name,
            "type": self.type,
            "group": self.group,
            "object": "lead",
            "isPublished": True,
            "isListable": True,
        }


def wanted(mapping: Mapping[str, str]) -> list[FieldSpec]:
    """The custom fields a mapping (lead field -> field alias) writes."""
    out = []
    for lead_field, alias in sorted(mapping.items()):
        if not alias or alias in BUILT_IN:
            continue
        kind = "number" if lead_field in NUMBERS else "textarea" if lead_field in LONG_TEXT else "text"
        out.append(FieldSpec(alias, LABELS.get(lead_field, alias), kind))
    return out
