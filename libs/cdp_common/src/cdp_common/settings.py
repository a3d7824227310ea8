"""Settings from the environment (prefix ``CDP_``) and an optional ``.env`` file.

One class per concern; services build the ones they need in their wiring code and pass
them down. Nothing here is instantiated at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cdp_common.kafka_access import KafkaAccess, check
from cdp_common.topics import Topic

# Where settings come from, weakest first: the config file the local start script writes
# (``$CDP_CONFIG``, default ``.data/cdp.env``: what ``make up`` gave the services), then a
# ``.env`` in the working directory, then the environment. Services and ``cdp`` commands
# read the same sources, so an operational command sees the services' configuration.
CONFIG_FILE = os.environ.get("CDP_CONFIG", str(Path(os.environ.get("CDP_DATA_DIR", ".data")) / "cdp.env"))


def _config(prefix: str = "CDP_") -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=(CONFIG_FILE, ".env"), extra="ignore")


class CommonSettings(BaseSettings):
    """What every process needs: where the infrastructure is and how to log."""

    model_config = _config()

    env: Literal["dev", "test", "production"] = "dev"
    log_level: str = "INFO"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # the Kafka client of the stream engine and the collector: librdkafka (confluent-kafka)
    # or aiokafka; same guarantees, librdkafka costs less CPU per record (docs/performance.md)
    kafka_client: Literal["confluent", "aiokafka"] = "confluent"
    # a secured cluster (cdp_common.kafka_access): TLS with a private CA, client
    # certificates, SASL users (SCRAM as Strimzi's KafkaUser gives them)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_check_hostname: bool = True
    pg_dsn: SecretStr = SecretStr("postgresql://cdp:cdp@127.0.0.1:5432/cdp")
    redis_url: str = "redis://127.0.0.1:6379/0"
    # a Redis Cluster at redis_url (any node): keys are spread over the masters by slot,
    # pipelines are split by slot, and nothing needs two keys of different slots at once
    redis_cluster: bool = False
    # where a stream process serves /metrics, /health and /health/live: loopback by default;
    # 0.0.0.0 in a container, so probes and Prometheus reach it (deploy/helm sets it)
    metrics_host: str = "127.0.0.1"

    @model_validator(mode="after")
    def _kafka_access_complete(self) -> CommonSettings:
        problems = check(self.kafka_access())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def kafka_access(self) -> KafkaAccess:
        """How every Kafka client of this process reaches the cluster."""
        return KafkaAccess.of(self)


class TopicSettings(BaseSettings):
    """Topic layout: ``CDP_TOPIC_PARTITIONS=8``,
    ``CDP_TOPIC_PARTITION_OVERRIDES='{"cdp.hits.raw": 12}'``,
    ``CDP_TOPIC_RETENTION_HOURS='{"cdp.hits.raw": 6}'``; on a cluster of three brokers,
    ``CDP_TOPIC_REPLICATION_FACTOR=3`` and ``CDP_TOPIC_MIN_INSYNC_REPLICAS=2``."""

    model_config = _config("CDP_TOPIC_")

    partitions: int = Field(default=4, ge=1, le=1000)
    partition_overrides: dict[str, int] = Field(default_factory=dict)
    retention_hours: dict[str, float] = Field(default_factory=dict)
    # copies of each partition, and how many must have a write before it is acknowledged
    # (producers use acks=all): with 3 and 2, one broker can be lost without losing a write
    replication_factor: int = Field(default=1, ge=1, le=16)
    min_insync_replicas: int | None = Field(default=None, ge=1, le=16)

    @field_validator("partition_overrides", "retention_hours")
    @classmethod
    def _known_topics(cls, v: dict[str, object]) -> dict[str, object]:
        known = {t.value for t in Topic}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown topic(s) {unknown}; known: {sorted(known)}")
        return v

    @model_validator(mode="after")
    def _insync_within_replicas(self) -> TopicSettings:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) above replication_factor "
                f"({self.replication_factor}): no write could ever be acknowledged"
            )
        return self


class CollectorSettings(BaseSettings):
    """The HTTP edge: ``CDP_COLLECTOR_*``."""

    model_config = _config("CDP_COLLECTOR_")

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(default=1, ge=1, le=64)
    # Requests from these proxies may set the client IP with X-Forwarded-For.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    cookie_secure: bool = False
    cookie_domain: str | None = None
    # How long a request may wait for the broker's acknowledgement before it gets a 503.
    produce_timeout_s: float = Field(default=5.0, gt=0)
    # Small: each request awaits its ack, so linger is pure latency (bench: 2 ms beat 5 and 20)
    linger_ms: int = Field(default=2, ge=0)
    max_event_bytes: int = 32 * 1024
    max_request_bytes: int = 500 * 1024
    sources_refresh_s: float = Field(default=5.0, gt=0, le=10)
    # Where browsers reach the collector (https://collect.example.com), written into the SDK
    # settings documents (analytics-next's apiHost); unset: the Host of each request
    public_url: str | None = None
    # topics (defaults: the pipeline's; other values serve benchmarks and side environments)
    raw_topic: str = Topic.HITS_RAW.value
    rejected_topic: str = Topic.HITS_REJECTED.value


class EnricherSettings(BaseSettings):
    """The enricher: ``CDP_ENRICHER_*``."""

    model_config = _config("CDP_ENRICHER_")

    group_id: str = "cdp-enricher"
    # the stream engine (default) or the faust-streaming adapter; the same processor either way
    runner: Literal["engine", "faust"] = "engine"
    # topics (defaults: the pipeline's; other values serve benchmarks and side environments)
    input_topic: str = Topic.HITS_RAW.value
    output_topic: str = Topic.HITS_ENRICHED.value
    rejected_topic: str = Topic.HITS_REJECTED.value
    # where a new consumer group starts; a group with committed offsets resumes from them
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    batch_size: int = Field(default=2000, ge=1)
    batch_within_s: float = Field(default=0.05, gt=0)
    rules_refresh_s: float = Field(default=5.0, gt=0, le=10)
    metrics_port: int = 9101
    ua_cache_size: int = Field(default=50_000, ge=0)
    # the key-value convention inside one UTM parameter; an empty parameter disables it
    kv_parameter: str = "utm_content"
    kv_pair_separator: str = "|"
    kv_separator: str = ":"
    # precedence per campaign field, e.g. '{"campaign": ["utm_campaign", "cid", "context.name"]}'
    campaign_precedence: dict[str, list[str]] = Field(default_factory=dict)
    # stop when more than this share of the last `guard_window` records were rejected
    guard_window: int = Field(default=1000, ge=10)
    guard_max_ratio: float = Field(default=0.5, gt=0, le=1)


class SegmenterSettings(BaseSettings):
    """The segmenter: ``CDP_SEGMENTER_*``."""

    model_config = _config("CDP_SEGMENTER_")

    group_id: str = "cdp-segmenter"
    # the stream engine (default) or the faust-streaming adapter; the same processor either way
    runner: Literal["engine", "faust"] = "engine"
    input_topic: str = Topic.HITS_ENRICHED.value
    changes_topic: str = Topic.SEGMENT_CHANGES.value
    leads_topic: str = Topic.LEADS_QUALIFIED.value
    rejected_topic: str = Topic.HITS_REJECTED.value
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    batch_size: int = Field(default=1000, ge=1)
    batch_within_s: float = Field(default=0.05, gt=0)
    definitions_refresh_s: float = Field(default=5.0, gt=0, le=10)
    metrics_port: int = 9102
    # a messageId is applied at most once within this window; keep it longer than the
    # enriched topic's retention so no replay can apply an event twice
    dedup_window_hours: float = Field(default=8 * 24, gt=0)
    # events that count as conversions on the profile (a qualifying event is set in definitions)
    conversion_events: list[str] = Field(
        default_factory=lambda: ["Form Submitted", "Signed Up", "Demo Requested", "Order Completed"]
    )
    calculator_events: list[str] = Field(default_factory=lambda: ["Calculator Completed"])
    # the Redis read model: key prefix, and how long a summary lives after its last change
    redis_prefix: str = "cdp:"
    redis_ttl_days: float = Field(default=90, gt=0)
    pg_pool_size: int = Field(default=4, ge=2, le=64)
    # background passes: re-evaluation after a definitions change, pending lead updates, outbox
    reevaluate_chunk: int = Field(default=500, ge=1)
    outbox_grace_s: float = Field(default=30.0, ge=0)
    # how often each segment's size is recorded (segment_sizes: one row per hour, the last count)
    segment_sizes_s: float = Field(default=300.0, gt=0)


# where leads can go: marketing automation, a webhook, and conversions to ad platforms
DESTINATIONS = ("hubspot", "mautic", "webhook", "linkedin", "google_ads", "meta")


class SyncerSettings(BaseSettings):
    """The syncer: ``CDP_SYNC_*`` (destinations and delivery policy)."""

    model_config = _config("CDP_SYNC_")

    destinations: str = "webhook"  # comma list of DESTINATIONS
    group_id: str = "cdp-syncer"
    runner: Literal["engine", "faust"] = "engine"
    input_topic: str = Topic.LEADS_QUALIFIED.value
    failed_topic: str = Topic.LEADS_FAILED.value
    erasures_topic: str = Topic.PRIVACY_ERASURES.value
    erasure_poll_s: float = Field(default=1.0, gt=0)
    # segment and consent changes: synced audiences follow them (cdp audiences add)
    segments_topic: str = Topic.SEGMENT_CHANGES.value
    audience_poll_s: float = Field(default=1.0, gt=0)
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    batch_size: int = Field(default=500, ge=1)
    batch_within_s: float = Field(default=0.2, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    # retries of 429/5xx/timeouts: backoff with full jitter, Retry-After as a floor
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_cap_s: float = Field(default=60.0, gt=0)
    # how long a lead may keep failing transiently before it is recorded as failed
    max_age_s: float = Field(default=24 * 3600.0, gt=0)
    # token bucket per destination: requests per window, e.g. '{"hubspot": [100, 10]}'
    rate_limits: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "hubspot": (100.0, 10.0),
            "mautic": (50.0, 10.0),
            "webhook": (50.0, 1.0),
            "linkedin": (10.0, 1.0),
            "google_ads": (5.0, 1.0),
            "meta": (10.0, 1.0),
        }
    )
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, gt=0)
    # each destination's queue (Postgres): how many leads one claim takes, how long a claim
    # is held (a crashed worker's leads are due again after it), how often an idle queue looks
    claim_size: int = Field(default=200, ge=1)
    lease_s: float = Field(default=60.0, gt=0)
    queue_poll_s: float = Field(default=1.0, gt=0)
    metrics_port: int = 9103

    @field_validator("destinations")
    @classmethod
    def _known_destinations(cls, v: str) -> str:
        names = [d.strip() for d in v.split(",") if d.strip()]
        unknown = sorted(set(names) - set(DESTINATIONS))
        if unknown:
            raise ValueError(f"unknown destination(s) {unknown}; use {', '.join(DESTINATIONS)}")
        return ",".join(names)

    def destination_names(self) -> list[str]:
        return [d for d in self.destinations.split(",") if d]


class HubSpotSettings(BaseSettings):
    """``CDP_HUBSPOT_*``: the real API by default; `make up` points it at the sandbox."""

    model_config = _config("CDP_HUBSPOT_")

    base_url: str = "https://api.hubapi.com"
    token: SecretStr = SecretStr("")
    # lead field -> HubSpot property; overrides merge over the defaults, "" leaves a field out
    property_map: dict[str, str] = Field(default_factory=dict)
    batch_size: int = Field(default=100, ge=1, le=100)  # HubSpot's batch limit is 100
    # on start, create the mapped custom properties the portal lacks (needs the token scope
    # crm.schemas.contacts.write); `cdp destinations bootstrap hubspot` does it by hand
    bootstrap: bool = True


class MauticSettings(BaseSettings):
    """``CDP_MAUTIC_*``."""

    model_config = _config("CDP_MAUTIC_")

    base_url: str = "http://127.0.0.1:8091"
    user: str = ""
    password: SecretStr = SecretStr("")
    field_map: dict[str, str] = Field(default_factory=dict)
    # on start, create the mapped custom fields the instance lacks (Mautic drops values of
    # unknown fields silently); `cdp destinations bootstrap mautic` does it by hand
    bootstrap: bool = True


class WebhookSettings(BaseSettings):
    """``CDP_WEBHOOK_*``: Standard Webhooks signing with ``secret`` (``whsec_<base64>``)."""

    model_config = _config("CDP_WEBHOOK_")

    url: str = "http://127.0.0.1:8091/webhook"
    secret: SecretStr = SecretStr("")


class LinkedInSettings(BaseSettings):
    """``CDP_LINKEDIN_*``: the Conversions API (off until ``linkedin`` is a destination)."""

    model_config = _config("CDP_LINKEDIN_")

    base_url: str = "https://api.linkedin.com"
    token: SecretStr = SecretStr("")  # an access token with the rw_conversions scope
    conversion: str = ""  # the conversion rule's URN: urn:lla:llaPartnerConversion:<id>
    version: str = "202511"  # the LinkedIn-Version header (YYYYMM)


class GoogleAdsSettings(BaseSettings):
    """``CDP_GOOGLE_ADS_*``: click conversion upload (off until ``google_ads`` is a destination)."""

    model_config = _config("CDP_GOOGLE_ADS_")

    base_url: str = "https://googleads.googleapis.com"
    version: str = "v22"
    customer_id: str = ""  # digits, no dashes
    conversion_action: str = ""  # an id or customers/<id>/conversionActions/<id>
    token: SecretStr = SecretStr("")  # an OAuth access token for the adwords scope
    developer_token: SecretStr = SecretStr("")
    login_customer_id: str = ""  # the manager account, when access goes through one
    value: float = 1.0
    currency: str = "EUR"


class MetaSettings(BaseSettings):
    """``CDP_META_*``: the Conversions API (off until ``meta`` is a destination)."""

    model_config = _config("CDP_META_")

    base_url: str = "https://graph.facebook.com"
    version: str = "v24.0"
    pixel_id: str = ""  # the dataset (pixel) id
    token: SecretStr = SecretStr("")  # a system user's access token
    event_name: str = "Lead"


class ConsoleSettings(BaseSettings):
    """The console: ``CDP_CONSOLE_*``."""

    model_config = _config("CDP_CONSOLE_")

    host: str = "127.0.0.1"
    port: int = 8090
    redis_prefix: str = "cdp:"
    # personalization: browsers call it with a source write key, from that source's origins;
    # each (source, client address) may make this many requests per second, after a burst
    personalize_rate: float = Field(default=10.0, gt=0)
    personalize_burst: int = Field(default=30, ge=1)
    refresh_s: float = Field(default=5.0, gt=0, le=10)
    leads_topic: str = Topic.LEADS_QUALIFIED.value
    leads_failed_topic: str = Topic.LEADS_FAILED.value
    erasures_topic: str = Topic.PRIVACY_ERASURES.value
