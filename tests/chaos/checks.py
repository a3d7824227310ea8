"""The invariants a fault run must end with, compared exactly, and the tables it prints.
Pure: the runner gathers what the platform holds and hands it here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.traffic import Person

DESTINATIONS = ("hubspot", "mautic", "webhook")


@dataclass
class FaultRow:
    fault: str
    at_s: float  # seconds into the run
    lasted_s: float
    events: int  # events made while it lasted (until recovery)
    retries: int  # client retries (503s, connection errors) meanwhile
    recovered_s: float | None  # from the fault's end until a fresh event reached its profile (or lead its destinations)
    leads: int = 0  # leads made while the fault lasted
    delivered: dict[str, int] = field(default_factory=dict)  # contacts that arrived meanwhile, per destination


@dataclass
class Held:
    """What the platform holds at the end."""

    raw_ids: set[str]
    profiles: dict[str, dict[str, Any] | None]  # anonymousId -> profile (None: no profile)
    contacts: dict[str, dict[str, Any]]  # destination -> email -> contact
    lead_versions: dict[str, int]  # email -> the lead's version in Postgres
    pending: set[str]  # emails whose lead update is still pending (rate-limited by policy)
    caught_up: dict[str, bool]  # consumer group -> committed to the end of its input
    rejected_ours: int  # the run's events in cdp.hits.rejected
    regressions: int  # the sandbox saw an older lead version after a newer one
    drops: dict[str, float] = field(default_factory=dict)  # segmenter drops by reason (counted)


@dataclass
class Check:
    name: str
    expected: str
    got: str
    ok: bool


def evaluate(accepted: set[str], refused: int, people: list[Person], held: Held) -> list[Check]:
    checks: list[Check] = []
    missing = accepted - held.raw_ids
    checks.append(
        Check(
            "every event answered 200 is in cdp.hits.raw",
            f"{len(accepted):,} of {len(accepted):,}",
            f"{len(accepted) - len(missing):,} (missing {len(missing):,})",
            not missing,
        )
    )
    checks.append(Check("no valid batch refused with a 4xx", "0", str(refused), refused == 0))
    lost = doubled = absent = 0
    for p in people:
        prof = held.profiles.get(p.anonymous_id)
        if prof is None:
            absent += 1 if (p.pages or p.tracks) else 0
            continue
        got = (prof.get("pageViews", 0), prof.get("interactions", 0))
        want = (p.pages, p.tracks)
        lost += got[0] < want[0] or got[1] < want[1]
        doubled += got[0] > want[0] or got[1] > want[1]
    total = sum(p.pages + p.tracks for p in people)
    checks.append(
        Check(
            "profile counters equal events answered 200, per person",
            f"{len(people)} people, {total:,} events; 0 lost, 0 doubled",
            f"{lost} with loss, {doubled} with doubles, {absent} without a profile",
            lost == doubled == absent == 0,
        )
    )
    leads = sorted(p.email for p in people if p.email and p.converted)
    for dest in DESTINATIONS:
        have = held.contacts.get(dest, {})
        arrived = [e for e in leads if e in have]
        stale = [
            e
            for e in arrived
            if e not in held.pending and (have[e].get("versions") or [None])[-1] != held.lead_versions.get(e)
        ]
        checks.append(
            Check(
                f"every lead at {dest} once, latest version",
                f"{len(leads)} contacts",
                f"{len(arrived)} ({len(leads) - len(arrived)} missing, {len(stale)} stale)",
                len(arrived) == len(leads) and not stale,
            )
        )
    checks.append(Check("no older lead version after a newer one", "0", str(held.regressions), held.regressions == 0))
    behind = sorted(g for g, ok in held.caught_up.items() if not ok)
    checks.append(Check("consumer lag back to 0", "all groups", ", ".join(behind) or "all groups", not behind))
    checks.append(Check("none of the run's events rejected", "0", str(held.rejected_ours), held.rejected_ours == 0))
    odd = {k: v for k, v in held.drops.items() if k != "duplicate" and v}
    checks.append(
        Check(
            "segmenter drops only redelivered duplicates",
            "duplicate only",
            ", ".join(f"{k} {v:g}" for k, v in sorted(held.drops.items()) if v) or "none",
            not odd,
        )
    )
    return checks


def fault_table(rows: list[FaultRow]) -> str:
    lines = [
        "| fault | at | lasted | events made | client retries | leads made | contacts arrived meanwhile "
        "(HubSpot/Mautic/webhook) | recovered in |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rec = f"{r.recovered_s:.1f} s" if r.recovered_s is not None else "NOT RECOVERED"
        arrived = "/".join(str(r.delivered.get(d, 0)) for d in DESTINATIONS)
        lines.append(
            f"| {r.fault} | {r.at_s:.0f} s | {r.lasted_s:.1f} s | {r.events:,} | {r.retries:,} | {r.leads} | "
            f"{arrived} | {rec} |"
        )
    return "\n".join(lines)


def check_table(checks: list[Check]) -> str:
    lines = ["| invariant | expected | got | |", "|---|---|---|---|"]
    lines += [f"| {c.name} | {c.expected} | {c.got} | {'ok' if c.ok else 'VIOLATED'} |" for c in checks]
    return "\n".join(lines)


def metric(text: str, name: str, **labels: str) -> dict[str, float]:
    """A counter's values by its remaining label, from Prometheus text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith(name + "{") or not all(f'{k}="{v}"' in line for k, v in labels.items()):
            continue
        labels_part, value = line.rsplit(" ", 1)
        rest = [kv for kv in labels_part[len(name) + 1 : -1].split(",") if kv.split("=")[0] not in labels]
        key = ",".join(kv.split("=", 1)[1].strip('"') for kv in rest)
        out[key] = out.get(key, 0.0) + float(value)
    return out


def summary_counts(checks: list[Check]) -> Mapping[str, int]:
    return {"ok": sum(c.ok for c in checks), "violated": sum(not c.ok for c in checks)}
