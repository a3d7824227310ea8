"""The identity vocabulary, once for every service: the id namespaces of the identity
graph (``anon:<anonymousId>``, ``user:<userId>``, ``email:<email>``), normalization, and
the placeholder values no one may be identified or merged on."""

from __future__ import annotations

import re

# Values that SDKs and forms send when they mean "nobody" (PostHog and Unomi refuse these).
ILLEGAL = frozenset(
    {
        "",
        "anonymous",
        "guest",
        "null",
        "none",
        "nil",
        "undefined",
        "0",
        "-1",
        "nan",
        "[object object]",
        "true",
        "false",
        "email",
        "id",
        "user",
        "userid",
        "user_id",
        "distinct_id",
        "distinctid",
        "not_authenticated",
        "unknown",
        "n/a",
        "na",
        "test",
        "{}",
        "[]",
    }
)
ANON, USER, EMAIL = "anon", "user", "email"
NAMESPACES = (ANON, USER, EMAIL)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_id(value: object) -> str | None:
    """A usable id, or None for blanks and the illegal placeholders."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    s = str(value).strip()
    if s.lower() in ILLEGAL or len(s) > 255:
        return None
    return s


def normalize_email(value: object) -> str | None:
    """Trimmed and lowercased; None when it is not an email address."""
    if not isinstance(value, str):
        return None
    s = value.strip().lower()
    if not _EMAIL.match(s) or len(s) > 254 or s.split("@", 1)[0] in ILLEGAL:
        return None
    return s


def graph_id(namespace: str, value: str) -> str:
    """``anon:abc``: a cleaned value in its namespace (``ANON``, ``USER``, ``EMAIL``)."""
    return f"{namespace}:{value}"


def namespace_of(identity: str) -> str:
    return identity.split(":", 1)[0]


def anon_id(value: object) -> str | None:
    v = clean_id(value)
    return graph_id(ANON, v) if v else None


def user_id(value: object) -> str | None:
    v = clean_id(value)
    return graph_id(USER, v) if v else None


def email_id(value: object) -> str | None:
    e = normalize_email(value)
    return graph_id(EMAIL, e) if e else None
