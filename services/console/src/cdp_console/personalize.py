"""Content variants per slot: the first rule whose condition holds for the visitor gives
the variant, else the slot's default. Pure. A rule's ``when`` is ``{segment: ID}``,
``{trait: {name, op, value}}`` (the segment language's trait comparison), or ``{stage: mql}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdp_common.definitions.conditions import compare


class SlotError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Slot:
    id: str
    rules: tuple[tuple[Mapping[str, Any], str], ...]
    default: str = "default"


def parse_slot(slot_id: str, rules: Any, default: Any) -> Slot:
    if not isinstance(rules, list):
        raise SlotError("rules: must be a list of {when, variant}")
    out = []
    for i, r in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("variant"), str) or not r["variant"]:
            raise SlotError(f"{where}: needs a variant (a non-empty string)")
        when = r.get("when")
        if not isinstance(when, dict) or len(when) != 1:
            raise SlotError(f"{where}.when: one of segment, trait, stage")
        ((k, v),) = when.items()
        if k in ("segment", "stage") and not (isinstance(v, str) and v):
            raise SlotError(f"{where}.when.{k}: must be a non-empty string")
        if k == "trait" and not (isinstance(v, dict) and isinstance(v.get("name"), str)):
            raise SlotError(f"{where}.when.trait: needs a name")
        if k not in ("segment", "trait", "stage"):
            raise SlotError(f"{where}.when: unknown condition {k!r}; use segment, trait or stage")
        out.append((when, r["variant"]))
    if not isinstance(default, str) or not default:
        raise SlotError("default: must be a non-empty string")
    return Slot(slot_id, tuple(out), default)


def _holds(when: Mapping[str, Any], summary: Mapping[str, Any]) -> bool:
    ((k, v),) = when.items()
    if k == "segment":
        return v in (summary.get("segments") or [])
    if k == "stage":
        return bool(summary.get("stage") == v)
    traits = summary.get("traits") or {}
    return compare(v.get("op", "eq"), traits.get(v["name"]), v.get("value"))


def choose(slots: Sequence[Slot], summary: Mapping[str, Any] | None) -> dict[str, str]:
    """Each slot's variant for the visitor: the first rule that holds, else the default; a
    visitor who refused personalization (``personalize: false``) gets every default."""
    out = {}
    personal = bool(summary) and summary.get("personalize", True) is not False  # type: ignore[union-attr]
    for slot in slots:
        variant = slot.default
        if personal and summary:
            for when, v in slot.rules:
                if _holds(when, summary):
                    variant = v
                    break
        out[slot.id] = variant
    return out
