"""Steady traffic of uniquely marked events from known people, sent the way an SDK sends:
a batch is retried with the same messageIds until the collector answers 200. What each
person was answered 200 for is kept, to compare with what the platform made of it."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
SITE = "https://www.example.com"


@dataclass
class Person:
    anonymous_id: str
    email: str | None  # a person who fills in the contact form (a lead), or None
    pages: int = 0  # page events answered 200
    tracks: int = 0  # track events answered 200
    converted: bool = False


@dataclass
class Sent:
    """What the collector answered, overall and in the current window (one fault)."""

    accepted: set[str] = field(default_factory=set)  # messageIds answered 200
    requests: int = 0
    ok: int = 0
    unavailable: int = 0  # 503s
    errors: int = 0  # connection errors, timeouts, 5xx other than 503, 429
    refused: int = 0  # 4xx for a valid batch: a defect (not retried, reported)
    window: dict[str, int] = field(default_factory=lambda: {"events": 0, "retries": 0, "leads": 0})


def _event(person: Person, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "anonymousId": person.anonymous_id,
        "messageId": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "context": {"page": {"url": f"{SITE}/chaos", "path": "/chaos"}},
        **extra,
    }


class Traffic:
    def __init__(
        self, url: str, write_key: str, run: str, people: int, rate: float, spread_s: float, seed: int = 7
    ) -> None:
        self.url = url
        self.write_key = write_key
        self.rate = rate  # batches per second, over all senders
        self.rng = random.Random(seed)
        self.people = [
            Person(f"chaos-{run}-{i}", f"chaos.{run}.{i}@example.org" if i % 4 == 0 else None) for i in range(people)
        ]
        # a quarter of the people fill in the contact form, at moments spread over the run,
        # so leads keep coming while the destinations misbehave
        self.converts_at = {p.anonymous_id: self.rng.uniform(0, spread_s) for p in self.people if p.email}
        self.started = 0.0
        self.sent = Sent()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, senders: int = 4) -> None:
        self.started = time.monotonic()
        for k in range(senders):
            mine = self.people[k::senders]
            self._tasks.append(asyncio.create_task(self._send_forever(mine, senders)))

    async def stop(self) -> None:
        """Stop making new events; every batch in flight is still retried until answered 200."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def new_window(self) -> dict[str, int]:
        done, self.sent.window = self.sent.window, {"events": 0, "retries": 0, "leads": 0}
        return done

    def _batch(self, p: Person) -> tuple[list[dict[str, Any]], int, int]:
        due = self.converts_at.get(p.anonymous_id, float("inf")) <= time.monotonic() - self.started
        if p.email and not p.converted and p.pages >= 1 and due:
            p.converted = True
            self.sent.window["leads"] += 1
            form = _event(
                p, "track", event="Form Submitted", properties={"form": "contact", "values": {"email": p.email}}
            )
            return [form, _event(p, "identify", traits={"email": p.email})], 0, 1
        n = self.rng.randint(1, 4)
        events = []
        pages = tracks = 0
        for _ in range(n):
            if self.rng.random() < 0.7:
                events.append(_event(p, "page", properties={"path": "/chaos"}))
                pages += 1
            else:
                pct = self.rng.choice((25, 50, 75, 100))
                events.append(_event(p, "track", event="Scroll Depth", properties={"percent": pct, "path": "/chaos"}))
                tracks += 1
        return events, pages, tracks

    async def _send_forever(self, people: list[Person], senders: int) -> None:
        interval = senders / self.rate
        async with httpx.AsyncClient(base_url=self.url, timeout=10, headers={"user-agent": CHROME}) as http:
            while not self._stop.is_set():
                t0 = time.monotonic()
                p = self.rng.choice(people)
                events, pages, tracks = self._batch(p)
                await self._deliver(http, events)
                p.pages += pages
                p.tracks += tracks
                await asyncio.sleep(max(0.0, interval - (time.monotonic() - t0)))

    async def _deliver(self, http: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
        """Until answered 200, like an SDK: the same batch, the same messageIds."""
        delay = 0.2
        self.sent.window["events"] += len(events)
        while True:
            self.sent.requests += 1
            try:
                r = await http.post("/v1/batch", auth=(self.write_key, ""), json={"batch": events})
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                self.sent.ok += 1
                self.sent.accepted.update(e["messageId"] for e in events)
                return
            if 400 <= status < 500 and status != 429:
                self.sent.refused += 1
                return
            if status == 503:
                self.sent.unavailable += 1
            else:
                self.sent.errors += 1
            self.sent.window["retries"] += 1
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)
