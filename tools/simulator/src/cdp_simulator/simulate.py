"""``cdp simulate``: realistic traffic through the collector, for demos and load.

Visitors arrive from LinkedIn and Google ads, newsletters, organic search and direct; each
campaign has a conversion rate drawn from the seed's range (4-30%); 5% of visitors are
bots; 30% come back days later; a tenth of those who convert identify again from a phone
whose earlier anonymous visit then merges in. Events carry their own timestamps, spread over
the last ``--days`` days, and go to ``/v1/batch`` with the source's write key, paced at
``--rate`` events per second. ``--report`` waits for the pipeline and prints what happened.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cdp_common.hotkeys import RedisKeys

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"  # noqa: E501
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SITE = "https://www.example.com"
# (weight, query string, conversion rate)
ARRIVALS = [
    (
        0.15,
        "?utm_source=linkedin&utm_medium=paid_social&utm_campaign=ceo-automotive-q4&utm_content=video-ad&li_fat_id={id}",
        0.22,
    ),
    (0.08, "?utm_source=linkedin&utm_medium=paid_social&utm_campaign=cfo-finance-q4&li_fat_id={id}", 0.12),
    (0.15, "?utm_source=google&utm_medium=cpc&utm_campaign=fleet-calculator&gclid={id}", 0.18),
    (0.12, "?utm_source=newsletter&utm_medium=email&utm_campaign=november-digest", 0.30),
    (0.25, "", 0.04),  # organic search (a Google referrer)
    (0.25, "", 0.06),  # direct
]
PAGES = ["/", "/case-studies/automotive", "/case-studies/logistics", "/pricing", "/blog/ev-fleets", "/about"]


def _event(
    aid: str, at: datetime, ev: dict[str, Any], url: str, referrer: str = "", ua: str = CHROME
) -> dict[str, Any]:
    path = httpx.URL(url).path
    return {
        "anonymousId": aid,
        "messageId": str(uuid.uuid4()),
        "timestamp": at.isoformat(),
        "context": {"page": {"url": url, "path": path, "referrer": referrer}, "userAgent": ua},
        **ev,
    }


def visitor(rng: random.Random, i: int, now: datetime, days: int) -> list[tuple[str, dict[str, Any]]]:
    """(user agent, event) pairs for one visitor, maybe two devices."""
    aid = f"sim-{uuid.uuid4().hex[:12]}"
    t = now - timedelta(days=rng.random() * days)
    if rng.random() < 0.05:
        return [
            (BOT, _event(aid, t + timedelta(seconds=k), {"type": "page", "properties": {}}, f"{SITE}{p}", ua=BOT))
            for k, p in enumerate(PAGES)
        ]
    r, acc = rng.random(), 0.0
    arrival = ARRIVALS[-1]
    for a in ARRIVALS:
        acc += a[0]
        if r < acc:
            arrival = a
            break
    _, query, conversion = arrival
    referrer = "https://www.google.com/" if arrival is ARRIVALS[4] else ""
    out: list[tuple[str, dict[str, Any]]] = []
    landing = rng.choice(PAGES[:3])
    out.append(
        (
            CHROME,
            _event(
                aid,
                t,
                {"type": "page", "properties": {"path": landing}},
                f"{SITE}{landing}{query.format(id=uuid.uuid4().hex[:10])}",
                referrer,
            ),
        )
    )
    for _ in range(rng.randint(0, 4)):
        t += timedelta(seconds=rng.randint(15, 120))
        p = rng.choice(PAGES)
        out.append((CHROME, _event(aid, t, {"type": "page", "properties": {"path": p}}, f"{SITE}{p}")))
        if rng.random() < 0.5:
            out.append(
                (
                    CHROME,
                    _event(
                        aid,
                        t,
                        {
                            "type": "track",
                            "event": "Scroll Depth",
                            "properties": {"percent": rng.choice([25, 50, 75, 100]), "path": p},
                        },
                        f"{SITE}{p}",
                    ),
                )
            )
    if rng.random() < 0.2:
        for name in ("Video Started", "Video Completed"):
            t += timedelta(seconds=45)
            out.append(
                (
                    CHROME,
                    _event(
                        aid,
                        t,
                        {"type": "track", "event": name, "properties": {"title": "Fleet savings"}},
                        f"{SITE}/case-studies/automotive",
                    ),
                )
            )
    if rng.random() < 0.15:
        t += timedelta(seconds=60)
        out.append(
            (
                CHROME,
                _event(
                    aid,
                    t,
                    {
                        "type": "track",
                        "event": "Form Submitted",
                        "properties": {"form": "benefit-calculator", "values": {"vehicles": rng.randint(5, 500)}},
                    },
                    f"{SITE}/benefit-calculator",
                ),
            )
        )
    if rng.random() < 0.3:  # a return visit days later
        t += timedelta(days=rng.randint(1, 5))
        for p in ("/", "/pricing"):
            t += timedelta(seconds=30)
            out.append((CHROME, _event(aid, t, {"type": "page", "properties": {"path": p}}, f"{SITE}{p}")))
    if rng.random() < conversion:
        email = f"visitor{i}-{aid[-6:]}@example.org"
        t += timedelta(seconds=90)
        out.append(
            (
                CHROME,
                _event(
                    aid,
                    t,
                    {
                        "type": "track",
                        "event": "Form Submitted",
                        "properties": {"form": "contact", "values": {"email": email, "firstName": f"Visitor {i}"}},
                    },
                    f"{SITE}/contact",
                ),
            )
        )
        out.append(
            (
                CHROME,
                _event(
                    aid, t + timedelta(seconds=1), {"type": "identify", "traits": {"email": email}}, f"{SITE}/contact"
                ),
            )
        )
        if rng.random() < 0.1:
            phone = f"sim-{uuid.uuid4().hex[:12]}"
            pt = t - timedelta(hours=6)
            out.append(
                (
                    IPHONE,
                    _event(
                        phone, pt, {"type": "page", "properties": {"path": "/pricing"}}, f"{SITE}/pricing", ua=IPHONE
                    ),
                )
            )
            out.append(
                (
                    IPHONE,
                    _event(
                        phone,
                        t + timedelta(hours=2),
                        {"type": "identify", "traits": {"email": email}},
                        f"{SITE}/",
                        ua=IPHONE,
                    ),
                )
            )
    return out


async def send(url: str, write_key: str, visitors: int, rate: float, days: int, seed: int) -> dict[str, Any]:
    """Events sent, accepted and refused; also the emails of those who converted (each
    should become a lead) and the anonymous ids of the bots (none should become a profile)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    stats: dict[str, Any] = {"visitors": visitors, "events": 0, "accepted": 0, "refused": 0}
    converted: set[str] = set()
    bot_ids: list[str] = []
    batch: dict[str, list[dict[str, Any]]] = {}
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=15) as c:

        async def flush(ua: str, events: list[dict[str, Any]]) -> None:
            r = await c.post(
                f"{url}/v1/batch", auth=(write_key, ""), headers={"user-agent": ua}, json={"batch": events}
            )
            stats["accepted" if r.status_code == 200 else "refused"] += len(events)

        for i in range(visitors):
            journey = visitor(rng, i, now, days)
            if journey[0][0] == BOT:
                bot_ids.append(journey[0][1]["anonymousId"])
            for ua, ev in journey:
                if ev.get("event") == "Form Submitted" and ev["properties"].get("form") == "contact":
                    converted.add(ev["properties"]["values"]["email"])
                batch.setdefault(ua, []).append(ev)
                stats["events"] += 1
                if len(batch[ua]) >= 50:
                    await flush(ua, batch.pop(ua))
                ahead = t0 + stats["events"] / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        for ua, events in batch.items():
            await flush(ua, events)
    stats["converted"] = sorted(converted)
    stats["bots"], stats["bot_ids"] = len(bot_ids), bot_ids
    return stats


async def report(settings: Any, sandbox: str, console: str, wait_s: float) -> None:
    from cdp_common.pg import create_pool
    from cdp_common.redisio import make_redis

    pool = await create_pool(settings, max_size=2)
    redis = make_redis(settings)
    try:
        last, stable = -1, 0
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and stable < 3:  # until the profile count settles
            n = await pool.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NULL")
            stable = stable + 1 if n == last else 0
            last = n
            await asyncio.sleep(2)
        profiles = await pool.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NULL")
        # a second device seen in the same batch as its identify merges before it is ever
        # written, so the recognized people are the profiles holding several anonymous ids
        devices = await pool.fetchval(
            "SELECT count(*) FROM profiles WHERE merged_into IS NULL AND jsonb_array_length(data->'anonymousIds') > 1"
        )
        merged = await pool.fetchval("SELECT count(*) FROM profiles WHERE merged_into IS NOT NULL")
        leads = await pool.fetchval("SELECT count(*) FROM leads")
        segs = [r["id"] for r in await pool.fetch("SELECT id FROM segments ORDER BY id")]
        print(
            f"\nprofiles: {profiles:,}, of which {devices:,} recognized on a second device "
            f"({merged:,} earlier profiles merged away), leads: {leads:,}"
        )
        for s in segs:
            print(f"  segment {s:22} {await redis.scard(RedisKeys().segment(s)):>7,} profiles")
        rows = await pool.fetch(
            "SELECT channel, source, campaign, sum(visitors) v, sum(conversions) c, sum(leads) l FROM campaign_stats "
            "WHERE day > current_date - 60 GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10"
        )
        print("\nby campaign (last 60 days):")
        for r in rows:
            rate = f"{r['c'] / r['v']:.1%}" if r["v"] else "-"
            print(
                f"  {r['channel']:15} {r['source'] or '-':11} {r['campaign'] or '-':20} visitors {r['v']:>6,}  "
                f"conversions {r['c']:>5,} ({rate})  leads {r['l']:>5,}"
            )
        try:
            async with httpx.AsyncClient(timeout=5) as c:
                contacts = (await c.get(f"{sandbox}/_sandbox/contacts/hubspot")).json()
            print(
                f"\nleads delivered to the sandbox (HubSpot format): {len(contacts):,}  "
                f"({sandbox}/_sandbox/contacts/hubspot)"
            )
        except httpx.HTTPError:
            print(f"\nthe sandbox at {sandbox} does not answer")
        print(
            f"console: {console}/ui?token=<token>  (cdp tokens create --scope read), campaigns: {console}/ui/campaigns"
        )
    finally:
        await pool.close()
        await redis.aclose()


async def cmd_simulate(args: argparse.Namespace, settings: Any) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(f"sending {args.visitors:,} visitors at {args.rate:g} events/s to {args.url} ...", flush=True)
    stats = await send(args.url, args.write_key, args.visitors, args.rate, args.days, args.seed)
    print(
        f"sent {stats['events']:,} events: {stats['accepted']:,} accepted, {stats['refused']:,} refused "
        f"({stats['bots']:,} bot visitors, {len(stats['converted']):,} contact forms)"
    )
    if args.report:
        await report(settings, args.sandbox, args.console, args.wait)
    return 0 if not stats["refused"] else 1


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="send realistic visitor traffic through the collector")
    p.add_argument("--visitors", type=int, default=200)
    p.add_argument("--rate", type=float, default=200.0, help="events per second")
    p.add_argument("--days", type=int, default=14, help="spread visits over this many past days")
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--write-key", default="demo-write-key-0123456789")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--report", action="store_true", help="wait for the pipeline, then print what happened")
    p.add_argument("--wait", type=float, default=60.0, help="at most this long for --report")
    p.add_argument("--sandbox", default="http://127.0.0.1:8091")
    p.add_argument("--console", default="http://127.0.0.1:8090")
    p.set_defaults(handler=cmd_simulate)
