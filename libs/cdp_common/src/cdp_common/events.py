"""Inbound events as clients send them: the Segment spec (also RudderStack's).

These models validate what arrives at the collector. Unknown fields are kept (``extra``
is allowed) so nothing a client sends is lost on the way through the pipeline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, model_validator
from pydantic.alias_generators import to_camel

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


def _utc(value: datetime | None) -> datetime | None:
    """Naive timestamps are taken as UTC; aware ones are converted to UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as e:  # e.g. 0001-01-01T00:00:00+01:00
        raise ValueError("timestamp is out of range") from e


Timestamp = Annotated[datetime, AfterValidator(_utc)]


class Wire(BaseModel):
    """Base for every wire model: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Library(Wire):
    name: str | None = None
    version: str | None = None


class PageContext(Wire):
    path: str | None = None
    referrer: str | None = None
    search: str | None = None
    title: str | None = None
    url: str | None = None


class CampaignContext(Wire):
    name: str | None = None
    source: str | None = None
    medium: str | None = None
    term: str | None = None
    content: str | None = None


class Context(Wire):
    ip: str | None = None
    library: Library | None = None
    page: PageContext | None = None
    campaign: CampaignContext | None = None
    user_agent: str | None = None
    locale: str | None = None
    timezone: str | None = None
    traits: dict[str, Any] | None = None
    session_id: str | int | None = None


class EventBase(Wire):
    message_id: Id | None = None
    anonymous_id: Id | None = None
    user_id: Id | None = None
    timestamp: Timestamp | None = None
    original_timestamp: Timestamp | None = None
    sent_at: Timestamp | None = None
    context: Context = Field(default_factory=Context)
    integrations: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_ids_are_absent(cls, data: Any) -> Any:
        """``"userId": ""`` (RudderStack's SDKs before identify) or ``null`` means no id."""
        if isinstance(data, dict):
            for key in ("userId", "anonymousId"):
                value = data.get(key, 0)
                if value is None or (isinstance(value, str) and not value.strip()):
                    data = {k: v for k, v in data.items() if k != key}
        return data

    @model_validator(mode="after")
    def _needs_an_identity(self) -> EventBase:
        if self.anonymous_id is None and self.user_id is None:
            raise ValueError("anonymousId or userId is required")
        return self


class TrackEvent(EventBase):
    type: Literal["track"]
    event: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    properties: dict[str, Any] = Field(default_factory=dict)


class PageEvent(EventBase):
    type: Literal["page"]
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class ScreenEvent(EventBase):
    type: Literal["screen"]
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class IdentifyEvent(EventBase):
    type: Literal["identify"]
    traits: dict[str, Any] = Field(default_factory=dict)


class GroupEvent(EventBase):
    type: Literal["group"]
    group_id: Id
    traits: dict[str, Any] = Field(default_factory=dict)


class AliasEvent(EventBase):
    type: Literal["alias"]
    previous_id: Id
    user_id: Id  # required for alias: the new identity


Event = Annotated[
    TrackEvent | PageEvent | ScreenEvent | IdentifyEvent | GroupEvent | AliasEvent,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[str, ...] = ("track", "page", "screen", "identify", "group", "alias")

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: dict[str, Any]) -> Event:
    """Validate one inbound event; raises ``pydantic.ValidationError``."""
    return event_adapter.validate_python(data)
