"""URL helpers shared by the enrichments."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit


def query_of(url: str | None) -> dict[str, str]:
    """The query parameters of a URL (first value wins; ``+`` and ``%xx`` decoded).
    Parameter names are lowercased: ``UTM_Source`` is ``utm_source``."""
    if not url or "?" not in url:
        return {}
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    out: dict[str, str] = {}
    for k, v in parse_qsl(query, keep_blank_values=False):
        out.setdefault(k.lower(), v)
    return out


def host_of(url: str | None) -> str | None:
    """Lowercased host without a leading ``www.``; None for anything that is not a URL."""
    if not url:
        return None
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def domain_matches(host: str, domain: str) -> bool:
    """``host`` is ``domain`` or one of its subdomains."""
    return host == domain or host.endswith("." + domain)
