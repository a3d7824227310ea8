"""One batch of hits applied to the identity graph and profiles inside one transaction.

The order of work, and why:
1. claim the batch's messageIds (an id claimed before is skipped: redelivery is a no-op;
   a replayed hit whose id was claimed before corrects its profile instead, see
   ``correct_into``);
2. read the owners of every id in the batch, then lock those profiles in id order and
   follow merge tombstones (a concurrent writer may have merged one away meanwhile);
3. decide and fold every hit in order, in memory (pure logic);
4. evaluate segments, score and lead state of each touched profile;
5. write profiles, new ids (a plain INSERT: an id another writer linked meanwhile fails
   the transaction, which is then retried), merges, conflicts, leads and the outbox;
6. write the Redis read model in one pipeline before COMMIT, so a crash after COMMIT
   cannot leave Redis behind (a crash before COMMIT is redone by the redelivery, which
   rewrites the same keys).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from cdp_common import activity
from cdp_common.definitions.segments import Definitions
from cdp_common.records import SegmentChange
from cdp_common.wire import EnrichedHitDoc
from cdp_segmenter import store
from cdp_segmenter.logic.evaluation import QUALIFIED, Outcome, evaluate_profile
from cdp_segmenter.logic.identity import Known, decide, kind
from cdp_segmenter.logic.leads import build_lead
from cdp_segmenter.logic.profile import FoldConfig, correct_into, fold_into, merge, new_profile, upgraded
from cdp_segmenter.logic.rollup import Rollup
from cdp_segmenter.readmodel import ReadModel


@dataclass(frozen=True, slots=True)
class Hit:
    message_id: str
    ids: list[str]
    doc: EnrichedHitDoc  # the enriched hit, as on the wire
    kafka_ts_ms: int | None = None
    received_s: float | None = None  # the collector's receipt (receivedAt), epoch seconds
    replay: bool = False  # put back on the input by `cdp replay`
    record: Any = field(default=None, compare=False, repr=False)  # where it came from


@dataclass(slots=True)
class Applied:
    outbox: list[tuple[int, str, bytes, bytes]] = field(default_factory=list)  # id, topic, key, value
    duplicates: int = 0
    applied: int = 0
    identity: dict[str, int] = field(default_factory=dict)
    segment_changes: dict[str, int] = field(default_factory=dict)
    leads: dict[str, int] = field(default_factory=dict)
    visible_at: float = 0.0
    replayed: dict[str, int] = field(default_factory=dict)  # corrected, unchanged, unowned
    unevaluable: dict[str, str] = field(default_factory=dict)  # profile id -> why (left as it was)


@dataclass(frozen=True, slots=True)
class Topics:
    changes: str
    leads: str


class PoisonHit(Exception):
    """A hit the profile logic cannot apply; the batch is rolled back and redone without it."""

    def __init__(self, hit: Hit, reason: str) -> None:
        super().__init__(reason)
        self.hit = hit
        self.reason = reason


def new_profile_id() -> str:
    return secrets.token_urlsafe(12)


def _known(ids: list[str]) -> Known:
    by: dict[str, set[str]] = {}
    for i in ids:
        k, _, v = i.partition(":")
        if k != "anon":
            by.setdefault(k, set()).add(v)
    return Known({k: frozenset(v) for k, v in by.items()})


def _with(known: Known, ids: list[str] | tuple[str, ...]) -> Known:
    extra = _known(list(ids))
    keys = set(known.ids) | set(extra.ids)
    return Known({k: known.ids.get(k, frozenset()) | extra.ids.get(k, frozenset()) for k in keys})


def _change(pid: str, sid: str, what: str, now: float, mid: str | None) -> bytes:
    return orjson.dumps(
        SegmentChange(
            profile_id=pid, segment_id=sid, change=what, at=datetime.fromtimestamp(now, UTC), message_id=mid
        ).model_dump(mode="json", by_alias=True)
    )


def _bump(d: dict[str, int], key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n


class Announcer:
    """Collects what one transaction announces: segment changes and lead events."""

    def __init__(self, topics: Topics, now: float, result: Applied) -> None:
        self.topics = topics
        self.now = now
        self.result = result
        self.messages: list[tuple[str, bytes, bytes]] = []

    def outcome(self, p: Mapping[str, Any], out: Outcome, mid: str | None) -> None:
        key = p["id"].encode()
        for sid in out.entered:
            self.messages.append((self.topics.changes, key, _change(p["id"], sid, "entered", self.now, mid)))
            _bump(self.result.segment_changes, "entered")
        for sid in out.left:
            self.messages.append((self.topics.changes, key, _change(p["id"], sid, "left", self.now, mid)))
            _bump(self.result.segment_changes, "left")
        for purpose, what in out.consent:  # the consent:<purpose> cohort (audiences drop who left it)
            self.messages.append(
                (self.topics.changes, key, _change(p["id"], f"consent:{purpose}", what, self.now, mid))
            )
            _bump(self.result.segment_changes, what)
        if out.lead_event:
            lead = build_lead(p, out.lead_event, self.now)
            self.messages.append((self.topics.leads, key, orjson.dumps(lead)))
            _bump(self.result.leads, out.lead_event)

    def merged_away(self, pid: str, segments: list[str], mid: str | None) -> None:
        for sid in segments:
            self.messages.append((self.topics.changes, pid.encode(), _change(pid, sid, "left", self.now, mid)))
            _bump(self.result.segment_changes, "left")


async def _lock_live(conn: asyncpg.Connection, pids: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Lock profiles, following merge tombstones; returns live profiles and a redirect map."""
    rows = await store.lock_profiles(conn, pids)
    while True:
        targets = {m for _, m in rows.values() if m} - rows.keys()
        if not targets:
            break
        rows.update(await store.lock_profiles(conn, targets))
    redirect: dict[str, str] = {}
    for pid in rows:
        live, nxt = pid, rows[pid][1]
        while nxt:
            live, nxt = nxt, rows[nxt][1]
        redirect[pid] = live
    return {pid: upgraded(pid, data) for pid, (data, m) in rows.items() if m is None}, redirect


async def apply_batch(
    conn: asyncpg.Connection,
    redis: Redis,
    hits: list[Hit],
    defs: Definitions,
    fold_config: FoldConfig,
    readmodel: ReadModel,
    topics: Topics,
    now: float,
) -> Applied:
    """Run inside an open transaction; the caller commits (and retries on conflicts)."""
    result = Applied()
    fresh = await store.claim_messages(conn, [h.message_id for h in hits])
    corrections = [h for h in hits if h.replay and h.message_id not in fresh]
    result.duplicates = len(hits) - len(fresh) - len(corrections)
    hits = [h for h in hits if h.message_id in fresh]
    if not hits and not corrections:
        return result

    owners = await store.owners_of(conn, {i for h in (*hits, *corrections) for i in h.ids})
    profiles, redirect = await _lock_live(conn, set(owners.values()))
    owners = {i: redirect[p] for i, p in owners.items()}
    placed = {pid: activity.place(p) for pid, p in profiles.items()}  # where each counts as a visitor
    known = {pid: _known(ids) for pid, ids in (await store.known_ids(conn, profiles)).items()}

    rollup = Rollup()
    created: set[str] = set()
    links: dict[str, str] = {}  # id -> profile, new this batch
    merges: list[tuple[str, str, str | None]] = []
    conflicts: list[tuple[str, str, str, str, str | None]] = []
    dropped: dict[str, list[str]] = {}  # merged-away profile -> its segments then
    anon_moves: list[tuple[str, str]] = []
    last_mid: dict[str, str] = {}

    for h in hits:
        d = decide(h.ids, owners, known)
        if d.new_profile or d.profile is None:
            target = new_profile_id()
            profiles[target] = new_profile(target)
            created.add(target)
            known[target] = Known()
            _bump(result.identity, "profile_created")
        else:
            target = d.profile
        for a, b, reason in d.conflicts:
            if b in h.ids:  # a known id refused on an identified profile: it got its own profile
                conflicts.append((a, target, b, reason, h.message_id))
            else:
                conflicts.append((a, b, "", reason, h.message_id))
            _bump(result.identity, "merge_refused")
        for src in d.merge:
            gone = profiles.pop(src)
            dropped[src] = list(gone.get("segments") or [])
            profiles[target] = merge(profiles[target], gone)
            src_known = known.pop(src, Known())
            known[target] = _with(
                known.get(target, Known()), [f"{k}:{v}" for k, vs in src_known.ids.items() for v in vs]
            )
            for i, o in owners.items():
                if o == src:
                    owners[i] = target
            for i, o in links.items():
                if o == src:
                    links[i] = target
            anon_moves.extend((aid, target) for aid in gone["anonymousIds"])
            if src in created:
                created.discard(src)  # never written: nothing to tombstone
                dropped.pop(src)
            else:
                merges.append((src, target, h.message_id))
            last_mid.pop(src, None)
            _bump(result.identity, "merged")
        for i in d.link:
            owners[i] = target
            links[i] = target
            if kind(i) != "anon":
                known[target] = _with(known.get(target, Known()), [i])
            _bump(result.identity, "id_linked")
        try:
            folded = fold_into(profiles[target], h.doc, fold_config)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise PoisonHit(h, f"{type(e).__name__}: {e}") from e
        last_mid[target] = h.message_id
        rollup.count(profiles[target], folded, h.doc["timestamp"])
    result.applied = len(hits)
    for h in corrections:
        pid = next((owners[i] for i in h.ids if i in owners), None)
        if pid is None or pid not in profiles:  # erased meanwhile, or never applied here
            _bump(result.replayed, "unowned")
            continue
        try:
            changed = correct_into(profiles[pid], h.doc)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise PoisonHit(h, f"{type(e).__name__}: {e}") from e
        _bump(result.replayed, "corrected" if changed else "unchanged")
        if changed:
            last_mid.setdefault(pid, h.message_id)

    announce = Announcer(topics, now, result)
    touched = [profiles[pid] for pid in last_mid]
    outcomes = {}
    for p in touched:
        out = evaluate_profile(p, defs, now)
        outcomes[p["id"]] = out
        announce.outcome(p, out, last_mid[p["id"]])
        if out.lead_event == QUALIFIED:
            rollup.lead(p, now)
    for src, segs in dropped.items():
        announce.merged_away(src, segs, next((m for s, _, m in merges if s == src), None))

    await store.write_profiles(conn, touched)
    await store.link_ids(conn, list(links.items()))
    await store.record_merges(conn, merges)
    await store.record_conflicts(conn, conflicts)
    await store.write_leads(conn, touched)
    await store.add_campaign_stats(conn, rollup.rows)
    moves = [(placed.get(p["id"]), activity.place(p)) for p in touched]
    moves += [(placed[src], None) for src in dropped if src in placed]  # merged away: no longer counted
    await activity.add(conn, activity.deltas(moves))
    ids = await store.add_outbox(conn, announce.messages)
    result.outbox = [(i, *m) for i, m in zip(ids, announce.messages, strict=True)]

    pipe = redis.pipeline(transaction=False)
    for src, segs in dropped.items():
        readmodel.drop(pipe, src, segs)
    for p in touched:
        out = outcomes[p["id"]]
        readmodel.put(pipe, p, out.entered, out.left)
    for i, pid in links.items():
        if kind(i) == "anon":
            readmodel.link(pipe, i[5:], pid)
    for aid, pid in anon_moves:
        readmodel.link(pipe, aid, pid)
    await pipe.execute()
    result.visible_at = datetime.now(UTC).timestamp()
    return result


def _state(p: Mapping[str, Any]) -> bytes:
    return orjson.dumps([p.get(k) for k in ("segments", "score", "stage", "scoreBreakdown", "lead")])


async def reevaluate(
    conn: asyncpg.Connection,
    redis: Redis,
    pids: list[str],
    defs: Definitions,
    readmodel: ReadModel,
    topics: Topics,
    now: float,
) -> Applied:
    """Re-evaluate existing profiles (definitions changed, or a pending lead update is
    due); writes only the profiles whose segments, score, stage or lead state changed."""
    result = Applied()
    profiles, _ = await _lock_live(conn, set(pids))
    announce = Announcer(topics, now, result)
    changed = []
    outcomes = {}
    for p in profiles.values():
        before = _state(p)
        try:
            out = evaluate_profile(p, defs, now)
        except Exception as e:  # one broken document must not stall the pass for everyone
            result.unevaluable[p["id"]] = f"{type(e).__name__}: {e}"
            continue
        after = _state(p)
        if before != after:
            changed.append(p)
            outcomes[p["id"]] = out
            announce.outcome(p, out, None)
    if not changed:
        return result
    await store.write_profiles(conn, changed)
    await store.write_leads(conn, changed)
    ids = await store.add_outbox(conn, announce.messages)
    result.outbox = [(i, *m) for i, m in zip(ids, announce.messages, strict=True)]
    pipe = redis.pipeline(transaction=False)
    for p in changed:
        out = outcomes[p["id"]]
        readmodel.put(pipe, p, out.entered, out.left)
    await pipe.execute()
    result.applied = len(changed)
    return result
