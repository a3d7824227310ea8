"""Every stage's refusals in one run through the whole platform: each rejected record is
listable by `cdp rejects list`, as many per stage as were refused, and as many as the
processors' rejected metrics."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cdp_common.sources import Source, SourceStore
from tests.e2e.conftest import CHROME, Pipeline, cdp, until

pytestmark = pytest.mark.integration
COLLECTOR, ENRICHER, SEGMENTER = 2, 3, 4


@pytest.fixture
async def planned_source(migrated_pool: Any, settings: Any, tmp_path: Path) -> Source:
    """A source whose plan blocks unplanned events (created before the pipeline starts, so
    the enricher loads the plan with its rules)."""
    src = await SourceStore(migrated_pool).add(f"rejects-{uuid.uuid4().hex[:8]}")
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"source": src.name, "violations": "block", "events": {"Signed Up": {}}}))
    cdp(settings, "plans", "apply", "-f", str(plan))
    return src


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_every_stages_rejects_are_listed_as_many_as_each_stage_counted(
    planned_source: Source, pipeline: Pipeline, collector: Any, settings: Any
) -> None:
    src = planned_source
    # a browser's user agent: the enricher marks python-httpx as a bot, which the segmenter drops
    async with httpx.AsyncClient(base_url=collector.url, timeout=10, headers={"user-agent": CHROME}) as http:

        async def known() -> bool:  # the collector refreshes its sources every few seconds
            r = await http.post("/v1/page", auth=(src.write_key, ""), json={"anonymousId": "source-probe"})
            return r.status_code == 200

        await until(known, within=30, every=0.2)
        for _ in range(COLLECTOR):  # a pixel track without an event name: refused at the edge, stored as a reject
            assert (
                await http.get("/pixel/v1/track", params={"writeKey": src.write_key, "anonymousId": "x"})
            ).status_code == 200
        for i in range(ENRICHER):  # not in the plan: blocked by the enricher
            r = await http.post(
                "/v1/track", auth=(src.write_key, ""), json={"anonymousId": f"b{i}", "event": "Coupon Copied"}
            )
            assert r.status_code == 200
        for _ in range(SEGMENTER):  # a placeholder id: no one to apply it to
            r = await http.post(
                "/v1/track", auth=(src.write_key, ""), json={"anonymousId": "anonymous", "event": "Signed Up"}
            )
            assert r.status_code == 200

    async def listed() -> dict[str, int] | None:
        out = cdp(settings, "rejects", "list", "--source", src.name, "--since", "10m")
        got = {
            f"{stage}/{reason}": int(n) for stage, reason, n in re.findall(r"(\w+)/(\w+) (\d+)", out.splitlines()[-1])
        }
        by_stage = {
            s: sum(n for k, n in got.items() if k.startswith(s + "/")) for s in ("collector", "enricher", "segmenter")
        }
        return got if by_stage == {"collector": COLLECTOR, "enricher": ENRICHER, "segmenter": SEGMENTER} else None

    got = await until(listed, within=60)
    assert got["enricher/tracking_plan"] == ENRICHER and got["segmenter/no_usable_id"] == SEGMENTER, got
    # the processors' own counters; the collector's are kept per worker (make test runs two,
    # and a scrape reaches one: docs/collector.md), so its listed count is held to what was sent
    enricher = _metric(pipeline.enrichers.metrics(0), "cdp_stream_rejected_total", stage="enricher")
    segmenter = _metric(pipeline.segmenter_metrics(), "cdp_stream_rejected_total", stage="segmenter")
    assert (enricher, segmenter) == (ENRICHER, SEGMENTER)
