"""Server-rendered pages for marketers: search and profile card (``/ui``) and campaign
insight with a bar chart (``/ui/campaigns``). Open ``/ui?token=<token>`` once; the token is
kept in an HTTP-only cookie."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cdp_console import data, tokens

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2433;max-width:1100px}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem} table{border-collapse:collapse;margin:.4rem 0}
td,th{border-bottom:1px solid #dde;padding:.25rem .6rem;text-align:left;font-size:.9rem} th{background:#f4f5f9}
.tag{display:inline-block;background:#e8eefc;border-radius:4px;padding:.1rem .4rem;margin:.1rem;font-size:.85rem}
.implicit{background:#fdf1dc} .muted{color:#778} nav a{margin-right:1rem}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{STYLE}</style>"
        f"</head><body><nav><a href='/ui'>Profiles</a><a href='/ui/campaigns'>Campaigns</a></nav>{body}</body></html>"
    )


def _table(rows: list[tuple[Any, ...]], head: tuple[str, ...]) -> str:
    h = "".join(f"<th>{escape(x)}</th>" for x in head)
    b = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c if c is not None else ''))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{h}</tr>{b}</table>"


def render_card(c: dict[str, Any]) -> str:
    traits = [
        (k, v["value"], v["source"], v.get("ruleId") or "")
        for k, v in {**c["explicitTraits"], **c["implicitTraits"]}.items()
    ]
    lead = c.get("lead")
    parts = [
        f"<h1 id='profile-id'>Profile {escape(c['id'])}</h1>",
        f"<p>Stage <b id='stage'>{escape(c['stage'])}</b> &middot; score <b id='score'>{c['score']:g}</b> &middot; "
        f"first seen {escape(c['firstSeen'] or '')} &middot; last seen {escape(c['lastSeen'] or '')}</p>",
        "<p id='segments'>" + "".join(f"<span class='tag'>{escape(s)}</span>" for s in c["segments"]) + "</p>",
        "<h2>Traits</h2>" + _table(traits, ("trait", "value", "source", "rule")),
        "<h2>Score</h2>" + _table([(b["rule"], b["points"]) for b in c["scoreBreakdown"]], ("rule", "points")),
        "<h2>Behaviour</h2>"
        + _table(
            [(k, v) for k, v in c["counters"].items() if k != "events"]
            + [(f"event: {k}", v) for k, v in c["counters"]["events"].items()],
            ("counter", "value"),
        ),
        _table(list(c["topPages"].items()), ("page", "views")),
        _table(list(c["maxScroll"].items()), ("page", "max scroll %")),
        "<p>Videos completed: " + escape(", ".join(c["videos"]["completed"]) or "none") + "</p>",
        "<h2>Forms and calculators</h2>"
        + _table(
            [
                (f["name"], f["at"], ", ".join(f"{k}={v}" for k, v in f["values"].items()))
                for f in c["forms"] + c["calculators"]
            ],
            ("form", "at", "values"),
        ),
        "<h2>Touchpoints</h2>"
        + _table(
            [
                (t["at"], t["channel"], t.get("source"), t.get("medium"), t.get("campaign"), t.get("content"))
                for t in c["touchpoints"]
            ],
            ("at", "channel", "source", "medium", "campaign", "content"),
        ),
        "<h2>Lead</h2>"
        + (
            "<p class='muted'>not a lead</p>"
            if not lead
            else f"<p>version {lead['version']}, qualified by {escape(lead['qualifiedBy'])} "
            f"at {escape(lead['qualifiedAt'])}</p>"
            + _table(
                [(d, x["status"], x["version"], x["attempts"], x["lastError"]) for d, x in lead["deliveries"].items()],
                ("destination", "status", "version", "attempts", "last error"),
            )
        ),
        "<h2>Timeline</h2>"
        + _table(
            [(e["at"], e["name"], e.get("path"), e.get("channel"), e.get("campaign")) for e in c["timeline"]],
            ("at", "event", "path", "channel", "campaign"),
        ),
        "<h2>Identities and devices</h2><p>"
        + escape(", ".join(c["identities"]))
        + "</p><p>"
        + escape(", ".join(c["devices"]))
        + "</p>",
    ]
    return "\n".join(parts)


def render_chart(rows: list[dict[str, Any]], label: Callable[[dict[str, Any]], str]) -> str:
    """A horizontal bar chart (SVG) of visitors, leads and conversions per row."""
    rows = rows[:15]
    if not rows:
        return "<p class='muted'>no data in this range</p>"
    top = max(max(r["visitors"], r["conversions"], r["leads"]) for r in rows) or 1
    bar_h, gap, left, width = 14, 10, 260, 600
    svg = [f"<svg id='chart' width='{left + width + 80}' height='{len(rows) * (3 * bar_h + gap) + 30}' role='img'>"]
    y = 20
    for r in rows:
        svg.append(f"<text x='0' y='{y + bar_h * 1.8}' font-size='12'>{escape(label(r))}</text>")
        for i, (k, color) in enumerate((("visitors", "#4a6fdc"), ("conversions", "#e39b2d"), ("leads", "#2f9e6f"))):
            w = int(width * r[k] / top)
            svg.append(
                f"<rect class='bar-{k}' x='{left}' y='{y + i * bar_h}' width='{w}' "
                f"height='{bar_h - 2}' fill='{color}'/>"
            )
            svg.append(f"<text x='{left + w + 4}' y='{y + i * bar_h + bar_h - 4}' font-size='11'>{r[k]}</text>")
        y += 3 * bar_h + gap
    svg.append("</svg><p class='muted'>blue: visitors, orange: conversions, green: leads</p>")
    return "".join(svg)


def mount(app: FastAPI, st: Any, require: Any, find: Any) -> None:
    reader = require("read")

    @app.get("/ui", include_in_schema=False)
    async def ui(request: Request, q: str | None = None, token: str | None = None) -> Response:
        if token:
            # a link from another site must not sign the browser in (login CSRF); a typed
            # URL or bookmark has Sec-Fetch-Site "none"
            if request.headers.get("sec-fetch-site", "none") not in ("none", "same-origin"):
                return _page("CDP", "<h1>CDP console</h1><p>Sign-in links only work when opened directly.</p>")
            if await tokens.lookup(st.pool, token) is None:
                return _page("CDP", "<h1>CDP console</h1><p>Unknown or revoked token.</p>")
            resp = RedirectResponse("/ui" + (f"?q={quote(q)}" if q else ""), status_code=303)
            secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
            resp.set_cookie("cdp_token", token, httponly=True, samesite="strict", secure=secure)
            return resp
        try:
            await reader(request)
        except HTTPException as e:
            return _page("CDP", f"<h1>CDP console</h1><p>{escape(str(e.detail))}. Open <code>/ui?token=...</code>.</p>")
        form = (
            "<form method='get' action='/ui'><input id='q' name='q' size='50' "
            "placeholder='email, anonymous id or profile id' "
            f"value='{escape(q or '')}'> <button id='search' type='submit'>Search</button></form>"
        )
        if not q:
            return _page("Profiles", "<h1>Profiles</h1>" + form)
        q = q.strip()
        pid = None
        for kind in ("email",) if "@" in q else ("anonymousId", "userId", "id"):
            pid = await data.resolve(st.pool, kind, q)
            if pid:
                break
        c = await data.card(st.pool, pid) if pid else None
        if c is None:
            return _page("Profiles", "<h1>Profiles</h1>" + form + f"<p id='not-found'>No profile for {escape(q)}.</p>")
        return _page(f"Profile {c['id']}", form + render_card(c))

    @app.get("/ui/campaigns", include_in_schema=False)
    async def ui_campaigns(
        request: Request, by: str = "campaign", days: int = 30, who: Any = Depends(reader)
    ) -> Response:
        by = by if by in data.DIMENSIONS else "campaign"
        until = datetime.now(UTC).date()
        since = until - timedelta(days=max(1, min(days, 3650)))
        rows = await data.campaign_report(st.pool, by, since, until)
        cols = data.DIMENSIONS[by]

        def label(r: dict[str, Any]) -> str:
            return " / ".join(str(r[c] or "-") for c in cols)

        table = _table(
            [
                (
                    label(r),
                    r["visitors"],
                    r["sessions"],
                    r["engaged"],
                    r["conversions"],
                    r["leads"],
                    f"{(r['conversionRate'] or 0):.1%}",
                    f"{(r['personaShare'] or 0):.1%}",
                )
                for r in rows
            ],
            (by, "visitors", "sessions", "engaged", "conversions", "leads", "conversion rate", "known persona"),
        )
        links = " ".join(f"<a href='/ui/campaigns?by={b}&days={days}'>{b}</a>" for b in data.DIMENSIONS)
        body = (
            f"<h1>Campaigns, last {days} days, by {escape(by)}</h1><p>{links}</p>" + render_chart(rows, label) + table
        )
        return _page("Campaigns", body)


__all__ = ["date", "mount"]
