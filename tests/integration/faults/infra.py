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


class PrivateKafka:
    """A single-node KRaft broker of its own (the jars `deploy/local/kafka.sh install`
    fetched), on free ports, so a fault run can stop it without touching the shared one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.controller_port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="cdp-kafka-"))
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.libs = ROOT / ".data" / "kafka" / "libs"

    def _config(self) -> Path:
        path = self.home / "server.properties"
        path.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.home / 'data'}",
                    "num.partitions=4",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
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
        config = self._config()
        cp = f"{self.libs}/*"
        cluster = subprocess.run(
            ["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        subprocess.run(
            ["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(config), "-g"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        self.start()
        return self

    def start(self) -> None:
        log = (self.home / "kafka.log").open("ab")
        self.proc = subprocess.Popen(
            [
                "java",
                "-Xms384m",
                "-Xmx384m",
                "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={ROOT / 'deploy/local/kafka/log4j2.properties'}",
                "-cp",
                f"{self.libs}/*",
                "kafka.Kafka",
                str(self.home / "server.properties"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"private kafka exited with {self.proc.returncode} (see {self.home / 'kafka.log'})")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.2)
        raise TimeoutError("private kafka did not start")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an operator's restart does."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
