"""Repeated log records are limited per kind and summarized (no log floods in outages)."""

from __future__ import annotations

import logging

from cdp_common.logs import RepeatLimiter


def _record(
    msg: str, *args: object, name: str = "librdkafka.consumer", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_flood_of_one_kind_is_cut_to_a_burst_per_window_and_summarized() -> None:
    now = [0.0]
    limiter = RepeatLimiter(burst=5, window_s=10, clock=lambda: now[0])
    passed = 0
    for i in range(88_000):  # what a 20 s Kafka outage wrote before
        now[0] = i * 20 / 88_000
        passed += limiter.filter(_record("connect to %s failed: %s", "127.0.0.1:9092", i))
    assert passed <= 3 * 5  # three windows of at most five
    now[0] = 100.0
    after = _record("connect to %s failed: %s", "127.0.0.1:9092", "x")
    assert limiter.filter(after)
    assert "more like this suppressed" in after.getMessage()


def test_other_kinds_and_quiet_loggers_are_untouched() -> None:
    limiter = RepeatLimiter(burst=2, window_s=10, clock=lambda: 0.0)
    assert all(limiter.filter(_record(f"message {i}")) for i in range(50))  # distinct templates
    assert limiter.filter(_record("same", name="a")) and limiter.filter(_record("same", name="b"))
    assert limiter.filter(_record("same", name="a", level=logging.INFO))
