"""The client matrix: third-party SDKs from npm and PyPI, unmodified, against the real
collector, and the enricher and segmenter behind it so that what they send becomes a profile.

The npm packages are installed by ``deploy/local/clients.sh`` (``make test`` runs it) into
the data directory at the versions pinned in ``tests/clients/package-lock.json``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from cdp_common.sources import SourceStore
from tests.helpers import ROOT, ServiceProcess, free_port, python_module, wait_for
from tests.integration.enricher.conftest import Enrichers
from tests.integration.tag.conftest import browser  # noqa: F401  (headless Chromium)

SITE = Path(__file__).parent / "site"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
MODULES = Path(os.environ.get("CDP_DATA_DIR", ROOT / ".data")) / "clients" / "node_modules"
SDK_FILES = {
    "/sdk/analytics-next.js": "@segment/analytics-next/dist/umd/index.js",
    "/sdk/rudderstack.js": "@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js",
}


def installed_version(package: str) -> str:
    return json.loads((MODULES / package / "package.json").read_text())["version"]


@pytest.fixture(scope="session")
def sdk_modules() -> Path:
    if not all((MODULES / f).exists() for f in SDK_FILES.values()):
        pytest.fail(f"the client SDKs are not installed in {MODULES}: run `bash deploy/local/clients.sh`")
    return MODULES


@dataclass
class SdkSite:
    """A site on its own origin carrying the SDKs; its pages read their configuration from
    the query string (``mode``, ``batching``, ``beacon``, ``aid``)."""

    url: str
    collector: str
    write_key: str
    source_id: str

    def page(self, name: str, query: str = "") -> str:
        return f"{self.url}/{name}.html" + (f"?{query}" if query else "")


def serve_sdk_site(collector_url: str, modules: Path) -> tuple[ThreadingHTTPServer, SdkSite]:
    site = SdkSite(url="", collector=collector_url, write_key="", source_id="")
    parts = urlsplit(collector_url)

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path in SDK_FILES:
                return self._send((modules / SDK_FILES[path]).read_bytes(), "application/javascript")
            page = SITE / path.lstrip("/")
            if path.endswith(".html") and page.parent == SITE and page.exists():
                q = {k: v[0] for k, v in parse_qs(query).items()}
                cfg = {
                    "collector": collector_url,
                    "collectorHost": parts.netloc,
                    "protocol": parts.scheme,
                    "writeKey": site.write_key,
                    "mode": q.get("mode", "cdn"),
                    "batching": q.get("batching") == "1",
                    "beacon": q.get("beacon") == "1",
                    "anonymousId": q.get("aid", ""),
                }
                html = page.read_text().replace("{{CONFIG}}", json.dumps(cfg))
                return self._send(html.encode(), "text/html; charset=utf-8")
            self.send_error(404)

        def _send(self, body: bytes, ctype: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, site


@pytest.fixture
def person(browser: Any) -> Any:  # noqa: F811  (the imported fixture)
    """Headless Chromium with a desktop Chrome user agent: "HeadlessChrome" is a bot to the
    enricher, whose hits are dropped before they become profiles."""
    browser.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": BROWSER_UA})
    return browser


@pytest.fixture
async def sdk_site(collector, migrated_pool, sdk_modules: Path) -> AsyncIterator[SdkSite]:  # type: ignore[no-untyped-def]
    """The site, with a source of its own that allows only its origin; returned once the
    collector serves that source's settings."""
    server, site = serve_sdk_site(collector.url, sdk_modules)
    src = await SourceStore(migrated_pool).add(f"sdk-{uuid.uuid4().hex[:10]}", origins=[site.url])
    site.write_key, site.source_id = src.write_key, src.id

    async def known() -> bool:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{collector.url}/v1/projects/{src.write_key}/settings")
            return r.status_code == 200

    await wait_for(known, within=15, what="the collector to load the new source")
    yield site
    server.shutdown()


@pytest.fixture(scope="module")
async def profiles(collector, settings, kafka_bootstrap: str, migrated_pool) -> AsyncIterator[None]:  # type: ignore[no-untyped-def]
    """An enricher and a segmenter behind the session's collector, shown to consume: a
    probe visitor posted to the collector reaches Postgres."""
    run = uuid.uuid4().hex[:8]
    enrichers = Enrichers(settings, kafka_bootstrap, "confluent")
    enrichers.start()
    segmenter = ServiceProcess(
        "segmenter",
        python_module("cdp_segmenter.main"),
        {
            "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
            "CDP_REDIS_URL": settings.redis_url,
            "CDP_SEGMENTER_GROUP_ID": f"clients-seg-{run}",
            "CDP_SEGMENTER_AUTO_OFFSET_RESET": "latest",
            "CDP_SEGMENTER_METRICS_PORT": str(free_port()),
        },
    )
    probes: list[tuple[str, float]] = []

    async def consumed() -> bool:
        # a new probe every 3 s (ones sent before the groups were assigned are skipped)
        if not probes or time.monotonic() - probes[-1][1] > 3:
            aid = f"probe-{uuid.uuid4().hex[:8]}"
            async with httpx.AsyncClient(timeout=10) as http:
                r = await http.post(
                    f"{collector.url}/v1/page",
                    auth=(collector.source.write_key, ""),
                    headers={"user-agent": BROWSER_UA},  # not a bot: bots are dropped
                    json={"anonymousId": aid, "properties": {"path": "/probe"}},
                )
            assert r.status_code == 200, r.text
            probes.append((aid, time.monotonic()))
        ids = [f"anon:{aid}" for aid, _ in probes]
        return bool(await migrated_pool.fetchval("SELECT count(*) FROM identities WHERE id = ANY($1::text[])", ids))

    try:
        await wait_for(consumed, within=120, what="the enricher and segmenter to consume")
        yield None
    finally:
        enrichers.stop()
        segmenter.stop()


async def profile_of(pool: Any, identity: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        "SELECT p.data FROM identities i JOIN profiles p ON p.id = i.profile_id WHERE i.id = $1", identity
    )
    return orjson.loads(row["data"]) if row and row["data"] else None


def from_source(source_id: str, match: Any) -> Any:
    return lambda rec: rec.get("sourceId") == source_id and match(rec["event"])
