"""The hot paths' TypedDicts (cdp_common.wire) against the published JSON Schemas: every
schema property is a field, every field is a schema property, and required means required."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from cdp_common.wire import TOPIC_RECORDS, EnrichmentDoc, EventDoc

SCHEMAS = Path(__file__).resolve().parents[3] / "libs/cdp_common/schemas"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def _fields(td: type) -> tuple[set[str], set[str]]:
    return set(get_type_hints(td)), set(td.__required_keys__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("topic", sorted(TOPIC_RECORDS))
def test_each_topic_record_matches_its_schema(topic: str) -> None:
    td, name = TOPIC_RECORDS[topic]
    schema = _schema(name)
    fields, required = _fields(td)
    assert fields == set(schema["properties"]), f"{td.__name__} vs {name}"
    # what the schema requires the TypedDict requires; a field with a default in the schema
    # (always written by our producers) may be required here too
    assert set(schema.get("required", [])) <= required


def test_the_event_covers_every_event_type_of_the_schema() -> None:
    defs = _schema("cdp.hit-raw.v1")["$defs"]
    schema_fields = set().union(*(set(defs[k]["properties"]) for k in defs if k.endswith("Event")))
    assert _fields(EventDoc)[0] == schema_fields


def test_the_enrichment_matches_the_schema() -> None:
    enrichment = _schema("cdp.hit-enriched.v1")["$defs"]["Enrichment"]
    assert _fields(EnrichmentDoc)[0] == set(enrichment["properties"])
