"""The sandbox's ad platforms: LinkedIn's Conversions API, Google Ads click conversion
upload and Meta's Conversions API, each checked as strictly as their documentation
describes (auth, required headers, required fields, formats, hashing), storing what they
accept and answering in each API's own shape. Fault switches apply per system name
(``linkedin``, ``google_ads``, ``meta``).

    POST /rest/conversionEvents                      LinkedIn (X-RestLi-Method: BATCH_CREATE)
    POST /{version}/customers/{id}:uploadClickConversions   Google Ads
    POST /{version}/{pixel id}/events                Meta
    GET  /_sandbox/conversions/{linkedin|google_ads|meta}   what was accepted, by deduplication key
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LINKEDIN_TOKEN = "sandbox-linkedin-token"
GOOGLE_TOKEN, GOOGLE_DEVELOPER_TOKEN = "sandbox-google-token", "sandbox-developer-token"
META_TOKEN = "sandbox-meta-token"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
URN = re.compile(r"^urn:lla:llaPartnerConversion:\d+$")
GOOGLE_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d$")
FBC = re.compile(r"^fb\.\d\.\d{13}\.\S+$")
LINKEDIN_ID_TYPES = frozenset({"SHA256_EMAIL", "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "AXCIOM_ID", "ORACLE_MOAT_ID"})
META_SOURCES = frozenset(
    {"email", "website", "app", "phone_call", "chat", "physical_store", "system_generated", "business_messaging"}
    | {"other"}
)
DAY_MS = 86_400_000


@dataclass
class Ads:
    """What the three platforms accepted, by their deduplication key, and the copies they dropped."""

    conversions: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"linkedin": {}, "google_ads": {}, "meta": {}}
    )
    duplicates: dict[str, int] = field(default_factory=lambda: {"linkedin": 0, "google_ads": 0, "meta": 0})

    def keep(self, platform: str, key: str, doc: dict[str, Any]) -> bool:
        if key in self.conversions[platform]:
            self.duplicates[platform] += 1
            return False
        self.conversions[platform][key] = doc
        return True


Fault = Callable[[str], Awaitable[Response | None]]


def _linkedin_problem(el: Any, now_ms: int) -> str | None:
    if not isinstance(el, dict):
        return "an element must be an object"
    if not isinstance(el.get("conversion"), str) or not URN.match(el["conversion"]):
        return "conversion: must be urn:lla:llaPartnerConversion:<id>"
    at = el.get("conversionHappenedAt")
    if not isinstance(at, int) or at > now_ms + 60_000 or at < now_ms - 90 * DAY_MS:
        return "conversionHappenedAt: epoch milliseconds within the last 90 days"
    user = el.get("user")
    ids = user.get("userIds") if isinstance(user, dict) else None
    if not isinstance(ids, list) or not ids or not isinstance(user, dict):
        return "user.userIds: at least one id is required"
    for i in ids:
        if not isinstance(i, dict) or i.get("idType") not in LINKEDIN_ID_TYPES or not isinstance(i.get("idValue"), str):
            return "user.userIds[]: idType and idValue"
        if i["idType"] == "SHA256_EMAIL" and not HEX64.match(i["idValue"]):
            return "SHA256_EMAIL: must be the SHA-256 hex of the normalized email"
    info = user.get("userInfo")
    if info is not None and not (isinstance(info, dict) and info.get("firstName") and info.get("lastName")):
        return "user.userInfo: firstName and lastName are both required"
    if "eventId" in el and not isinstance(el["eventId"], str):
        return "eventId: a string"
    return None


def routes(ads: Ads, fault: Fault, count: Callable[[str, str], None]) -> list[Route]:
    async def linkedin(request: Request) -> Response:
        h = request.headers
        if h.get("authorization") != f"Bearer {LINKEDIN_TOKEN}":
            count("linkedin", "401")
            return JSONResponse(
                {
                    "status": 401,
                    "serviceErrorCode": 65600,
                    "code": "INVALID_ACCESS_TOKEN",
                    "message": "Invalid access token",
                },
                401,
            )
        if not re.match(r"^\d{6}$", h.get("linkedin-version", "")):
            count("linkedin", "426")
            return JSONResponse(
                {"status": 426, "code": "NONEXISTENT_VERSION", "message": "A version in YYYYMM form must be present"},
                426,
            )
        if h.get("x-restli-protocol-version") != "2.0.0":
            count("linkedin", "400")
            return JSONResponse({"status": 400, "message": "X-Restli-Protocol-Version: 2.0.0 is required"}, 400)
        problem = await fault("linkedin")
        if problem:
            return problem
        doc = orjson.loads(await request.body() or b"{}")
        batch = h.get("x-restli-method", "").upper() == "BATCH_CREATE"
        elements = doc.get("elements") if batch and isinstance(doc, dict) else [doc]
        if not isinstance(elements, list) or not elements:
            count("linkedin", "400")
            return JSONResponse({"status": 400, "message": "elements: a non-empty list (BATCH_CREATE)"}, 400)
        now_ms = int(time.time() * 1000)
        out = []
        for el in elements:
            why = _linkedin_problem(el, now_ms)
            if why:
                out.append({"status": 400, "error": {"status": 400, "message": why}})
                continue
            ads.keep("linkedin", el.get("eventId") or orjson.dumps(el).decode(), el)
            out.append({"status": 201})
        count("linkedin", "200")
        if not batch:
            first: dict[str, Any] = out[0]
            return JSONResponse(first.get("error") or {}, int(first["status"]))
        return JSONResponse({"elements": out}, 200)

    async def google_ads(request: Request) -> Response:
        h = request.headers
        version, customer = request.path_params["version"], request.path_params["customer"]
        if h.get("authorization") != f"Bearer {GOOGLE_TOKEN}":
            count("google_ads", "401")
            return JSONResponse(
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "status": "UNAUTHENTICATED",
                    }
                },
                401,
            )
        if h.get("developer-token") != GOOGLE_DEVELOPER_TOKEN:
            count("google_ads", "401")
            return JSONResponse(
                {
                    "error": {
                        "code": 401,
                        "message": "The developer token is not valid.",
                        "status": "UNAUTHENTICATED",
                        "details": [{"errors": [{"errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"}}]}],
                    }
                },
                401,
            )
        if not re.match(r"^v\d+$", version) or not customer.isdigit():
            count("google_ads", "404")
            return JSONResponse({"error": {"code": 404, "message": "Not found", "status": "NOT_FOUND"}}, 404)
        problem = await fault("google_ads")
        if problem:
            return problem
        doc = orjson.loads(await request.body() or b"{}")
        conversions = doc.get("conversions") if isinstance(doc, dict) else None
        if not isinstance(conversions, list) or not conversions or doc.get("partialFailure") is not True:
            count("google_ads", "400")
            return JSONResponse(
                {
                    "error": {
                        "code": 400,
                        "message": "conversions must be non-empty and partialFailure must be true",
                        "status": "INVALID_ARGUMENT",
                    }
                },
                400,
            )
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []

        def refuse(i: int, code: dict[str, str], message: str, field_name: str) -> None:
            results.append({})
            path = [{"fieldName": "conversions", "index": i}, {"fieldName": field_name}]
            errors.append({"errorCode": code, "message": message, "location": {"fieldPathElements": path}})

        action = re.compile(rf"^customers/{customer}/conversionActions/\d+$")
        for i, c in enumerate(conversions):
            c = c if isinstance(c, dict) else {}
            clicks = [k for k in ("gclid", "gbraid", "wbraid") if c.get(k)]
            if len(clicks) != 1:
                refuse(
                    i, {"conversionUploadError": "INVALID_CLICK_ID"}, "exactly one of gclid, gbraid, wbraid", "gclid"
                )
            elif not isinstance(c.get("conversionAction"), str) or not action.match(c["conversionAction"]):
                refuse(
                    i,
                    {"conversionUploadError": "INVALID_CONVERSION_ACTION"},
                    "not this customer's conversion action",
                    "conversion_action",
                )
            elif not isinstance(c.get("conversionDateTime"), str) or not GOOGLE_TIME.match(c["conversionDateTime"]):
                refuse(
                    i,
                    {"dateError": "INVALID_STRING_DATE_TIME_SECONDS_WITH_OFFSET"},
                    "yyyy-mm-dd hh:mm:ss+|-hh:mm",
                    "conversion_date_time",
                )
            elif any(
                not isinstance(u, dict) or ("hashedEmail" in u and not HEX64.match(str(u["hashedEmail"])))
                for u in c.get("userIdentifiers") or []
            ):
                refuse(
                    i,
                    {"fieldError": "INVALID_VALUE"},
                    "hashedEmail: SHA-256 hex of the normalized email",
                    "user_identifiers",
                )
            elif (c.get("consent") or {}).get("adUserData", "GRANTED") not in ("GRANTED", "DENIED", "UNSPECIFIED"):
                refuse(i, {"fieldError": "INVALID_VALUE"}, "consent.adUserData", "consent")
            elif not ads.keep("google_ads", f"{c[clicks[0]]}|{c['conversionAction']}|{c['conversionDateTime']}", c):
                refuse(
                    i,
                    {"conversionUploadError": "CLICK_CONVERSION_ALREADY_EXISTS"},
                    "This click conversion has already been uploaded.",
                    "gclid",
                )
            else:
                results.append({k: c[k] for k in (clicks[0], "conversionAction", "conversionDateTime")})
        count("google_ads", "200")
        body: dict[str, Any] = {"results": results}
        if errors:
            body["partialFailureError"] = {
                "code": 3,
                "message": "; ".join(e["message"] for e in errors),
                "details": [
                    {"@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure", "errors": errors}
                ],
            }
        return JSONResponse(body, 200)

    async def meta(request: Request) -> Response:
        version, pixel = request.path_params["version"], request.path_params["pixel"]
        raw = await request.body()
        doc = orjson.loads(raw or b"{}") if raw else {}
        token = (doc.get("access_token") if isinstance(doc, dict) else None) or request.query_params.get("access_token")

        def error(code: int, message: str, subcode: int | None = None, status: int = 400) -> Response:
            count("meta", str(status))
            err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "sandbox"}
            if subcode:
                err["error_subcode"] = subcode
            return JSONResponse({"error": err}, status)

        if token != META_TOKEN:
            return error(190, "Invalid OAuth access token - Cannot parse access token")
        if not re.match(r"^v\d+\.\d+$", version) or not pixel.isdigit():
            return error(100, "Unsupported post request.", status=400)
        problem = await fault("meta")
        if problem:
            return problem
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list) or not 1 <= len(data) <= 1000:
            return error(100, "data: between 1 and 1,000 events", 2804001)
        now = time.time()
        for i, e in enumerate(data):  # one bad event refuses the whole request, as Meta does
            e = e if isinstance(e, dict) else {}
            ud = e.get("user_data") if isinstance(e.get("user_data"), dict) else None
            if not isinstance(e.get("event_name"), str) or not e["event_name"]:
                return error(100, f"data[{i}].event_name is required", 2804019)
            if not isinstance(e.get("event_time"), int) or not now - 7 * 86_400 <= e["event_time"] <= now + 60:
                return error(100, f"data[{i}].event_time must be within the last 7 days", 2804003)
            if e.get("action_source") not in META_SOURCES:
                return error(100, f"data[{i}].action_source is invalid", 2804050)
            if e["action_source"] == "website" and not (
                ud and ud.get("client_user_agent") and e.get("event_source_url")
            ):
                return error(100, f"data[{i}]: website events need client_user_agent and event_source_url", 2804050)
            if not ud or not any(ud.get(k) for k in ("em", "ph", "external_id", "fbc", "fbp", "client_ip_address")):
                return error(100, f"data[{i}].user_data: at least one customer information parameter", 2804040)
            for em in ud.get("em") or []:
                if not HEX64.match(str(em)):
                    return error(100, f"data[{i}].user_data.em must be SHA-256 hex of the normalized email", 2804022)
            if "fbc" in ud and not FBC.match(str(ud["fbc"])):
                return error(100, f"data[{i}].user_data.fbc must be fb.1.<creation ms>.<fbclid>", 2804037)
        for e in data:
            ads.keep("meta", f"{e['event_name']}|{e.get('event_id') or orjson.dumps(e).decode()}", e)
        count("meta", "200")
        return JSONResponse({"events_received": len(data), "messages": [], "fbtrace_id": "sandbox"}, 200)

    async def listing(request: Request) -> Response:
        platform = request.path_params["platform"]
        if platform not in ads.conversions:
            return JSONResponse({"error": "linkedin, google_ads or meta"}, 404)
        return JSONResponse({"conversions": ads.conversions[platform], "duplicates": ads.duplicates[platform]})

    return [
        Route("/rest/conversionEvents", linkedin, methods=["POST"]),
        Route("/{version}/customers/{customer}:uploadClickConversions", google_ads, methods=["POST"]),
        Route("/{version}/{pixel}/events", meta, methods=["POST"]),
        Route("/_sandbox/conversions/{platform}", listing),
    ]
