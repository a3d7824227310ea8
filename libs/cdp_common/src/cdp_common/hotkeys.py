"""The Redis key layout of the hot read model, once for every service: the segmenter
writes it, the console and personalization read it, erasure deletes from it.

    {prefix}p:{profileId}    JSON summary of a profile, expires after the TTL
    {prefix}aid:{anonId}     the profile id an anonymousId belongs to, expires after the TTL
    {prefix}seg:{segmentId}  set of the profile ids in the segment
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str = "cdp:"

    def profile(self, profile_id: str) -> str:
        return f"{self.prefix}p:{profile_id}"

    @property
    def profile_prefix(self) -> str:
        return f"{self.prefix}p:"

    def anonymous(self, anonymous_id: str) -> str:
        return f"{self.prefix}aid:{anonymous_id}"

    def segment(self, segment_id: str) -> str:
        return f"{self.prefix}seg:{segment_id}"
