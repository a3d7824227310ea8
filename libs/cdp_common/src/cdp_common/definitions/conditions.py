"""The condition language of segments and scoring plans (YAML or JSON), evaluated on a
profile. Pure: ``now`` comes in.

    all: [cond, ...]        every one holds          any: [cond, ...]   at least one
    not: cond
    trait:   {name: role, op: eq, value: CEO}         ops: eq ne gt gte lt lte in contains
                                                      startsWith endsWith matches exists missing
    counter: {name: pageViews, op: gte, value: 3}     pageViews, sessions, interactions, or events.<Name>
    event:   {name: Pricing Viewed, min: 2, days: 30} at least min times in the last days (days optional)
    page:    {path: "/pricing*", min: 2}              page views of matching paths (glob)
    channel: Paid Social                              touched by this channel
    campaign: "ceo-automotive*"                       touched by a matching campaign (glob)
    form:    "contact*"                               submitted a form or calculator of that name (glob)
    consent: ads                                      the person allows this purpose (cdp_common.consent:
                                                      an explicit answer, else the purpose's default)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any

from cdp_common import consent

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "startsWith", "endsWith", "matches", "exists", "missing")
COUNTERS = ("pageViews", "sessions", "interactions")


def sessions(p: Mapping[str, Any]) -> int:
    """A profile's sessions: the windows it keeps plus those evicted (a profile fact the
    conditions, the card and the segmenter share)."""
    return len(p["windows"]) + p["sessionsEvicted"]


KINDS = ("all", "any", "not", "trait", "counter", "event", "page", "channel", "campaign", "form", "consent")


class ConditionError(ValueError):
    pass


def validate(cond: Any, where: str = "condition") -> None:
    """Raise ``ConditionError`` naming the place and what is wrong."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise ConditionError(f"{where}: must be an object with exactly one key ({', '.join(KINDS)})")
    ((key, body),) = cond.items()
    if key in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise ConditionError(f"{where}.{key}: must be a non-empty list")
        for i, c in enumerate(body):
            validate(c, f"{where}.{key}[{i}]")
    elif key == "not":
        validate(body, f"{where}.not")
    elif key in ("trait", "counter"):
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ConditionError(f"{where}.{key}: needs a name")
        op = body.get("op", "eq")
        if op not in OPS:
            raise ConditionError(f"{where}.{key}.op: {op!r} is not one of {', '.join(OPS)}")
        if op not in ("exists", "missing") and "value" not in body:
            raise ConditionError(f"{where}.{key}: op {op} needs a value")
        if op == "matches":
            try:
                re.compile(str(body["value"]))
            except re.error as e:
                raise ConditionError(f"{where}.{key}.value: not a valid regular expression: {e}") from e
        if key == "counter" and body["name"] not in COUNTERS and not body["name"].startswith("events."):
            raise ConditionError(f"{where}.counter.name: use {', '.join(COUNTERS)} or events.<Event Name>")
    elif key == "event":
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ConditionError(f"{where}.event: needs a name")
        for k in ("min", "days"):
            if k in body and (not isinstance(body[k], int) or body[k] < 1):
                raise ConditionError(f"{where}.event.{k}: must be a positive whole number")
    elif key == "page":
        if not isinstance(body, dict) or not isinstance(body.get("path"), str):
            raise ConditionError(f"{where}.page: needs a path pattern")
    elif key in ("channel", "campaign", "form", "consent"):
        if not isinstance(body, str) or not body:
            raise ConditionError(f"{where}.{key}: must be a non-empty string")
    else:
        raise ConditionError(f"{where}: unknown condition {key!r}")


def compare(op: str, have: Any, want: Any) -> bool:
    if op == "exists":
        return have is not None
    if op == "missing":
        return have is None
    if have is None:
        return op == "ne"
    if op in ("eq", "ne"):
        same = (
            str(have).lower() == str(want).lower() if isinstance(have, str) or isinstance(want, str) else have == want
        )
        return same if op == "eq" else not same
    if op == "in":
        return str(have).lower() in {str(w).lower() for w in (want if isinstance(want, list) else [want])}
    if op in ("contains", "startsWith", "endsWith", "matches"):
        h, w = str(have).lower(), str(want).lower()
        if op == "contains":
            return w in h
        if op == "startsWith":
            return h.startswith(w)
        if op == "endsWith":
            return h.endswith(w)
        return re.search(str(want), str(have), re.IGNORECASE) is not None
    try:
        a, b = float(have), float(want)
    except (TypeError, ValueError):
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def evaluate(cond: Mapping[str, Any], p: Mapping[str, Any], now: float) -> bool:
    ((key, body),) = cond.items()
    if key == "all":
        return all(evaluate(c, p, now) for c in body)
    if key == "any":
        return any(evaluate(c, p, now) for c in body)
    if key == "not":
        return not evaluate(body, p, now)
    if key == "trait":
        trait = p["traits"].get(body["name"])
        return compare(body.get("op", "eq"), trait["value"] if trait else None, body.get("value"))
    if key == "counter":
        name = body["name"]
        if name == "sessions":
            have: Any = sessions(p)
        elif name.startswith("events."):
            have = p["events"].get(name[7:], 0)
        else:
            have = p[name]
        return compare(body.get("op", "eq"), have, body.get("value"))
    if key == "event":
        times = p["eventTimes"].get(body["name"], [])
        if "days" in body:
            since = now - body["days"] * 86_400
            times = [t for t in times if t >= since]
        return len(times) >= body.get("min", 1)
    if key == "page":
        pattern = body["path"]
        views = sum(n for path, n in p["pages"].items() if fnmatch.fnmatchcase(path, pattern))
        return views >= body.get("min", 1)
    if key == "channel":
        return p["channels"].get(body, 0) > 0
    if key == "campaign":
        return any(fnmatch.fnmatch(str(tp.get("campaign") or ""), body) for tp in p["touchpoints"])
    if key == "form":
        pattern = body.lower()
        return any(fnmatch.fnmatchcase(str(f["name"]).lower(), pattern) for f in (*p["forms"], *p["calculators"]))
    if key == "consent":
        return consent.allowed(p.get("consent"), body)
    raise ConditionError(f"unknown condition {key!r}")
