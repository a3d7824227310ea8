"""A profile, and folding an enriched hit into it. Pure: time comes from the hit.

Everything is plain JSON-able data (the store keeps it as jsonb). Timestamps are epoch
seconds (floats). Lists are capped so a profile stays small however long a visitor stays.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdp_common import consent
from cdp_common.identity import clean_id

SESSION_GAP_S = 30 * 60
FORM_TRAIT_MAX = 200  # longer form values (messages) stay in the form, not in traits
CAPS = {
    "pages": 50,
    "touchpoints": 50,
    "submissions": 20,
    "conversions": 50,
    "devices": 10,
    "times": 50,
    "windows": 200,
    "recent": 30,
}


@dataclass(frozen=True, slots=True)
class FoldConfig:
    conversion_events: frozenset[str] = frozenset({"Form Submitted", "Signed Up", "Demo Requested", "Order Completed"})
    calculator_events: frozenset[str] = frozenset({"Calculator Completed"})


def new_profile(profile_id: str) -> dict[str, Any]:
    return {
        "id": profile_id,
        "firstSeen": None,
        "lastSeen": None,
        "pageViews": 0,
        "interactions": 0,
        "events": {},
        "eventTimes": {},
        "windows": [],  # session windows [start, end]
        "sessionsEvicted": 0,
        "pages": {},
        "maxScroll": {},
        "videosStarted": [],
        "videosCompleted": [],
        "forms": [],
        "calculators": [],
        "channels": {},
        "touchpoints": [],
        "firstTouch": None,  # kept apart: the capped touchpoint list drops the oldest
        "conversions": [],
        "devices": [],
        "traits": {},  # name -> {value, source, at, ruleId?, firstSeen?, lastSeen?}
        "anonymousIds": [],
        "userId": None,
        "recent": [],  # the latest events, for the profile card's timeline
        "consent": {},  # category -> {granted, at}: the latest answer (cdp_common.consent)
    }


def upgraded(profile_id: str, doc: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored profile with every field the current code reads: fields added since it was
    written (or missing from a document written by hand) take their empty value."""
    return {**new_profile(profile_id), **(doc or {})}


def _ts(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _add_window(p: dict[str, Any], t: float) -> bool:
    """Put ``t`` into the session windows; True when it opened a new session (late events
    that fall into or between known sessions join or bridge them)."""
    windows: list[list[float]] = p["windows"]
    near = [w for w in windows if w[0] - SESSION_GAP_S <= t <= w[1] + SESSION_GAP_S]
    if not near:
        windows.append([t, t])
        windows.sort()
        if len(windows) > CAPS["windows"]:
            windows.pop(0)
            p["sessionsEvicted"] += 1
        return True
    start = min([t, *(w[0] for w in near)])
    end = max([t, *(w[1] for w in near)])
    p["windows"] = sorted([w for w in windows if w not in near] + [[start, end]])
    return False


def _push(lst: list[Any], item: Any, cap: int, key: str = "at") -> None:
    lst.append(item)
    lst.sort(key=lambda x: x[key])
    del lst[: max(0, len(lst) - cap)]


def _set_trait(p: dict[str, Any], name: str, value: Any, at: float, source: str, rule_id: str | None = None) -> None:
    """A trait follows event time: an older event never overwrites a newer value."""
    cur = p["traits"].get(name)
    if cur is None:
        entry = {"value": value, "source": source, "at": at, "firstSeen": at, "lastSeen": at}
        if rule_id:
            entry["ruleId"] = rule_id
        p["traits"][name] = entry
        return
    cur["firstSeen"] = min(cur.get("firstSeen", at), at)
    cur["lastSeen"] = max(cur.get("lastSeen", at), at)
    if source == "implicit" and cur["source"] == "explicit":
        return  # what a person said about themselves beats what a campaign implied
    if at >= cur["at"] or (source == "explicit" and cur["source"] == "implicit"):
        cur.update(value=value, source=source, at=at)
        if rule_id:
            cur["ruleId"] = rule_id
        elif source == "explicit":
            cur.pop("ruleId", None)


def fold(profile: Mapping[str, Any], hit: Mapping[str, Any], config: FoldConfig = FoldConfig()) -> dict[str, Any]:
    """A new profile with one enriched, non-bot hit applied."""
    p = copy.deepcopy(dict(profile))
    fold_into(p, hit, config)
    return p


@dataclass(slots=True)
class Folded:
    """What one fold did that campaign reporting counts."""

    touch: dict[str, Any] | None = None  # a new touchpoint (a session start or a new campaign)
    first_touch_of_campaign: bool = False  # the profile never touched this campaign before
    conversion: bool = False
    persona: bool = False  # a campaign rule set a trait the profile did not have
    engaged: bool = False  # the profile just reached ENGAGED_PAGE_VIEWS page views


ENGAGED_PAGE_VIEWS = 3


def campaign_key(tp: Mapping[str, Any] | None) -> tuple[str, str, str, str, str]:
    """(channel, source, medium, campaign, content) of a touchpoint; '' for what is unknown."""
    if not tp:
        return ("Direct", "", "", "", "")
    return tuple(str(tp.get(k) or "") for k in ("channel", "source", "medium", "campaign", "content"))  # type: ignore[return-value]


def fold_into(p: dict[str, Any], hit: Mapping[str, Any], config: FoldConfig = FoldConfig()) -> Folded:
    """Apply one enriched, non-bot hit to ``p`` in place (the batch path: one copy per
    profile per batch, not one per event); says what campaign reporting should count."""
    out = Folded()
    ev = hit["event"]
    en = hit.get("enrichment") or {}
    t = _ts(hit["timestamp"])
    p["firstSeen"] = t if p["firstSeen"] is None else min(p["firstSeen"], t)
    p["lastSeen"] = t if p["lastSeen"] is None else max(p["lastSeen"], t)
    uid = clean_id(ev.get("userId"))
    if uid:
        p["userId"] = uid
    aid = ev.get("anonymousId")
    if aid and aid not in p["anonymousIds"]:
        p["anonymousIds"].append(aid)
        del p["anonymousIds"][: max(0, len(p["anonymousIds"]) - 50)]

    new_session = _add_window(p, t)
    kind = ev.get("type")
    props = ev.get("properties") if isinstance(ev.get("properties"), dict) else {}
    name = ev.get("event") if kind == "track" else ("Page Viewed" if kind == "page" else None)
    if name:
        p["events"][name] = p["events"].get(name, 0) + 1
        times = p["eventTimes"].setdefault(name, [])
        times.append(t)
        times.sort()
        del times[: max(0, len(times) - CAPS["times"])]

    page = ((ev.get("context") or {}).get("page") or {}) if isinstance(ev.get("context"), dict) else {}
    path = props.get("path") or page.get("path") or "/"
    if kind == "page":
        p["pageViews"] += 1
        out.engaged = p["pageViews"] == ENGAGED_PAGE_VIEWS
        p["pages"][path] = p["pages"].get(path, 0) + 1
        if len(p["pages"]) > CAPS["pages"]:
            least = min(p["pages"], key=lambda k: p["pages"][k])
            del p["pages"][least]
    elif kind == "track":
        p["interactions"] += 1
        if name == "Scroll Depth" and isinstance(props.get("percent"), (int, float)):
            p["maxScroll"][path] = max(p["maxScroll"].get(path, 0), int(props["percent"]))
        elif name in ("Video Started", "Video Completed"):
            key = "videosStarted" if name == "Video Started" else "videosCompleted"
            title = props.get("title") or props.get("src") or "video"
            if title not in p[key]:
                p[key].append(title)
        if name == "Form Submitted" or name in config.calculator_events:
            values: dict[str, Any] = (
                props["values"]
                if isinstance(props.get("values"), dict)
                else {k: v for k, v in props.items() if k not in ("form", "calculator")}
            )
            entry = {"name": props.get("form") or props.get("calculator") or name, "at": t, "values": values}
            calc = name in config.calculator_events or "calculator" in str(entry["name"]).lower()
            _push(p["calculators" if calc else "forms"], entry, CAPS["submissions"])
            if not calc:  # what a person typed into a form is an explicit trait
                for k, v in values.items():
                    if isinstance(v, (str, int, float, bool)) and len(str(v)) <= FORM_TRAIT_MAX and len(k) <= 64:
                        _set_trait(p, k, v.strip().lower() if k == "email" and isinstance(v, str) else v, t, "explicit")
        if name in config.conversion_events:
            out.conversion = True
            _push(p["conversions"], {"event": name, "at": t, "properties": props}, CAPS["conversions"])
    elif kind == "identify":
        traits = ev.get("traits") if isinstance(ev.get("traits"), dict) else {}
        for k, v in traits.items():
            if k == "email" and isinstance(v, str):
                v = v.strip().lower()
            _set_trait(p, k, v, t, "explicit")

    for hint in en.get("traits") or []:
        if hint["name"] not in p["traits"]:
            out.persona = True
        _set_trait(p, hint["name"], hint["value"], t, "implicit", hint.get("ruleId"))

    channel = en.get("channel")
    campaign = en.get("campaign") or {}
    click = en.get("click") or {}
    if channel and channel != "Internal":
        last = p["touchpoints"][-1] if p["touchpoints"] else None
        differs = (
            last is None
            or any(last.get(k) != campaign.get(k) for k in ("source", "medium", "campaign"))
            or last.get("channel") != channel
        )
        if new_session or (campaign and differs):
            tp = {"at": t, **_tp_fields(channel, campaign, click)}
            ckey = campaign_key(tp)
            out.first_touch_of_campaign = not any(campaign_key(x) == ckey for x in p["touchpoints"])
            out.touch = tp
            _push(p["touchpoints"], tp, CAPS["touchpoints"])
            if p["firstTouch"] is None or t < p["firstTouch"]["at"]:
                p["firstTouch"] = tp
            p["channels"][channel] = p["channels"].get(channel, 0) + 1

    prefs = consent.preferences(ev)
    if prefs:
        consent.fold(p.setdefault("consent", {}), prefs, t)

    device = en.get("device") or {}
    if device.get("type"):
        label = "/".join(str(x) for x in (device.get("type"), device.get("os"), device.get("browser")) if x)
        if label not in p["devices"]:
            p["devices"].append(label)
            del p["devices"][: max(0, len(p["devices"]) - CAPS["devices"])]
    recent = p.setdefault("recent", [])
    item = {"at": t, "type": kind, "name": name or kind, "path": path if kind in ("page", "track") else None}
    if channel and channel != "Internal":
        item["channel"] = channel
    if campaign.get("campaign"):
        item["campaign"] = campaign["campaign"]
    _push(recent, item, CAPS["recent"])
    return out


def _tp_fields(channel: str, campaign: Mapping[str, Any], click: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "channel": channel,
        "source": campaign.get("source"),
        "medium": campaign.get("medium"),
        "campaign": campaign.get("campaign"),
        "content": campaign.get("content"),
        "clickNetwork": click.get("network"),
        "clickId": click.get("id"),
    }


def _corrected_view(p: Mapping[str, Any]) -> tuple[Any, ...]:
    return (p["traits"], p["touchpoints"], p["firstTouch"], p["channels"], p["devices"], p.get("recent"))


def correct_into(p: dict[str, Any], hit: Mapping[str, Any]) -> bool:
    """Re-apply what enrichment decided for an event already folded into ``p`` (a replay
    after a rule or enrichment fix); True when anything changed. Counters, sessions, forms
    and conversions are left alone: the event happened once and was counted once.

    Corrected: the implicit traits the event implies now (and an implicit trait this very
    event set that the corrected enrichment no longer implies is withdrawn), the campaign of
    the touchpoint the event opened, the channel tally, first touch and timeline entry at
    the event's time, and its device."""
    before = copy.deepcopy(_corrected_view(p))
    en = hit.get("enrichment") or {}
    t = _ts(hit["timestamp"])
    hints = {h["name"]: h for h in en.get("traits") or []}
    for name, cur in list(p["traits"].items()):
        if cur.get("source") == "implicit" and cur.get("at") == t and name not in hints:
            del p["traits"][name]
    for h in hints.values():
        _set_trait(p, h["name"], h["value"], t, "implicit", h.get("ruleId"))

    channel = en.get("channel")
    if channel and channel != "Internal":
        fields = _tp_fields(channel, en.get("campaign") or {}, en.get("click") or {})
        for tp in p["touchpoints"]:
            if tp["at"] == t and any(tp.get(k) != v for k, v in fields.items()):
                old = tp.get("channel")
                if old in p["channels"] and old != channel:
                    p["channels"][old] -= 1
                    if p["channels"][old] <= 0:
                        del p["channels"][old]
                    p["channels"][channel] = p["channels"].get(channel, 0) + 1
                tp.update(fields)
        if p["firstTouch"] is not None and p["firstTouch"]["at"] == t:
            p["firstTouch"] = {**p["firstTouch"], **fields}
        for item in p.get("recent") or []:
            if item["at"] == t and item.get("type") in ("page", "track", "identify", "screen", "alias", "group"):
                item["channel"] = channel
                if fields["campaign"]:
                    item["campaign"] = fields["campaign"]
                else:
                    item.pop("campaign", None)

    device = en.get("device") or {}
    if device.get("type"):
        label = "/".join(str(x) for x in (device.get("type"), device.get("os"), device.get("browser")) if x)
        if label not in p["devices"]:
            p["devices"].append(label)
            del p["devices"][: max(0, len(p["devices"]) - CAPS["devices"])]
    return _corrected_view(p) != before


def merge(target: Mapping[str, Any], source: Mapping[str, Any]) -> dict[str, Any]:
    """Fold profile ``source`` into ``target``: counters add, histories merge in time order,
    the target's traits win conflicts, first seen is the earliest."""
    t = copy.deepcopy(dict(target))
    s = source
    for k in ("firstSeen",):
        t[k] = min(x for x in (t[k], s[k]) if x is not None) if (t[k] or s[k]) is not None else None
    t["lastSeen"] = max((x for x in (t["lastSeen"], s["lastSeen"]) if x is not None), default=None)
    for k in ("pageViews", "interactions", "sessionsEvicted"):
        t[k] += s[k]
    for k in ("events", "pages", "channels"):
        for key, n in s[k].items():
            t[k][key] = t[k].get(key, 0) + n
    for key, pct in s["maxScroll"].items():
        t["maxScroll"][key] = max(t["maxScroll"].get(key, 0), pct)
    for key, times in s["eventTimes"].items():
        merged = sorted(t["eventTimes"].get(key, []) + times)
        t["eventTimes"][key] = merged[-CAPS["times"] :]
    for w in s["windows"]:
        for edge in (w[0], w[1]):
            _add_window(t, edge)
    for k, cap in (
        ("forms", "submissions"),
        ("calculators", "submissions"),
        ("touchpoints", "touchpoints"),
        ("conversions", "conversions"),
    ):
        t[k] = sorted(t[k] + list(s[k]), key=lambda x: x["at"])[-CAPS[cap] :]
    t["recent"] = sorted(t.get("recent", []) + list(s.get("recent", [])), key=lambda x: x["at"])[-CAPS["recent"] :]
    ft = [x for x in (t.get("firstTouch"), s.get("firstTouch")) if x]
    t["firstTouch"] = min(ft, key=lambda x: x["at"]) if ft else None
    t["userId"] = t.get("userId") or s.get("userId")
    t["consent"] = consent.merge(t.get("consent"), s.get("consent"))
    since = dict(s.get("segmentsSince") or {})
    for sid, at in (t.get("segmentsSince") or {}).items():
        since[sid] = min(at, since.get(sid, at))
    t["segmentsSince"] = since
    if s.get("lead") and (not t.get("lead") or s["lead"]["version"] > t["lead"]["version"]):
        t["lead"] = copy.deepcopy(s["lead"])
    for k in ("videosStarted", "videosCompleted", "devices", "anonymousIds"):
        t[k] = list(dict.fromkeys(t[k] + list(s[k])))
    for name, trait in s["traits"].items():
        if name not in t["traits"]:
            t["traits"][name] = copy.deepcopy(trait)
        else:  # the target's value wins; history widens
            cur = t["traits"][name]
            cur["firstSeen"] = min(cur.get("firstSeen", trait["at"]), trait.get("firstSeen", trait["at"]))
            cur["lastSeen"] = max(cur.get("lastSeen", trait["at"]), trait.get("lastSeen", trait["at"]))
    return t
