"""Prometheus metric names, declared once. Services build the collectors they use with
``build`` on their own registry, so tests and several apps in one process do not clash."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class M(StrEnum):
    # collector
    HTTP_REQUESTS = "cdp_collector_http_requests_total"
    EVENTS_ACCEPTED = "cdp_collector_events_accepted_total"
    EVENTS_REJECTED = "cdp_collector_events_rejected_total"
    PRODUCE_LATENCY = "cdp_collector_produce_latency_seconds"
    PRODUCE_FAILURES = "cdp_collector_produce_failures_total"
    # enricher
    ENRICHER_RECORDS = "cdp_enricher_records_total"
    ENRICHER_BOTS = "cdp_enricher_bot_hits_total"
    ENRICHER_BATCH_SECONDS = "cdp_enricher_batch_seconds"
    ENRICHER_UA_CACHE = "cdp_enricher_ua_cache"
    ENRICHER_RULES = "cdp_enricher_rules"
    ENRICHER_REJECTED_RATIO = "cdp_enricher_rejected_ratio"
    ENRICHER_PLAN_VIOLATIONS = "cdp_enricher_plan_violations_total"
    # segmenter
    SEGMENTER_RECORDS = "cdp_segmenter_records_total"
    SEGMENTER_BATCH_SECONDS = "cdp_segmenter_batch_seconds"
    SEGMENTER_VISIBLE_SECONDS = "cdp_segmenter_visible_seconds"
    SEGMENTER_FRESHNESS_SECONDS = "cdp_segmenter_freshness_seconds"
    SEGMENTER_RETRIES = "cdp_segmenter_batch_retries_total"
    SEGMENTER_IDENTITY = "cdp_segmenter_identity_total"
    SEGMENTER_SEGMENT_CHANGES = "cdp_segmenter_segment_changes_total"
    SEGMENTER_LEADS = "cdp_segmenter_leads_total"
    SEGMENTER_DEFINITIONS = "cdp_segmenter_definitions"
    # syncer
    SYNCER_LEADS = "cdp_syncer_leads_total"
    SYNCER_REQUESTS = "cdp_syncer_requests_total"
    SYNCER_REQUEST_SECONDS = "cdp_syncer_request_seconds"
    SYNCER_BREAKER = "cdp_syncer_breaker_open"
    SYNCER_ERASURES = "cdp_syncer_erasures_total"
    SYNCER_QUEUE = "cdp_syncer_queue_leads"
    SYNCER_QUEUE_AGE = "cdp_syncer_queue_oldest_seconds"
    SYNCER_RETRIES = "cdp_syncer_retries_total"
    SYNCER_AUDIENCE = "cdp_syncer_audience_changes_total"
    # the stream engine (every processor, label ``stage``)
    STREAM_RECORDS_IN = "cdp_stream_records_in_total"
    STREAM_RECORDS_OUT = "cdp_stream_records_out_total"
    STREAM_REJECTED = "cdp_stream_rejected_total"
    STREAM_DROPPED = "cdp_stream_dropped_total"
    STREAM_BATCH_SIZE = "cdp_stream_batch_size"
    STREAM_BATCH_SECONDS = "cdp_stream_batch_seconds"
    STREAM_LAG = "cdp_stream_consumer_lag"
    STREAM_RETRIES = "cdp_stream_retries_total"
    STREAM_DEGRADED = "cdp_stream_degraded"
    STREAM_COMMITS = "cdp_stream_commits_total"


@dataclass(frozen=True, slots=True)
class MetricDef:
    kind: Literal["counter", "gauge", "histogram"]
    doc: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_VISIBLE_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# end to end, so finer around the quarter second an operator watches and longer for backlogs
_FRESHNESS_BUCKETS = (
    0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
    10.0, 30.0, 60.0, 300.0, 3600.0,
)  # fmt: skip

_BATCH_SIZES = (1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)

DEFS: dict[M, MetricDef] = {
    M.HTTP_REQUESTS: MetricDef("counter", "HTTP requests by route and status", ("route", "status")),
    M.EVENTS_ACCEPTED: MetricDef("counter", "Events durably published to cdp.hits.raw", ("type",)),
    M.EVENTS_REJECTED: MetricDef("counter", "Events refused at the edge, by reason", ("reason",)),
    M.PRODUCE_LATENCY: MetricDef("histogram", "Time from send to broker ack", (), _LATENCY_BUCKETS),
    M.PRODUCE_FAILURES: MetricDef("counter", "Requests answered 503 because the broker did not ack", ("cause",)),
    M.ENRICHER_RECORDS: MetricDef(
        "counter", "Raw records by outcome (emitted, rejected, dropped) and reason", ("outcome", "reason")
    ),
    M.ENRICHER_BOTS: MetricDef("counter", "Hits flagged as bots, by reason", ("reason",)),
    M.ENRICHER_PLAN_VIOLATIONS: MetricDef(
        "counter",
        "Tracking-plan violations by source id, planned event name ('(unplanned)' otherwise), type and action",
        ("source", "event", "type", "action"),
    ),
    M.ENRICHER_BATCH_SECONDS: MetricDef(
        "histogram", "Time to enrich and durably publish one batch", (), _LATENCY_BUCKETS
    ),
    M.ENRICHER_UA_CACHE: MetricDef("gauge", "User-agent cache lookups", ("result",)),
    M.ENRICHER_RULES: MetricDef("gauge", "Campaign rules in force"),
    M.ENRICHER_REJECTED_RATIO: MetricDef("gauge", "Share of the recent records that were rejected"),
    M.SEGMENTER_RECORDS: MetricDef(
        "counter", "Enriched records by outcome (applied, rejected, dropped) and reason", ("outcome", "reason")
    ),
    M.SEGMENTER_BATCH_SECONDS: MetricDef(
        "histogram", "Time to apply one batch to Postgres and Redis and publish its output", (), _LATENCY_BUCKETS
    ),
    M.SEGMENTER_VISIBLE_SECONDS: MetricDef(
        "histogram", "From the enriched record's Kafka timestamp to its profile written to Redis", (), _VISIBLE_BUCKETS
    ),
    M.SEGMENTER_FRESHNESS_SECONDS: MetricDef(
        "histogram",
        "From the collector's receipt of the event (receivedAt) to its profile written to Redis: end-to-end freshness",
        (),
        _FRESHNESS_BUCKETS,
    ),
    M.SEGMENTER_RETRIES: MetricDef("counter", "Batch transactions retried, by cause", ("cause",)),
    M.SEGMENTER_IDENTITY: MetricDef(
        "counter", "Identity graph changes: profiles created, ids linked, merges, refused merges", ("change",)
    ),
    M.SEGMENTER_SEGMENT_CHANGES: MetricDef("counter", "Segment entries and exits", ("change",)),
    M.SEGMENTER_LEADS: MetricDef("counter", "Lead events written (lead.qualified, lead.updated)", ("type",)),
    M.SEGMENTER_DEFINITIONS: MetricDef("gauge", "Definitions in force", ("kind",)),
    M.SYNCER_LEADS: MetricDef(
        "counter", "Leads by destination and final state (delivered, failed, superseded)", ("destination", "status")
    ),
    M.SYNCER_REQUESTS: MetricDef(
        "counter",
        "Requests to destinations by outcome of their leads (delivered, retry, permanent)",
        ("destination", "outcome"),
    ),
    M.SYNCER_REQUEST_SECONDS: MetricDef(
        "histogram", "Time of one request to a destination", ("destination",), _LATENCY_BUCKETS
    ),
    M.SYNCER_BREAKER: MetricDef(
        "gauge", "1 while the destination's circuit breaker is open (read when scraped)", ("destination",)
    ),
    M.SYNCER_QUEUE: MetricDef(
        "gauge", "Leads waiting in a destination's queue (due now, or scheduled for a retry)", ("destination", "state")
    ),
    M.SYNCER_QUEUE_AGE: MetricDef(
        "gauge", "Age of the oldest lead waiting in a destination's queue (0 when empty)", ("destination",)
    ),
    M.SYNCER_AUDIENCE: MetricDef(
        "counter",
        "People added to or removed from synced audiences, and drift a reconciliation repaired",
        ("destination", "change"),
    ),
    M.SYNCER_RETRIES: MetricDef(
        "counter",
        "Leads scheduled for another try, by why (throttled: 429; failing: 5xx, timeouts)",
        ("destination", "why"),
    ),
    M.SYNCER_ERASURES: MetricDef(
        "counter",
        "Erasure requests carried out at a destination, by result (deleted, absent, failed)",
        ("destination", "result"),
    ),
    M.STREAM_RECORDS_IN: MetricDef("counter", "Records consumed and handed to the processor", ("stage",)),
    M.STREAM_RECORDS_OUT: MetricDef("counter", "Records produced and acknowledged, by topic", ("stage", "topic")),
    M.STREAM_REJECTED: MetricDef("counter", "Input records sent to the rejected topic, by reason", ("stage", "reason")),
    M.STREAM_DROPPED: MetricDef("counter", "Input records dropped on purpose, by reason", ("stage", "reason")),
    M.STREAM_BATCH_SIZE: MetricDef("histogram", "Records per batch", ("stage",), _BATCH_SIZES),
    M.STREAM_BATCH_SECONDS: MetricDef(
        "histogram", "From a batch handed to the processor to its output acknowledged", ("stage",), _LATENCY_BUCKETS
    ),
    M.STREAM_LAG: MetricDef(
        "gauge",
        "Records behind the partition's end, counted from the last durable batch",
        ("stage", "topic", "partition"),
    ),
    M.STREAM_RETRIES: MetricDef(
        "counter", "Batches retried after a transient failure (store or broker), by where it failed", ("stage", "step")
    ),
    M.STREAM_DEGRADED: MetricDef("gauge", "1 while the stage is retrying a failing batch", ("stage",)),
    M.STREAM_COMMITS: MetricDef("counter", "Offset commits by result (ok, refused)", ("stage", "result")),
}


def build(name: M, registry: CollectorRegistry) -> Counter | Gauge | Histogram:
    d = DEFS[name]
    if d.kind == "counter":
        # prometheus_client appends _total itself
        return Counter(name.value.removesuffix("_total"), d.doc, d.labels, registry=registry)
    if d.kind == "gauge":
        return Gauge(name.value, d.doc, d.labels, registry=registry)
    return Histogram(name.value, d.doc, d.labels, registry=registry, buckets=d.buckets or Histogram.DEFAULT_BUCKETS)
