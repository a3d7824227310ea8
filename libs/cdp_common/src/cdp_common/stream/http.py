"""The operational endpoint of a stream process: ``/metrics`` (Prometheus text),
``/health`` (200 while the stage is ok, 503 with the reason while it is starting or
degraded: for readiness checks and operators) and ``/health/live`` (200 while the process
runs: for liveness checks, so a store outage is not "fixed" by a restart loop)."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from dataclasses import dataclass, field

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Health:
    status: str = "starting"  # starting, ok, degraded, stopping
    detail: str = ""
    since: float = field(default_factory=time.time)

    def set(self, status: str, detail: str = "") -> None:
        if status != self.status or detail != self.detail:
            if status != self.status:
                self.since = time.time()
            self.status, self.detail = status, detail

    def document(self) -> dict[str, object]:
        return {"status": self.status, "detail": self.detail, "since": self.since}


class OpsServer:
    def __init__(self, registry: CollectorRegistry, health: Health, *, host: str = "127.0.0.1", port: int) -> None:
        self.registry = registry
        self.health = health
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = head.split(b" ", 2)
            path = parts[1].split(b"?", 1)[0].decode("latin-1") if len(parts) > 1 else "/"
            if path == "/metrics":
                status, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
            elif path == "/health":
                ok = self.health.status == "ok"
                status, ctype, body = (200 if ok else 503), "application/json", orjson.dumps(self.health.document())
            elif path == "/health/live":
                status, ctype, body = 200, "application/json", b'{"status":"alive"}'
            else:
                status, ctype, body = 404, "text/plain", b"not found\n"
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()
