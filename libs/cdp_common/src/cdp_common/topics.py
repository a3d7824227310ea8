"""Topic names and their default layout, declared once for every service."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Topic(StrEnum):
    HITS_RAW = "cdp.hits.raw"
    HITS_ENRICHED = "cdp.hits.enriched"
    HITS_REJECTED = "cdp.hits.rejected"
    SEGMENT_CHANGES = "cdp.segments.changes"
    LEADS_QUALIFIED = "cdp.leads.qualified"
    LEADS_FAILED = "cdp.leads.failed"
    PRIVACY_ERASURES = "cdp.privacy.erasures"


HOUR_MS = 3_600_000

# A record a replay put back on its stage's input carries this header (value: the replay's
# id); the enricher passes it on, and the segmenter applies a replayed event it has applied
# before as a correction of what enrichment decided, never as a second occurrence.
REPLAY_HEADER = "cdp-replay"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"
    description: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    replication_factor: int = 1
    min_insync_replicas: int | None = None

    def configs(self) -> dict[str, str]:
        out = {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy, **dict(self.extra)}
        if self.min_insync_replicas is not None:
            out["min.insync.replicas"] = str(self.min_insync_replicas)
        return out


# Defaults. The raw topic holds full client IPs, so it is kept short (24 h): long enough
# to replay a day of enrichment, short enough that un-anonymized IPs do not linger.
DEFAULT_RETENTION_HOURS: dict[Topic, float] = {
    Topic.HITS_RAW: 24,
    Topic.HITS_ENRICHED: 7 * 24,
    Topic.HITS_REJECTED: 7 * 24,
    Topic.SEGMENT_CHANGES: 7 * 24,
    Topic.LEADS_QUALIFIED: 30 * 24,
    Topic.LEADS_FAILED: 30 * 24,
    # an erasure request names the person's emails: kept only as long as the destinations
    # need to carry it out (the syncer consumes it within seconds when they are up)
    Topic.PRIVACY_ERASURES: 7 * 24,
}

# Person-level topics keyed by profile id are also compacted, so that the tombstone an
# erasure writes removes that person's records within a day (not at the end of retention).
_FORGET_WITHIN_A_DAY = (
    ("max.compaction.lag.ms", str(24 * HOUR_MS)),
    ("segment.ms", str(6 * HOUR_MS)),
    ("delete.retention.ms", str(HOUR_MS)),
)
COMPACTED: dict[Topic, tuple[tuple[str, str], ...]] = {
    Topic.LEADS_QUALIFIED: _FORGET_WITHIN_A_DAY,
    Topic.LEADS_FAILED: _FORGET_WITHIN_A_DAY,
}

DESCRIPTIONS: dict[Topic, str] = {
    Topic.HITS_RAW: "RawHit: every event the collector accepted, keyed by anonymousId (else userId)",
    Topic.HITS_ENRICHED: "EnrichedHit: raw hit plus campaign, channel, device, bot, geo and trait hints",
    Topic.HITS_REJECTED: "Rejected: input a stage refused, with reason, stage and original bytes",
    Topic.SEGMENT_CHANGES: "SegmentChange: a profile entered or left a segment, keyed by profile id",
    Topic.LEADS_QUALIFIED: "QualifiedLead (cdp.lead/v1): a known profile qualified or changed, keyed by profile id",
    Topic.LEADS_FAILED: "Leads a destination refused permanently, with the destination's error",
    Topic.PRIVACY_ERASURES: "Erasure (cdp.erasure/v1): a person was erased; the syncer deletes them everywhere",
}


def topic_specs(
    *,
    partitions: int,
    partition_overrides: dict[str, int] | None = None,
    retention_hours: dict[str, float] | None = None,
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
) -> list[TopicSpec]:
    """The wanted layout of every topic, defaults merged with configured overrides."""
    partition_overrides = partition_overrides or {}
    retention_hours = retention_hours or {}
    unknown = (set(partition_overrides) | set(retention_hours)) - {t.value for t in Topic}
    if unknown:
        raise ValueError(f"unknown topic(s) in overrides: {sorted(unknown)}")
    specs = []
    for topic in Topic:
        hours = retention_hours.get(topic.value, DEFAULT_RETENTION_HOURS[topic])
        specs.append(
            TopicSpec(
                name=topic.value,
                partitions=partition_overrides.get(topic.value, partitions),
                retention_ms=int(hours * HOUR_MS),
                cleanup_policy="compact,delete" if topic in COMPACTED else "delete",
                description=DESCRIPTIONS[topic],
                extra=COMPACTED.get(topic, ()),
                replication_factor=replication_factor,
                min_insync_replicas=min_insync_replicas,
            )
        )
    return specs
