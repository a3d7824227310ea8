"""Mautic: ``POST /api/contacts/batch/new`` (a JSON list of contacts; Mautic merges on
email, so it upserts), Basic auth. The answer carries ``statusCodes`` per contact and
``errors`` by index. Custom fields are created first (``bootstrap``): Mautic drops the
values of fields it does not know without a word."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import httpx

from cdp_syncer.destinations.base import (
    AudienceFailure,
    Contact,
    Lead,
    Member,
    Result,
    audience_check,
    erase_answer,
    patiently,
    raise_for,
    transport_failure,
    whole_answer,
)
from cdp_syncer.logic import hubspot_properties as hp
from cdp_syncer.logic import mautic_fields as mf
from cdp_syncer.logic.flow import Verdict, classify
from cdp_syncer.logic.mapping import properties

PATH = "/api/contacts/batch/new"
FIELDS = "/api/fields/contact"
NEW_FIELD = "/api/fields/contact/new"
PAGE = 100
FIELD_REQUESTS_AT_ONCE = 4


def per_record(doc: Any, n: int) -> list[Result]:
    codes = (doc or {}).get("statusCodes")
    errors = (doc or {}).get("errors") or {}
    if isinstance(errors, list):
        errors = dict(enumerate(errors))
    if not isinstance(codes, (list, dict)):
        return [Result(Verdict.DELIVERED, status=200) for _ in range(n)]
    if isinstance(codes, dict):
        codes = [codes.get(str(i), codes.get(i, 200)) for i in range(n)]
    out = []
    for i in range(n):
        code = int(codes[i]) if i < len(codes) else 200
        err = errors.get(str(i), errors.get(i))
        verdict = classify(code)
        out.append(Result(verdict, None if verdict is Verdict.DELIVERED else f"HTTP {code}: {err}", None, code))
    return out


class Mautic:
    name = "mautic"
    max_batch = 200

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        mapping: Mapping[str, str],
        timeout_s: float,
        auto_bootstrap: bool = False,
    ) -> None:
        self.mapping = mapping
        self.auto_bootstrap = auto_bootstrap  # the syncer bootstraps before its first delivery
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), auth=(user, password), timeout=timeout_s)

    async def send(self, leads: Sequence[Lead]) -> list[Result]:
        try:
            resp = await self.client.post(PATH, json=[properties(lead, self.mapping) for lead in leads])
        except httpx.HTTPError as e:
            return transport_failure(e, len(leads))
        whole = whole_answer(resp, len(leads), time.time())
        if whole is not None:
            return whole
        try:
            doc = resp.json()
        except ValueError:
            doc = {}
        return per_record(doc, len(leads))

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """Mautic's contacts with the email (``search=email:...``), each deleted."""
        out = []
        for email in erasure["emails"]:
            try:
                found = await self.client.get("/api/contacts", params={"search": f"email:{email}", "limit": 100})
                if found.status_code != 200:
                    out.append(erase_answer(found, time.time()))
                    continue
                contacts = (found.json() or {}).get("contacts") or {}
                ids = list(contacts) if isinstance(contacts, dict) else [c.get("id") for c in contacts]
                result = Result(Verdict.DELIVERED, status=404)  # nobody with that email
                for cid in ids:
                    result = erase_answer(await self.client.delete(f"/api/contacts/{cid}/delete"), time.time())
                    if result.verdict is not Verdict.DELIVERED:
                        break
                out.append(result)
            except (httpx.HTTPError, ValueError) as e:
                out.append(transport_failure(e, 1)[0])
        return out

    async def bootstrap(self) -> hp.Plan:
        """Create every mapped custom contact field the instance lacks (idempotent: what
        exists is left alone; a field of another type is reported). Raises
        ``BootstrapError`` when Mautic refuses (e.g. a user without the fields permission)."""
        have: dict[str, dict[str, Any]] = {}
        start = 0
        while True:
            resp = await patiently(partial(self.client.get, FIELDS, params={"start": start, "limit": PAGE}))
            raise_for(resp, "list the contact fields")
            doc = resp.json()
            page = doc.get("fields") or []
            if isinstance(page, dict):
                page = list(page.values())
            have |= {f["alias"]: f for f in page}
            start += len(page)
            if not page or start >= int(doc.get("total") or 0):
                break
        todo = hp.plan(mf.wanted(self.mapping), have)
        # Mautic creates one field per request (no batch endpoint): a few at a time
        gate = asyncio.Semaphore(FIELD_REQUESTS_AT_ONCE)

        async def create(spec: hp.Spec) -> None:
            async with gate:
                resp = await patiently(partial(self.client.post, NEW_FIELD, json=spec.as_input()))
            raise_for(resp, f"create the field {spec.name}")

        outcomes = await asyncio.gather(*(create(spec) for spec in todo.create), return_exceptions=True)
        for outcome in outcomes:  # every request has finished; the first failure is reported
            if isinstance(outcome, BaseException):
                raise outcome
        return todo

    # ---- audiences: a Mautic segment per synced segment --------------------------------

    async def audience_ensure(self, name: str, external_id: str | None) -> str:
        """The segment's id (``id:alias``), found by alias or created."""
        if external_id:
            return external_id
        alias = segment_alias(name)
        resp = await self.client.get("/api/segments", params={"search": alias, "limit": 100})
        audience_check(resp, "list the segments")
        lists = (resp.json() or {}).get("lists") or {}
        for seg in lists.values() if isinstance(lists, dict) else lists:
            if seg.get("alias") == alias:
                return f"{seg['id']}:{alias}"
        resp = await self.client.post("/api/segments/new", json={"name": name, "alias": alias, "isPublished": True})
        audience_check(resp, f"create the segment {name!r}")
        made = resp.json()["list"]
        return f"{made['id']}:{made.get('alias') or alias}"

    async def audience_add(self, external_id: str, contacts: Sequence[Contact]) -> dict[str, str | None]:
        """Contacts created or matched by email first (``batch/new``), then added by id."""
        resp = await self.client.post(PATH, json=[{"email": e} for _, e in contacts])
        audience_check(resp, "upsert the segment's contacts")
        made = (resp.json() or {}).get("contacts") or []
        if isinstance(made, dict):
            made = list(made.values())
        if len(made) != len(contacts):
            raise AudienceFailure(f"Mautic answered {len(made)} contacts for {len(contacts)}: {resp.text[:300]}")
        out: dict[str, str | None] = {pid: str(c["id"]) for (pid, _), c in zip(contacts, made, strict=True)}
        seg = external_id.split(":", 1)[0]
        resp = await self.client.post(
            f"/api/segments/{seg}/contacts/add", json={"ids": [int(str(i)) for i in out.values()]}
        )
        audience_check(resp, f"add to segment {seg}")
        return out

    async def audience_remove(self, external_id: str, members: Sequence[Member]) -> None:
        ids = [int(m[2]) for m in members if m[2]]
        if ids:
            seg = external_id.split(":", 1)[0]
            resp = await self.client.post(f"/api/segments/{seg}/contacts/remove", json={"ids": ids})
            audience_check(resp, f"remove from segment {seg}")

    async def audience_members(self, external_id: str) -> set[str] | None:
        alias = external_id.split(":", 1)[1]
        out: set[str] = set()
        start = 0
        while True:
            resp = await self.client.get(
                "/api/contacts", params={"search": f"segment:{alias}", "start": start, "limit": PAGE}
            )
            audience_check(resp, f"read segment {alias}")
            doc = resp.json() or {}
            found = doc.get("contacts") or {}
            ids = list(found) if isinstance(found, dict) else [str(c["id"]) for c in found]
            out |= {str(i) for i in ids}
            start += len(ids)
            if not ids or start >= int(doc.get("total") or 0):
                return out

    async def aclose(self) -> None:
        await self.client.aclose()


def segment_alias(name: str) -> str:
    """Mautic's alias for a segment name: lower-case letters, digits and dashes."""
    return "-".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())[:190] or "cdp"
