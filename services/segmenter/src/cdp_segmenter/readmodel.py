"""The Redis read model: what the console and personalization read without touching
Postgres. Rebuildable from Postgres at any time; written in one pipeline per batch.

    {prefix}p:{profileId}    JSON summary (see ``summary``), expires after the TTL
    {prefix}aid:{anonId}     the profile id an anonymousId belongs to, expires after the TTL
    {prefix}seg:{segmentId}  set of the profile ids in the segment
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio.client import Pipeline

from cdp_segmenter.logic.profile import sessions

TRAIT_MAX = 64  # longer trait values stay in Postgres


def summary(p: Mapping[str, Any]) -> bytes:
    """What a page personalization needs in one GET (the id is in the key; lastSeen in
    epoch seconds)."""
    traits = {
        k: v["value"]
        for k, v in p["traits"].items()
        if isinstance(v["value"], (int, float, bool)) or (isinstance(v["value"], str) and len(v["value"]) <= TRAIT_MAX)
    }
    score = p.get("score", 0)
    return orjson.dumps(
        {
            "stage": p.get("stage", "anonymous"),
            "score": int(score) if float(score).is_integer() else score,
            "segments": p.get("segments", []),
            "pageViews": p["pageViews"],
            "sessions": sessions(p),
            "lastSeen": int(p["lastSeen"] or 0),
            "traits": traits,
        }
    )


class ReadModel:
    def __init__(self, prefix: str, ttl_s: int) -> None:
        self.prefix = prefix
        self.ttl_s = ttl_s

    def profile_key(self, pid: str) -> str:
        return f"{self.prefix}p:{pid}"

    def aid_key(self, anonymous_id: str) -> str:
        return f"{self.prefix}aid:{anonymous_id}"

    def segment_key(self, segment_id: str) -> str:
        return f"{self.prefix}seg:{segment_id}"

    def put(self, pipe: Pipeline, p: Mapping[str, Any], entered: tuple[str, ...], left: tuple[str, ...]) -> None:
        pipe.set(self.profile_key(p["id"]), summary(p), ex=self.ttl_s)
        for sid in entered:
            pipe.sadd(self.segment_key(sid), p["id"])
        for sid in left:
            pipe.srem(self.segment_key(sid), p["id"])

    def link(self, pipe: Pipeline, anonymous_id: str, pid: str) -> None:
        pipe.set(self.aid_key(anonymous_id), pid, ex=self.ttl_s)

    def drop(self, pipe: Pipeline, pid: str, segments: list[str]) -> None:
        pipe.delete(self.profile_key(pid))
        for sid in segments:
            pipe.srem(self.segment_key(sid), pid)
