"""Per-key token buckets for the browser-facing personalization endpoint."""

from __future__ import annotations

from cdp_console.ratelimit import RateLimiter


def test_a_burst_then_the_rate_then_a_wait_that_says_how_long() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=20, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(20)] == [0.0] * 20
    wait = limiter.take("k")
    assert 0 < wait <= 0.1
    now[0] = 1.0  # ten tokens back
    assert sum(limiter.take("k") == 0.0 for _ in range(15)) == 10


def test_keys_are_independent_and_memory_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=1, max_keys=100, clock=lambda: now[0])
    assert limiter.take(("src", "1.1.1.1")) == 0.0 and limiter.take(("src", "1.1.1.1")) > 0
    assert limiter.take(("src", "2.2.2.2")) == 0.0
    for i in range(1000):
        now[0] += 0.001
        limiter.take(("src", f"10.0.{i // 256}.{i % 256}"))
    assert len(limiter._buckets) <= 100
