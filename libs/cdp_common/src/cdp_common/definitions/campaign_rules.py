"""Campaign-to-profile rules: a visitor who arrives through a campaign gets profile traits.

A rule names conditions on campaign fields (all must hold) and the traits it implies::

    - id: linkedin-ceo-automotive
      when: {source: linkedin, campaign: "ceo-automotive*"}
      set: {role: CEO, industry: automotive}

Conditions are case-insensitive globs by default (``*``, ``?``, ``[...]``), or
``{regex: "..."}`` for a regular expression (searched, case-insensitive). Fields:
source, medium, campaign, content, term, click_network, channel. Every matching rule
contributes; when two set the same trait, the earlier rule (lower ``position``) wins.

Also a key-value convention inside one parameter, e.g. ``utm_content=role:ceo|industry:automotive``
(parameter and separators configurable); its hints carry the rule id ``kv:<parameter>``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FIELDS = ("source", "medium", "campaign", "content", "term", "click_network", "channel")
_TRAIT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RegexCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"not a valid regular expression: {e}") from e
        return v


class RuleDef(BaseModel):
    """A rule as written in YAML and stored in Postgres."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    description: str = ""
    when: dict[str, str | RegexCondition]
    set_: dict[str, str | int | float | bool] = Field(alias="set")
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("ids are 1-100 letters, digits, dot, dash or underscore")
        return v

    @field_validator("when")
    @classmethod
    def _fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("needs at least one condition")
        unknown = sorted(set(v) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; use {', '.join(FIELDS)}")
        return v

    @field_validator("set_")
    @classmethod
    def _traits(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not v:
            raise ValueError("sets no trait")
        bad = sorted(k for k in v if not _TRAIT.match(k))
        if bad:
            raise ValueError(f"trait names must be identifiers: {bad}")
        return v


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[RuleDef]

    @model_validator(mode="after")
    def _unique(self) -> RuleFile:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} appears twice")
            seen.add(r.id)
        return self


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    # (field, pattern, whole): globs must match the whole value, regexes are searched
    conditions: tuple[tuple[str, re.Pattern[str], bool], ...]
    traits: tuple[tuple[str, Any], ...]


def compile_rule(rule: RuleDef) -> CompiledRule:
    conditions = []
    for name, cond in rule.when.items():
        if isinstance(cond, RegexCondition):
            conditions.append((name, re.compile(cond.regex, re.IGNORECASE), False))
        else:
            conditions.append((name, re.compile(fnmatch.translate(cond), re.IGNORECASE), True))
    return CompiledRule(rule.id, tuple(conditions), tuple(rule.set_.items()))


def compile_rules(rules: Iterable[RuleDef]) -> tuple[CompiledRule, ...]:
    return tuple(compile_rule(r) for r in rules if r.enabled)


@dataclass(frozen=True, slots=True)
class KvConvention:
    parameter: str | None = "utm_content"  # None disables it
    pair_separator: str = "|"
    kv_separator: str = ":"


def matching_traits(rules: tuple[CompiledRule, ...], fields: Mapping[str, str | None]) -> list[tuple[str, Any, str]]:
    """``[(trait, value, rule_id)]`` from every rule whose conditions all hold; for a trait
    set by several rules, the first rule wins."""
    out: list[tuple[str, Any, str]] = []
    taken: set[str] = set()
    for rule in rules:
        ok = True
        for name, pattern, whole in rule.conditions:
            value = fields.get(name)
            if value is None:
                ok = False
                break
            matched = pattern.match(value) if whole else pattern.search(value)
            if not matched:
                ok = False
                break
        if ok:
            for trait, value in rule.traits:
                if trait not in taken:
                    taken.add(trait)
                    out.append((trait, value, rule.id))
    return out


def kv_traits(query: Mapping[str, str], convention: KvConvention) -> list[tuple[str, Any, str]]:
    """``utm_content=role:ceo|industry:automotive`` -> role=ceo, industry=automotive."""
    if not convention.parameter:
        return []
    raw = query.get(convention.parameter)
    if not raw or convention.kv_separator not in raw:
        return []
    rule_id = f"kv:{convention.parameter}"
    out = []
    for pair in raw.split(convention.pair_separator):
        key, sep, value = pair.partition(convention.kv_separator)
        key, value = key.strip().lower(), value.strip()
        if sep and value and _TRAIT.match(key):
            out.append((key, value[:255], rule_id))
    return out
