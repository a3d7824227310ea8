"""Segment and scoring definitions: the YAML file a marketer applies, validated into
what the evaluator needs. Pure: parsing and validation only.

    segments:
      - id: automotive-ceos
        name: Automotive CEOs
        condition: {all: [{trait: {name: role, value: CEO}}, {trait: {name: industry, value: automotive}}]}
    scoring:
      threshold: 50                  # the MQL threshold
      rules:
        - {id: pricing, points: 15, condition: {page: {path: "/pricing*"}}}
    leads:
      qualifying:                           # a known profile meeting one of these qualifies at once
        - {id: contact-form, condition: {form: "contact*"}}
      update_interval_s: 300                # lead.updated at most this often per profile
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp_common.definitions.conditions import ConditionError, validate
from cdp_common.definitions.scoring import ScoreRule, parse_plan

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class DefinitionError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SegmentDef:
    id: str
    name: str
    condition: Mapping[str, Any]
    description: str = ""


DEFAULT_QUALIFYING: tuple[tuple[str, Mapping[str, Any]], ...] = (("contact-form", {"form": "contact*"}),)


@dataclass(frozen=True, slots=True)
class LeadPolicy:
    threshold: float = 50.0
    # (id, condition): a known profile meeting one qualifies whatever its score
    qualifying: tuple[tuple[str, Mapping[str, Any]], ...] = DEFAULT_QUALIFYING
    update_interval_s: float = 300.0

    def qualifying_json(self) -> list[dict[str, Any]]:
        return [{"id": i, "condition": c} for i, c in self.qualifying]


@dataclass(frozen=True, slots=True)
class Definitions:
    segments: tuple[SegmentDef, ...] = ()
    plan: tuple[ScoreRule, ...] = ()
    policy: LeadPolicy = field(default_factory=LeadPolicy)

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that decides membership, score or qualification does."""
        doc = {
            "segments": [[s.id, s.condition] for s in self.segments],
            "plan": [[r.id, r.condition, r.points] for r in self.plan],
            "policy": [self.policy.threshold, self.policy.qualifying_json()],
        }
        return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def parse_segment(raw: Any, where: str) -> SegmentDef:
    if not isinstance(raw, dict):
        raise DefinitionError(f"{where}: must be an object with id, name and condition")
    sid = raw.get("id")
    if not isinstance(sid, str) or not _ID.match(sid):
        raise DefinitionError(f"{where}.id: lowercase letters, digits, '-', '_' or '.', at most 64 (got {sid!r})")
    unknown = set(raw) - {"id", "name", "description", "condition"}
    if unknown:
        raise DefinitionError(f"{where}: unknown field(s) {sorted(unknown)}")
    try:
        validate(raw.get("condition"), f"{where}.condition")
    except ConditionError as e:
        raise DefinitionError(str(e)) from e
    return SegmentDef(sid, str(raw.get("name") or sid), raw["condition"], str(raw.get("description") or ""))


def parse_qualifying(raw: Any) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    if not isinstance(raw, list):
        raise DefinitionError("leads.qualifying: must be a list of {id, condition}")
    out = []
    for i, q in enumerate(raw):
        where = f"leads.qualifying[{i}]"
        if not isinstance(q, dict) or not isinstance(q.get("id"), str) or not q["id"]:
            raise DefinitionError(f"{where}: needs an id and a condition")
        try:
            validate(q.get("condition"), f"{where}.condition")
        except ConditionError as e:
            raise DefinitionError(str(e)) from e
        out.append((q["id"], q["condition"]))
    return tuple(out)


def parse_file(doc: Any) -> tuple[list[SegmentDef], list[ScoreRule] | None, LeadPolicy | None]:
    """A parsed YAML document -> segments, scoring rules (None: the file has no scoring
    section) and lead policy (None: no scoring/leads settings in the file)."""
    if not isinstance(doc, dict):
        raise DefinitionError("the file must be a mapping with segments, scoring and/or leads")
    unknown = set(doc) - {"segments", "scoring", "leads"}
    if unknown:
        raise DefinitionError(f"unknown section(s) {sorted(unknown)}; use segments, scoring, leads")
    raw_segments = doc.get("segments") or []
    if not isinstance(raw_segments, list):
        raise DefinitionError("segments: must be a list")
    segments = [parse_segment(s, f"segments[{i}]") for i, s in enumerate(raw_segments)]
    dup = sorted({s.id for s in segments if sum(1 for o in segments if o.id == s.id) > 1})
    if dup:
        raise DefinitionError(f"segments: duplicate id(s) {dup}")

    plan: list[ScoreRule] | None = None
    policy: LeadPolicy | None = None
    scoring = doc.get("scoring")
    leads = doc.get("leads")
    if scoring is not None or leads is not None:
        scoring = scoring or {}
        leads = leads or {}
        if not isinstance(scoring, dict) or not isinstance(leads, dict):
            raise DefinitionError("scoring and leads: must be mappings")
        bad = {f"scoring.{k}" for k in set(scoring) - {"threshold", "rules"}}
        bad |= {f"leads.{k}" for k in set(leads) - {"qualifying", "update_interval_s"}}
        if bad:
            raise DefinitionError(f"unknown field(s) {sorted(bad)}")
        rules = scoring.get("rules") or []
        if not isinstance(rules, list):
            raise DefinitionError("scoring.rules: must be a list")
        try:
            plan = parse_plan(rules)
        except ValueError as e:
            raise DefinitionError(f"scoring.{e}") from e
        ids = [r.id for r in plan]
        if len(ids) != len(set(ids)):
            raise DefinitionError("scoring.rules: duplicate rule ids")
        default = LeadPolicy()
        threshold = scoring.get("threshold", default.threshold)
        interval = leads.get("update_interval_s", default.update_interval_s)
        qualifying = parse_qualifying(leads.get("qualifying", default.qualifying_json()))
        if not isinstance(threshold, (int, float)) or threshold <= 0:
            raise DefinitionError("scoring.threshold: must be a positive number")
        if not isinstance(interval, (int, float)) or interval < 0:
            raise DefinitionError("leads.update_interval_s: must be a number of seconds >= 0")
        policy = LeadPolicy(float(threshold), qualifying, float(interval))
    return segments, plan, policy
