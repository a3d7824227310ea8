"""Internal records that travel between the services on Kafka topics."""

from __future__ import annotations

import base64
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from cdp_common.events import Event, Timestamp, Wire


class RawHit(Wire):
    """What the collector publishes to ``cdp.hits.raw``: the event as the client sent it
    (plus a minted ``messageId``) and the edge's stamps. ``timestamp`` is the event time
    corrected for client clock skew."""

    event: Event
    received_at: Timestamp
    source_id: str
    client_ip: str | None = None
    user_agent: str | None = None
    timestamp: Timestamp
    # the client's own event time, kept only when it was implausible and ``timestamp`` was
    # clamped to the receive time (a year-9999 or year-1 client clock)
    client_timestamp: str | None = None


class Campaign(Wire):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None


class Click(Wire):
    id: str
    network: str


class Channel(StrEnum):
    PAID_SEARCH = "Paid Search"
    ORGANIC_SEARCH = "Organic Search"
    PAID_SOCIAL = "Paid Social"
    PAID_OTHER = "Paid Other"
    ORGANIC_SOCIAL = "Organic Social"
    EMAIL = "Email"
    DISPLAY = "Display"
    AFFILIATE = "Affiliate"
    REFERRAL = "Referral"
    DIRECT = "Direct"
    INTERNAL = "Internal"
    UNASSIGNED = "Unassigned"


class Referrer(Wire):
    url: str | None = None
    host: str | None = None
    medium: str | None = None  # search, social, email, internal, unknown
    source: str | None = None  # e.g. Google, LinkedIn


class Device(Wire):
    browser: str | None = None
    browser_version: str | None = None
    os: str | None = None
    os_version: str | None = None
    type: str | None = None  # desktop, mobile, tablet, bot, other


class Bot(Wire):
    is_bot: bool = False
    reason: str | None = None


class Geo(Wire):
    country: str | None = None
    ip: str | None = None  # anonymized: IPv4 /24, IPv6 /48


class TraitHint(Wire):
    """A profile fact implied by how the visitor arrived, with the rule that implied it."""

    name: str
    value: Any
    rule_id: str


class PlanViolation(Wire):
    """How an event broke its source's tracking plan (the event went on: allow or omit)."""

    type: Literal["unplanned_event", "required_missing", "datatype_mismatch", "additional_property", "invalid_value"]
    field: str
    message: str


class Enrichment(Wire):
    campaign: Campaign = Field(default_factory=Campaign)
    click: Click | None = None
    channel: Channel = Channel.DIRECT
    referrer: Referrer = Field(default_factory=Referrer)
    device: Device = Field(default_factory=Device)
    bot: Bot = Field(default_factory=Bot)
    geo: Geo = Field(default_factory=Geo)
    traits: list[TraitHint] = Field(default_factory=list)
    violations: list[PlanViolation] = Field(default_factory=list)


class EnrichedHit(Wire):
    """What the enricher publishes to ``cdp.hits.enriched``. The full client IP is not
    here: only ``enrichment.geo`` with the anonymized address leaves the enricher."""

    event: Event
    received_at: Timestamp
    source_id: str
    user_agent: str | None = None
    timestamp: Timestamp
    enrichment: Enrichment


class Rejected(Wire):
    """Input a stage refused, on ``cdp.hits.rejected``."""

    reason: str
    message: str
    stage: Literal["collector", "enricher", "segmenter", "syncer"]
    original: str  # base64 of the original bytes
    source_id: str | None = None
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    rejected_at: Timestamp

    @staticmethod
    def encode(original: bytes) -> str:
        return base64.b64encode(original).decode("ascii")

    def original_bytes(self) -> bytes:
        return base64.b64decode(self.original)


class SegmentChange(Wire):
    """A profile entered or left a segment, on ``cdp.segments.changes`` (key: profile id)."""

    profile_id: str
    segment_id: str
    change: Literal["entered", "left"]
    at: Timestamp
    message_id: str | None = None  # the event that caused it


# ---- the public lead topic ---------------------------------------------------------------


class TraitValue(Wire):
    value: Any
    source: str  # "explicit" (identify, forms) or "implicit" (campaign rules)
    rule_id: str | None = None
    first_seen: Timestamp | None = None
    last_seen: Timestamp | None = None


class ConsentAnswer(Wire):
    granted: bool
    at: Timestamp


class ScoreItem(Wire):
    rule: str
    points: float


class Touchpoint(Wire):
    at: Timestamp
    channel: str
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    click_network: str | None = None
    click_id: str | None = None  # the ad click id (gclid, li_fat_id, fbclid, ...) the visit came with


class Submission(Wire):
    """A form or calculator submitted, with its values (kept even without an email)."""

    name: str
    at: Timestamp
    values: dict[str, Any] = Field(default_factory=dict)


class Conversion(Wire):
    event: str
    at: Timestamp
    properties: dict[str, Any] = Field(default_factory=dict)


class Behaviour(Wire):
    page_views: int = 0
    sessions: int = 0
    interactions: int = 0
    events: dict[str, int] = Field(default_factory=dict)
    top_pages: dict[str, int] = Field(default_factory=dict)
    max_scroll: dict[str, int] = Field(default_factory=dict)
    videos_started: list[str] = Field(default_factory=list)
    videos_completed: list[str] = Field(default_factory=list)
    forms: list[Submission] = Field(default_factory=list)
    calculators: list[Submission] = Field(default_factory=list)


class Contact(Wire):
    email: str
    user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None


class QualifiedLead(Wire):
    """A qualified lead with its whole story, on ``cdp.leads.qualified`` (key: profile id).

    ``eventId`` is unique per emitted event (use it as the idempotency key); ``version``
    grows with each event for the same profile, so receivers keep the highest."""

    schema_: Literal["cdp.lead/v1"] = Field(default="cdp.lead/v1", alias="schema")
    event_type: Literal["lead.qualified", "lead.updated"]
    event_id: str
    version: int = Field(ge=1)
    profile_id: str
    occurred_at: Timestamp
    qualified_by: str  # "score" or the qualifying conversion's event name
    qualified_at: Timestamp | None = None  # when the profile first qualified (the same in every version)
    lifecycle_stage: str
    contact: Contact
    traits: dict[str, TraitValue] = Field(default_factory=dict)
    score: float = 0
    score_breakdown: list[ScoreItem] = Field(default_factory=list)
    segments: list[str] = Field(default_factory=list)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    channels: dict[str, int] = Field(default_factory=dict)
    touchpoints: list[Touchpoint] = Field(default_factory=list)
    first_touch: Touchpoint | None = None
    last_touch: Touchpoint | None = None
    conversions: list[Conversion] = Field(default_factory=list)
    anonymous_ids: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    # the person's latest answer per consent category (analytics, ads, personalization, ...)
    consent: dict[str, ConsentAnswer] = Field(default_factory=dict)
    first_seen: Timestamp
    last_seen: Timestamp


class LeadFailure(Wire):
    """A lead a destination refused permanently, on ``cdp.leads.failed``."""

    lead_event_id: str
    profile_id: str
    destination: str
    error: str
    attempts: int
    failed_at: Timestamp
    lead: dict[str, Any]


class Erasure(Wire):
    """A person was erased (``cdp.privacy.erasures``, keyed by profile id): every system
    that received them must delete them. The syncer forwards it to each destination
    (HubSpot's GDPR delete, Mautic's contact delete, a signed ``contact.erased`` webhook)."""

    schema_: Literal["cdp.erasure/v1"] = Field(default="cdp.erasure/v1", alias="schema")
    request_id: str
    profile_ids: list[str]
    emails: list[str]
    user_ids: list[str] = Field(default_factory=list)
    requested_at: Timestamp
