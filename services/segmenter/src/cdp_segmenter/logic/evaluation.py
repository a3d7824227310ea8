"""After a profile changes: its segments, score, lifecycle stage and lead state. Pure:
``now`` (wall-clock seconds) comes in; the profile is updated in place and what must be
announced comes back.

Lead rules: a profile is a lead once it is known (has a valid email) and qualifies (score
at or over the threshold, or it meets one of the qualifying conditions, e.g. a contact
form). That emits
``lead.qualified`` once. Later meaningful changes (see ``lead_fingerprint``) emit
``lead.updated`` with the next version, at most once per ``update_interval_s``; a change
inside the interval is left ``pending`` and announced by the next evaluation after the
interval (the service runs one for pending leads in the background). A lead stays a lead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cdp_common import consent
from cdp_common.definitions.conditions import evaluate, sessions
from cdp_common.definitions.scoring import score
from cdp_common.definitions.segments import Definitions
from cdp_common.identity import normalize_email

QUALIFIED = "lead.qualified"
UPDATED = "lead.updated"


@dataclass(frozen=True, slots=True)
class Outcome:
    entered: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    lead_event: str | None = None  # QUALIFIED, UPDATED or None
    # purposes the person now allows or no longer allows: (purpose, "entered" | "left"),
    # announced as changes of the ``consent:<purpose>`` cohort
    consent: tuple[tuple[str, str], ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.left or self.lead_event or self.consent)


def email_of(p: Mapping[str, Any]) -> str | None:
    trait = p["traits"].get("email")
    return normalize_email(trait["value"]) if trait else None


def qualifying_reason(p: Mapping[str, Any], defs: Definitions, now: float) -> str | None:
    if p.get("score", 0) >= defs.policy.threshold:
        return "score"
    for qid, cond in defs.policy.qualifying:
        if evaluate(cond, p, now):
            return qid
    return None


def lead_fingerprint(p: Mapping[str, Any]) -> str:
    """What a receiving system cares about; ``lastSeen`` alone is not a change."""
    doc = [
        p.get("score"),
        p.get("segments"),
        p.get("stage"),
        sorted((k, v["value"]) for k, v in p["traits"].items() if isinstance(v["value"], (str, int, float, bool))),
        p["pageViews"],
        sessions(p),
        p["interactions"],
        len(p["forms"]),
        len(p["calculators"]),
        len(p["conversions"]),
        p["videosCompleted"],
        len(p["touchpoints"]),
        sorted((k, v["granted"]) for k, v in (p.get("consent") or {}).items()),
    ]
    return hashlib.sha1(orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)).hexdigest()[:16]


def consent_flips(p: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The purposes whose allowance changed since the last evaluation (kept in
    ``p["allowed"]``). Only a person who answered is announced: one who never did follows
    the defaults, which every consumer knows (``cdp_common.consent.DEFAULTS``)."""
    if not p.get("consent") and "allowed" not in p:
        return ()
    now_allowed = sorted(x for x in consent.PURPOSES if consent.allowed(p.get("consent"), x))
    before = set(p["allowed"]) if "allowed" in p else {x for x in consent.PURPOSES if consent.DEFAULTS[x]}
    p["allowed"] = now_allowed
    gained = [(x, "entered") for x in now_allowed if x not in before]
    lost = [(x, "left") for x in sorted(before - set(now_allowed))]
    return tuple(gained + lost)


def evaluate_profile(p: dict[str, Any], defs: Definitions, now: float) -> Outcome:
    old = set(p.get("segments") or [])
    segs = sorted(s.id for s in defs.segments if evaluate(s.condition, p, now))
    total, breakdown = score(defs.plan, p, now)
    p["segments"] = segs
    p["score"] = total
    p["scoreBreakdown"] = breakdown
    email = email_of(p)
    lead = p.get("lead")
    reason = qualifying_reason(p, defs, now) if email else None
    if lead or reason:
        p["stage"] = "mql"
    else:
        p["stage"] = "known" if (email or p.get("userId")) else "anonymous"
    event: str | None = None
    if lead is None:
        if reason:
            p["lead"] = {
                "version": 1,
                "qualifiedAt": now,
                "qualifiedBy": reason,
                "lastEmittedAt": now,
                "fingerprint": lead_fingerprint(p),
                "pending": False,
            }
            event = QUALIFIED
    else:
        fp = lead_fingerprint(p)
        if fp == lead["fingerprint"]:
            lead["pending"] = False
        elif now - lead["lastEmittedAt"] >= defs.policy.update_interval_s:
            lead.update(version=lead["version"] + 1, lastEmittedAt=now, fingerprint=fp, pending=False)
            event = UPDATED
        else:
            lead["pending"] = True
    new = set(segs)
    # when the profile entered each segment it is in (a merge keeps the earlier of the two
    # profiles' times; a segment it was in before entry times were kept has none)
    since = {k: v for k, v in (p.get("segmentsSince") or {}).items() if k in new}
    for sid in sorted(new - old):
        since.setdefault(sid, now)
    p["segmentsSince"] = since
    return Outcome(tuple(sorted(new - old)), tuple(sorted(old - new)), event, consent_flips(p))
