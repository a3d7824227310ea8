"""Tracking plans through the real enricher on real Kafka: a plan that blocks, one that
omits, one that allows; each event's fate and the violation counts asserted exactly."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp_common.sources import SourceStore
from tests.helpers import ROOT, TopicTail
from tests.integration.enricher.conftest import Enrichers, raw_hit, send

pytestmark = pytest.mark.integration

SCHEMA = {
    "type": "object",
    "required": ["yearlySavings"],
    "properties": {"yearlySavings": {"type": "number"}, "calculator": {"enum": ["benefit", "roi"]}},
    "additionalProperties": False,
}


def cdp(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args],
        env={"CDP_PG_DSN": settings.pg_dsn.get_secret_value(), "CDP_CONFIG": "/dev/null", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


@pytest.fixture
def enricher(settings: Any, kafka_bootstrap: str, migrated_pool: Any) -> Iterator[Enrichers]:
    e = Enrichers(settings, kafka_bootstrap, "confluent")
    yield e
    e.stop()


def _events(run: str, source_id: str) -> list[dict[str, Any]]:
    def track(i: int, name: str, **props: Any) -> dict[str, Any]:
        return raw_hit(f"{run}-{i}", source_id=source_id, type="track", event=name, properties=props)

    return [
        track(0, "Calculator Completed", yearlySavings=156000, calculator="benefit"),  # fits the plan
        track(1, "Calculator Completed", yearlySavings="lots", colour="red"),  # datatype + additional
        track(2, "Calculator Completed", calculator="roi"),  # required missing
        track(3, "Coupon Copied", code="X"),  # unplanned
        raw_hit(f"{run}-4", source_id=source_id),  # a page: not planned, passes
    ]


async def test_block_omit_and_allow_plans_through_the_enricher(
    settings: Any,
    migrated_pool: Any,
    tmp_path: Path,
    enricher: Enrichers,
    producer: Any,
    enriched: TopicTail,
    rejected: TopicTail,
) -> None:
    run = uuid.uuid4().hex[:8]
    sources = {}
    for mode in ("block", "omit", "allow"):
        src = await SourceStore(migrated_pool).add(f"plan-{mode}-{run}")
        plan = {"source": src.name, "violations": mode, "events": {"Calculator Completed": {"properties": SCHEMA}}}
        path = tmp_path / f"{mode}.yaml"
        path.write_text(yaml.safe_dump(plan))
        done = cdp(settings, "plans", "apply", "-f", str(path))
        assert done.returncode == 0 and "version 1" in done.stdout, done.stderr
        again = cdp(settings, "plans", "apply", "-f", str(path))
        assert "unchanged at version 1" in again.stdout
        sources[mode] = src.id

    enricher.start(CDP_ENRICHER_RULES_REFRESH_S="1")
    await enricher.wait_consuming(producer, enriched)
    for mode, sid in sources.items():
        await send(producer, _events(f"{run}-{mode}", sid))

    out = await enriched.collect(lambda r: r["event"]["anonymousId"].startswith(run), want=5 + 5 + 2, within=30)
    by = {r["event"]["anonymousId"]: r for r in out}

    # allow: every event goes on, violations flagged, properties untouched
    allow = {i: by.get(f"{run}-allow-{i}") for i in range(5)}
    assert all(allow.values())
    assert "violations" not in allow[0]["enrichment"] and "violations" not in allow[4]["enrichment"]
    assert {(v["type"], v["field"]) for v in allow[1]["enrichment"]["violations"]} == {
        ("datatype_mismatch", "properties.yearlySavings"),
        ("additional_property", "properties.colour"),
    }
    assert allow[1]["event"]["properties"] == {"yearlySavings": "lots", "colour": "red"}
    assert [v["type"] for v in allow[2]["enrichment"]["violations"]] == ["required_missing"]
    assert [v["type"] for v in allow[3]["enrichment"]["violations"]] == ["unplanned_event"]

    # omit: the offending properties are gone, the rest goes on flagged
    omit = {i: by.get(f"{run}-omit-{i}") for i in range(5)}
    assert all(omit.values())
    assert omit[1]["event"]["properties"] == {} and len(omit[1]["enrichment"]["violations"]) == 2
    assert omit[0]["event"]["properties"] == {"yearlySavings": 156000, "calculator": "benefit"}

    # block: only what fits passes; the rest is in the rejected topic with its violations
    assert {k for k in by if k.startswith(f"{run}-block-")} == {f"{run}-block-0", f"{run}-block-4"}
    blocked = await rejected.collect(
        lambda r: r.get("reason") == "tracking_plan" and r.get("sourceId") == sources["block"], want=3, within=15
    )
    assert len(blocked) == 3 and all(r["stage"] == "enricher" for r in blocked)
    assert any("unplanned_event" in r["message"] for r in blocked)

    # every rejected record is listable, and as many as the stage counted
    metrics = enricher.metrics(0)
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("cdp_stream_rejected_total{") and 'reason="tracking_plan"' in line
    )
    listed = cdp(
        settings, "rejects", "list", "--source", f"plan-block-{run}", "--reason", "tracking_plan", "--since", "10m"
    )
    assert counted == 3 and "enricher/tracking_plan 3" in listed.stdout, (counted, listed.stdout, listed.stderr)

    # the counts, exactly, per source, event, type and action
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("cdp_enricher_plan_violations_total{") and any(s in line for s in sources.values()):
            labels, value = line.rsplit(" ", 1)
            counts[labels] = float(value)

    def n(mode: str, event: str, kind: str, action: str) -> float:
        key = f'cdp_enricher_plan_violations_total{{action="{action}",event="{event}",source="{sources[mode]}",type="{kind}"}}'
        return counts.get(key, 0.0)

    expected = {"block": "blocked", "omit": "omitted", "allow": "flagged"}
    for mode, action in expected.items():
        assert n(mode, "Calculator Completed", "datatype_mismatch", action) == 1
        assert n(mode, "Calculator Completed", "additional_property", action) == 1
        assert n(mode, "Calculator Completed", "required_missing", action) == 1
        assert n(mode, "(unplanned)", "unplanned_event", action) == 1
    assert sum(counts.values()) == 12, counts


async def test_blocked_events_are_listed_and_resent_after_the_plan_is_fixed(
    settings: Any,
    migrated_pool: Any,
    tmp_path: Path,
    enricher: Enrichers,
    producer: Any,
    enriched: TopicTail,
) -> None:
    """The daily loop of a tracking plan: a renamed event is blocked; `cdp rejects list`
    shows it; the plan learns the new name; `cdp rejects resend` sends the originals again
    and they come out enriched, once."""
    run = uuid.uuid4().hex[:8]
    src = await SourceStore(migrated_pool).add(f"plan-fix-{run}")
    plan = {"source": src.name, "violations": "block", "events": {"Calculator Completed": {}}}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    assert cdp(settings, "plans", "apply", "-f", str(path)).returncode == 0
    enricher.start(CDP_ENRICHER_RULES_REFRESH_S="1")
    await enricher.wait_consuming(producer, enriched)
    renamed = [
        raw_hit(f"{run}-{i}", source_id=src.id, type="track", event="Calculator Done", properties={"i": i})
        for i in range(4)
    ]
    await send(producer, renamed)
    assert await enriched.collect(lambda r: r["event"]["anonymousId"].startswith(run), want=1, within=3, settle=0) == []

    def listed() -> subprocess.CompletedProcess[str]:
        return cdp(settings, "rejects", "list", "--source", src.name, "--reason", "tracking_plan", "--since", "10m")

    env_ok = listed()
    assert env_ok.returncode == 0, env_ok.stderr
    lines = [ln for ln in env_ok.stdout.splitlines() if "tracking_plan" in ln and src.id in ln]
    assert len(lines) == 4 and "enricher/tracking_plan 4" in env_ok.stdout, env_ok.stdout
    shown = cdp(settings, "rejects", "show", lines[0].split()[2])
    assert shown.returncode == 0 and "Calculator Done" in shown.stdout and "unplanned_event" in shown.stdout

    plan["events"]["Calculator Done"] = {}
    path.write_text(yaml.safe_dump(plan))
    assert "version 2" in cdp(settings, "plans", "apply", "-f", str(path)).stdout
    await _until_enforced(producer, enriched, src.id, run)

    asked = cdp(settings, "rejects", "resend", "--source", src.name, "--reason", "tracking_plan", "--since", "10m")
    assert asked.returncode == 2 and "--yes" in asked.stderr  # not a terminal: it will not guess
    sent = cdp(
        settings, "rejects", "resend", "--source", src.name, "--reason", "tracking_plan", "--since", "10m", "--yes"
    )
    # the four, and any probe the old version blocked while the new one was on its way
    resent = re.search(r"^sent (\d+) to cdp.hits.raw", sent.stdout, re.M)
    assert sent.returncode == 0 and resent and int(resent.group(1)) >= 4, sent.stdout + sent.stderr
    got = await enriched.collect(lambda r: r["event"]["anonymousId"].startswith(f"{run}-"), want=4, within=30)
    assert sorted(r["event"]["properties"]["i"] for r in got) == [0, 1, 2, 3]
    assert {r["event"]["messageId"] for r in got} == {h["event"]["messageId"] for h in renamed}


async def _until_enforced(producer: Any, enriched: TopicTail, source_id: str, run: str) -> None:
    """Until the enricher has the new version: a probe with the new name comes out."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    n = 0
    while loop.time() < deadline:
        n += 1
        probe = raw_hit(f"probe-{run}-{n}", source_id=source_id, type="track", event="Calculator Done")
        await send(producer, [probe])
        if await enriched.collect(
            lambda r, a=probe["event"]["anonymousId"]: r["event"]["anonymousId"] == a, want=1, within=2, settle=0
        ):
            return
    raise AssertionError("the enricher did not pick up the plan's new version")
