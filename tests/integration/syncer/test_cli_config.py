"""`cdp` commands from a plain shell read the configuration the services run with (the
config file the local start script writes), and name what is missing when they cannot."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from cdp_syncer.sandbox import DEFAULT_TOKEN
from tests.helpers import ROOT
from tests.integration.syncer.conftest import Sandbox

pytestmark = pytest.mark.integration


def _cdp(settings: Any, config: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cdp_common.cli", *args],
        # a plain shell: only where the infrastructure is, no destination settings
        env={
            "CDP_PG_DSN": settings.pg_dsn.get_secret_value(),
            "CDP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "CDP_REDIS_URL": settings.redis_url,
            "CDP_CONFIG": str(config),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


async def test_leads_retry_queues_for_the_syncer_named_in_the_config_file(
    settings: Any, migrated_pool: Any, tmp_path: Path
) -> None:
    lead_id = f"cfg-{uuid.uuid4().hex[:8]}-v1"
    group = f"syncer-{uuid.uuid4().hex[:6]}"
    lead = {"eventId": lead_id, "profileId": lead_id, "version": 1, "contact": {"email": "cfg@example.org"}}
    await migrated_pool.execute(
        "INSERT INTO lead_deliveries (lead_event_id, destination, profile_id, version, status, attempts, last_error, "
        "payload) VALUES ($1, 'webhook', $1, 1, 'failed', 3, 'HTTP 410: gone', $2::jsonb)",
        lead_id,
        orjson.dumps(lead).decode(),
    )
    config = tmp_path / "cdp.env"
    config.write_text(f"CDP_SYNC_GROUP_ID={group}\n")
    try:
        done = _cdp(settings, config, "leads", "retry", "--lead", lead_id)
        assert done.returncode == 0, done.stderr
        assert "1 for webhook" in done.stdout
        owner = await migrated_pool.fetchval("SELECT owner FROM delivery_queue WHERE lead_event_id = $1", lead_id)
        assert owner == group  # the queue the configured syncer drains
    finally:
        await migrated_pool.execute("DELETE FROM delivery_queue WHERE lead_event_id = $1", lead_id)
        await migrated_pool.execute("DELETE FROM lead_deliveries WHERE lead_event_id = $1", lead_id)


def test_bootstrap_reads_the_config_file_and_names_what_is_missing(
    settings: Any, migrated_pool: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    missing = _cdp(settings, "/nonexistent/cdp.env", "destinations", "bootstrap", "hubspot")
    assert missing.returncode == 2
    assert "CDP_HUBSPOT_TOKEN" in missing.stderr and "Traceback" not in missing.stderr
    config = tmp_path / "cdp.env"
    config.write_text(f"CDP_HUBSPOT_BASE_URL={sandbox.url}\nCDP_HUBSPOT_TOKEN={DEFAULT_TOKEN}\n")
    done = _cdp(settings, config, "destinations", "bootstrap", "hubspot")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 in conflict" in done.stdout
