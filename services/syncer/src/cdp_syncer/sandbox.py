"""``cdp sandbox-ma``: a local marketing-automation server speaking HubSpot's contact batch
upsert, Mautic's contact batch and Standard Webhooks, checking credentials and signatures
and storing contacts, with fault switches, so the pipeline can be watched (and tested)
without real accounts.

    POST /crm/v3/objects/contacts/batch/upsert   Bearer token; {"inputs": [{id, idProperty: email, properties}]}
    POST /api/contacts/batch/new                 Basic auth; [{email, firstname, ...}, ...]
    POST /crm/v3/objects/contacts/gdpr-delete    Bearer token; {"objectId": email, "idProperty": "email"}: 204 or 404
    GET  /crm/v3/properties/contacts             Bearer token; the portal's contact properties (HubSpot's own at first)
    POST /crm/v3/properties/contacts/groups      Bearer token; {name, label}: 201, 409 when it exists
    POST /crm/v3/properties/contacts/batch/create  Bearer token; {"inputs": [{name, label, type, fieldType,
                                                 groupName}]}; an upsert naming a property the portal lacks is
                                                 refused whole (400 PROPERTY_DOESNT_EXIST), as HubSpot does
    GET  /api/fields/contact?start=&limit=       Basic auth; Mautic's contact fields ({"total", "fields"})
    POST /api/fields/contact/new                 Basic auth; {label, alias, type, group, object: "lead"}: 201;
                                                 a contact's values for fields Mautic lacks are dropped
                                                 silently, as Mautic does
    GET  /api/contacts?search=email:...          Basic auth; the Mautic contacts with that email
    DELETE /api/contacts/{id}/delete             Basic auth; deletes one
    POST /webhook                                webhook-id / webhook-timestamp / webhook-signature
                                                 (a lead, or {"type": "contact.erased", "emails": [...]})
    GET  /_sandbox/contacts/{hubspot|mautic|webhook}   what arrived, by email
    GET  /_sandbox/stats                         requests and answers by system
    GET  /_sandbox/requests[?system=hubspot]     every answer with its time, oldest first
    POST /_sandbox/faults                        {"error_rate": 0.3, "latency_s": 2, "throttle_next": 5,
                                                  "retry_after_s": 1, "partial_rate": 0.1,
                                                  "reject_emails": [...], "reject_status": 400,
                                                  "only": ["hubspot"]}
    POST /_sandbox/reset                         contacts, stats and faults cleared
    ... and LinkedIn's, Google Ads' and Meta's conversion APIs: see ``sandbox_ads``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cdp_syncer.logic import signing
from cdp_syncer.sandbox_ads import Ads
from cdp_syncer.sandbox_ads import routes as ad_routes
from cdp_syncer.sandbox_lists import Hooks, Lists, webhook_audience
from cdp_syncer.sandbox_lists import routes as list_routes

DEFAULT_TOKEN = "sandbox-hubspot-token"
HUBSPOT_OWN = (
    *("email", "firstname", "lastname", "company", "phone"),
    *("jobtitle", "industry", "lifecyclestage", "website"),
)
OWN_GROUP = "contactinformation"
PROPERTY_TYPES = {"string": {"text", "textarea", "select", "radio"}, "number": {"number"}, "datetime": {"date"}}
DEFAULT_USER, DEFAULT_PASSWORD = "sandbox", "sandbox"
MAUTIC_OWN = (
    *("title", "firstname", "lastname", "company", "position", "email", "mobile", "phone", "points", "fax"),
    *("address1", "address2", "city", "state", "zipcode", "country", "preferred_locale", "timezone"),
    *("last_active", "attribution_date", "attribution", "website"),
    *("facebook", "foursquare", "instagram", "linkedin", "skype", "twitter"),
)
MAUTIC_TYPES = frozenset(
    {"boolean", "country", "date", "datetime", "email", "html", "locale", "lookup", "multiselect", "number"}
    | {"phone", "region", "select", "text", "textarea", "time", "timezone", "url"}
)
MAUTIC_GROUPS = frozenset({"core", "social", "personal", "professional"})
DEFAULT_SECRET = "whsec_" + base64.b64encode(b"sandbox-webhook-secret-0123456789").decode()


@dataclass
class Faults:
    error_rate: float = 0.0  # share of requests answered 503
    latency_s: float = 0.0
    throttle_next: int = 0  # the next N requests get 429 with Retry-After
    retry_after_s: float = 1.0
    partial_rate: float = 0.0  # share of records refused with a retryable per-record error
    reject_emails: list[str] = field(default_factory=list)  # refused for good, per record
    reject_status: int = 0  # when set, every request gets this status
    only: list[str] = field(default_factory=list)  # the systems the faults apply to (empty: all)


@dataclass
class State:
    token: str = DEFAULT_TOKEN
    user: str = DEFAULT_USER
    password: str = DEFAULT_PASSWORD
    secret: str = DEFAULT_SECRET
    faults: Faults = field(default_factory=Faults)
    contacts: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"hubspot": {}, "mautic": {}, "webhook": {}}
    )
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    webhook_ids: dict[str, int] = field(default_factory=dict)
    regressions: int = 0  # an older lead version arrived after a newer one
    erased: dict[str, list[str]] = field(default_factory=lambda: {"hubspot": [], "mautic": [], "webhook": []})
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (epoch s, system, answer), the latest
    # HubSpot's contact properties in the portal (name -> definition): its own to begin with;
    # an upsert naming any other is refused, as HubSpot does
    hubspot_properties: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            name: {"name": name, "label": name, "type": "string", "fieldType": "text", "groupName": OWN_GROUP}
            for name in HUBSPOT_OWN
        }
    )
    hubspot_groups: set[str] = field(default_factory=lambda: {OWN_GROUP})
    ads: Ads = field(default_factory=Ads)  # LinkedIn, Google Ads and Meta conversions (sandbox_ads)
    lists: Lists = field(default_factory=Lists)  # HubSpot lists, Mautic segments, webhook audiences
    # Mautic's contact fields by alias: its own to begin with; values of others are dropped
    mautic_fields: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            alias: {
                "id": n + 1,
                "label": alias,
                "alias": alias,
                "type": "email" if alias == "email" else "number" if alias == "points" else "text",
                "group": "core",
                "object": "lead",
                "isPublished": True,
            }
            for n, alias in enumerate(MAUTIC_OWN)
        }
    )

    def count(self, system: str, what: str) -> None:
        s = self.stats.setdefault(system, {})
        s[what] = s.get(what, 0) + 1
        self.log.append((time.time(), system, what))
        del self.log[: max(0, len(self.log) - 100_000)]

    def store(self, system: str, email: str, props: dict[str, Any], version: Any) -> bool:
        """Upsert; True when it created the contact."""
        email = email.strip().lower()
        cur = self.contacts[system].get(email)
        v = int(version) if str(version or "").isdigit() else None
        if cur is None:
            self.contacts[system][email] = {
                "properties": dict(props),
                "updates": 1,
                "versions": [v],
                "arrivedAt": time.time(),  # epoch seconds of the first upsert
            }
            return True
        if v is not None and cur["versions"] and cur["versions"][-1] is not None and v < cur["versions"][-1]:
            self.regressions += 1
        cur["properties"].update(props)
        cur["updates"] += 1
        cur["versions"].append(v)
        return False


async def _faults(state: State, system: str) -> Response | None:
    f = state.faults
    if f.only and system not in f.only:
        return None
    if f.latency_s:
        await asyncio.sleep(f.latency_s)
    if f.reject_status:
        state.count(system, str(f.reject_status))
        return JSONResponse({"status": "error", "message": "rejected by the sandbox's fault switch"}, f.reject_status)
    if f.throttle_next > 0:
        f.throttle_next -= 1
        state.count(system, "429")
        return JSONResponse(
            {"status": "error", "category": "RATE_LIMITS", "message": "You have reached your secondly limit."},
            429,
            headers={"Retry-After": f"{f.retry_after_s:g}"},
        )
    if f.error_rate and state.rng.random() < f.error_rate:
        state.count(system, "503")
        return JSONResponse({"status": "error", "message": "Service Unavailable"}, 503, headers={"Retry-After": "1"})
    return None


def _record_fault(state: State, email: str) -> str | None:
    if email.strip().lower() in {e.lower() for e in state.faults.reject_emails}:
        return "permanent"
    if state.faults.partial_rate and state.rng.random() < state.faults.partial_rate:
        return "retry"
    return None


def hubspot_id(email: str) -> str:
    """A contact's record id (stable for the email)."""
    return str(int(hashlib.sha256(email.strip().lower().encode()).hexdigest()[:8], 16))


def create_app(state: State | None = None) -> Starlette:
    st = state or State()

    async def hubspot(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {st.token}":
            st.count("hubspot", "401")
            return JSONResponse({"status": "error", "category": "INVALID_AUTHENTICATION", "message": "bad token"}, 401)
        fault = await _faults(st, "hubspot")
        if fault:
            return fault
        try:
            doc = orjson.loads(await request.body())
            inputs = doc["inputs"]
            assert isinstance(inputs, list)
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            st.count("hubspot", "400")
            return JSONResponse({"status": "error", "category": "VALIDATION_ERROR", "message": "need inputs"}, 400)
        if len(inputs) > 100:
            st.count("hubspot", "400")
            return JSONResponse(
                {"status": "error", "category": "VALIDATION_ERROR", "message": "at most 100 inputs"}, 400
            )
        unknown = sorted(
            {k for i in inputs if isinstance(i, dict) for k in (i.get("properties") or {})} - set(st.hubspot_properties)
        )
        if unknown:  # HubSpot refuses the whole batch when a property does not exist
            st.count("hubspot", "400")
            detail = [
                {"isValid": False, "message": f'Property "{k}" does not exist', "error": "PROPERTY_DOESNT_EXIST"}
                | {"name": k}
                for k in unknown
            ]
            return JSONResponse(
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"Property values were not valid: {orjson.dumps(detail).decode()}",
                },
                400,
            )
        results, errors = [], []
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        for i in inputs:
            email = str(i.get("id") or "")
            if i.get("idProperty") != "email" or "@" not in email:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": "idProperty must be email",
                        "context": {"ids": [email]},
                    }
                )
                continue
            bad = _record_fault(st, email)
            if bad:
                category = "VALIDATION_ERROR" if bad == "permanent" else "RATE_LIMITS"
                errors.append(
                    {
                        "status": "error",
                        "category": category,
                        "message": f"refused {email}",
                        "context": {"ids": [email]},
                    }
                )
                continue
            props = i.get("properties") or {}
            new = st.store("hubspot", email, props, props.get("cdp_lead_version"))
            results.append(
                {
                    "id": hubspot_id(email),
                    "new": new,
                    "createdAt": now,
                    "updatedAt": now,
                    "properties": {"email": email.lower(), **props},
                    "archived": False,
                }
            )
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if errors:
            body |= {"numErrors": len(errors), "errors": errors}
        st.count("hubspot", "207" if errors else "200")
        return JSONResponse(body, 207 if errors else 200)

    def hubspot_denied(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {st.token}":
            st.count("hubspot", "401")
            return JSONResponse({"status": "error", "category": "INVALID_AUTHENTICATION", "message": "bad token"}, 401)
        return None

    async def hubspot_properties(request: Request) -> Response:
        denied = hubspot_denied(request)
        if denied:
            return denied
        st.count("hubspot", "properties")
        return JSONResponse({"results": list(st.hubspot_properties.values())})

    async def hubspot_groups(request: Request) -> Response:
        denied = hubspot_denied(request) or await _faults(st, "hubspot")
        if denied:
            return denied
        doc = orjson.loads(await request.body() or b"{}")
        name = doc.get("name") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name or not isinstance(doc.get("label"), str):
            return JSONResponse({"status": "error", "category": "VALIDATION_ERROR", "message": "name and label"}, 400)
        if name in st.hubspot_groups:
            return JSONResponse(
                {"status": "error", "category": "CONFLICT", "message": f"A group named {name} already exists"}, 409
            )
        st.hubspot_groups.add(name)
        st.count("hubspot", "group-created")
        return JSONResponse({"name": name, "label": doc["label"], "displayOrder": doc.get("displayOrder", -1)}, 201)

    async def hubspot_create_properties(request: Request) -> Response:
        denied = hubspot_denied(request) or await _faults(st, "hubspot")
        if denied:
            return denied
        doc = orjson.loads(await request.body() or b"{}")
        inputs = doc.get("inputs") if isinstance(doc, dict) else None
        if not isinstance(inputs, list) or not inputs:
            return JSONResponse({"status": "error", "category": "VALIDATION_ERROR", "message": "need inputs"}, 400)
        for i in inputs:  # every input checked before any is created
            need = ("name", "label", "type", "fieldType", "groupName")
            if not isinstance(i, dict) or not all(isinstance(i.get(k), str) and i[k] for k in need):
                return JSONResponse(
                    {"status": "error", "category": "VALIDATION_ERROR", "message": f"each input needs {need}"}, 400
                )
            if i["fieldType"] not in PROPERTY_TYPES.get(i["type"], set()):
                return JSONResponse(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": f"fieldType {i['fieldType']} is not valid for type {i['type']}",
                    },
                    400,
                )
            if i["groupName"] not in st.hubspot_groups:
                return JSONResponse(
                    {"status": "error", "category": "VALIDATION_ERROR", "message": f"no group {i['groupName']}"}, 400
                )
        results, errors = [], []
        for i in inputs:
            if i["name"] in st.hubspot_properties:
                errors.append(
                    {"status": "error", "category": "OBJECT_ALREADY_EXISTS", "message": f"{i['name']} already exists"}
                )
                continue
            st.hubspot_properties[i["name"]] = {k: i[k] for k in ("name", "label", "type", "fieldType", "groupName")}
            results.append(st.hubspot_properties[i["name"]])
        st.count("hubspot", "properties-created")
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body |= {"numErrors": len(errors), "errors": errors}
        return JSONResponse(body, 207 if errors else 201)

    def mautic_authorized(request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{st.user}:{st.password}".encode()).decode()
        return hmac.compare_digest(request.headers.get("authorization", ""), expected)

    def mautic_id(email: str) -> int:
        return int(hashlib.sha256(email.lower().encode()).hexdigest()[:6], 16)

    async def hubspot_gdpr_delete(request: Request) -> Response:
        """``POST /crm/v3/objects/contacts/gdpr-delete`` ``{objectId, idProperty}``: 204, or
        404 when no such contact."""
        if request.headers.get("authorization") != f"Bearer {st.token}":
            return JSONResponse({"status": "error", "category": "INVALID_AUTHENTICATION", "message": "bad token"}, 401)
        fault = await _faults(st, "hubspot")
        if fault:
            return fault
        doc = orjson.loads(await request.body() or b"{}")
        email = str(doc.get("objectId") or "").strip().lower()
        if doc.get("idProperty") != "email" or not email:
            return JSONResponse({"status": "error", "category": "VALIDATION_ERROR", "message": "objectId"}, 400)
        st.count("hubspot", "gdpr-delete")
        if st.contacts["hubspot"].pop(email, None) is None:
            return JSONResponse({"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found"}, 404)
        st.erased["hubspot"].append(email)
        return Response(status_code=204)

    async def mautic_fields(request: Request) -> Response:
        """``GET /api/fields/contact?start=&limit=`` (Mautic's default page is 30)."""
        if not mautic_authorized(request):
            return JSONResponse({"errors": [{"code": 401, "message": "API authorization denied."}]}, 401)
        fault = await _faults(st, "mautic")
        if fault:
            return fault
        start = int(request.query_params.get("start") or 0)
        limit = int(request.query_params.get("limit") or 30)
        every = sorted(st.mautic_fields.values(), key=lambda f: f["id"])
        st.count("mautic", "fields")
        return JSONResponse({"total": len(every), "fields": every[start : start + limit]})

    async def mautic_new_field(request: Request) -> Response:
        """``POST /api/fields/contact/new``: label required; alias, if given, lowercase
        letters, digits and underscores, not taken; a known type and group."""
        if not mautic_authorized(request):
            return JSONResponse({"errors": [{"code": 401, "message": "API authorization denied."}]}, 401)
        fault = await _faults(st, "mautic")
        if fault:
            return fault
        doc = orjson.loads(await request.body() or b"{}")
        problems: dict[str, list[str]] = {}
        label = doc.get("label") if isinstance(doc, dict) else None
        if not isinstance(label, str) or not label.strip():
            problems["label"] = ["A value is required."]
            doc = doc if isinstance(doc, dict) else {}
        alias = str(doc.get("alias") or "").strip() or "".join(
            ch if ch.isalnum() else "_" for ch in str(label or "").lower()
        )
        if not alias.replace("_", "").isalnum() or alias != alias.lower():
            problems["alias"] = ["Only lowercase letters, numbers and underscores."]
        elif alias in st.mautic_fields:
            problems["alias"] = ["A field with this alias already exists."]
        if doc.get("type", "text") not in MAUTIC_TYPES:
            problems["type"] = ["The value you selected is not a valid choice."]
        if doc.get("group", "core") not in MAUTIC_GROUPS:
            problems["group"] = ["The value you selected is not a valid choice."]
        if doc.get("object", "lead") != "lead":
            problems["object"] = ["Contact fields only here."]
        if problems:
            st.count("mautic", "400")
            message = "; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items())
            return JSONResponse({"errors": [{"code": 400, "message": message, "details": problems}]}, 400)
        made = {
            "id": max(f["id"] for f in st.mautic_fields.values()) + 1,
            "label": label,
            "alias": alias,
            "type": doc.get("type", "text"),
            "group": doc.get("group", "core"),
            "object": "lead",
            "isPublished": bool(doc.get("isPublished", True)),
        }
        st.mautic_fields[alias] = made
        st.count("mautic", "field-created")
        return JSONResponse({"field": made}, 201)

    async def mautic_search(request: Request) -> Response:
        """``GET /api/contacts?search=email:...``: the contacts by id."""
        if not mautic_authorized(request):
            return JSONResponse({"errors": [{"code": 401, "message": "API authorization denied."}]}, 401)
        term = request.query_params.get("search", "")
        if term.startswith("segment:"):  # a segment's members, paged
            seg = next((x for x in st.lists.mautic.values() if x["alias"] == term[8:]), None)
            ids = sorted(seg["members"], key=int) if seg else []
            start, limit = int(request.query_params.get("start") or 0), int(request.query_params.get("limit") or 30)
            page = {i: {"id": int(i)} for i in ids[start : start + limit]}
            return JSONResponse({"total": str(len(ids)), "contacts": page})
        email = term.removeprefix("email:").strip().lower() if term.startswith("email:") else ""
        found = {} if email not in st.contacts["mautic"] else {str(mautic_id(email)): {"id": mautic_id(email)}}
        return JSONResponse({"total": str(len(found)), "contacts": found})

    async def mautic_delete(request: Request) -> Response:
        """``DELETE /api/contacts/{id}/delete``."""
        if not mautic_authorized(request):
            return JSONResponse({"errors": [{"code": 401, "message": "API authorization denied."}]}, 401)
        fault = await _faults(st, "mautic")
        if fault:
            return fault
        cid = int(request.path_params["cid"])
        email = next((e for e in st.contacts["mautic"] if mautic_id(e) == cid), None)
        if email is None:
            return JSONResponse({"errors": [{"code": 404, "message": "Item was not found."}]}, 404)
        st.count("mautic", "delete")
        contact = st.contacts["mautic"].pop(email)
        st.erased["mautic"].append(email)
        return JSONResponse({"contact": {"id": cid, "fields": {"all": contact["properties"]}}})

    async def mautic(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{st.user}:{st.password}".encode()).decode()
        if not hmac.compare_digest(request.headers.get("authorization", ""), expected):
            st.count("mautic", "401")
            return JSONResponse({"errors": [{"code": 401, "message": "API authorization denied."}]}, 401)
        fault = await _faults(st, "mautic")
        if fault:
            return fault
        try:
            contacts = orjson.loads(await request.body())
            assert isinstance(contacts, list)
        except (orjson.JSONDecodeError, AssertionError):
            st.count("mautic", "400")
            return JSONResponse({"errors": [{"code": 400, "message": "a JSON list of contacts"}]}, 400)
        codes, out, errors = [], [], {}
        for n, c in enumerate(contacts):
            email = str(c.get("email") or "")
            bad = _record_fault(st, email) if email else "permanent"
            if bad:
                codes.append(400 if bad == "permanent" else 503)
                errors[str(n)] = {"code": codes[-1], "message": f"refused {email}"}
                continue
            c = {k: v for k, v in c.items() if k in st.mautic_fields}  # Mautic keeps known fields only
            new = st.store("mautic", email, c, c.get("cdp_lead_version"))
            codes.append(201 if new else 200)
            out.append({"id": mautic_id(email), "fields": {"all": c}})
        st.count("mautic", "201")
        body: dict[str, Any] = {"contacts": out, "statusCodes": codes}
        if errors:
            body["errors"] = errors
        return JSONResponse(body, 201)

    async def webhook(request: Request) -> Response:
        body = await request.body()
        problem = signing.verify(st.secret, {k.lower(): v for k, v in request.headers.items()}, body, time.time())
        if problem:
            st.count("webhook", "401")
            return JSONResponse({"error": problem}, 401)
        fault = await _faults(st, "webhook")
        if fault:
            return fault
        lead = orjson.loads(body)
        if lead.get("type") in ("audience.entered", "audience.exited"):
            webhook_audience(st.lists, lead)
            st.count("webhook", lead["type"])
            return Response(status_code=204)
        if lead.get("type") == "contact.erased":
            for gone in lead.get("emails") or []:
                st.contacts["webhook"].pop(str(gone).lower(), None)
                st.erased["webhook"].append(str(gone).lower())
            st.count("webhook", "erased")
            return Response(status_code=204)
        email = lead.get("contact", {}).get("email", "")
        if _record_fault(st, email) == "permanent":
            st.count("webhook", "422")
            return JSONResponse({"error": f"refused {email}"}, 422)
        wid = request.headers["webhook-id"]
        st.webhook_ids[wid] = st.webhook_ids.get(wid, 0) + 1
        st.store("webhook", email, {"eventId": lead.get("eventId"), "score": lead.get("score")}, lead.get("version"))
        st.count("webhook", "204")
        return Response(status_code=204)

    async def contacts(request: Request) -> Response:
        system = request.path_params["system"]
        if system not in st.contacts:
            return JSONResponse({"error": "hubspot, mautic or webhook"}, 404)
        return JSONResponse(st.contacts[system])

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "requests": st.stats,
                "regressions": st.regressions,
                "webhookDuplicates": sum(n - 1 for n in st.webhook_ids.values()),
                "erased": st.erased,
            }
        )

    async def requests(request: Request) -> Response:
        system = request.query_params.get("system")
        return JSONResponse([{"at": at, "system": s, "answer": a} for at, s, a in st.log if system in (None, s)])

    async def faults(request: Request) -> Response:
        doc = orjson.loads(await request.body() or b"{}")
        unknown = set(doc) - set(Faults.__dataclass_fields__)
        if unknown:
            return JSONResponse({"error": f"unknown fault(s) {sorted(unknown)}"}, 400)
        for k, v in doc.items():
            setattr(st.faults, k, v)
        return JSONResponse(st.faults.__dict__)

    async def reset(request: Request) -> Response:
        st.faults = Faults()
        st.contacts = {"hubspot": {}, "mautic": {}, "webhook": {}}
        st.stats.clear()
        st.log.clear()
        st.webhook_ids.clear()
        st.regressions = 0
        st.erased = {"hubspot": [], "mautic": [], "webhook": []}
        return Response(status_code=204)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/crm/v3/objects/contacts/batch/upsert", hubspot, methods=["POST"]),
            Route("/api/contacts/batch/new", mautic, methods=["POST"]),
            Route("/crm/v3/objects/contacts/gdpr-delete", hubspot_gdpr_delete, methods=["POST"]),
            Route("/crm/v3/properties/contacts", hubspot_properties, methods=["GET"]),
            Route("/crm/v3/properties/contacts/groups", hubspot_groups, methods=["POST"]),
            Route("/crm/v3/properties/contacts/batch/create", hubspot_create_properties, methods=["POST"]),
            Route("/api/contacts", mautic_search, methods=["GET"]),
            Route("/api/fields/contact", mautic_fields, methods=["GET"]),
            Route("/api/fields/contact/new", mautic_new_field, methods=["POST"]),
            Route("/api/contacts/{cid:int}/delete", mautic_delete, methods=["DELETE"]),
            Route("/webhook", webhook, methods=["POST"]),
            Route("/_sandbox/contacts/{system}", contacts),
            Route("/_sandbox/stats", stats),
            Route("/_sandbox/requests", requests),
            Route("/_sandbox/faults", faults, methods=["POST"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
            Route("/healthz", health),
            *ad_routes(st.ads, lambda system: _faults(st, system), st.count),
            *list_routes(
                st.lists,
                Hooks(
                    hubspot_denied=hubspot_denied,
                    mautic_authorized=mautic_authorized,
                    fault=lambda system: _faults(st, system),
                    count=st.count,
                    hubspot_ids=lambda: {hubspot_id(e): e for e in st.contacts["hubspot"]},
                    mautic_ids=lambda: {str(mautic_id(e)): e for e in st.contacts["mautic"]},
                ),
            ),
        ]
    )
