"""Conversions to ad platforms, server-side: LinkedIn's Conversions API, Google Ads click
conversion upload and Meta's Conversions API. Each takes leads like any destination and
sends the conversions ``logic.conversions`` derives (only for people who allow ads and
came from that platform's ad click); a lead with none is ``skipped`` with the reason.

- LinkedIn: ``POST /rest/conversionEvents`` with ``X-RestLi-Method: BATCH_CREATE``,
  ``LinkedIn-Version: YYYYMM``, ``X-Restli-Protocol-Version: 2.0.0``, Bearer token.
- Google Ads: ``POST /{version}/customers/{id}:uploadClickConversions`` with
  ``partialFailure: true``, Bearer token and ``developer-token`` (and
  ``login-customer-id`` for a manager account); per-conversion errors come back in
  ``partialFailureError`` with the conversion's index.
- Meta: ``POST /{version}/{pixel id}/events`` with ``access_token``; the whole batch is
  accepted or refused.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from cdp_syncer.destinations.base import Lead, Result, transport_failure, whole_answer
from cdp_syncer.logic import conversions as cv
from cdp_syncer.logic.flow import Verdict

PATH_LINKEDIN = "/rest/conversionEvents"


def _split(leads: Sequence[Lead], platform: str) -> tuple[list[tuple[int, cv.Conversion]], list[Result]]:
    """Every lead's conversions (with the lead's index) and a provisional result per lead:
    skipped (with why) or delivered (replaced when its conversions fail)."""
    todo: list[tuple[int, cv.Conversion]] = []
    results = []
    for i, lead in enumerate(leads):
        why = cv.skip_reason(lead, platform)
        if why:
            results.append(Result(Verdict.SKIPPED, why, status=204))
            continue
        todo += [(i, c) for c in cv.conversions(lead, platform)]
        results.append(Result(Verdict.DELIVERED, status=200))
    return todo, results


class LinkedIn:
    name = "linkedin"
    max_batch = 50

    def __init__(self, base_url: str, token: str, conversion_urn: str, version: str, timeout_s: float) -> None:
        self.conversion_urn = conversion_urn
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "authorization": f"Bearer {token}",
                "linkedin-version": version,
                "x-restli-protocol-version": "2.0.0",
            },
            timeout=timeout_s,
        )

    async def send(self, leads: Sequence[Lead]) -> list[Result]:
        todo, results = _split(leads, self.name)
        if not todo:
            return results
        body = {"elements": [cv.linkedin_element(c, self.conversion_urn) for _, c in todo]}
        try:
            resp = await self.client.post(
                "/rest/conversionEvents", json=body, headers={"x-restli-method": "BATCH_CREATE"}
            )
        except httpx.HTTPError as e:
            return _whole(results, todo, transport_failure(e, 1)[0])
        whole = whole_answer(resp, 1, time.time())
        if whole is not None:
            return _whole(results, todo, whole[0])
        elements = (resp.json() or {}).get("elements") or []
        for (i, _), el in zip(todo, elements, strict=False):  # a BATCH_CREATE answers per element
            status = int(el.get("status") or 201)
            if status >= 300:
                results[i] = Result(
                    Verdict.RETRY if status >= 500 or status == 429 else Verdict.PERMANENT,
                    f"HTTP {status}: {el.get('error') or el}",
                    status=status,
                )
        return results

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """Nothing to delete: LinkedIn keeps no contact record for a conversion."""
        return [Result(Verdict.DELIVERED, status=404) for _ in erasure["emails"]]

    async def aclose(self) -> None:
        await self.client.aclose()


class GoogleAds:
    name = "google_ads"
    max_batch = 200

    def __init__(
        self,
        base_url: str,
        version: str,
        customer_id: str,
        conversion_action: str,
        token: str,
        developer_token: str,
        login_customer_id: str,
        value: float,
        currency: str,
        timeout_s: float,
    ) -> None:
        self.path = f"/{version}/customers/{customer_id}:uploadClickConversions"
        self.conversion_action = (
            conversion_action
            if conversion_action.startswith("customers/")
            else f"customers/{customer_id}/conversionActions/{conversion_action}"
        )
        self.value, self.currency = value, currency
        headers = {"authorization": f"Bearer {token}", "developer-token": developer_token}
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)

    async def send(self, leads: Sequence[Lead]) -> list[Result]:
        todo, results = _split(leads, self.name)
        if not todo:
            return results
        body = {
            "conversions": [
                cv.google_conversion(c, self.conversion_action, self.value, self.currency) for _, c in todo
            ],
            "partialFailure": True,
        }
        try:
            resp = await self.client.post(self.path, json=body)
        except httpx.HTTPError as e:
            return _whole(results, todo, transport_failure(e, 1)[0])
        whole = whole_answer(resp, 1, time.time())
        if whole is not None:
            return _whole(results, todo, whole[0])
        for index, code, message in partial_failures(resp.json() or {}):
            if 0 <= index < len(todo) and code not in ALREADY_THERE:
                results[todo[index][0]] = Result(Verdict.PERMANENT, f"partial failure: {message}", status=200)
        return results

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """Nothing to delete: an uploaded click conversion is not a stored contact."""
        return [Result(Verdict.DELIVERED, status=404) for _ in erasure["emails"]]

    async def aclose(self) -> None:
        await self.client.aclose()


# a conversion Google has already (a retry after a lost answer): delivered, not failed
ALREADY_THERE = frozenset({"CLICK_CONVERSION_ALREADY_EXISTS", "DUPLICATE_ORDER_ID"})


def partial_failures(doc: Mapping[str, Any]) -> list[tuple[int, str, str]]:
    """``(conversion index, error code, message)`` from a ``partialFailureError`` (a
    google.rpc.Status whose details carry ``GoogleAdsFailure.errors[]`` with
    ``location.fieldPathElements``)."""
    out = []
    err = doc.get("partialFailureError") or {}
    for detail in err.get("details") or []:
        for e in detail.get("errors") or []:
            path = (e.get("location") or {}).get("fieldPathElements") or []
            idx = next((p.get("index") for p in path if p.get("fieldName") == "conversions"), None)
            if isinstance(idx, int):
                code = next(iter((e.get("errorCode") or {}).values()), "")
                out.append((idx, str(code), str(e.get("message") or code)))
    return out


class Meta:
    name = "meta"
    max_batch = 100  # Meta accepts up to 1,000 events per request

    def __init__(
        self, base_url: str, version: str, pixel_id: str, token: str, event_name: str, timeout_s: float
    ) -> None:
        self.path = f"/{version}/{pixel_id}/events"
        self.token = token
        self.event_name = event_name
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout_s)

    async def send(self, leads: Sequence[Lead]) -> list[Result]:
        todo, results = _split(leads, self.name)
        if not todo:
            return results
        body = {"data": [cv.meta_event(c, self.event_name) for _, c in todo], "access_token": self.token}
        try:
            resp = await self.client.post(self.path, json=body)
        except httpx.HTTPError as e:
            return _whole(results, todo, transport_failure(e, 1)[0])
        whole = whole_answer(resp, 1, time.time())
        return _whole(results, todo, whole[0]) if whole is not None else results

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """Nothing to delete: Meta keeps no contact record for a server event."""
        return [Result(Verdict.DELIVERED, status=404) for _ in erasure["emails"]]

    async def aclose(self) -> None:
        await self.client.aclose()


def _whole(results: list[Result], todo: list[tuple[int, cv.Conversion]], outcome: Result) -> list[Result]:
    """The request as a whole failed: every lead that had conversions in it gets that outcome."""
    for i in {i for i, _ in todo}:
        results[i] = outcome
    return results
