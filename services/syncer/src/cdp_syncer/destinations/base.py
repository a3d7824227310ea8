"""What a destination is: it takes up to ``max_batch`` leads and says, per lead, whether
it was delivered, should be retried (with the server's hint), or failed for good."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from cdp_syncer.logic.flow import Verdict, backoff, classify, retry_after

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

    async def erase(self, erasure: Mapping[str, Any]) -> list[Result]:
        """Delete the erased person (``cdp.erasure/v1``) here: a result per email, where
        DELIVERED with status 404 means there was nothing to delete."""
        ...

    async def aclose(self) -> None: ...


def transport_failure(e: Exception, n: int) -> list[Result]:
    """Timeouts and connection errors: nothing is known to have arrived; retry all."""
    return [Result(Verdict.RETRY, f"{type(e).__name__}: {e}".strip()) for _ in range(n)]


def erase_answer(resp: httpx.Response, now: float) -> Result:
    """One deletion's answer: 404 (or 410) is "nothing there", which is what was wanted."""
    if resp.status_code in (404, 410):
        return Result(Verdict.DELIVERED, status=404)
    whole = whole_answer(resp, 1, now)
    return whole[0] if whole else Result(Verdict.DELIVERED, status=resp.status_code)


def whole_answer(resp: httpx.Response, n: int, now: float) -> list[Result] | None:
    """Results for every lead when the answer is not a success (None when it is)."""
    verdict = classify(resp.status_code)
    if verdict is Verdict.DELIVERED:
        return None
    hint = retry_after(resp.headers.get("retry-after"), now)
    error = f"HTTP {resp.status_code}: {resp.text[:500]}"
    return [Result(verdict, error, hint, resp.status_code) for _ in range(n)]


class BootstrapError(RuntimeError):
    """A destination refused a bootstrap step; ``transient`` when retrying may help."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def raise_for(resp: httpx.Response, what: str) -> None:
    """``BootstrapError`` unless the answer is a success."""
    if resp.status_code < 300:
        return
    transient = resp.status_code in (408, 429) or resp.status_code >= 500
    raise BootstrapError(f"could not {what}: HTTP {resp.status_code}: {resp.text[:300]}", transient)


async def patiently(
    call: Callable[[], Awaitable[httpx.Response]], tries: int = 4, base_s: float = 0.5, cap_s: float = 10.0
) -> httpx.Response:
    """One setup request, retried on its own when the answer is transient (408, 429, 5xx:
    after the server's Retry-After, or backoff): a flaky answer costs one request again, not
    the whole bootstrap. The last answer is returned; transport errors raise after ``tries``."""
    for attempt in range(1, tries):
        try:
            resp = await call()
        except httpx.TransportError:
            await asyncio.sleep(backoff(attempt, base_s, cap_s))
            continue
        if not (resp.status_code in (408, 429) or resp.status_code >= 500):
            return resp
        await asyncio.sleep(backoff(attempt, base_s, cap_s, retry_after(resp.headers.get("retry-after"), time.time())))
    return await call()


class AudienceFailure(RuntimeError):
    """A list operation at a destination failed; ``transient`` when retrying may help."""

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


def audience_check(resp: httpx.Response, what: str) -> None:
    """``AudienceFailure`` unless the answer is a success."""
    if resp.status_code < 300:
        return
    transient = resp.status_code in (408, 425, 429) or resp.status_code >= 500
    raise AudienceFailure(f"could not {what}: HTTP {resp.status_code}: {resp.text[:300]}", transient)


Contact = tuple[str, str]  # (profile id, email)
Member = tuple[str, str, str | None]  # (profile id, email, the contact's id at the destination)


class AudienceDestination(Protocol):
    """A destination that keeps lists: ``ensure`` the list (its id there), add and remove
    people, and list who is in it (None when it cannot say, e.g. a webhook)."""

    name: str

    async def audience_ensure(self, name: str, external_id: str | None) -> str: ...

    async def audience_add(self, external_id: str, contacts: Sequence[Contact]) -> dict[str, str | None]: ...

    async def audience_remove(self, external_id: str, members: Sequence[Member]) -> None: ...

    async def audience_members(self, external_id: str) -> set[str] | None: ...
