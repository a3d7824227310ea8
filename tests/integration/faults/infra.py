"""A private PostgreSQL and Redis per test, started natively on free ports, so a fault test
can stop and restart them without touching the servers the rest of the suite shares."""

from __future__ import annotations

import contextlib
import os
import shutil
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
