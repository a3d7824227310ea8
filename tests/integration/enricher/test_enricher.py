"""The enricher as a running faust worker: rules from the CLI, scaling, crashes, bad input."""

from __future__ import annotations

import asyncio
import base64
import itertools
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.helpers import ROOT, TopicTail
from tests.integration.enricher.conftest import Enrichers, by_anon, raw_hit, send

pytestmark = pytest.mark.integration


def cdp(*args: str, settings) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {
        "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
        "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )


async def test_a_rule_applied_with_the_cli_changes_the_next_hits_within_10s(
    enrichers: Enrichers,
    producer,
    enriched: TopicTail,
    settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    enrichers.start()
    await enrichers.wait_consuming(producer, enriched)
    campaign = f"t{uuid.uuid4().hex[:8]}-ceo-auto"  # matches no other rule in the shared database
    url = (
        f"https://www.example.com/case?utm_source=linkedin&utm_medium=paid_social&utm_campaign={campaign}&li_fat_id=x1"
    )

    run = f"rule-{uuid.uuid4().hex[:6]}"
    await send(producer, [raw_hit(f"{run}-before", url=url)])
    [before] = await enriched.collect(by_anon(f"{run}-before"), want=1)
    assert before["enrichment"]["traits"] == []
    assert before["enrichment"]["channel"] == "Paid Social"

    rule_id = f"test-{uuid.uuid4().hex[:6]}"
    (tmp_path / "rules.yaml").write_text(
        f"rules:\n  - id: {rule_id}\n    when: {{source: linkedin, campaign: '{campaign[:9]}*'}}\n"
        f"    set: {{role: CEO, industry: automotive}}\n"
    )
    applied = cdp("rules", "apply", "-f", str(tmp_path / "rules.yaml"), settings=settings)
    assert applied.returncode == 0, applied.stderr
    assert f"created   {rule_id}" in applied.stdout
    listed = cdp("rules", "list", settings=settings)
    assert rule_id in listed.stdout

    t0 = time.monotonic()
    traits: list = []
    i = 0
    while time.monotonic() - t0 < 10 and not traits:
        i += 1
        await send(producer, [raw_hit(f"{run}-after-{i}", url=url)])
        got = await enriched.collect(by_anon(f"{run}-after-{i}"), want=1, within=3, settle=0)
        traits = got[0]["enrichment"]["traits"] if got else []
    assert {(t["name"], t["value"], t["ruleId"]) for t in traits} == {
        ("role", "CEO", rule_id),
        ("industry", "automotive", rule_id),
    }
    assert cdp("rules", "delete", rule_id, settings=settings).returncode == 0


async def test_two_instances_share_the_partitions_and_process_every_record(
    enrichers: Enrichers,
    producer,
    enriched: TopicTail,  # type: ignore[no-untyped-def]
) -> None:
    enrichers.start()
    enrichers.start()
    await enrichers.wait_consuming(producer, enriched)

    def processed() -> list[float]:
        counts = []
        for i in range(2):
            try:
                text = enrichers.metrics(i)
            except httpx.ConnectError:  # not serving yet: still starting
                text = ""
            counts.append(
                sum(float(ln.split()[-1]) for ln in text.splitlines() if ln.startswith("cdp_enricher_records_total{"))
            )
        return counts

    run = f"two-{uuid.uuid4().hex[:6]}"
    deadline = asyncio.get_running_loop().time() + 60
    # waves of 1,000 hits over 97 visitors (every partition) until the group has settled
    # with both members taking a share; every hit of every wave must come out
    for wave_no in itertools.count():
        before = processed()
        wave = [raw_hit(f"{run}-w{wave_no}-{i % 97}") for i in range(1000)]
        await send(producer, wave)
        got = await enriched.collect(by_anon(f"{run}-w{wave_no}-"), want=len(wave), within=60)
        assert {h["event"]["messageId"] for h in wave} <= {g["event"]["messageId"] for g in got}
        after = processed()
        if all(a > b for a, b in zip(after, before, strict=True)) or asyncio.get_running_loop().time() > deadline:
            break
    assert all(a > b for a, b in zip(after, before, strict=True)), f"each instance must take records: {after}"


async def test_kill_9_mid_stream_then_restart_loses_nothing(
    enrichers: Enrichers,
    producer,
    enriched: TopicTail,  # type: ignore[no-untyped-def]
) -> None:
    first = enrichers.start(CDP_ENRICHER_BATCH_SIZE="200")
    await enrichers.wait_consuming(producer, enriched)
    run = f"kill-{uuid.uuid4().hex[:6]}"
    hits = [raw_hit(f"{run}-{i % 211}") for i in range(20_000)]
    sender = asyncio.create_task(send(producer, hits))
    # wait until it is mid-stream, then kill it without any chance to commit or flush
    before_kill = await enriched.collect(by_anon(run), want=2000, within=60, settle=0)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    await sender
    assert len(before_kill) < len(hits), "killed too late to test anything"
    enrichers.start()  # same group: resumes from the last committed offsets
    seen = {g["event"]["messageId"] for g in before_kill}
    wanted = {h["event"]["messageId"] for h in hits}
    mine = by_anon(run)
    after = await enriched.collect(
        lambda r: mine(r) and r["event"]["messageId"] not in seen, want=len(wanted - seen), within=120
    )
    seen |= {g["event"]["messageId"] for g in after}
    missing = wanted - seen
    assert not missing, f"{len(missing)} records never reached the output"


async def test_bad_records_go_to_the_rejected_topic_with_their_origin(
    enrichers: Enrichers,
    producer,
    enriched: TopicTail,
    rejected: TopicTail,  # type: ignore[no-untyped-def]
) -> None:
    enrichers.start()
    await enrichers.wait_consuming(producer, enriched)
    run = f"bad-{uuid.uuid4().hex[:6]}"
    await producer.send_and_wait("cdp.hits.raw", f'{{"broken": "{run}"'.encode(), key=run.encode())
    await producer.send_and_wait(
        "cdp.hits.raw", orjson.dumps({"event": {"type": "page"}, "marker": run}), key=run.encode()
    )
    got = await rejected.collect(lambda r: run.encode() in base64.b64decode(r["original"]), want=2)
    assert sorted(g["reason"] for g in got) == ["invalid_record", "malformed_json"]
    assert all(g["stage"] == "enricher" and g["sourceTopic"] == "cdp.hits.raw" and g["sourceOffset"] >= 0 for g in got)


async def test_the_enricher_stops_loudly_when_most_records_are_rejected(
    enrichers: Enrichers,
    producer,
    enriched: TopicTail,  # type: ignore[no-untyped-def]
) -> None:
    proc = enrichers.start(CDP_ENRICHER_GUARD_WINDOW="100", CDP_ENRICHER_BATCH_SIZE="50")
    await enrichers.wait_consuming(producer, enriched)
    # 120 is enough to trip a 100-record window, and too few to trip the default 1000-record
    # window of any other enricher group reading the same topic
    futures = [await producer.send("cdp.hits.raw", b"garbage " + str(i).encode(), key=b"g") for i in range(120)]
    await asyncio.gather(*futures)
    for _ in range(300):
        if proc.proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    assert proc.proc.poll() is not None, "the enricher kept draining garbage"
    assert proc.proc.returncode != 0
    assert "were rejected" in proc.log_tail(200)
