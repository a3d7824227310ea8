"""aiokafka producer, consumer and admin factories for tools and tests, plus idempotent topic
management. Processors do not use these: the stream engine (``cdp_common.stream``) owns
their Kafka work."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cdp_common.partitioner import CachedDefaultPartitioner
from cdp_common.settings import CommonSettings
from cdp_common.topics import TopicSpec

logger = logging.getLogger(__name__)


def make_producer(settings: CommonSettings, *, client_id: str, **overrides: Any) -> AIOKafkaProducer:
    """A durable producer: acks=all, idempotent, small linger to batch concurrent sends."""
    options: dict[str, Any] = {
        **settings.kafka_access().aiokafka(),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
        "partitioner": CachedDefaultPartitioner(),
        "request_timeout_ms": 30_000,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(
    settings: CommonSettings, *topics: str, group_id: str | None, client_id: str, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer that never auto-commits: callers commit after their work is durable."""
    options: dict[str, Any] = {
        **settings.kafka_access().aiokafka(),
        "group_id": group_id,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def make_admin(settings: CommonSettings, *, client_id: str = "cdp-admin") -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**settings.kafka_access().aiokafka(), client_id=client_id)


@dataclass(frozen=True, slots=True)
class TopicReport:
    name: str
    action: str  # created, ok, partitions-increased, configs-updated
    partitions: int
    detail: str = ""


async def ensure_topics(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], *, verify_only: bool = False
) -> list[TopicReport]:
    """Create missing topics, grow partition counts and align configs. Idempotent.

    With ``verify_only`` nothing is changed; mismatches are reported as ``missing``,
    ``partitions-differ`` or ``configs-differ``. Partitions are never shrunk (Kafka
    cannot); a topic with more partitions than wanted is left as it is.
    """
    existing = set(await admin.list_topics())
    reports: list[TopicReport] = []
    to_create = [s for s in specs if s.name not in existing]
    if to_create and not verify_only:
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs()) for s in to_create]
        )
        for name, code, *rest in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"could not create topic {name}: error {code} {rest[0] if rest else ''}")
        await _wait_visible(admin, {s.name: s.partitions for s in to_create})
    for s in to_create:
        reports.append(TopicReport(s.name, "missing" if verify_only else "created", s.partitions))

    present = [s for s in specs if s.name in existing]
    if not present:
        return reports
    described = await admin.describe_topics([s.name for s in present])
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    resources = [ConfigResource(ConfigResourceType.TOPIC, s.name) for s in present]
    config_answers = await admin.describe_configs(resources)
    current_configs: dict[str, dict[str, str]] = {}
    for answer in config_answers:
        for name, _code, _msg, _type, entries in _resources_of(answer):
            current_configs[name] = {e[0]: e[1] for e in entries}

    for s in present:
        have = partitions.get(s.name, 0)
        actions = []
        if have < s.partitions:
            if verify_only:
                actions.append(f"partitions-differ ({have} < {s.partitions})")
            else:
                await admin.create_partitions({s.name: NewPartitions(s.partitions)})
                await _wait_visible(admin, {s.name: s.partitions})
                actions.append(f"partitions-increased ({have} -> {s.partitions})")
                have = s.partitions
        wanted = s.configs()
        current = current_configs.get(s.name, {})
        diff = {k: v for k, v in wanted.items() if current.get(k) != v}
        if diff:
            if verify_only:
                actions.append(f"configs-differ {diff}")
            else:
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, s.name, configs=wanted)])
                actions.append(f"configs-updated {diff}")
        reports.append(TopicReport(s.name, ", ".join(actions) or "ok", have))
    return reports


_TOPIC_ALREADY_EXISTS = 36


async def _wait_visible(admin: AIOKafkaAdminClient, want: dict[str, int], timeout_s: float = 15.0) -> None:
    """Topic creation and partition growth are asynchronous in Kafka: wait until the
    metadata shows every partition with a leader, so callers can use the topics at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        described = await admin.describe_topics(list(want))
        ready = {
            d["topic"]
            for d in described
            if d.get("error_code", 0) == 0
            and len(d["partitions"]) >= want.get(d["topic"], 0)
            and all(p["leader"] >= 0 for p in d["partitions"])
        }
        if ready >= set(want):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not ready after {timeout_s}s: {sorted(set(want) - ready)}")
        await asyncio.sleep(0.1)


def _resources_of(answer: Any) -> list[tuple[Any, ...]]:
    """DescribeConfigs responses: [(error_code, error_message, type, name, entries)]."""
    out = []
    for res in answer.resources:
        _err, _msg, rtype, name, entries = res[:5]
        out.append((name, _err, _msg, rtype, entries))
    return out
