"""What a destination is: it takes up to ``max_batch`` leads and says, per lead, whether
it was delivered, should be retried (with the server's hint), or failed for good."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from cdp_syncer.logic.flow import Verdict, classify, retry_after

Lead = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    verdict: Verdict
    error: str | None = None
    retry_after: float | None = None
    status: int | None = None


class Destination(Protocol):
    name: str
    max_batch: int

    async def send(self, leads: Sequence[Lead]) -> list[Result]: ...

    async def aclose(self) -> None: ...


def transport_failure(e: Exception, n: int) -> list[Result]:
    """Timeouts and connection errors: nothing is known to have arrived; retry all."""
    return [Result(Verdict.RETRY, f"{type(e).__name__}: {e}".strip()) for _ in range(n)]


def whole_answer(resp: httpx.Response, n: int, now: float) -> list[Result] | None:
    """Results for every lead when the answer is not a success (None when it is)."""
    verdict = classify(resp.status_code)
    if verdict is Verdict.DELIVERED:
        return None
    hint = retry_after(resp.headers.get("retry-after"), now)
    error = f"HTTP {resp.status_code}: {resp.text[:500]}"
    return [Result(verdict, error, hint, resp.status_code) for _ in range(n)]
