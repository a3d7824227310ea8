"""Holes found by probing the console (issue: reliability and privacy): NUL characters,
security headers, sign-in links, and a scoring replace from an empty body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.console.test_console import Console

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def console(settings: Any, migrated_pool: Any) -> Iterator[Console]:
    c = Console(settings)
    yield c
    c.proc.stop()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/profiles?email=ada%00@example.com",
        "/v1/profiles?userId=u%001",
        "/v1/profiles?anonymousId=a%00b",
        "/v1/profiles/p%00x",
        "/v1/profiles/p%00x/export",
        "/ui/profiles?q=ada%00",
    ],
)
def test_a_nul_character_in_a_parameter_is_a_400(console: Console, path: str) -> None:
    r = console.get(path, token="admin")
    assert r.status_code == 400, (r.status_code, r.text[:200])
    assert r.json() == {"detail": "NUL characters are not allowed"}


def test_a_nul_character_in_a_json_body_is_a_400(console: Console) -> None:
    r = console.call("PUT", "/v1/segments/nul", json={"name": "a\u0000b", "condition": {"trait": "role"}})
    assert r.status_code == 400, r.text
    r = console.call("DELETE", "/v1/profiles", params={"email": "x\x00@example.com"})
    assert r.status_code == 400, r.text


def test_every_answer_carries_security_headers_and_pages_a_csp(console: Console) -> None:
    page = console.get("/ui/login", token=None)
    api = console.get("/v1/segments")
    for r in (page, api):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp


@pytest.mark.parametrize(
    "body",
    [{}, {"leads": {"qualifying": []}}, {"scoring": {}}, {"scoring": {"threshold": 50}}, {"plan": []}],
)
def test_a_scoring_replace_without_the_whole_plan_is_refused_and_changes_nothing(
    console: Console,
    body: dict[str, Any],
) -> None:
    before = console.get("/v1/segments").json()["scoring"]
    r = console.call("PUT", "/v1/scoring", json=body)
    assert r.status_code == 422, r.text
    assert console.get("/v1/segments").json()["scoring"] == before
