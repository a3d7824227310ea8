"""The console's JSON API under ``/v1`` (and health, readiness, metrics), one module per
area; every route closes over the console's ``State``. Errors are JSON objects with
``detail`` (a message, or FastAPI's list of field errors) or, on the public
personalization endpoint, ``error``: ``ERRORS`` puts every one in the OpenAPI document."""

from typing import Any

from fastapi import FastAPI

from cdp_console.api import definitions, ops, personalize, pipeline, profiles, reports
from cdp_console.state import State

_PROBLEM = {
    "type": "object",
    "properties": {
        "detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "error": {"type": "string"},
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": what, "content": {"application/json": {"schema": _PROBLEM}}}
    for code, what in (
        (400, "Malformed request (e.g. a NUL character, invalid JSON, or missing selectors)"),
        (401, "No bearer token, or an unknown or revoked one (personalization: an unknown write key)"),
        (403, "The token's scope is not enough, or the origin is not allowed for the source"),
        (404, "No such profile, segment, rule, slot, plan or schema"),
        (413, "The body is larger than the console accepts"),
        (422, "The request's shape or values are invalid; nothing changed"),
        (429, "Rate limited; see Retry-After"),
    )
}


def mount(app: FastAPI, st: State) -> None:
    for area in (ops, profiles, reports, definitions, pipeline, personalize):
        app.include_router(area.router(st))
