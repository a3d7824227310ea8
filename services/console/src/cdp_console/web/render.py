"""Pages from Jinja2 templates (autoescaped: a stored value is always text, never markup)
and the console's own static files (styles, scripts, the chart library): no CDN, no
inline script or style, so the Content-Security-Policy can forbid both."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent
STATIC = HERE / "static"

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",), default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(t: Any) -> str:
    if t is None or t == "":
        return ""
    if isinstance(t, (int, float)):
        t = datetime.fromtimestamp(float(t), UTC)
    if isinstance(t, str):
        return t.replace("T", " ")[:19]
    return str(t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))


def _ago(t: Any) -> str:
    if t is None:
        return "never"
    seconds = (datetime.now(UTC) - t).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(max(seconds, 0))} s ago"


def _pct(v: Any) -> str:
    return "" if v is None else f"{float(v):.1%}"


def _num(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:,.0f}" if isinstance(v, (int, float)) and float(v).is_integer() else f"{float(v):,.1f}"


env.filters |= {"when": _when, "ago": _ago, "pct": _pct, "num": _num}


def link(path: str, params: dict[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "", 0)}
    return path + ("?" + urlencode(clean) if clean else "")


env.globals["link"] = link


def page(request: Request, template: str, *, code: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    html = env.get_template(template).render(
        request=request, session=session, path=request.url.path, csrf=session.csrf if session else "", **context
    )
    return HTMLResponse(html, status_code=code, headers={"cache-control": "no-store"})
