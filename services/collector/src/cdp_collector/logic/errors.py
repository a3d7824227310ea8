"""Refusals: every way the edge says no, as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        out.update(self.details)
        return out


def malformed_json(msg: str) -> Refusal:
    return Refusal(400, "malformed_json", f"the body is not valid JSON: {msg}")


def invalid_event(message: str, **details: Any) -> Refusal:
    return Refusal(400, "invalid_event", message, details)


def too_large(message: str) -> Refusal:
    return Refusal(413, "payload_too_large", message)


def unauthorized(message: str) -> Refusal:
    return Refusal(401, "unauthorized", message)


def forbidden_origin(origin: str) -> Refusal:
    return Refusal(403, "origin_not_allowed", f"origin {origin!r} is not allowed for this source")


def unsupported_encoding(encoding: str) -> Refusal:
    return Refusal(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported (use gzip or none)")


def bad_gzip() -> Refusal:
    return Refusal(400, "malformed_gzip", "the body is not valid gzip")
