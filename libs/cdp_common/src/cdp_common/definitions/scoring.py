"""Scoring plans: the sum of the points of every rule whose condition holds, with a
breakdown of which rules contributed (Unomi's model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cdp_common.definitions.conditions import evaluate, validate


@dataclass(frozen=True, slots=True)
class ScoreRule:
    id: str
    condition: Mapping[str, Any]
    points: float


def parse_plan(rules: Sequence[Mapping[str, Any]]) -> list[ScoreRule]:
    out = []
    for i, r in enumerate(rules):
        if not isinstance(r.get("id"), str) or not isinstance(r.get("points"), (int, float)):
            raise ValueError(f"rules[{i}]: needs an id and numeric points")
        validate(r.get("condition"), f"rules[{i}].condition")
        out.append(ScoreRule(r["id"], r["condition"], float(r["points"])))
    return out


def score(plan: Sequence[ScoreRule], profile: Mapping[str, Any], now: float) -> tuple[float, list[dict[str, Any]]]:
    hits = [r for r in plan if evaluate(r.condition, profile, now)]
    return sum(r.points for r in hits), [{"rule": r.id, "points": r.points} for r in hits]
