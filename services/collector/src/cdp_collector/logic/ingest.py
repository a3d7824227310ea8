"""From request bytes to the records the collector publishes, or a refusal.

Pure: the clock reading, the id generator and the source come in as arguments.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from cdp_collector.logic import errors
from cdp_collector.logic.errors import Refusal
from cdp_common.events import EVENT_TYPES, EventBase, parse_event

BATCH_LEVEL_FIELDS = ("context", "integrations", "sentAt")
# Deeper JSON than this is refused with a 400 (orjson cannot write past 254 levels, and no
# analytics payload needs more than a few)
MAX_DEPTH = 64
# An event time outside [received - 5 years, received + 1 day] is a broken client clock:
# the receive time is used and the client's value kept as ``clientTimestamp``
MAX_PAST = timedelta(days=5 * 365)
MAX_FUTURE = timedelta(days=1)
_ORJSON_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True, slots=True)
class Limits:
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024


@dataclass(frozen=True, slots=True)
class Stamp:
    """What the edge knows about the request, stamped on every record it publishes."""

    received_at: datetime
    source_id: str
    client_ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class Hit:
    """One record for ``cdp.hits.raw``: partition key, JSON value, and its messageId."""

    key: bytes
    value: bytes
    message_id: str
    type: str


def decode_body(body: bytes, content_encoding: str | None, limits: Limits) -> bytes | Refusal:
    """Undo gzip (what the SDKs send) with a cap on the inflated size (no zip bombs)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return errors.unsupported_encoding(encoding)
    wbits = 16 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limits.max_request_bytes + 1)
    except zlib.error:
        return errors.bad_gzip()
    if len(out) > limits.max_request_bytes or inflater.unconsumed_tail:
        return errors.too_large(f"the request inflates to more than {limits.max_request_bytes} bytes")
    return out


def parse_payload(raw: bytes) -> Any | Refusal:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return errors.malformed_json(str(e))


def write_key_of(payload: Any) -> str | None:
    """A write key sent in the body (``writeKey``), for clients that cannot set headers."""
    if isinstance(payload, dict):
        key = payload.get("writeKey")
        if isinstance(key, str) and key:
            return key
    return None


def events_of(payload: Any, kind: str) -> list[Any] | Refusal:
    """The events in a request: the ``batch`` list (with batch-level fields merged into each
    event that lacks them, as Segment does), or the single event with its type implied by
    the path."""
    if not isinstance(payload, dict):
        return errors.invalid_event("the body must be a JSON object")
    if kind == "batch":
        batch = payload.get("batch")
        if not isinstance(batch, list):
            return errors.invalid_event("a batch needs a 'batch' array of events", errors=[{"field": "batch"}])
        if not batch:
            return errors.invalid_event("the batch is empty", errors=[{"field": "batch"}])
        shared = {k: payload[k] for k in BATCH_LEVEL_FIELDS if k in payload}
        if shared:
            for item in batch:
                if isinstance(item, dict):
                    for k, v in shared.items():
                        item.setdefault(k, v)
        return batch
    declared = payload.get("type")
    if declared is None:
        payload["type"] = kind
    elif declared != kind:
        return errors.invalid_event(
            f"type {declared!r} was posted to /v1/{kind}", errors=[{"field": "type", "message": f"must be {kind!r}"}]
        )
    return [payload]


def depth_over(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest deeper than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > limit:
            return True
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return False


def describe(err: ValidationError, event_type: Any) -> list[dict[str, str]]:
    """Validation errors as ``[{"field": "context.page.url", "message": ...}]``."""
    out = []
    for e in err.errors(include_url=False):
        loc = list(e["loc"])
        if loc and loc[0] == event_type:  # the discriminated union's tag
            loc = loc[1:]
        field = ".".join(str(p) for p in loc)
        message = e["msg"].removeprefix("Value error, ")
        if not field and "anonymousId" in message:
            field = "anonymousId"
        if e["type"] == "union_tag_invalid" or e["type"] == "union_tag_not_found":
            field = "type"
            message = f"must be one of {', '.join(EVENT_TYPES)}"
        out.append({"field": field or "(event)", "message": message})
    return out


def corrected_timestamp(ev: EventBase, received_at: datetime) -> tuple[datetime, bool]:
    """``(event time, plausible)``. The time is ``receivedAt - (sentAt - timestamp)`` when
    the client sent ``sentAt``: the event time on the server's clock. Without ``sentAt`` the
    client's time is taken as it is (historical imports); without any client time, or with
    times that cannot be reconciled or lie outside the plausible window, the receive time
    (``plausible`` is then false when the client did give a time)."""
    client_time = ev.timestamp or ev.original_timestamp
    if client_time is None:
        return received_at, True
    if ev.sent_at is None:
        corrected = client_time
    else:
        skew = ev.sent_at - client_time
        if skew.total_seconds() < 0:
            return received_at, True  # sent before it happened: the client's clocks disagree, trust ours
        try:
            corrected = received_at - skew
        except OverflowError:
            return received_at, False  # absurd client times (year 1 vs 9999) cannot be corrected
    if not received_at - MAX_PAST <= corrected <= received_at + MAX_FUTURE:
        return received_at, False
    return corrected, True


def build_hits(
    events: list[Any], *, stamp: Stamp, limits: Limits, new_id: Callable[[], str], single: bool
) -> list[Hit] | Refusal:
    """Validate every event and build its record. Any invalid event refuses the whole
    request: nothing of it is published."""
    hits: list[Hit] = []
    invalid: list[dict[str, Any]] = []
    for index, item in enumerate(events):
        if not isinstance(item, dict):
            invalid.append({"index": index, "errors": [{"field": "(event)", "message": "must be a JSON object"}]})
            continue
        if depth_over(item, MAX_DEPTH):
            message = f"nested deeper than {MAX_DEPTH} levels"
            invalid.append({"index": index, "errors": [{"field": "(event)", "message": message}]})
            continue
        if not single and len(orjson.dumps(item)) > limits.max_event_bytes:
            return errors.too_large(f"event {index} is larger than {limits.max_event_bytes} bytes")
        try:
            ev = parse_event(item)
        except ValidationError as e:
            invalid.append({"index": index, "errors": describe(e, item.get("type"))})
            continue
        if invalid:
            continue  # keep validating to list every bad index, but build nothing more
        message_id = ev.message_id or new_id()
        item.pop("writeKey", None)  # a credential, not event data (analytics-next puts it in each)
        item["messageId"] = message_id
        for field, value in (("anonymousId", ev.anonymous_id), ("userId", ev.user_id)):
            if value is not None:
                item[field] = value
            elif field in item:
                del item[field]  # blank or null: no such id
        key = ev.anonymous_id or ev.user_id or message_id
        context = item.get("context") if isinstance(item.get("context"), dict) else None
        if ev.type == "identify" and not item.get("traits") and context and isinstance(context.get("traits"), dict):
            item["traits"] = dict(context["traits"])  # RudderStack's SDKs send identify traits here
        user_agent = (context or {}).get("userAgent") or stamp.user_agent
        when, plausible = corrected_timestamp(ev, stamp.received_at)
        record = {
            "event": item,
            "receivedAt": stamp.received_at,
            "sourceId": stamp.source_id,
            "clientIp": stamp.client_ip,
            "userAgent": user_agent,
            "timestamp": when,
        }
        if not plausible:
            record["clientTimestamp"] = str(item.get("timestamp") or item.get("originalTimestamp"))
        hits.append(Hit(key.encode(), orjson.dumps(record, option=_ORJSON_OPTS), message_id, ev.type))
    if invalid:
        if single:
            errs = invalid[0]["errors"]
            first = errs[0]
            return errors.invalid_event(f"{first['field']}: {first['message']}", errors=errs)
        return errors.invalid_event(
            f"{len(invalid)} of {len(events)} events are invalid; nothing was accepted",
            invalid=invalid,
        )
    return hits
