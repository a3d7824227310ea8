"""What enforcing a tracking plan costs the enricher per event, in process (no Kafka):
the same track events enriched with no plan, and with a plan in each mode.

    .venv/bin/python -m bench.plans [--events 100000] [--rounds 5]

Prints microseconds per event and writes bench/results/<date>-plans.json.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from cdp_common.definitions.plans import parse_plan
from cdp_enricher.pipeline import Enricher, Rules

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)
SCHEMA = {
    "type": "object",
    "required": ["yearlySavings"],
    "properties": {
        "yearlySavings": {"type": "number", "minimum": 0},
        "calculator": {"enum": ["benefit", "roi"]},
        "employees": {"type": "integer"},
        "industry": {"type": "string", "maxLength": 64},
    },
    "additionalProperties": False,
}


def events(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        props = {"yearlySavings": 1000 + i % 500, "calculator": "benefit", "employees": 250, "industry": "automotive"}
        if i % 10 == 0:  # one in ten violates (a string and an extra property)
            props = {**props, "yearlySavings": "lots", "colour": "red"}
        hit = {
            "event": {
                "type": "track",
                "event": "Calculator Completed",
                "anonymousId": f"a-{i % 5000}",
                "messageId": f"m-{i}",
                "properties": props,
                "context": {
                    "page": {"url": "https://www.example.com/calc?utm_source=linkedin"},
                    "library": {"name": "cdp-tag"},
                },
            },
            "receivedAt": "2026-12-02T12:00:00Z",
            "sourceId": "src_bench",
            "clientIp": "81.2.69.142",
            "userAgent": CHROME,
            "timestamp": "2026-12-02T12:00:00Z",
        }
        out.append(orjson.dumps(hit))
    return out


def per_event_us(enricher: Enricher, rules: Rules, raws: list[bytes]) -> float:
    for raw in raws[:2000]:  # warm the caches
        enricher.enrich(raw, rules)
    t0 = time.perf_counter()
    for raw in raws:
        enricher.enrich(raw, rules)
    return (time.perf_counter() - t0) / len(raws) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    raws = events(args.events)
    enricher = Enricher(lambda ip: None)
    rules = {"none": Rules()}
    for mode in ("allow", "omit", "block"):
        doc = {"source": "bench", "violations": mode, "events": {"Calculator Completed": {"properties": SCHEMA}}}
        rules[mode] = Rules(plans={"src_bench": parse_plan(doc)})
    # interleaved rounds, the best of each: this machine's noise is larger than the effect
    runs: dict[str, list[float]] = {name: [] for name in rules}
    for _ in range(args.rounds):
        for name, r in rules.items():
            runs[name].append(per_event_us(enricher, r, raws))
    results = {name: min(v) for name, v in runs.items()}
    for name, us in results.items():
        extra = "" if name == "none" else f"  (+{us - results['none']:.1f} µs)"
        print(f"plan {name:5}: {us:6.1f} µs/event{extra}")
    out = Path(__file__).parent / "results" / f"{datetime.now(UTC):%Y-%m-%d}-plans.json"
    out.write_text(
        json.dumps(
            {"events": args.events, "rounds": args.rounds, "violating_share": 0.1, "us_per_event": results}, indent=2
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
