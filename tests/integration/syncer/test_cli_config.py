"""`cdp leads retry` from a plain shell reads the configuration the services run with (the
config file the local start script writes), and names what is missing when it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cdp_syncer.sandbox import DEFAULT_SECRET
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


def test_leads_retry_reads_the_services_config_file(
    settings: Any, migrated_pool: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    config = tmp_path / "cdp.env"
    config.write_text(
        f"CDP_SYNC_DESTINATIONS=webhook\nCDP_WEBHOOK_URL={sandbox.url}/webhook\nCDP_WEBHOOK_SECRET={DEFAULT_SECRET}\n"
    )
    done = _cdp(settings, config, "leads", "retry", "--destination", "webhook")
    assert done.returncode == 0, done.stderr
    assert "CDP_WEBHOOK_SECRET" not in done.stderr


def test_leads_retry_without_the_secret_names_what_is_missing(settings: Any, migrated_pool: Any) -> None:
    done = _cdp(settings, "/nonexistent/cdp.env", "leads", "retry", "--destination", "webhook")
    assert done.returncode == 2
    assert "CDP_WEBHOOK_SECRET is required" in done.stderr and "Traceback" not in done.stderr
