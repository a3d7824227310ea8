"""HubSpot CRM v3: ``POST /crm/v3/objects/contacts/batch/upsert`` by email, Bearer token,
at most 100 inputs. A 207 answer lists per-record errors; those records fail (or retry,
for rate-limit categories), the others are delivered."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
from cdp_syncer.logic.flow import Verdict
from cdp_syncer.logic.mapping import properties

PATH = "/crm/v3/objects/contacts/batch/upsert"
PROPERTIES = "/crm/v3/properties/contacts"
GROUPS = "/crm/v3/properties/contacts/groups"
CREATE_PROPERTIES = "/crm/v3/properties/contacts/batch/create"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
LISTS = "/crm/v3/lists"
CONTACT_OBJECT = "0-1"
RETRY_CATEGORIES = frozenset({"RATE_LIMITS", "TIMEOUT", "INTERNAL_ERROR"})


def body(leads: Sequence[Lead], mapping: Mapping[str, str]) -> dict[str, Any]:
    return {
        "inputs": [
            {
                "id": lead["contact"]["email"],
                "idProperty": "email",
                "properties": properties(lead, mapping, hubspot=True),
            }
            for lead in leads
        ]
    }


def per_record(doc: Any, emails: list[str]) -> list[Result]:
    """A 207 (or 200) body -> a result per email: errors name their records in
    ``context.ids`` (or ``id``); everything not named is delivered."""
    failed: dict[str, Result] = {}
    for err in (doc or {}).get("errors") or []:
        ctx = err.get("context") or {}
        ids = ctx.get("ids") or ctx.get("id") or ([err["id"]] if err.get("id") else [])
        if isinstance(ids, str):
            ids = [ids]
        verdict = Verdict.RETRY if err.get("category") in RETRY_CATEGORIES else Verdict.PERMANENT
        for i in ids:
            failed[str(i).lower()] = Result(verdict, f"{err.get('category')}: {err.get('message')}", None, 207)
        if not ids:  # an error that names no record: every record is in doubt, retry them
            return [Result(Verdict.RETRY, f"{err.get('category')}: {err.get('message')}", None, 207) for _ in emails]
    return [failed.get(e.lower(), Result(Verdict.DELIVERED, status=200)) for e in emails]


class HubSpot:
    name = "hubspot"
    max_batch = 100

    def __init__(
        self,
        base_url: str,
        token: str,
        mapping: Mapping[str, str],
        timeout_s: float,
        max_batch: int = 100,
        auto_bootstrap: bool = False,
    ) -> None:
        self.mapping = mapping
        self.auto_bootstrap = auto_bootstrap  # the syncer bootstraps before its first delivery
        self.max_batch = max_batch
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"authorization": f"Bearer {token}"}, timeout=timeout_s
        )

    async def send(self, leads: Sequence[Lead]) -> list[Result]:
        try:
            resp = await self.client.post(PATH, json=body(leads, self.mapping))
        except httpx.HTTPError as e:
            return transport_failure(e, len(leads))
        whole = whole_answer(resp, len(leads), time.time())
        if whole is not None:
            return whole
        try:
            doc = resp.json()
        except ValueError:
            doc = {}
        return per_record(doc, [lead["contact"]["email"] for lead in leads])

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """HubSpot's GDPR delete, by email: the contact and its history are removed for good."""
        out = []
        for email in erasure["emails"]:
            try:
                resp = await self.client.post(GDPR_DELETE, json={"objectId": email, "idProperty": "email"})
            except httpx.HTTPError as e:
                out.append(transport_failure(e, 1)[0])
                continue
            out.append(erase_answer(resp, time.time()))
        return out

    async def bootstrap(self) -> hp.Plan:
        """Create the property group and every mapped custom property the portal lacks
        (idempotent: what exists is left alone; a type conflict is reported). Raises
        ``BootstrapError`` when the portal refuses (e.g. a token without the
        ``crm.schemas.contacts.write`` scope)."""
        resp = await patiently(lambda: self.client.get(PROPERTIES))
        raise_for(resp, "list the contact properties")
        portal = {p["name"]: p for p in resp.json().get("results") or []}
        todo = hp.plan(hp.wanted(self.mapping), portal)
        if not todo.create:
            return todo
        group = {"name": hp.GROUP, "label": hp.GROUP_LABEL, "displayOrder": -1}
        resp = await patiently(lambda: self.client.post(GROUPS, json=group))
        if resp.status_code != 409:  # 409: the group exists
            raise_for(resp, "create the property group")
        inputs = {"inputs": [s.as_input() for s in todo.create]}
        resp = await patiently(lambda: self.client.post(CREATE_PROPERTIES, json=inputs))
        raise_for(resp, "create the properties")
        return todo

    # ---- audiences: a MANUAL contact list (Lists API v3) per synced segment ---------------

    async def audience_ensure(self, name: str, external_id: str | None) -> str:
        if external_id:
            return external_id
        resp = await self.client.post(
            LISTS, json={"name": name, "objectTypeId": CONTACT_OBJECT, "processingType": "MANUAL"}
        )
        if resp.status_code in (400, 409) and "exist" in resp.text.lower():  # made before: find it by name
            resp = await self.client.get(f"{LISTS}/object-type-id/{CONTACT_OBJECT}/name/{name}")
        audience_check(resp, f"create the list {name!r}")
        return str(resp.json()["list"]["listId"])

    async def audience_add(self, external_id: str, contacts: Sequence[Contact]) -> dict[str, str | None]:
        """Contacts upserted by email first (the list takes record ids), then added."""
        resp = await self.client.post(
            PATH,
            json={"inputs": [{"id": e, "idProperty": "email", "properties": {"email": e}} for _, e in contacts]},
        )
        audience_check(resp, "upsert the list's contacts")
        ids = {str(r["properties"]["email"]).lower(): str(r["id"]) for r in resp.json().get("results") or []}
        missing = [e for _, e in contacts if e.lower() not in ids]
        if missing:
            raise AudienceFailure(f"HubSpot did not upsert {missing[:5]}: {resp.text[:300]}")
        out = {pid: ids[e.lower()] for pid, e in contacts}
        resp = await self.client.put(f"{LISTS}/{external_id}/memberships/add", json=list(out.values()))
        audience_check(resp, f"add to list {external_id}")
        return dict(out)

    async def audience_remove(self, external_id: str, members: Sequence[Member]) -> None:
        ids = [m[2] for m in members if m[2]]
        if ids:
            resp = await self.client.put(f"{LISTS}/{external_id}/memberships/remove", json=ids)
            audience_check(resp, f"remove from list {external_id}")

    async def audience_members(self, external_id: str) -> set[str] | None:
        out: set[str] = set()
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 250} | ({"after": after} if after else {})
            resp = await self.client.get(f"{LISTS}/{external_id}/memberships", params=params)
            audience_check(resp, f"read list {external_id}")
            doc = resp.json()
            out |= {str(r["recordId"]) for r in doc.get("results") or []}
            after = ((doc.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    async def aclose(self) -> None:
        await self.client.aclose()


__all__ = ["HubSpot"]
