"""OpenAPI entries for the ingestion routes that ``edge.py`` serves outside FastAPI's router."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from cdp_common.events import AliasEvent, GroupEvent, IdentifyEvent, PageEvent, ScreenEvent, TrackEvent

_MODELS: dict[str, type[BaseModel]] = {
    "track": TrackEvent,
    "page": PageEvent,
    "identify": IdentifyEvent,
    "alias": AliasEvent,
    "screen": ScreenEvent,
    "group": GroupEvent,
}
_REF = "#/components/schemas/{model}"

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "additionalProperties": True,
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _error_responses(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON or an invalid event (the body names the fields and, for a batch, the indexes)",
        401: "Missing or unknown write key",
        403: "Origin not allowed for this source",
        405: "Method not allowed",
        413: "Event over 32 KB or request over 500 KB",
        415: "Unsupported Content-Encoding",
        503: "Events could not be stored; retry after Retry-After seconds",
    }
    return {str(c): {"description": text[c], **_json({"$ref": "#/components/schemas/Error"})} for c in codes}


def ingestion_openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """``(paths, component schemas)`` for the ingestion and pixel routes."""
    _, defs = models_json_schema([(m, "validation") for m in _MODELS.values()], ref_template=_REF)
    components: dict[str, Any] = dict(defs.get("$defs", {}))
    components["Error"] = _ERROR
    components["Success"] = {"type": "object", "properties": {"success": {"type": "boolean"}}}
    refs = {k: {"$ref": _REF.format(model=m.__name__)} for k, m in _MODELS.items()}
    components["Batch"] = {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "minItems": 1, "items": {"oneOf": list(refs.values())}},
            "sentAt": {"type": "string", "format": "date-time"},
            "context": {"type": "object"},
            "writeKey": {"type": "string"},
        },
    }
    ok = {
        "200": {
            "description": "Every event is durably stored in Kafka",
            **_json({"$ref": "#/components/schemas/Success"}),
        }
    }
    errors = _error_responses(400, 401, 403, 413, 415, 503)
    paths: dict[str, Any] = {}
    for kind, ref in [("batch", {"$ref": "#/components/schemas/Batch"}), *refs.items()]:
        what = "a batch of events" if kind == "batch" else f"one {kind} event"
        paths[f"/v1/{kind}"] = {
            "post": {
                "operationId": f"ingest_{kind}",
                "summary": f"Send {what} (Segment-compatible)",
                "security": [{"writeKey": []}, {}],
                "requestBody": {"required": True, **_json(ref)},
                "responses": {**ok, **errors},
            }
        }
    for kind in ("batch", *refs):
        short = f"/v1/{kind[0]}"
        paths[short] = {
            "post": {
                **paths[f"/v1/{kind}"]["post"],
                "operationId": f"ingest_{kind}_short",
                "summary": f"The same as /v1/{kind}, on the path @segment/analytics-next uses",
            }
        }
    paths["/beacon/v1/batch"] = {
        "post": {
            **paths["/v1/batch"]["post"],
            "operationId": "ingest_beacon_batch",
            "summary": "A batch sent with navigator.sendBeacon (RudderStack's beacon transport): "
            "the write key in the query, the body JSON as text/plain",
            "parameters": [{"name": "writeKey", "in": "query", "required": True, "schema": {"type": "string"}}],
        }
    }
    not_found = {"404": {"description": "Unknown write key", **_json({"$ref": "#/components/schemas/Error"})}}
    forbidden = _error_responses(403)
    paths["/v1/projects/{writeKey}/settings"] = {
        "get": {
            "operationId": "segment_settings",
            "summary": "The settings document @segment/analytics-next loads from its cdnURL: sends to this collector",
            "parameters": [{"name": "writeKey", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "Settings", **_json({"type": "object"})}, **not_found, **forbidden},
        }
    }
    paths["/sourceConfig/"] = {
        "get": {
            "operationId": "rudderstack_source_config",
            "summary": "The source config RudderStack's JS SDK v3 loads from its configUrl",
            "parameters": [{"name": "writeKey", "in": "query", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "Source config", **_json({"type": "object"})},
                **not_found,
                **forbidden,
            },
        }
    }
    pixel_params = [
        {"name": "writeKey", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "anonymousId", "in": "query", "schema": {"type": "string"}},
        {"name": "userId", "in": "query", "schema": {"type": "string"}},
        {"name": "url", "in": "query", "schema": {"type": "string"}},
        {"name": "referrer", "in": "query", "schema": {"type": "string"}},
        {"name": "title", "in": "query", "schema": {"type": "string"}},
    ]
    gif = {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}
    for kind in ("page", "track"):
        params = list(pixel_params)
        if kind == "track":
            params.append({"name": "event", "in": "query", "required": True, "schema": {"type": "string"}})
        paths[f"/pixel/v1/{kind}"] = {
            "get": {
                "operationId": f"pixel_{kind}",
                "summary": f"Tracking pixel: a {kind} event from query parameters (properties.*, context.*)",
                "description": "Always answers a 1x1 GIF. An invalid hit is published to cdp.hits.rejected "
                "with its reason. Without anonymousId the cdp_aid cookie is used or minted.",
                "parameters": params,
                "responses": {
                    "200": {"description": "1x1 GIF; the hit was stored (or rejected with a reason)", **gif},
                    "503": {"description": "1x1 GIF; Kafka did not acknowledge", **gif},
                },
            }
        }
    return paths, components
