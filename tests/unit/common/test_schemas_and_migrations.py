"""Generated artefacts stay in step with the code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdp_common import schemas
from cdp_common.migrate import load_migrations


def test_committed_json_schemas_are_not_stale() -> None:
    stale = schemas.stale()
    assert stale == [], f"regenerate with `.venv/bin/cdp schemas`: {stale}"


def test_lead_schema_pins_its_version() -> None:
    name, _ = schemas.PUBLIC_SCHEMAS[schemas.Topic.LEADS_QUALIFIED]
    doc = json.loads((schemas.DEFAULT_DIR / name).read_text())
    assert doc["properties"]["schema"]["const"] == "cdp.lead/v1"
    assert {"eventId", "version", "profileId", "contact", "behaviour"} <= set(doc["required"]) | set(doc["properties"])


def test_packaged_migrations_are_numbered_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "create_things.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match="NNNN"):
        load_migrations(tmp_path)
