"""The workspace's doors: sign-in (a token once, in a form; a session cookie), every page
and action refused without a session, admin actions refused to a read session, a revoked
token ending its sessions, CSRF and cross-site posts refused, and stored values that hold
HTML or script shown as text on every page."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest

from tests.e2e.conftest import cdp
from tests.integration.console.test_console import Console, _until
from tests.integration.segmenter.conftest import IPHONE, Journey, Segmenters, send

pytestmark = pytest.mark.integration

PAGES = ["/ui", "/ui/profiles", "/ui/segments", "/ui/campaigns", "/ui/leads", "/ui/events?live=0", "/ui/settings"]
ADMIN_PAGES = ["/ui/segments/new", "/ui/settings/rules/new", "/ui/settings/scoring/edit", "/ui/settings/slots/new"]
ACTIONS = [
    "/ui/profiles/{pid}/export",
    "/ui/profiles/{pid}/erase",
    "/ui/leads/retry",
    "/ui/settings/tokens/{tid}/revoke",
    "/ui/settings/rules/save",
    "/ui/settings/rules/{pid}/delete",
    "/ui/settings/scoring/save",
    "/ui/settings/slots/save",
    "/ui/settings/slots/{pid}/delete",
]


@pytest.fixture(scope="module")
def console(settings: Any, migrated_pool: Any) -> Iterator[Console]:
    c = Console(settings)
    yield c
    c.proc.stop()


def signed_in(console: Console, token: str) -> httpx.Client:
    ui = httpx.Client(base_url=console.url, timeout=15, follow_redirects=False)
    r = ui.post("/ui/login", data={"token": token, "next": "/ui"})
    assert r.status_code == 303 and r.headers["location"] == "/ui", r.text
    return ui


def csrf_of(ui: httpx.Client) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', ui.get("/ui").text)
    assert found, "every signed-in page carries the session's CSRF token"
    return found.group(1)


def _token_id(token: str) -> str:
    return token.split("_")[1]  # cdp_<id>_<secret>


def test_signing_in_takes_the_token_once_in_a_form_and_gives_a_strict_session_cookie(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=15, follow_redirects=False) as ui:
        first = ui.get("/ui/profiles?segment=engaged")
        assert first.status_code == 303
        assert first.headers["location"] == "/ui/login?next=%2Fui%2Fprofiles%3Fsegment%3Dengaged"
        form = ui.get(first.headers["location"])
        assert form.status_code == 200 and 'type="password" name="token"' in form.text
        # a token in a URL signs nobody in
        assert "set-cookie" not in ui.get(f"/ui/login?token={console.read}").headers
        wrong = ui.post("/ui/login", data={"token": "cdp_nope_nope"})
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        ok = ui.post("/ui/login", data={"token": console.read, "next": "/ui/profiles?segment=engaged"})
        assert ok.status_code == 303 and ok.headers["location"] == "/ui/profiles?segment=engaged"
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
        assert console.read.lower() not in cookie  # a random session id, not the token
        assert ui.get("/ui/profiles?segment=engaged").status_code == 200
        # a sign-in never sends the browser to another site
        for target in ("https://evil.example/", "//evil.example/ui", "/\\evil.example"):
            r = ui.post("/ui/login", data={"token": console.read, "next": target})
            assert r.headers["location"] == "/ui", target
        tls = {"x-forwarded-proto": "https"}
        behind_tls = httpx.post(f"{console.url}/ui/login", data={"token": console.read}, headers=tls)
        assert "secure" in behind_tls.headers["set-cookie"].lower()
        # signing out ends the session on the server, not only in this browser
        stolen = ui.cookies.get("cdp_session")
        assert ui.post("/ui/logout", data={"csrf": csrf_of(ui)}).status_code == 303
        again = httpx.get(f"{console.url}/ui", cookies={"cdp_session": stolen or ""}, follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")


def test_without_a_session_every_page_sends_to_sign_in_and_every_action_is_refused(console: Console) -> None:
    with httpx.Client(base_url=console.url, timeout=15, follow_redirects=False) as anon:
        for path in PAGES + ADMIN_PAGES:
            r = anon.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next="), path
        # a bearer token opens the API, not the pages
        r = anon.get("/ui", headers={"authorization": f"Bearer {console.admin}"})
        assert r.status_code == 303
        for action in ACTIONS:
            r = anon.post(action.format(pid="p1", tid="t1"), data={"csrf": "x", "confirm": "erase"})
            assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), action


def test_a_read_session_sees_every_page_but_no_admin_action(console: Console) -> None:
    ui = signed_in(console, console.read)
    for path in PAGES:
        r = ui.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert 'id="erase"' not in r.text and "revoke</button>" not in r.text
    token = csrf_of(ui)
    for action in ACTIONS:
        r = ui.post(action.format(pid="p1", tid=_token_id(console.admin)), data={"csrf": token, "confirm": "erase"})
        assert r.status_code == 403 and "admin scope" in r.text, action
    assert console.get("/v1/segments", token="admin").status_code == 200  # the admin token still works


def test_admin_forms_need_the_sessions_csrf_token_and_the_consoles_own_origin(console: Console, settings: Any) -> None:
    extra = console_token(settings, "admin")
    ui = signed_in(console, console.admin)
    token = csrf_of(ui)
    path = f"/ui/settings/tokens/{_token_id(extra)}/revoke"
    assert ui.post(path, data={}).status_code == 403
    assert ui.post(path, data={"csrf": token[:-1] + "x"}).status_code == 403
    cross = ui.post(path, data={"csrf": token}, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403 and "Cross-site" in cross.text
    other = ui.post(path, data={"csrf": token}, headers={"origin": "https://evil.example"})
    assert other.status_code == 403
    still = httpx.get(f"{console.url}/v1/segments", headers={"authorization": f"Bearer {extra}"})
    assert still.status_code == 200, "none of the refused posts revoked the token"
    done = ui.post(path, data={"csrf": token})
    assert done.status_code == 303
    gone = httpx.get(f"{console.url}/v1/segments", headers={"authorization": f"Bearer {extra}"})
    assert gone.status_code == 401


def console_token(settings: Any, scope: str) -> str:
    return cdp(settings, "tokens", "create", "--name", f"extra-{uuid.uuid4().hex[:6]}", "--scope", scope).strip()


def test_revoking_a_token_ends_its_sessions_at_once(console: Console, settings: Any) -> None:
    token = console_token(settings, "read")
    ui = signed_in(console, token)
    assert ui.get("/ui").status_code == 200
    cdp(settings, "tokens", "revoke", _token_id(token))
    r = ui.get("/ui")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


XSS = {
    "company": "<script>alert('company')</script>",
    "jobtitle": '<img src=x onerror="alert(1)">',
}
CAMPAIGN = "<b>bold</b>-<script>alert(2)</script>"
EVENT = "<svg onload=alert(3)>"


@pytest.fixture
def segmenters(settings: Any, input_topic: str, definitions: None) -> Iterator[Segmenters]:
    s = Segmenters(settings, "aiokafka", input_topic)
    yield s
    s.stop()


async def test_stored_html_and_script_render_as_text_on_every_page(
    console: Console, segmenters: Segmenters, producer: Any, pg: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"xss-{tag}@example.org"
    j = Journey(f"{tag}-xss", datetime.now(UTC) - timedelta(minutes=30))
    j.page("/pricing", f"?utm_source=linkedin&utm_medium=paid_social&utm_campaign={quote(CAMPAIGN)}")
    j.track(EVENT, "/pricing")
    j.identify(None, email=email, **XSS)
    segmenters.start()
    await send(producer, segmenters.topic, j.hits)
    await _until(lambda: pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"email:{email}"))
    pid = await pg.fetchval("SELECT profile_id FROM identities WHERE id = $1", f"email:{email}")

    async def rolled_up() -> bool:
        return bool(await pg.fetchval("SELECT count(*) FROM campaign_stats WHERE campaign = $1", CAMPAIGN))

    await _until(rolled_up)
    ui = signed_in(console, console.admin)
    pages = {
        "card": ui.get(f"/ui/profiles/{pid}").text,
        "list": ui.get("/ui/profiles", params={"campaign": CAMPAIGN}).text,
        "campaigns": ui.get("/ui/campaigns").text,
        "overview": ui.get("/ui", params={"days": 1}).text,
    }
    assert email in pages["list"], "the filter on a campaign name holding markup still finds the person"
    for name, body in pages.items():
        for raw in (*XSS.values(), CAMPAIGN, EVENT):
            assert raw not in body, (name, raw)
        assert "<script>alert" not in body and "<img src=x" not in body and "<svg" not in body, name
    assert "&lt;script&gt;alert(&#39;company&#39;)&lt;/script&gt;" in pages["card"]
    assert "&lt;svg onload=alert(3)&gt;" in pages["card"]
    assert "&lt;b&gt;bold&lt;/b&gt;" in pages["campaigns"]


def test_a_segment_is_previewed_checked_and_saved_from_its_editor(console: Console, settings: Any) -> None:
    sid = f"ui-{uuid.uuid4().hex[:6]}"
    ui = signed_in(console, console.admin)
    token = csrf_of(ui)
    assert ui.get("/ui/segments/new").status_code == 200
    form = {"csrf": token, "id": sid, "name": "Seen pricing", "description": "", "editing": "0"}
    bad = ui.post("/ui/segments/preview", data=form | {"condition": "trait: {name: role, op: sounds_like}"})
    assert bad.status_code == 200 and 'id="segment-error"' in bad.text and 'id="preview-result"' not in bad.text
    not_yaml = ui.post("/ui/segments/save", data=form | {"condition": "all: [unclosed"})
    assert "not YAML or JSON" in not_yaml.text
    condition = "counter: {name: pageViews, op: gte, value: 1}"
    shown = ui.post("/ui/segments/preview", data=form | {"condition": condition})
    matched = re.search(r'id="preview-matched">([\d,]+)<', shown.text)
    assert matched and int(matched.group(1).replace(",", "")) >= 0, shown.text[-2000:]
    assert sid not in [s["id"] for s in console.get("/v1/segments").json()["segments"]]  # a preview saves nothing
    saved = ui.post("/ui/segments/save", data=form | {"condition": condition})
    assert saved.status_code == 303 and saved.headers["location"] == f"/ui/segments/{sid}"
    stored = {s["id"]: s for s in console.get("/v1/segments").json()["segments"]}[sid]
    assert stored["condition"] == {"counter": {"name": "pageViews", "op": "gte", "value": 1}}
    edit = ui.get(f"/ui/segments/{sid}/edit")
    assert edit.status_code == 200 and "pageViews" in edit.text and "readonly" in edit.text
    reader = signed_in(console, console.read)
    assert reader.get("/ui/segments/new").status_code == 403
    refused = reader.post("/ui/segments/save", data=form | {"csrf": csrf_of(reader), "condition": condition})
    assert refused.status_code == 403
    assert console.call("DELETE", f"/v1/segments/{sid}").status_code == 200


def _secret(html: str) -> str:
    found = re.search(r'<code id="secret">([^<]+)</code>', html)
    assert found, html[-3000:]
    return found.group(1)


def test_sources_and_tokens_are_managed_from_settings_with_secrets_shown_once(console: Console) -> None:
    name = f"site-{uuid.uuid4().hex[:6]}"
    ui = signed_in(console, console.admin)
    token = csrf_of(ui)
    made = ui.post("/ui/settings/sources", data={"csrf": token, "name": name, "origins": "https://Shop.Example.com/x"})
    key = _secret(made.text)
    assert made.status_code == 200 and key not in ui.get("/ui/settings").text  # shown once, then masked
    assert "already exists" in ui.post("/ui/settings/sources", data={"csrf": token, "name": name}).text
    sources = {s["name"]: s for s in console.get("/v1/sources", token="admin").json()}
    assert sources[name]["origins"] == ["https://shop.example.com"]
    ui.post(f"/ui/settings/sources/{name}/origins", data={"csrf": token, "origins": "https://a.example, *"})
    rotated = _secret(ui.post(f"/ui/settings/sources/{name}/rotate", data={"csrf": token}).text)
    assert rotated != key
    ui.post(f"/ui/settings/sources/{name}/revoke", data={"csrf": token})
    sources = {s["name"]: s for s in console.get("/v1/sources", token="admin").json()}
    assert sources[name]["origins"] == ["*", "https://a.example"] and sources[name]["enabled"] is False
    assert sources[name]["writeKey"] == rotated
    new = _secret(ui.post("/ui/settings/tokens", data={"csrf": token, "name": "campaign team", "scope": "read"}).text)
    assert httpx.get(f"{console.url}/v1/segments", headers={"authorization": f"Bearer {new}"}).status_code == 200
    reader = signed_in(console, new)
    refused = reader.post("/ui/settings/tokens", data={"csrf": csrf_of(reader), "name": "x", "scope": "admin"})
    assert refused.status_code == 403


async def test_the_card_shows_the_devices_merged_into_the_profile(
    console: Console, segmenters: Segmenters, producer: Any, pg: Any
) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"merge-{tag}@example.org"
    t0 = datetime.now(UTC) - timedelta(hours=2)
    laptop = Journey(f"{tag}-laptop", t0).page("/").identify(email=email)
    phone = Journey(f"{tag}-phone", t0 + timedelta(hours=1), ua=IPHONE).page("/pricing")
    segmenters.start()
    await send(producer, segmenters.topic, laptop.hits)
    await _until(lambda: pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"email:{email}"))
    await send(producer, segmenters.topic, phone.hits)
    await _until(lambda: pg.fetchval("SELECT count(*) FROM identities WHERE id = $1", f"anon:{tag}-phone"))
    phone_pid = await pg.fetchval("SELECT profile_id FROM identities WHERE id = $1", f"anon:{tag}-phone")
    await send(
        producer,
        segmenters.topic,
        Journey(f"{tag}-phone", t0 + timedelta(hours=1, minutes=5)).identify(email=email).hits,
    )
    await _until(lambda: pg.fetchval("SELECT count(*) FROM profile_merges WHERE from_profile = $1", phone_pid))

    card = console.get("/v1/profiles", params={"email": email}).json()
    assert [m["from"] for m in card["merges"]] == [phone_pid]
    assert {f"anon:{tag}-laptop", f"anon:{tag}-phone"} <= set(card["identities"])
    page_html = signed_in(console, console.read).get(f"/ui/profiles/{card['id']}").text
    assert phone_pid in page_html and 'id="merges"' in page_html


def _audited(settings: Any, action: str, subject: str) -> bool:
    async def q() -> bool:
        conn = await asyncpg.connect(settings.pg_dsn.get_secret_value())
        try:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM audit_log WHERE action = $1 AND subject = $2", action, subject
                )
            )
        finally:
            await conn.close()

    return asyncio.run(q())


def test_rules_scoring_and_slots_are_edited_from_settings(console: Console, settings: Any) -> None:
    ui = signed_in(console, console.admin)
    token = csrf_of(ui)
    rid, sid = f"rule-{uuid.uuid4().hex[:6]}", f"slot-{uuid.uuid4().hex[:6]}"

    # a campaign rule: refused with the reason, created, edited in its place, deleted
    assert 'id="definition-document"' in ui.get("/ui/settings/rules/new").text
    form = {"csrf": token, "id": rid, "editing": "0"}
    bad = ui.post("/ui/settings/rules/save", data=form | {"document": "when: {colour: red}\nset: {role: CEO}"})
    assert bad.status_code == 200 and "unknown field" in bad.text and 'id="definition-error"' in bad.text
    assert rid not in [r["id"] for r in console.get("/v1/rules").json()]
    doc = "description: <b>fleet</b> ads\nwhen:\n  source: linkedin\n  campaign: {regex: '^fleet-'}\nset: {role: fleet-manager}\n"
    saved = ui.post("/ui/settings/rules/save", data=form | {"document": doc})
    assert saved.status_code == 303 and saved.headers["location"] == "/ui/settings#rules"
    rules = console.get("/v1/rules").json()
    mine = next(r for r in rules if r["id"] == rid)
    assert mine["set"] == {"role": "fleet-manager"} and mine["when"]["campaign"] == {"regex": "^fleet-"}
    place = [r["id"] for r in rules].index(rid)
    page_html = ui.get("/ui/settings").text
    assert "&lt;b&gt;fleet&lt;/b&gt; ads" in page_html and f"/ui/settings/rules/{rid}/edit" in page_html
    edit = ui.get(f"/ui/settings/rules/{rid}/edit")
    assert edit.status_code == 200 and "readonly" in edit.text and "fleet-manager" in edit.text
    ui.post("/ui/settings/rules/save", data=form | {"editing": "1", "document": doc.replace("fleet-manager", "buyer")})
    rules = console.get("/v1/rules").json()
    assert [r["id"] for r in rules].index(rid) == place and rules[place]["set"] == {"role": "buyer"}
    assert _audited(settings, "rule.created", rid) and _audited(settings, "rule.updated", rid)
    assert ui.post(f"/ui/settings/rules/{rid}/delete", data={"csrf": token}).status_code == 303
    assert rid not in [r["id"] for r in console.get("/v1/rules").json()]

    # the scoring plan: what the editor shows saves back unchanged; a bad one changes nothing
    shown = ui.get("/ui/settings/scoring/edit").text
    current = html.unescape(re.search(r'id="definition-document"[^>]*>([^<]*)</textarea>', shown).group(1))
    assert "threshold" in current and "qualifying" in current
    refused = ui.post(
        "/ui/settings/scoring/save",
        data={"csrf": token, "editing": "1", "document": "scoring: {threshold: -1, rules: []}"},
    )
    assert "threshold" in refused.text and 'id="definition-error"' in refused.text
    again = ui.post("/ui/settings/scoring/save", data={"csrf": token, "editing": "1", "document": current})
    assert again.status_code == 303, again.text[-1500:]
    assert (
        html.unescape(
            re.search(
                r'id="definition-document"[^>]*>([^<]*)</textarea>', ui.get("/ui/settings/scoring/edit").text
            ).group(1)
        )
        == current
    )

    # a personalization slot, answered at once by the decision API's store
    slot = "rules:\n  - when: {segment: automotive-ceos}\n    variant: fleet-case-study\ndefault: generic\n"
    form = {"csrf": token, "id": sid, "editing": "0"}
    assert "rules: must be a list" in ui.post("/ui/settings/slots/save", data=form | {"document": "rules: 5"}).text
    assert ui.post("/ui/settings/slots/save", data=form | {"document": slot}).status_code == 303
    slots = {x["id"]: x for x in console.get("/v1/personalization/slots").json()}
    assert slots[sid]["default"] == "generic" and slots[sid]["rules"][0]["variant"] == "fleet-case-study"
    assert ui.post(f"/ui/settings/slots/{sid}/delete", data={"csrf": token}).status_code == 303
    assert sid not in {x["id"] for x in console.get("/v1/personalization/slots").json()}

    # a read session sees the settings but edits nothing
    reader = signed_in(console, console.read)
    assert reader.get("/ui/settings/rules/new").status_code == 403
    assert "/ui/settings/rules/" not in reader.get("/ui/settings").text.replace("/ui/settings/rules/new", "")
