"""Topic layout and settings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cdp_common.settings import CollectorSettings, CommonSettings, TopicSettings
from cdp_common.topics import HOUR_MS, Topic, topic_specs


def test_every_topic_has_a_spec_and_raw_retention_is_short() -> None:
    specs = {s.name: s for s in topic_specs(partitions=4)}
    assert set(specs) == {t.value for t in Topic}
    assert specs["cdp.hits.raw"].retention_ms == 24 * HOUR_MS
    assert all(s.partitions == 4 for s in specs.values())


def test_overrides_apply_and_unknown_topics_are_refused() -> None:
    specs = {
        s.name: s
        for s in topic_specs(partitions=2, partition_overrides={"cdp.hits.raw": 8}, retention_hours={"cdp.hits.raw": 6})
    }
    assert specs["cdp.hits.raw"].partitions == 8
    assert specs["cdp.hits.raw"].retention_ms == 6 * HOUR_MS
    assert specs["cdp.hits.enriched"].partitions == 2
    with pytest.raises(ValueError, match="unknown topic"):
        topic_specs(partitions=1, retention_hours={"nope": 1})


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_KAFKA_BOOTSTRAP", "k:1")
    monkeypatch.setenv("CDP_PG_DSN", "postgresql://u:p@h/d")
    monkeypatch.setenv("CDP_COLLECTOR_PORT", "9999")
    monkeypatch.setenv("CDP_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("CDP_TOPIC_RETENTION_HOURS", '{"cdp.hits.raw": 2}')
    assert CommonSettings().kafka_bootstrap == "k:1"
    assert CommonSettings().pg_dsn.get_secret_value() == "postgresql://u:p@h/d"
    assert CollectorSettings().port == 9999
    assert TopicSettings().partitions == 12
    assert TopicSettings().retention_hours == {"cdp.hits.raw": 2}
    monkeypatch.setenv("CDP_TOPIC_PARTITION_OVERRIDES", '{"cdp.typo": 3}')
    with pytest.raises(ValidationError, match="unknown topic"):
        TopicSettings()


def test_settings_read_a_dotenv_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CDP_REDIS_URL", raising=False)
    (tmp_path / ".env").write_text("CDP_REDIS_URL=redis://elsewhere:6380/1\n")
    assert CommonSettings().redis_url == "redis://elsewhere:6380/1"


def test_replication_and_min_insync_reach_every_topic_and_min_insync_cannot_exceed_replicas() -> None:
    specs = topic_specs(partitions=3, replication_factor=3, min_insync_replicas=2)
    assert {s.replication_factor for s in specs} == {3}
    assert {s.configs()["min.insync.replicas"] for s in specs} == {"2"}
    assert "min.insync.replicas" not in topic_specs(partitions=3)[0].configs()  # the broker's default
    with pytest.raises(ValueError, match="above replication_factor"):
        TopicSettings(replication_factor=1, min_insync_replicas=2)
