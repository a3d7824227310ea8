"""Helpers shared by integration and e2e tests: running services as real processes,
reading what reached a topic."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / ".data" / "logs" / "tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """A service started as its own OS process, with its log in .data/logs/tests/."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOGS / f"{name}-{os.getpid()}-{time.time_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT
        )

    def wait_http(self, url: str, *, status: int = 200, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                r = httpx.get(url, timeout=2)
                if r.status_code == status:
                    return
                last = r.status_code
            except httpx.HTTPError as e:
                last = e
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not answering {status} at {url} (last: {last}):\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self, sig: int | None = None) -> None:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


# How a processor can run: the engine on either Kafka client, or the faust adapter.
RUNNERS = ("confluent", "aiokafka", "faust")


def runner_env(prefix: str, runner: str) -> dict[str, str]:
    """Environment that runs a processor (``CDP_ENRICHER``, ``CDP_SEGMENTER``, ``CDP_SYNC``) as ``runner``."""
    if runner == "faust":
        return {f"{prefix}_RUNNER": "faust"}
    return {f"{prefix}_RUNNER": "engine", "CDP_KAFKA_CLIENT": runner}


async def wait_for(check: Callable[[], Any], within: float = 30, what: str = "condition") -> None:
    """Until ``await check()`` is true, polling; fails with ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {within}s")


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


class TopicTail:
    """Reads a topic from the end offsets it had when created, so a test sees only the
    records produced after that moment (other tests share the topic)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> TopicTail:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        await self.consumer.start()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([self.topic])
        finally:
            await admin.close()
        partitions = {p["partition"] for d in described for p in d["partitions"]}
        assert partitions, f"topic {self.topic} does not exist (run `cdp topics`)"
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve now, before anything is produced
        return self

    async def collect(
        self, match: Callable[[dict[str, Any]], bool], *, want: int, within: float = 15, settle: float = 1.0
    ) -> list[dict[str, Any]]:
        """Matching records (parsed JSON, with ``_key``, ``_partition``, ``_offset``), until
        ``want`` are seen and then ``settle`` more seconds pass without extras (so a
        duplicate would be seen), or the timeout."""
        assert self.consumer is not None
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        settle_until: float | None = None
        while time.monotonic() < deadline:
            batches = await self.consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for r in records:
                    value = orjson.loads(r.value)
                    value["_key"] = r.key.decode() if r.key else None
                    value["_partition"], value["_offset"] = r.partition, r.offset
                    if match(value):
                        got.append(value)
            if len(got) >= want:
                settle_until = settle_until or time.monotonic() + settle
                if time.monotonic() >= settle_until:
                    break
        return got

    async def stop(self) -> None:
        if self.consumer is not None:
            await asyncio.wait_for(self.consumer.stop(), 10)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The end offset of every partition of ``topic`` now."""
    from cdp_common.kafka_access import KafkaAccess
    from cdp_common.rejects import partitions_of

    tps = [TopicPartition(topic, p) for p in await partitions_of(KafkaAccess(bootstrap), topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def group_caught_up(bootstrap: str, group: str, topic: str, since: Mapping[int, int] | None = None) -> bool:
    """Whether ``group`` has committed up to the end of every partition of ``topic``; with
    ``since`` (``end_offsets`` taken earlier), only of the partitions written to after it (a
    group that started at ``latest`` never commits a partition nothing reached it on)."""
    from cdp_common.kafka_access import KafkaAccess
    from cdp_common.rejects import partitions_of

    tps = [TopicPartition(topic, p) for p in await partitions_of(KafkaAccess(bootstrap), topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        moved = [tp for tp in tps if since is None or ends[tp] > since.get(tp.partition, 0)]
        committed = [await consumer.committed(tp) or 0 for tp in moved]
        return all(c >= ends[tp] for c, tp in zip(committed, moved, strict=True))
    finally:
        await consumer.stop()
