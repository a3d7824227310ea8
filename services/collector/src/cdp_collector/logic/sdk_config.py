"""The configuration documents that third-party analytics SDKs fetch before they send.

Segment's ``@segment/analytics-next`` fetches ``{cdnURL}/v1/projects/{writeKey}/settings``
and sends wherever its ``integrations["Segment.io"].apiHost`` says; RudderStack's
``@rudderstack/analytics-js`` v3 fetches ``{configUrl}/sourceConfig/?writeKey=...``. With
the collector answering both, a site switches by pointing the SDK's config host at us: the
documents send every event back here, load no device-mode destinations and report no SDK
metrics. Pure: the source and the public base URL come in as arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cdp_common.sources import Source

# Headers a browser may ask to send in a preflight: the SDKs' own (Authorization,
# X-Retry-Count, AnonymousId, SentAt, Rsa-*) and standard ones. Others get no grant.
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_MAX_REQUESTED_HEADERS = 20


@dataclass(frozen=True, slots=True)
class PublicUrl:
    """Where browsers reach the collector: ``https://collect.example.com`` (no path)."""

    scheme: str
    host: str

    @classmethod
    def parse(cls, url: str) -> PublicUrl:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) base URL: {url!r}")
        return cls(parts.scheme, parts.netloc)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}"


def segment_settings(source: Source, public: PublicUrl) -> dict[str, Any]:
    """The settings document analytics-next loads: only the Segment.io destination, pointed
    at this collector (``apiHost`` is host plus ``/v1``; the SDK appends ``/t``, ``/p``,
    ``/i``, ``/a``, ``/g``, ``/s`` or ``/b``)."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": source.write_key,
                "apiHost": f"{public.host}/v1",
                "protocol": public.scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
            }
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
        "consentSettings": {"allCategories": []},
    }


def rudderstack_source_config(source: Source) -> dict[str, Any]:
    """The ``/sourceConfig`` answer RudderStack's JS SDK v3 validates: an enabled source with
    no device-mode destinations and statistics collection off."""
    return {
        "isHosted": True,
        "source": {
            "id": source.id,
            "name": source.name,
            "writeKey": source.write_key,
            "workspaceId": "cdp",
            "enabled": True,
            "config": {"statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}},
            "destinations": [],
        },
    }


def allowed_request_headers(requested: str | None) -> str:
    """The ``Access-Control-Allow-Headers`` answer to a preflight: the headers it asked
    for, when each is a plain header name, else the ones every SDK needs."""
    base = "content-type, authorization, content-encoding"
    if not requested:
        return base
    names = [h.strip().lower() for h in requested.split(",") if h.strip()]
    if len(names) > _MAX_REQUESTED_HEADERS or not all(_HEADER.match(n) for n in names):
        return base
    merged = ["content-type", "authorization", "content-encoding", *names]
    return ", ".join(dict.fromkeys(merged))
