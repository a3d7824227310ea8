"""A private PostgreSQL and Redis per test, started natively on free ports, so a fault test
can stop and restart them without touching the servers the rest of the suite shares."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import ROOT, free_port


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 0)
    return versions[-1] / "bin"


class PrivatePostgres:
    def __init__(self) -> None:
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="cdp-pg-"))
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.dsn = f"postgresql://cdp:cdp@127.0.0.1:{self.port}/cdp"

    def _run(self, *argv: str) -> None:
        subprocess.run(_as_postgres(list(argv)), check=True, capture_output=True, timeout=60)

    def create(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        bin_ = _pg_bin()
        self._run(str(bin_ / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        self.start()
        for sql in ("CREATE ROLE cdp LOGIN PASSWORD 'cdp'", "CREATE DATABASE cdp OWNER cdp"):
            self._run(str(bin_ / "psql"), "-h", str(self.home), "-p", str(self.port), "-U", "postgres", "-c", sql)
        done = subprocess.run(
            [str(ROOT / ".venv/bin/cdp"), "migrate"],
            env={**os.environ, "CDP_PG_DSN": self.dsn},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return self

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start")

    def stop(self) -> None:
        self._run(str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="cdp-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ping = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
            if ping.stdout.strip() == "PONG":
                return self
            time.sleep(0.1)
        raise TimeoutError("private redis did not start")

    def stop(self) -> None:
        """A clean shutdown (the append-only file is complete), as a restart would do."""
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True)
            self.proc.wait(15)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedisCluster:
    """A Redis Cluster of three masters (no replicas) on free ports, started natively:
    every slot is owned by one of them, as in a managed cluster."""

    def __init__(self, masters: int = 3) -> None:
        self.ports = [self._node_port() for _ in range(masters)]
        self.dir = Path(tempfile.mkdtemp(prefix="cdp-redis-cluster-"))
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> PrivateRedisCluster:
        redis_server = shutil.which("redis-server") or "/usr/bin/redis-server"
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.procs.append(
                subprocess.Popen(
                    [redis_server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(node_dir),
                     "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "5000", "--appendonly", "no", "--save", ""],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        for port in self.ports:
            self._wait(lambda port=port: self._cli(port, "ping") == "PONG", "node up")
        created = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        for port in self.ports:
            self._wait(lambda port=port: "cluster_state:ok" in self._cli(port, "cluster", "info"), "cluster ok")
        return self

    @staticmethod
    def _node_port() -> int:
        """A free port whose cluster bus port (the port + 10000) is a free port too."""
        while True:
            port = free_port()
            if port + 10000 > 65535:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port

    def keys_per_master(self) -> dict[int, int]:
        return {port: int(self._cli(port, "dbsize")) for port in self.ports}

    @staticmethod
    def _cli(port: int, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout.strip()

    @staticmethod
    def _wait(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise TimeoutError(f"private redis cluster: {what} not reached")

    def destroy(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(15)
        shutil.rmtree(self.dir, ignore_errors=True)


ADMIN, ADMIN_PASSWORD = "admin", "admin-secret-for-tests"


class PrivateKafka:
    """A KRaft Kafka of its own (the jars `deploy/local/kafka.sh install` fetched), on free
    ports, so a fault run can stop it without touching the shared one: one node, or
    ``nodes`` combined broker+controller nodes (three: a controller quorum and every
    partition on three brokers that survives losing any one of them)."""

    def __init__(self, nodes: int = 1, users: dict[str, str] | None = None) -> None:
        """With ``users`` (SCRAM-SHA-512 name -> password) a secured cluster as a Strimzi
        one with ``scram-sha-512`` and ``authorization: simple`` is: clients connect over
        SASL_SSL (a certificate from a CA of its own, ``ca_file``) as one of those users,
        and may do only what ACLs allow (``ADMIN`` is a super user, to grant them)."""
        self.nodes = nodes
        self.users = {ADMIN: ADMIN_PASSWORD, **users} if users is not None else None
        self.ports = [free_port() for _ in range(nodes)]
        self.controller_ports = [free_port() for _ in range(nodes)]
        self.internal_ports = [free_port() for _ in range(nodes)]
        self.home = Path(tempfile.mkdtemp(prefix="cdp-kafka-"))
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self.libs = ROOT / ".data" / "kafka" / "libs"
        self.ca_file = self.home / "ca.crt"

    def client_env(self, user: str) -> dict[str, str]:
        """CDP_KAFKA_* for a process connecting as ``user`` (a secured cluster only)."""
        assert self.users is not None
        return {
            "CDP_KAFKA_BOOTSTRAP": self.bootstrap,
            "CDP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "CDP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CDP_KAFKA_SASL_USERNAME": user,
            "CDP_KAFKA_SASL_PASSWORD": self.users[user],
            "CDP_KAFKA_SSL_CAFILE": str(self.ca_file),
        }

    def _certificates(self) -> Path:
        """A CA of its own and a broker certificate it signed, for 127.0.0.1 (PEM: the key
        and the chain in one file, as Kafka's PEM key store reads them)."""
        h = self.home

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-noenc",
            "-days",
            "2",
            "-subj",
            "/CN=cdp-test-ca",
            "-keyout",
            str(h / "ca.key"),
            "-out",
            str(self.ca_file),
        )
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-noenc",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(h / "broker.key"),
            "-out",
            str(h / "broker.csr"),
        )
        (h / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl(
            "x509",
            "-req",
            "-in",
            str(h / "broker.csr"),
            "-CA",
            str(self.ca_file),
            "-CAkey",
            str(h / "ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(h / "san.ext"),
            "-out",
            str(h / "broker.crt"),
        )
        store = h / "broker.pem"
        store.write_text((h / "broker.key").read_text() + (h / "broker.crt").read_text())
        return store

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.procs[0]

    def _config(self, node: int) -> Path:
        path = self.home / f"server-{node}.properties"
        voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(self.controller_ports))
        port, ctrl = self.ports[node], self.controller_ports[node]
        copies, min_isr = min(self.nodes, 3), min(self.nodes, 2)
        if self.users is None:
            listeners = [
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctrl}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
            ]
        else:  # clients on SASL_SSL; brokers and controllers among themselves on loopback
            internal = self.internal_ports[node]
            listeners = [
                f"listeners=CLIENT://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{ctrl}",
                f"advertised.listeners=CLIENT://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal}",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,CLIENT:SASL_SSL",
                "inter.broker.listener.name=INTERNAL",
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.client.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={self.home / 'broker.pem'}",
                "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                # the unauthenticated internal listeners' principal, and the admin who grants ACLs
                f"super.users=User:ANONYMOUS;User:{ADMIN}",
            ]
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    f"node.id={node + 1}",
                    f"controller.quorum.voters={voters}",
                    *listeners,
                    "controller.listener.names=CONTROLLER",
                    f"log.dirs={self.home / f'data-{node}'}",
                    "num.partitions=4",
                    f"default.replication.factor={copies}",
                    f"offsets.topic.replication.factor={copies}",
                    "offsets.topic.num.partitions=8",
                    f"transaction.state.log.replication.factor={copies}",
                    f"transaction.state.log.min.isr={min_isr}",
                    f"share.coordinator.state.topic.replication.factor={copies}",
                    f"share.coordinator.state.topic.min.isr={min_isr}",
                    "group.initial.rebalance.delay.ms=0",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    "auto.create.topics.enable=false",
                ]
            )
            + "\n"
        )
        return path

    def create(self) -> PrivateKafka:
        if not self.libs.is_dir():
            subprocess.run(["bash", str(ROOT / "deploy/local/kafka.sh"), "install"], check=True, timeout=600)
        cp = f"{self.libs}/*"
        cluster = subprocess.run(
            ["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        scram: list[str] = []
        if self.users is not None:
            self._certificates()
            for name, password in self.users.items():
                scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        for node in range(self.nodes):
            subprocess.run(
                [
                    "java",
                    "-cp",
                    cp,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster,
                    "-c",
                    str(self._config(node)),
                    "-g",
                    *scram,
                ],
                capture_output=True,
                check=True,
                timeout=120,
            )
        self.start()
        return self

    def start(self, node: int | None = None) -> None:
        """Start every node (a quorum must come up together) or one that was stopped."""
        nodes = range(self.nodes) if node is None else [node]
        heap = "384m" if self.nodes == 1 else "320m"
        for n in nodes:
            log = (self.home / f"kafka-{n}.log").open("ab")
            self.procs[n] = subprocess.Popen(
                [
                    "java",
                    f"-Xms{heap}",
                    f"-Xmx{heap}",
                    "-XX:+UseG1GC",
                    f"-Dlog4j2.configurationFile={ROOT / 'deploy/local/kafka/log4j2.properties'}",
                    "-cp",
                    f"{self.libs}/*",
                    "kafka.Kafka",
                    str(self.home / f"server-{n}.properties"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        for n in nodes:
            proc = self.procs[n]
            assert proc is not None
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"private kafka node {n} exited with {proc.returncode} (see {self.home})")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.ports[n]), timeout=1):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"private kafka node {n} did not start")
                time.sleep(0.2)

    def stop(self, node: int | None = None) -> None:
        """A clean shutdown (SIGTERM) of every node or one, as an operator's restart does."""
        for n in range(self.nodes) if node is None else [node]:
            proc = self.procs[n]
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)

    def kill(self, node: int) -> None:
        """A broker lost at once (kill -9): no controlled shutdown, no leadership handed over."""
        proc = self.procs[node]
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
