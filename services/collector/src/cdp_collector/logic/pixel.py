"""Pixel hits (GET with query parameters, RudderStack style) turned into events."""

from __future__ import annotations

from typing import Any

# Top-level query parameters that map to event fields.
_TOP = {"anonymousId", "userId", "event", "name", "messageId", "timestamp", "originalTimestamp", "sentAt", "category"}
# Shortcuts for the page a newsletter or ad pixel stands for.
_PAGE = {"url": "url", "referrer": "referrer", "title": "title", "path": "path", "search": "search"}
_MAX_DEPTH = 4


def _put(target: dict[str, Any], dotted: str, value: str) -> None:
    parts = [p for p in dotted.split(".") if p][:_MAX_DEPTH]
    if not parts:
        return
    node = target
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            node[p] = nxt
        node = nxt
    node[parts[-1]] = value


def pixel_event(kind: str, params: list[tuple[str, str]]) -> tuple[dict[str, Any], str | None]:
    """``(event, writeKey)`` from the query string. ``properties.x`` and ``context.a.b`` nest;
    ``url``/``referrer``/``title``/``path`` fill ``context.page`` (and the page's properties);
    other parameters become properties. Values stay strings."""
    event: dict[str, Any] = {"type": kind, "properties": {}, "context": {}}
    write_key = None
    for name, value in params:
        if name == "writeKey":
            write_key = value
        elif name in _TOP:
            event[name] = value
        elif name.startswith("properties."):
            _put(event["properties"], name.removeprefix("properties."), value)
        elif name.startswith("context."):
            _put(event["context"], name.removeprefix("context."), value)
        elif name in _PAGE:
            _put(event["context"], f"page.{_PAGE[name]}", value)
            if kind == "page":
                event["properties"].setdefault(_PAGE[name], value)
        elif name not in ("type", "batch"):
            _put(event["properties"], name, value)
    context = event["context"]
    context.setdefault("library", {"name": "cdp-pixel", "version": "1"})
    return event, write_key
