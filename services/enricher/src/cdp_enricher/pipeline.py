"""Composes the pure enrichments into one step per record: raw bytes in, an enriched record
or a rejection out. No I/O; the country lookup and the rules come in as arguments."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import orjson

from cdp_common.definitions.campaign_rules import CompiledRule, KvConvention, kv_traits, matching_traits
from cdp_common.definitions.plans import Plan, Violation, check
from cdp_common.events import EVENT_TYPES
from cdp_common.identity import anon_id, email_id, user_id
from cdp_common.wire import CampaignDoc, ClickDoc, DeviceDoc, EnrichedHitDoc, EnrichmentDoc, RawHitDoc, TraitHintDoc
from cdp_enricher.logic import bots, channel, privacy, referrer
from cdp_enricher.logic.campaign import CampaignConfig, attribute
from cdp_enricher.logic.urls import query_of
from cdp_enricher.logic.useragent import device_of

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
# Libraries that run in a browser: their hits are judged by their user agent. Hits from
# server-side libraries without a context.userAgent carry the server's HTTP client agent,
# which says nothing about a visitor: those are typed "server" and not bot-checked.
BROWSER_LIBRARIES = frozenset({"analytics.js", "cdp-tag", "cdp-pixel", "RudderLabs JavaScript SDK", "posthog-js"})


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything configurable that an enrichment reads, refreshed as one value."""

    rules: tuple[CompiledRule, ...] = ()
    internal_domains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # source id -> domains
    suppressed: frozenset[str] = frozenset()  # erased identities: their hits are dropped
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    kv: KvConvention = field(default_factory=KvConvention)
    plans: Mapping[str, Plan] = field(default_factory=dict)  # source id -> tracking plan in force


@dataclass(frozen=True, slots=True)
class Emitted:
    key: bytes | None
    value: bytes
    bot_reason: str | None
    channel: str
    violations: tuple[Violation, ...] = ()  # against the source's tracking plan (flagged, not blocked)
    planned_event: str | None = None  # the event name as a metric label: planned names only
    source_id: str = ""

    @property
    def bot(self) -> bool:
        return self.bot_reason is not None


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # a short code, e.g. "malformed_json"
    message: str
    source_id: str | None = None
    violations: tuple[Violation, ...] = ()  # reason "tracking_plan": what the plan blocked
    planned_event: str | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: str  # e.g. "suppressed": counted, never emitted


Outcome = Emitted | Refused | Dropped


def _erased(value: Any, suppressed: frozenset[str]) -> bool:
    """Whether a value names an erased person in any namespace: an erased email sent as a
    userId, or an erased anonymous id sent as alias ``previousId``, is still that person."""
    return any(i is not None and i in suppressed for i in (anon_id(value), user_id(value), email_id(value)))


def _suppressed(ev: dict[str, Any], aid: Any, uid: Any, suppressed: frozenset[str]) -> bool:
    """An erased person's hit: by anonymousId, userId, alias previousId, or an email in
    traits or a form (``suppressed`` holds graph ids: ``anon:...``, ``user:...``,
    ``email:...``), each value checked in every namespace."""
    if _erased(aid, suppressed) or _erased(uid, suppressed) or _erased(ev.get("previousId"), suppressed):
        return True
    emails = []
    for holder in (ev.get("traits"), (ev.get("context") or {}).get("traits"), ev.get("properties")):
        if isinstance(holder, dict):
            emails.append(holder.get("email"))
            values = holder.get("values")
            if isinstance(values, dict):
                emails.append(values.get("email"))
    return any(_erased(e, suppressed) for e in emails if e)


def _invalid(d: Any) -> str | None:
    """What is wrong with a raw record, or None. Lighter than full model validation: the
    collector validated the event; this guards the fields the enricher relies on."""
    if not isinstance(d, dict):
        return "the record is not a JSON object"
    ev = d.get("event")
    if not isinstance(ev, dict):
        return "event: missing or not an object"
    if ev.get("type") not in EVENT_TYPES:
        return f"event.type: must be one of {', '.join(EVENT_TYPES)}"
    aid, uid = ev.get("anonymousId"), ev.get("userId")
    if not (isinstance(aid, str) and aid) and not (isinstance(uid, str) and uid):
        return "event: anonymousId or userId is required"
    if ev.get("type") == "track" and not isinstance(ev.get("event"), str):
        return "event.event: required for track"
    for name in ("receivedAt", "timestamp", "sourceId"):
        if not isinstance(d.get(name), str):
            return f"{name}: missing or not a string"
    for name in ("context", "properties", "traits"):
        if name in ev and ev[name] is not None and not isinstance(ev[name], dict):
            return f"event.{name}: must be an object"
    return None


class Enricher:
    """Holds the memo caches of the costly pure functions (user agent, country)."""

    def __init__(self, country_lookup: Callable[[str], str | None], *, ua_cache_size: int = 50_000) -> None:
        self._country = lru_cache(maxsize=ua_cache_size)(lambda ip: privacy.country(ip, country_lookup))
        self._agent = lru_cache(maxsize=ua_cache_size)(self._agent_uncached)

    @staticmethod
    def _agent_uncached(ua: str) -> tuple[dict[str, Any], str | None]:
        info = device_of(ua)
        device = {
            "browser": info.browser,
            "browserVersion": info.browser_version,
            "os": info.os,
            "osVersion": info.os_version,
            "type": info.type,
        }
        return device, bots.bot_reason(ua, spider=info.spider)

    def ua_cache_stats(self) -> tuple[int, int]:
        """(hits, misses) of the user-agent cache."""
        info = self._agent.cache_info()
        return info.hits, info.misses

    def enrich(self, raw: bytes | None, rules: Rules) -> Outcome:
        if raw is None:
            return Refused("malformed_json", "the record has no value (null)")
        try:
            d = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            return Refused("malformed_json", str(e))
        problem = _invalid(d)
        if problem is not None:
            source_id = d.get("sourceId") if isinstance(d, dict) and isinstance(d.get("sourceId"), str) else None
            return Refused("invalid_record", problem, source_id)

        hit = cast(RawHitDoc, d)  # _invalid checked the fields this step relies on
        ev: dict[str, Any] = cast(dict[str, Any], hit["event"])
        aid, uid = ev.get("anonymousId"), ev.get("userId")
        if rules.suppressed and _suppressed(ev, aid, uid, rules.suppressed):
            return Dropped("suppressed")
        violations: tuple[Violation, ...] = ()
        planned: str | None = None
        plan = rules.plans.get(hit["sourceId"]) if rules.plans else None
        if plan is not None:
            verdict = check(plan, ev)
            name = ev.get("event")
            planned = name if isinstance(name, str) and name in plan.events else None
            if verdict.blocked:
                listed = "; ".join(f"{v.type} {v.field}: {v.message}" for v in verdict.violations)
                return Refused(
                    "tracking_plan",
                    f"blocked by plan v{plan.version}: {listed}",
                    hit["sourceId"],
                    verdict.violations,
                    planned,
                )
            violations = verdict.violations
            if verdict.event is not None:  # properties omitted
                ev = verdict.event
                hit["event"] = cast(Any, ev)
        ctx: dict[str, Any] = ev.get("context") or {}
        props: dict[str, Any] = ev.get("properties") or {}
        page: dict[str, Any] = ctx["page"] if isinstance(ctx.get("page"), dict) else {}
        url = page.get("url") or (props.get("url") if ev["type"] == "page" else None)
        ref_url = page.get("referrer") or (props.get("referrer") if ev["type"] == "page" else None)
        url = url if isinstance(url, str) else None
        ref_url = ref_url if isinstance(ref_url, str) else None

        query = query_of(url)
        campaign_ctx = ctx.get("campaign") if isinstance(ctx.get("campaign"), dict) else None
        attribution = attribute(query, campaign_ctx, rules.campaign)
        camp = attribution.campaign
        ref = referrer.classify(ref_url, rules.internal_domains.get(hit["sourceId"], ()))
        chan = channel.classify(
            source=camp.get("source"),
            medium=camp.get("medium"),
            click_network=attribution.click_network,
            source_kind=referrer.source_kind(camp.get("source")),
            referrer_medium=ref.medium,
        )

        ua = ctx.get("userAgent") if isinstance(ctx.get("userAgent"), str) else d.get("userAgent")
        library = ctx.get("library", {}).get("name") if isinstance(ctx.get("library"), dict) else None
        if not ctx.get("userAgent") and library and library not in BROWSER_LIBRARIES:
            device: dict[str, Any] = {"type": "server"}
            bot_reason = None
        else:
            device, bot_reason = self._agent(ua or "")

        ip = ctx.get("ip") if isinstance(ctx.get("ip"), str) else d.get("clientIp")
        anon_ip = privacy.anonymize(ip)
        country = self._country(anon_ip) if anon_ip else None  # /24 and /48 keep the country
        if "ip" in ctx:
            ctx["ip"] = anon_ip  # the full address never leaves the enricher

        traits: list[TraitHintDoc] = []
        if bot_reason is None:
            fields = {**camp, "click_network": attribution.click_network, "channel": chan.value}
            hints = matching_traits(rules.rules, fields) + kv_traits(query, rules.kv)
            seen: set[str] = set()
            for name, value, rule_id in hints:
                if name not in seen:
                    seen.add(name)
                    traits.append({"name": name, "value": value, "ruleId": rule_id})

        click: ClickDoc | None = None
        if attribution.click_id and attribution.click_network:
            click = {"id": attribution.click_id, "network": attribution.click_network}
        enrichment: EnrichmentDoc = {
            "campaign": cast(CampaignDoc, camp),
            "click": click,
            "channel": chan.value,
            "referrer": {"url": ref.url, "host": ref.host, "medium": ref.medium, "source": ref.source},
            "device": cast(DeviceDoc, device),
            "bot": {"isBot": bot_reason is not None, "reason": bot_reason},
            "geo": {"country": country, "ip": anon_ip},
            "traits": traits,
        }
        if violations:
            enrichment["violations"] = [cast(Any, v.as_json()) for v in violations]
        out: EnrichedHitDoc = {
            "event": hit["event"],
            "receivedAt": hit["receivedAt"],
            "sourceId": hit["sourceId"],
            "userAgent": ua,
            "timestamp": hit["timestamp"],
            "enrichment": enrichment,
        }
        key = str(aid or uid).encode()
        value = orjson.dumps(out, option=_OPTS)
        return Emitted(key, value, bot_reason, chan.value, violations, planned, hit["sourceId"])


class RejectionGuard:
    """Stops a bad deploy or a poisoned topic from draining everything into the rejected
    topic: trips when more than ``max_ratio`` of the last ``window`` records (at least
    ``min_seen`` of them) were rejected."""

    def __init__(self, *, window: int = 1000, max_ratio: float = 0.5, min_seen: int = 200) -> None:
        self._recent: deque[bool] = deque(maxlen=window)
        self._rejected = 0
        self._max_ratio = max_ratio
        self._min_seen = min(min_seen, window)

    def record(self, rejected: bool) -> None:
        if len(self._recent) == self._recent.maxlen and self._recent[0]:
            self._rejected -= 1
        self._recent.append(rejected)
        self._rejected += rejected

    @property
    def ratio(self) -> float:
        return self._rejected / len(self._recent) if self._recent else 0.0

    @property
    def tripped(self) -> bool:
        return len(self._recent) >= self._min_seen and self.ratio > self._max_ratio
