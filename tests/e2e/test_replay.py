"""Replay through the whole platform: a campaign rule was wrong, it is fixed, and `cdp replay`
of the affected range corrects the profiles without counting any event twice."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.e2e.conftest import CHROME, Pipeline, Visitor, cdp, post, until
from tests.helpers import TopicTail, end_offsets, group_caught_up

pytestmark = pytest.mark.integration
PEOPLE = 3


def _rules(run: str, role: str) -> dict[str, Any]:
    return {
        "rules": [
            {
                "id": f"replay-{run}",
                "when": {"source": "linkedin", "campaign": f"replay-{run}"},
                "set": {"role": role, "industry": "automotive"},
            }
        ]
    }


async def _rule_in_force(collector: Any, enriched: TopicTail, run: str, role: str) -> None:
    """A probe visitor from the campaign comes out of the enricher with ``role``."""

    async def enriched_with_role() -> bool:
        probe = Visitor(f"probe-{run}-{datetime.now(UTC).timestamp()}", datetime.now(UTC), CHROME)
        await post(collector, probe.page("/", f"?utm_source=linkedin&utm_campaign=replay-{run}"))
        got = await enriched.collect(lambda r: r["event"]["anonymousId"] == probe.aid, want=1, within=3, settle=0)
        return bool(got) and any(t["value"] == role for t in got[0]["enrichment"].get("traits") or [])

    await until(enriched_with_role, within=60, every=0.1)


async def _profile(pg: Any, aid: str) -> dict[str, Any] | None:
    row = await pg.fetchrow(
        "SELECT p.data FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.id = $1", f"anon:{aid}"
    )
    return orjson.loads(row["data"]) if row and row["data"] else None


async def test_a_fixed_rule_replayed_corrects_profiles_and_counts_nothing_twice(
    pipeline: Pipeline,
    collector: Any,
    pg: Any,
    settings: Any,
    kafka_bootstrap: str,
    enriched: TopicTail,
    tmp_path: Path,
) -> None:
    run = pipeline.run
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(_rules(run, "CFO")))  # the mistake: the ad aimed at CEOs
    cdp(settings, "rules", "apply", "-f", str(rules))
    await _rule_in_force(collector, enriched, run, "CFO")

    since = datetime.now(UTC) - timedelta(seconds=1)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    people = [Visitor(f"rp-{run}-{i}", t0, CHROME) for i in range(PEOPLE)]
    for v in people:
        v.page("/case-studies/automotive", f"?utm_source=linkedin&utm_medium=paid_social&utm_campaign=replay-{run}")
        v.page("/pricing").track("Scroll Depth", "/pricing", percent=50, path="/pricing")
        await post(collector, v)

    async def all_applied(role: str) -> list[dict[str, Any]] | None:
        got = [await _profile(pg, v.aid) for v in people]
        ok = all(p and p["traits"].get("role", {}).get("value") == role and p["interactions"] == 1 for p in got)
        return got if ok else None  # type: ignore[return-value]

    before = await until(lambda: all_applied("CFO"), within=60)
    assert all(p["pageViews"] == 2 and "automotive-ceos" not in (p.get("segments") or []) for p in before)

    rules.write_text(yaml.safe_dump(_rules(run, "CEO")))  # fixed
    cdp(settings, "rules", "apply", "-f", str(rules))
    await _rule_in_force(collector, enriched, run, "CEO")

    planned = cdp(settings, "replay", "--stage", "enricher", "--since", since.isoformat(), "--dry-run")
    assert "for the enricher to process again" in planned and "put back " not in planned.replace("will put back", "")
    raw_ends = await end_offsets(kafka_bootstrap, "cdp.hits.raw")
    enriched_ends = await end_offsets(kafka_bootstrap, "cdp.hits.enriched")
    done = cdp(settings, "replay", "--stage", "enricher", "--since", since.isoformat(), "--yes")
    sent = re.search(r"put back ([\d,]+) record\(s\) on cdp.hits.raw", done)
    assert sent and int(sent.group(1).replace(",", "")) >= PEOPLE * 3, done

    after = await until(lambda: all_applied("CEO"), within=60)
    # wait until both stages have processed every replayed record, then compare counters
    # (only the partitions the replay wrote to: the groups never commit one nothing reached)
    await until(lambda: group_caught_up(kafka_bootstrap, pipeline.enrichers.group, "cdp.hits.raw", raw_ends), within=60)
    await until(
        lambda: group_caught_up(kafka_bootstrap, pipeline.segmenter_group, "cdp.hits.enriched", enriched_ends),
        within=60,
    )
    after = [await _profile(pg, v.aid) for v in people]  # type: ignore[misc]
    for b, a in zip(before, after, strict=True):
        assert a is not None
        assert a["traits"]["role"] == {**b["traits"]["role"], "value": "CEO", "ruleId": f"replay-{run}"}
        for counter in ("pageViews", "interactions", "events", "pages", "windows", "channels", "touchpoints"):
            assert a[counter] == b[counter], counter
        assert "automotive-ceos" in a["segments"]

    # the segmenter says what the replay did: corrected, never applied again
    metrics = pipeline.segmenter_metrics()
    corrected = _metric(metrics, 'cdp_segmenter_records_total{outcome="replayed",reason="corrected"}')
    assert corrected >= PEOPLE, metrics


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
