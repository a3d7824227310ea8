"""The sandbox's lists: HubSpot's Lists API v3 (MANUAL contact lists) and Mautic's segments,
as strict as their documentation (auth, list type, existing record ids, limits), plus the
webhook's audience events. Fault switches apply per system.

    POST /crm/v3/lists                                        {name, objectTypeId: "0-1", processingType}
    GET  /crm/v3/lists/object-type-id/0-1/name/{name}         the list by name
    PUT  /crm/v3/lists/{id}/memberships/add|remove            a JSON array of contact record ids
    GET  /crm/v3/lists/{id}/memberships?after=&limit=         paged record ids (limit <= 250)
    GET  /api/segments?search=   POST /api/segments/new       Mautic segments
    POST /api/segments/{id}/contacts/add|remove               {"ids": [contact ids]}
    GET  /_sandbox/lists/{hubspot|mautic|webhook}             list name -> member emails
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_PAGE = 250


@dataclass
class Lists:
    hubspot: dict[str, dict[str, Any]] = field(default_factory=dict)  # list id -> {name, type, members}
    mautic: dict[str, dict[str, Any]] = field(default_factory=dict)  # segment id -> {name, alias, members}
    webhook: dict[str, set[str]] = field(default_factory=dict)  # audience -> emails


@dataclass(frozen=True)
class Hooks:
    """What the lists need from the rest of the sandbox."""

    hubspot_denied: Callable[[Request], Response | None]
    mautic_authorized: Callable[[Request], bool]
    fault: Callable[[str], Awaitable[Response | None]]
    count: Callable[[str, str], None]
    hubspot_ids: Callable[[], Mapping[str, str]]  # contact record id -> email
    mautic_ids: Callable[[], Mapping[str, str]]  # contact id -> email


def _error(message: str, status: int = 400, category: str = "VALIDATION_ERROR") -> Response:
    return JSONResponse({"status": "error", "category": category, "message": message}, status)


def routes(lists: Lists, hooks: Hooks) -> list[Route]:
    async def guard(request: Request, system: str) -> Response | None:
        if system == "hubspot":
            denied = hooks.hubspot_denied(request)
        else:
            denied = (
                None
                if hooks.mautic_authorized(request)
                else JSONResponse({"errors": [{"code": 401, "message": "API authorization denied."}]}, 401)
            )
        return denied or await hooks.fault(system)

    def summary(lst: Mapping[str, Any], list_id: str) -> dict[str, Any]:
        return {
            "listId": list_id,
            "name": lst["name"],
            "objectTypeId": "0-1",
            "processingType": lst["type"],
            "size": len(lst["members"]),
        }

    async def hs_create(request: Request) -> Response:
        if denied := await guard(request, "hubspot"):
            return denied
        doc = orjson.loads(await request.body() or b"{}")
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name.strip() or doc.get("objectTypeId") != "0-1":
            return _error("name and objectTypeId (0-1 for contacts) are required")
        kind = doc.get("processingType")
        if kind not in ("MANUAL", "SNAPSHOT", "DYNAMIC"):
            return _error("processingType: MANUAL, SNAPSHOT or DYNAMIC")
        if kind == "DYNAMIC" and not doc.get("filterBranch"):
            return _error("a DYNAMIC list needs a filterBranch")
        if any(x["name"] == name for x in lists.hubspot.values()):
            return _error(f"A list named {name!r} already exists", 409, "CONFLICT")
        list_id = str(len(lists.hubspot) + 101)
        lists.hubspot[list_id] = {"name": name, "type": kind, "members": {}}
        hooks.count("hubspot", "list-created")
        return JSONResponse({"list": summary(lists.hubspot[list_id], list_id)}, 200)

    async def hs_by_name(request: Request) -> Response:
        if denied := await guard(request, "hubspot"):
            return denied
        name = request.path_params["name"]
        for list_id, lst in lists.hubspot.items():
            if lst["name"] == name:
                return JSONResponse({"list": summary(lst, list_id)})
        return _error(f"no list named {name!r}", 404, "OBJECT_NOT_FOUND")

    async def hs_members_change(request: Request) -> Response:
        if denied := await guard(request, "hubspot"):
            return denied
        lst = lists.hubspot.get(request.path_params["list_id"])
        if lst is None or request.path_params["op"] not in ("add", "remove"):
            return _error("list not found", 404, "OBJECT_NOT_FOUND")
        if lst["type"] != "MANUAL":
            return _error("memberships of a DYNAMIC list cannot be changed by hand")
        ids = orjson.loads(await request.body() or b"null")
        if not isinstance(ids, list) or not all(isinstance(i, str) and i.isdigit() for i in ids) or len(ids) > 100_000:
            return _error("a JSON array of record ids (strings of digits), at most 100,000")
        known = hooks.hubspot_ids()
        adding = request.path_params["op"] == "add"
        done, missing = [], []
        for i in ids:
            if adding and i in known:
                lst["members"].setdefault(i, time.time())
                done.append(i)
            elif not adding and i in lst["members"]:
                del lst["members"][i]
                done.append(i)
            else:
                missing.append(i)
        hooks.count("hubspot", f"list-{request.path_params['op']}")
        key = "recordIdsAdded" if adding else "recordIdsRemoved"
        return JSONResponse({key: done, "recordIdsMissing": missing})

    async def hs_members(request: Request) -> Response:
        if denied := await guard(request, "hubspot"):
            return denied
        lst = lists.hubspot.get(request.path_params["list_id"])
        if lst is None:
            return _error("list not found", 404, "OBJECT_NOT_FOUND")
        limit = int(request.query_params.get("limit") or 100)
        if not 1 <= limit <= MAX_PAGE:
            return _error(f"limit: 1 to {MAX_PAGE}")
        start = int(request.query_params.get("after") or 0)
        ids = sorted(lst["members"], key=int)
        page = ids[start : start + limit]
        body: dict[str, Any] = {
            "results": [{"recordId": i, "membershipTimestamp": lst["members"][i]} for i in page],
            "total": len(ids),
        }
        if start + limit < len(ids):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return JSONResponse(body)

    async def mt_segments(request: Request) -> Response:
        if denied := await guard(request, "mautic"):
            return denied
        term = request.query_params.get("search", "")
        found = {i: {"id": int(i), "name": s["name"], "alias": s["alias"]} for i, s in lists.mautic.items()}
        found = {i: s for i, s in found.items() if not term or term in s["alias"] or term in s["name"]}
        return JSONResponse({"total": len(found), "lists": found})

    async def mt_new(request: Request) -> Response:
        if denied := await guard(request, "mautic"):
            return denied
        doc = orjson.loads(await request.body() or b"{}")
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name.strip():
            return JSONResponse({"errors": [{"code": 400, "message": "name: A value is required."}]}, 400)
        alias = str(doc.get("alias") or name.lower().replace(" ", "-"))
        while any(s["alias"] == alias for s in lists.mautic.values()):  # Mautic makes an alias unique
            alias += "1"
        seg_id = str(len(lists.mautic) + 1)
        lists.mautic[seg_id] = {"name": name, "alias": alias, "members": set()}
        hooks.count("mautic", "segment-created")
        return JSONResponse({"list": {"id": int(seg_id), "name": name, "alias": alias, "isPublished": True}}, 201)

    async def mt_change(request: Request) -> Response:
        if denied := await guard(request, "mautic"):
            return denied
        seg = lists.mautic.get(request.path_params["seg_id"])
        if seg is None or request.path_params["op"] not in ("add", "remove"):
            return JSONResponse({"errors": [{"code": 404, "message": "Item was not found."}]}, 404)
        doc = orjson.loads(await request.body() or b"{}")
        ids = doc.get("ids") if isinstance(doc, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return JSONResponse({"errors": [{"code": 400, "message": "ids: a list of contact ids"}]}, 400)
        known = hooks.mautic_ids()
        details = {}
        for i in ids:
            ok = str(i) in known
            if ok and request.path_params["op"] == "add":
                seg["members"].add(str(i))
            elif ok:
                seg["members"].discard(str(i))
            details[str(i)] = {"success": ok}
        hooks.count("mautic", f"segment-{request.path_params['op']}")
        return JSONResponse({"details": details})

    async def listing(request: Request) -> Response:
        system = request.path_params["system"]
        if system == "hubspot":
            ids = hooks.hubspot_ids()
            return JSONResponse(
                {x["name"]: sorted(ids.get(i, i) for i in x["members"]) for x in lists.hubspot.values()}
            )
        if system == "mautic":
            mids = hooks.mautic_ids()
            return JSONResponse(
                {x["name"]: sorted(mids.get(i, i) for i in x["members"]) for x in lists.mautic.values()}
            )
        if system == "webhook":
            return JSONResponse({k: sorted(v) for k, v in lists.webhook.items()})
        return JSONResponse({"error": "hubspot, mautic or webhook"}, 404)

    return [
        Route("/crm/v3/lists", hs_create, methods=["POST"]),
        Route("/crm/v3/lists/object-type-id/0-1/name/{name}", hs_by_name, methods=["GET"]),
        Route("/crm/v3/lists/{list_id}/memberships/{op:str}", hs_members_change, methods=["PUT"]),
        Route("/crm/v3/lists/{list_id}/memberships", hs_members, methods=["GET"]),
        Route("/api/segments", mt_segments, methods=["GET"]),
        Route("/api/segments/new", mt_new, methods=["POST"]),
        Route("/api/segments/{seg_id}/contacts/{op:str}", mt_change, methods=["POST"]),
        Route("/_sandbox/lists/{system}", listing),
    ]


def webhook_audience(lists: Lists, event: Mapping[str, Any]) -> None:
    """An ``audience.entered`` / ``audience.exited`` event the webhook received."""
    members = lists.webhook.setdefault(str(event.get("audience")), set())
    email = str(event.get("email") or "").lower()
    if event.get("type") == "audience.entered":
        members.add(email)
    else:
        members.discard(email)
