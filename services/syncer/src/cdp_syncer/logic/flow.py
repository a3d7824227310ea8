"""Flow control, pure (time comes in): a token bucket per destination, a circuit breaker,
backoff with jitter that honours Retry-After, and how an HTTP answer is classified."""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass, field
from enum import Enum

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class Verdict(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again later (backpressure, not failure)
    PERMANENT = "permanent"  # will not succeed by retrying: record it
    SKIPPED = "skipped"  # nothing for this destination to do (e.g. no ads consent): recorded with why


def classify(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in RETRYABLE_STATUS:
        return Verdict.RETRY
    return Verdict.PERMANENT


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def backoff(
    attempt: int, base: float, cap: float, hint: float | None = None, rng: random.Random | None = None
) -> float:
    """Full jitter exponential backoff; a server's Retry-After is a floor."""
    r = (rng or random).random()
    delay = r * min(cap, base * 2 ** max(0, attempt - 1))
    return max(delay, hint or 0.0)


@dataclass(slots=True)
class TokenBucket:
    """``rate`` requests per ``per`` seconds, bursting up to ``rate``."""

    rate: float
    per: float
    tokens: float = -1.0
    at: float = 0.0

    def wait(self, now: float) -> float:
        """Seconds until a token is free (0: take it now, and it is taken)."""
        if self.tokens < 0:
            self.tokens, self.at = self.rate, now
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate / self.per)
        self.at = now
        if self.tokens >= 1 - 1e-9:  # (a float remainder must not keep a caller waiting)
            self.tokens = max(0.0, self.tokens - 1)
            return 0.0
        return (1 - self.tokens) * self.per / self.rate


@dataclass(slots=True)
class Breaker:
    """Opens when the destination looks down, not merely flaky: after ``threshold``
    consecutive failures while at least ``ratio`` of the last ``window`` requests failed
    (a destination failing half its requests keeps its traffic, at half the throughput).
    After ``cooldown`` one trial request is let through (half-open); a success closes it,
    a failure opens it again. Throttling (429) is pacing, never a failure here."""

    threshold: int = 5
    cooldown: float = 30.0
    window: int = 20
    ratio: float = 0.9
    failures: int = 0  # consecutive
    opened_at: float | None = None
    recent: list[bool] = field(default_factory=list)  # True: failed

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if now - self.opened_at >= self.cooldown else "open"

    def allow(self, now: float) -> float:
        """0 when a request may go, else seconds to wait."""
        if self.opened_at is None:
            return 0.0
        left = self.cooldown - (now - self.opened_at)
        return 0.0 if left <= 0 else left

    def _note(self, failed: bool) -> None:
        self.recent.append(failed)
        del self.recent[: max(0, len(self.recent) - self.window)]

    def success(self) -> None:
        self._note(False)
        self.failures, self.opened_at = 0, None

    def failure(self, now: float) -> None:
        self._note(True)
        self.failures += 1
        trial_failed = self.opened_at is not None
        looks_down = self.failures >= self.threshold and sum(self.recent) >= self.ratio * len(self.recent)
        if trial_failed or looks_down:
            self.opened_at = now
