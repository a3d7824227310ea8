"""The whole platform on infrastructure of its own (a private Kafka broker, Postgres and
Redis on free ports), every service a real process that a fault can kill -9 and restart."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from tests.helpers import ROOT, ServiceProcess, free_port, group_caught_up, python_module
from tests.integration.faults.infra import PrivateKafka, PrivatePostgres, PrivateRedis

WRITE_KEY = "chaos-write-key-0123456789"
GROUPS = {  # consumer group -> its input topic
    "cdp-enricher": "cdp.hits.raw",
    "cdp-segmenter": "cdp.hits.enriched",
    "cdp-syncer": "cdp.leads.qualified",
}
SECRET = "whsec_c2FuZGJveC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5"


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    health: str
    proc: ServiceProcess | None = None
    restarts: int = 0

    def start(self) -> None:
        self.proc = ServiceProcess(self.name, self.argv, self.env)
        self.proc.wait_http(self.health, timeout=90)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.stop(signal.SIGKILL)
        self.restarts += 1

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


@dataclass
class Platform:
    kafka: PrivateKafka = field(default_factory=PrivateKafka)
    postgres: PrivatePostgres = field(default_factory=PrivatePostgres)
    redis: PrivateRedis = field(default_factory=PrivateRedis)
    services: dict[str, Service] = field(default_factory=dict)
    collector_url: str = ""
    sandbox_url: str = ""
    # per process (a service's name, or "cdp" for the commands): variables over ``env``,
    # such as the Kafka user each one connects as
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {
            "CDP_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "CDP_PG_DSN": self.postgres.dsn,
            "CDP_REDIS_URL": self.redis.url,
            "CDP_CONFIG": "/dev/null",
        }
        if self.kafka.nodes >= 3:  # every partition on three brokers, a write on two before its ack
            env |= {"CDP_TOPIC_REPLICATION_FACTOR": "3", "CDP_TOPIC_MIN_INSYNC_REPLICAS": "2"}
        return env

    def cdp(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cdp_common.cli", *args],
            env={**self.env, **self.service_env.get("cdp", {}), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"cdp {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def up(self, kafka_ready: Callable[[PrivateKafka], object] | None = None) -> None:
        """Everything, fresh; ``kafka_ready`` runs once the broker is up, before any service
        (to grant ACLs on a secured one)."""
        self.kafka.create()
        if kafka_ready is not None:
            kafka_ready(self.kafka)
        self.postgres.create()
        self.redis.start()
        self.cdp("topics")
        self.cdp("sources", "add", "chaos", "--write-key", WRITE_KEY, "--internal-domain", "example.com")
        self.cdp("rules", "apply", "-f", str(ROOT / "deploy/demo/rules.yaml"))
        self.cdp("segments", "apply", "-f", str(ROOT / "deploy/demo/segments.yaml"))
        sandbox_port, collector_port = free_port(), free_port()
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.collector_url = f"http://127.0.0.1:{collector_port}"
        ports = {k: free_port() for k in ("enricher", "segmenter", "syncer")}
        env = self.env
        self.services = {
            "sandbox": Service(
                "sandbox-ma",
                [sys.executable, "-m", "cdp_common.cli", "sandbox-ma", "--port", str(sandbox_port)],
                {},
                f"{self.sandbox_url}/healthz",
            ),
            "collector": Service(
                "collector",
                python_module("cdp_collector.main"),
                {**env, "CDP_COLLECTOR_PORT": str(collector_port), "CDP_COLLECTOR_PRODUCE_TIMEOUT_S": "2"},
                f"{self.collector_url}/readyz",
            ),
            "enricher": Service(
                "enricher",
                python_module("cdp_enricher.main"),
                {**env, "CDP_ENRICHER_METRICS_PORT": str(ports["enricher"])},
                f"http://127.0.0.1:{ports['enricher']}/metrics",
            ),
            "segmenter": Service(
                "segmenter",
                python_module("cdp_segmenter.main"),
                {**env, "CDP_SEGMENTER_METRICS_PORT": str(ports["segmenter"])},
                f"http://127.0.0.1:{ports['segmenter']}/metrics",
            ),
            "syncer": Service(
                "syncer",
                python_module("cdp_syncer.main"),
                {
                    **env,
                    "CDP_SYNC_METRICS_PORT": str(ports["syncer"]),
                    "CDP_SYNC_DESTINATIONS": "hubspot,mautic,webhook",
                    "CDP_HUBSPOT_BASE_URL": self.sandbox_url,
                    "CDP_HUBSPOT_TOKEN": "sandbox-hubspot-token",
                    "CDP_MAUTIC_BASE_URL": self.sandbox_url,
                    "CDP_MAUTIC_USER": "sandbox",
                    "CDP_MAUTIC_PASSWORD": "sandbox",
                    "CDP_WEBHOOK_URL": f"{self.sandbox_url}/webhook",
                    "CDP_WEBHOOK_SECRET": SECRET,
                },
                f"http://127.0.0.1:{ports['syncer']}/metrics",
            ),
        }
        for name, s in self.services.items():
            s.env |= self.service_env.get(name, {})
            s.start()

    def down(self) -> None:
        for s in self.services.values():
            s.stop()
        for part in (self.kafka, self.postgres, self.redis):
            part.destroy()

    def sandbox(self, what: str) -> dict:  # type: ignore[type-arg]
        return httpx.get(f"{self.sandbox_url}/_sandbox/{what}", timeout=10).json()  # type: ignore[no-any-return]

    def faults(self, **f: object) -> None:
        httpx.post(f"{self.sandbox_url}/_sandbox/faults", json=f, timeout=10).raise_for_status()

    def metrics(self, service: str) -> str:
        url = self.services[service].health
        try:
            return httpx.get(url, timeout=5).text
        except httpx.HTTPError:
            return ""

    async def caught_up(self) -> dict[str, bool]:
        return {g: await group_caught_up(self.kafka.bootstrap, g, t) for g, t in GROUPS.items()}
