"""Tracking plans: per source, the planned events with a JSON Schema for their properties
(and one for identify traits), and what a violation does: ``allow`` (flag it), ``omit``
(drop the offending properties, flag the rest) or ``block`` (reject the event).

Violations are typed as RudderStack reports them: ``unplanned_event``, ``required_missing``,
``datatype_mismatch``, ``additional_property``, ``invalid_value``. Pure: a plan document in,
a compiled plan out; an event in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema_rs

Mode = Literal["allow", "omit", "block"]
MODES: tuple[Mode, ...] = ("allow", "omit", "block")
VIOLATION_TYPES = ("unplanned_event", "required_missing", "datatype_mismatch", "additional_property", "invalid_value")
_DOC_FIELDS = {"source", "violations", "allow_unplanned", "events", "identify", "description"}


class PlanError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Violation:
    type: str
    field: str  # "properties.yearlySavings", "traits.email", "event"
    message: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Plan:
    source: str  # the source's name
    version: int
    mode: Mode
    allow_unplanned: bool
    events: Mapping[str, Any]  # event name -> compiled validator of its properties (None: anything)
    traits: Any = None  # compiled validator of identify traits, or None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    violations: tuple[Violation, ...] = ()
    blocked: bool = False
    # the event as it goes on when it changed (properties omitted in omit mode); None when
    # it passes as it is, or is blocked
    event: dict[str, Any] | None = None


PASS = Verdict()


def _compile(schema: Any, where: str) -> Any:
    if schema is None:
        return None
    if not isinstance(schema, dict):
        raise PlanError(f"{where}: must be a JSON Schema (a mapping)")
    try:
        jsonschema_rs.meta.validate(schema)
        return jsonschema_rs.validator_for(schema)
    except (jsonschema_rs.ValidationError, ValueError) as e:
        raise PlanError(f"{where}: not a valid JSON Schema: {e}") from e


def parse_plan(doc: Any, version: int = 1) -> Plan:
    """A plan document (YAML or JSON, parsed) -> a compiled plan; ``PlanError`` names what
    is wrong."""
    if not isinstance(doc, dict):
        raise PlanError("a plan is a mapping with source, violations and events")
    unknown = sorted(set(doc) - _DOC_FIELDS)
    if unknown:
        raise PlanError(f"unknown field(s) {unknown}; use {sorted(_DOC_FIELDS)}")
    source = doc.get("source")
    if not isinstance(source, str) or not source:
        raise PlanError("source: the source's name is required")
    mode = doc.get("violations", "allow")
    if mode not in MODES:
        raise PlanError(f"violations: one of {', '.join(MODES)}")
    allow_unplanned = doc.get("allow_unplanned", False)
    if not isinstance(allow_unplanned, bool):
        raise PlanError("allow_unplanned: true or false")
    events_doc = doc.get("events") or {}
    if not isinstance(events_doc, dict):
        raise PlanError("events: a mapping of event name to {properties: JSON Schema}")
    events: dict[str, Any] = {}
    for name, spec in events_doc.items():
        if not isinstance(name, str) or not name:
            raise PlanError("events: names must be non-empty strings")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"properties", "description"}:
            raise PlanError(f"events.{name}: {{properties: JSON Schema, description}}")
        events[name] = _compile(spec.get("properties"), f"events.{name}.properties")
    identify = doc.get("identify") or {}
    if not isinstance(identify, dict) or set(identify) - {"traits"}:
        raise PlanError("identify: {traits: JSON Schema}")
    return Plan(
        source=source,
        version=version,
        mode=mode,
        allow_unplanned=allow_unplanned,
        events=events,
        traits=_compile(identify.get("traits"), "identify.traits"),
        document=doc,
    )


def _violations(validator: Any, value: Any, prefix: str) -> tuple[list[Violation], set[str]]:
    """Typed violations of one object, and the top-level keys to omit."""
    out: list[Violation] = []
    offending: set[str] = set()
    for e in validator.iter_errors(value if isinstance(value, dict) else {}):
        kind = e.kind.name
        path = [str(p) for p in e.instance_path]
        where = ".".join([prefix, *path]) if path else prefix
        if kind == "required":
            out.append(Violation("required_missing", f"{prefix}.{e.kind.property}", e.message))
        elif kind == "additionalProperties":
            for extra in e.kind.unexpected:
                out.append(Violation("additional_property", f"{where}.{extra}", f"{extra!r} is not in the plan"))
                if not path:
                    offending.add(str(extra))
        elif kind == "falseSchema" and path:
            out.append(Violation("additional_property", where, f"{path[-1]!r} is not in the plan"))
        elif kind == "type":
            out.append(Violation("datatype_mismatch", where, e.message))
        else:
            out.append(Violation("invalid_value", where, e.message))
        if path:
            offending.add(path[0])
    return out, offending


def check(plan: Plan, event: Mapping[str, Any]) -> Verdict:
    """What the plan makes of one event (track events and identify traits are planned;
    other types pass unchecked)."""
    kind = event.get("type")
    if kind == "track":
        name = event.get("event")
        if not isinstance(name, str) or name not in plan.events:
            if plan.allow_unplanned:
                return PASS
            v = (Violation("unplanned_event", "event", f"{name!r} is not in the plan for {plan.source}"),)
            return Verdict(v, blocked=plan.mode == "block")
        validator, holder = plan.events[name], "properties"
    elif kind == "identify" and plan.traits is not None:
        validator, holder = plan.traits, "traits"
    else:
        return PASS
    value = event.get(holder)
    if validator is None or validator.is_valid(value if isinstance(value, dict) else {}):
        return PASS  # the common case: no copy, no error objects
    found, offending = _violations(validator, value, holder)
    if not found:
        return PASS
    if plan.mode == "block":
        return Verdict(tuple(found), blocked=True)
    if plan.mode == "omit" and offending and isinstance(value, dict):
        out = dict(event)
        out[holder] = {k: v for k, v in value.items() if k not in offending}
        return Verdict(tuple(found), event=out)
    return Verdict(tuple(found))
