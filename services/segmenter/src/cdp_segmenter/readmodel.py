"""The Redis read model: what the console and personalization read without touching
Postgres. Rebuildable from Postgres at any time; written in one pipeline per batch. The
key layout is ``cdp_common.hotkeys.RedisKeys``; the summary's shape is ``summary`` here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio.client import Pipeline

from cdp_common import consent
from cdp_common.definitions.conditions import sessions
from cdp_common.hotkeys import RedisKeys

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
            # may page content be chosen from this profile (cdp_common.consent)
            "personalize": consent.allowed(p.get("consent"), consent.PERSONALIZATION),
        }
    )


class ReadModel:
    def __init__(self, prefix: str, ttl_s: int) -> None:
        self.keys = RedisKeys(prefix)
        self.ttl_s = ttl_s

    def put(self, pipe: Pipeline, p: Mapping[str, Any], entered: tuple[str, ...], left: tuple[str, ...]) -> None:
        pipe.set(self.keys.profile(p["id"]), summary(p), ex=self.ttl_s)
        for sid in entered:
            pipe.sadd(self.keys.segment(sid), p["id"])
        for sid in left:
            pipe.srem(self.keys.segment(sid), p["id"])

    def link(self, pipe: Pipeline, anonymous_id: str, pid: str) -> None:
        pipe.set(self.keys.anonymous(anonymous_id), pid, ex=self.ttl_s)

    def drop(self, pipe: Pipeline, pid: str, segments: list[str]) -> None:
        pipe.delete(self.keys.profile(pid))
        for sid in segments:
            pipe.srem(self.keys.segment(sid), pid)
