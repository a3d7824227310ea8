"""Fixtures for the real infrastructure.

Where it comes from, in order:
1. ``CDP_KAFKA_BOOTSTRAP`` / ``CDP_PG_DSN`` / ``CDP_REDIS_URL`` in the environment (``make test``
   sets them and starts the native services);
2. when none is set and a Docker engine answers, testcontainers starts Kafka, Postgres, Redis;
3. otherwise the defaults (127.0.0.1).
A service that does not answer fails the run under ``CI=true`` and skips its tests elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

ENV_KEYS = ("CDP_KAFKA_BOOTSTRAP", "CDP_PG_DSN", "CDP_REDIS_URL")
# the tests and the services they start never read a developer's .data/cdp.env (what
# `make up` wrote); a test that wants a config file names one
os.environ["CDP_CONFIG"] = os.devnull
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    pg_dsn: str
    redis_url: str


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    if "://" not in url:
        url = "tcp://" + url.split(",")[0]
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _unavailable(what: str) -> None:
    msg = f"{what} is not reachable (start it with `make infra-up`, or set the CDP_* variables)"
    if IN_CI:
        pytest.fail(msg + " [CI=true: a missing service fails the run]", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    containers = []
    if not any(k in os.environ for k in ENV_KEYS) and _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        kafka = KafkaContainer("apache/kafka:4.1.1").with_kraft()
        pg = PostgresContainer("postgres:15", username="cdp", password="cdp", dbname="cdp")
        rd = RedisContainer("redis:7")
        for c in (kafka, pg, rd):
            c.start()
            containers.append(c)
        found = Infra(
            kafka_bootstrap=kafka.get_bootstrap_server(),
            pg_dsn=pg.get_connection_url(driver=None),
            redis_url=f"redis://{rd.get_container_host_ip()}:{rd.get_exposed_port(6379)}/0",
        )
        os.environ.update(
            CDP_KAFKA_BOOTSTRAP=found.kafka_bootstrap, CDP_PG_DSN=found.pg_dsn, CDP_REDIS_URL=found.redis_url
        )
    else:
        found = Infra(
            kafka_bootstrap=os.environ.get("CDP_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            pg_dsn=os.environ.get("CDP_PG_DSN", "postgresql://cdp:cdp@127.0.0.1:5432/cdp"),
            redis_url=os.environ.get("CDP_REDIS_URL", "redis://127.0.0.1:6379/0"),
        )
    try:
        yield found
    finally:
        for c in containers:
            c.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    if not _reachable(*_host_port(infra.kafka_bootstrap, 9092)):
        _unavailable(f"Kafka at {infra.kafka_bootstrap}")
    return infra.kafka_bootstrap


@pytest.fixture(scope="session")
def pg_dsn(infra: Infra) -> str:
    if not _reachable(*_host_port(infra.pg_dsn, 5432)):
        _unavailable("Postgres")
    return infra.pg_dsn


@pytest.fixture(scope="session")
def redis_url(infra: Infra) -> str:
    if not _reachable(*_host_port(infra.redis_url, 6379)):
        _unavailable("Redis")
    return infra.redis_url


@pytest.fixture(scope="session")
def settings(kafka_bootstrap: str, pg_dsn: str, redis_url: str):  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from cdp_common.settings import CommonSettings

    return CommonSettings(kafka_bootstrap=kafka_bootstrap, pg_dsn=SecretStr(pg_dsn), redis_url=redis_url, env="test")


@pytest.fixture(scope="session")
async def migrated_pool(settings) -> AsyncIterator[object]:  # type: ignore[no-untyped-def]
    """A pool on the real database with every migration applied."""
    from cdp_common.migrate import load_migrations, migrate
    from cdp_common.pg import create_pool

    pool = await create_pool(settings, max_size=5)
    async with pool.acquire() as conn:
        await migrate(conn, load_migrations())
    yield pool
    await asyncio.wait_for(pool.close(), 10)
