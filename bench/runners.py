"""How a benchmark runs a processor: on the engine with either Kafka client, or under the
faust adapter (the same names as the tests use)."""

from __future__ import annotations

RUNNERS = ("confluent", "aiokafka", "faust")


def runner_env(prefix: str, runner: str) -> dict[str, str]:
    """Environment running a processor (``CDP_ENRICHER``, ``CDP_SEGMENTER``, ``CDP_SYNC``) as ``runner``."""
    if runner == "faust":
        return {f"{prefix}_RUNNER": "faust"}
    if runner not in RUNNERS:
        raise ValueError(f"unknown runner {runner!r}; use one of {', '.join(RUNNERS)}")
    return {f"{prefix}_RUNNER": "engine", "CDP_KAFKA_CLIENT": runner}
