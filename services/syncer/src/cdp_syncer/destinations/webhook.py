"""A generic webhook: the lead JSON, one request per lead, signed per Standard Webhooks
(``webhook-id`` is the lead's eventId: the receiver's idempotency key). 410 means the
receiver is gone: permanent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from cdp_syncer.destinations.base import (
    AudienceFailure,
    Contact,
    Lead,
    Member,
    Result,
    transport_failure,
    whole_answer,
)
from cdp_syncer.logic import signing
from cdp_syncer.logic.flow import Verdict


class Webhook:
    name = "webhook"
    max_batch = 20  # requests in flight at once

    def __init__(self, url: str, secret: str, timeout_s: float) -> None:
        self.url = url
        self.secret = secret
        self.client = httpx.AsyncClient(timeout=timeout_s)

    async def _one(self, lead: Lead) -> Result:
        payload = orjson.dumps(lead)
        ts = int(time.time())
        try:
            resp = await self.client.post(
                self.url, content=payload, headers=signing.headers(self.secret, lead["eventId"], ts, payload)
            )
        except httpx.HTTPError as e:
            return transport_failure(e, 1)[0]
        whole = whole_answer(resp, 1, time.time())
        return whole[0] if whole else Result(Verdict.DELIVERED, status=resp.status_code)

    async def send(self, leads: Sequence[Lead]) -> list[Result]:
        return list(await asyncio.gather(*(self._one(lead) for lead in leads)))

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """One signed ``contact.erased`` event (``webhook-id``: the erasure request's id)."""
        event = {
            "type": "contact.erased",
            "eventId": erasure["requestId"],
            "profileIds": erasure["profileIds"],
            "emails": erasure["emails"],
            "userIds": erasure.get("userIds", []),
            "requestedAt": erasure["requestedAt"],
        }
        payload = orjson.dumps(event)
        try:
            resp = await self.client.post(
                self.url,
                content=payload,
                headers=signing.headers(self.secret, erasure["requestId"], int(time.time()), payload),
            )
        except httpx.HTTPError as e:
            return transport_failure(e, len(erasure["emails"]))
        whole = whole_answer(resp, 1, time.time())
        result = whole[0] if whole else Result(Verdict.DELIVERED, status=resp.status_code)
        return [result for _ in erasure["emails"]]

    # ---- audiences: signed audience.entered / audience.exited events --------------------

    async def audience_ensure(self, name: str, external_id: str | None) -> str:
        return external_id or name  # nothing to create: the receiver keeps its own list

    async def _audience_event(self, kind: str, audience: str, profile_id: str, email: str) -> None:
        at = time.time()
        event_id = f"{audience}:{profile_id}:{kind}:{int(at * 1000)}"
        event = {
            "type": kind,
            "eventId": event_id,
            "audience": audience,
            "profileId": profile_id,
            "email": email,
            "at": int(at),
        }
        payload = orjson.dumps(event)
        try:
            resp = await self.client.post(
                self.url, content=payload, headers=signing.headers(self.secret, event_id, int(at), payload)
            )
        except httpx.HTTPError as e:
            raise AudienceFailure(f"{type(e).__name__}: {e}") from e
        whole = whole_answer(resp, 1, time.time())
        if whole is not None:
            raise AudienceFailure(whole[0].error or "refused", whole[0].verdict is Verdict.RETRY)

    async def audience_add(self, external_id: str, contacts: Sequence[Contact]) -> dict[str, str | None]:
        for pid, email in contacts:
            await self._audience_event("audience.entered", external_id, pid, email)
        return dict.fromkeys((pid for pid, _ in contacts), None)

    async def audience_remove(self, external_id: str, members: Sequence[Member]) -> None:
        for pid, email, _ in members:
            await self._audience_event("audience.exited", external_id, pid, email)

    async def audience_members(self, external_id: str) -> set[str] | None:
        return None  # a webhook cannot be asked: reconciliation re-sends what our record says

    async def aclose(self) -> None:
        await self.client.aclose()
